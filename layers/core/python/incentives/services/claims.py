"""Landing-page claims: one unique code per e-mail per campaign, the same code again on repeat.

One transaction writes the claim (conditional on no claim for this e-mail yet), the new code (conditional on
the code being new) and the campaign's claim counter (conditional on max_claims), so a race between two
tabs of the same shopper, or the last free claim, is decided by DynamoDB."""
from __future__ import annotations

from datetime import datetime

from ..adapters import keys
from ..adapters.code_store import code_item
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table, TransactionCancelled, values
from ..adapters.idempotency import IdempotencyGuard
from ..adapters.rate_limit import RateLimiter
from ..domain import errors
from ..domain.campaigns import ACTIVE, SCHEDULED, effective_status
from ..domain.clock import iso
from ..domain.config import Campaign
from ..domain.customers import email_hash, holder_for_email, valid_email
from .issuance import card_fields, space_for
from ..adapters.codespace_store import CodeSpaceStore

MAX_CODE_DRAWS = 5


class Claims:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.limiter = RateLimiter(table)
        self.spaces = CodeSpaceStore(table)

    def campaign(self, campaign_id: str) -> Campaign:
        campaign = self.config.bundle().campaign(campaign_id)
        if campaign.claims is None:
            raise errors.ClaimsNotOffered(details={"campaign_id": campaign_id})
        return campaign

    @staticmethod
    def origin_allowed(campaign: Campaign, origin: str | None) -> bool:
        """Server-to-server calls carry no Origin; browsers must come from an allowed origin."""
        return origin is None or origin in campaign.claims.allowed_origins

    def claim(self, campaign_id: str, email: str, country: str | None, consent: bool | None, client_id: str,
              origin: str | None, now: datetime, guard: IdempotencyGuard | None = None) -> tuple[int, dict]:
        campaign = self.campaign(campaign_id)
        if not self.origin_allowed(campaign, origin):
            raise errors.Forbidden("this origin may not claim codes of this campaign", {"origin": origin})
        status = effective_status(campaign, now)
        if status == SCHEDULED:
            raise errors.CodeNotActiveYet(details={"starts_at": iso(campaign.schedule.starts_at_utc)})
        if status != ACTIVE:
            raise errors.CampaignInactive(details={"status": status})
        if not valid_email(email):
            raise errors.InvalidRequest("email is not a valid e-mail address", {"field": "email"})
        countries = campaign.eligibility.countries
        if countries is not None and country not in countries:
            raise errors.CountryNotEligible(details={"countries": countries})
        rl = campaign.claims.rate_limit
        self.limiter.hit(f"claims#{campaign.id}#client#{client_id}", rl.per_client_per_minute, 60, now)
        self.limiter.hit(f"claims#{campaign.id}", rl.per_campaign_per_second, 1, now)

        ehash = email_hash(email)
        created = iso(now)
        at = campaign.codes.expiry_for(now)
        expiry = iso(at) if at else None
        holder = holder_for_email(email) if campaign.codes.bind_to_customer else None
        space = space_for(campaign)
        cpk, csk = keys.claim(campaign.id, ehash)
        counter_cond, counter_vals = None, values(one=1, now=created)
        if campaign.claims.max_claims is not None:
            counter_cond = "attribute_not_exists(claims) OR claims < :max"
            counter_vals.update(values(max=campaign.claims.max_claims))
        consent_record = ({"email": {"given": bool(consent), "at": created, "source": "landing_page"}}
                          if consent is not None else None)
        for _ in range(MAX_CODE_DRAWS):
            r = self.spaces.reserve(space, 1)
            code = space.code(r.key, r.start)
            body = {"code": code, "campaign_id": campaign.id, "expires_at": expiry}
            ops = [
                self.table.put_op({"pk": cpk, "sk": csk, "campaign_id": campaign.id, "email_hash": ehash,
                                   "code": code, "country": country, "created_at": created, "expires_at": expiry,
                                   "consent": consent_record}),
                self.table.put_op(code_item(code, campaign.id, created, expiry, holder, **card_fields(campaign))),
                self.table.update_op(*keys.campaign_counters(campaign.id), "ADD claims :one SET updated_at = :now",
                                     counter_cond, vals=counter_vals),
                self.table.update_op(*keys.campaign_issued_shard(campaign.id, 0), "ADD issued :one",
                                     vals=values(one=1)),
            ]
            if guard:
                ops.append(guard.completion_op(201, body))
            try:
                self.table.transact(ops)
                return 201, body
            except TransactionCancelled as e:
                if e.failed(0):  # this e-mail claimed before: the same code again
                    old = e.items[0] or self.table.get(cpk, csk, consistent=True)
                    if guard:
                        guard.release()
                    return 200, {"code": old["code"], "campaign_id": campaign.id,
                                 "expires_at": old.get("expires_at")}
                if e.failed(2):
                    raise errors.ClaimsExhausted(details={"max_claims": campaign.claims.max_claims}) from None
                if e.failed(1):
                    continue  # cannot happen while the counter is intact; take the next counter
                raise errors.RequestInProgress() from None
        raise errors.Contention("could not draw a free code")
