"""Landing-page claims: one unique code per e-mail per campaign, the same code again on repeat.

One transaction writes the claim (conditional on no claim for this e-mail yet), the new code (conditional on
the code being new) and the campaign's claim counter (conditional on max_claims), so a race between two
tabs of the same shopper, or the last free claim, is decided by DynamoDB.

With ``claims.delivery: email`` the answer carries no code: after the transaction commits, the code is mailed
with its QR code (wiring.email_delivery: SES, locally the outbox of .eml files). The claim record keeps the
code, so a claim again by the same address (also the retry after a failed delivery) mails the same code again
and never issues a second one."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..adapters.claim_store import Claim, ClaimedBefore, ClaimStore
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.retry import RetryPolicy
from ..adapters.unit_of_work import UnitOfWork
from ..domain import errors
from ..domain.campaigns import ensure_active
from ..domain.clock import iso
from ..domain.config import Campaign
from ..domain.config import Claims as ClaimsOffer
from ..domain.customers import email_hash, holder_for_email, legacy_email_hashes, valid_email
from ..domain.ids import new_id
from ..domain.variants import subject_for_email
from ..settings import get_settings
from .code_issuer import CodeIssuer, CodeSpaceCollision

if TYPE_CHECKING:  # adapters/delivery.py (MIME, QR) is imported only when a claim is mailed
    from ..adapters.delivery import DeliveryResult, Message

MAX_CODE_DRAWS = 5
# a claim decided again (its code's counter was taken, or the e-mail's claim was erased meanwhile): rare, brief
DRAWS = RetryPolicy(max_attempts=MAX_CODE_DRAWS)


@dataclass(frozen=True)
class ClaimResult:
    body: dict
    created: bool  # False: the code this e-mail claimed before


def offer(campaign: Campaign) -> ClaimsOffer:
    """The campaign's claims settings (ClaimsNotOffered when it has none: what Claims.campaign() checks)."""
    if campaign.claims is None:
        raise errors.ClaimsNotOffered(details={"campaign_id": campaign.id})
    return campaign.claims


class Claims:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.claims = ClaimStore(table)
        self.issuer = CodeIssuer(table)

    def campaign(self, campaign_id: str) -> Campaign:
        campaign = self.config.bundle().campaign(campaign_id)
        if campaign.claims is None:
            raise errors.ClaimsNotOffered(details={"campaign_id": campaign_id})
        return campaign

    @staticmethod
    def origin_allowed(campaign: Campaign, origin: str | None) -> bool:
        """Server-to-server calls carry no Origin; browsers must come from an allowed origin or from the
        engine's own pages (settings ENGINE_ORIGINS), which need no entry in ``allowed_origins``."""
        from ..settings import get_settings

        return (origin is None or origin in offer(campaign).allowed_origins
                or origin in get_settings().engine_origins)

    def claim(self, campaign_id: str, email: str, country: str | None, consent: bool | None, client_id: str,
              origin: str | None, now: datetime, uow: UnitOfWork | None = None,
              locale: str | None = None) -> ClaimResult:
        """A new code (``created``), or the code this e-mail claimed before. The HTTP layer's Idempotency-Key
        completion, if any, rides in ``uow``: it commits with a new claim only."""
        campaign = self.campaign(campaign_id)
        if not self.origin_allowed(campaign, origin):
            raise errors.Forbidden("this origin may not claim codes of this campaign", {"origin": origin})
        ensure_active(campaign, now)
        if not valid_email(email):
            raise errors.InvalidRequest("email is not a valid e-mail address", {"field": "email"})
        countries = campaign.eligibility.countries
        if countries is not None and country not in countries:
            raise errors.CountryNotEligible(details={"countries": countries})
        if not campaign.eligibility.locale_allowed(locale):
            raise errors.LocaleNotEligible(details={"locales": campaign.eligibility.locales})
        claims_offer = offer(campaign)
        rl, max_claims = claims_offer.rate_limit, claims_offer.max_claims
        self.claims.throttle(campaign.id, client_id, rl.per_client_per_minute, rl.per_campaign_per_second, now)

        ehash = email_hash(email)  # the keyed pseudonym of the normalised mailbox: a+tag@ and A.B@gmail are one
        created = iso(now)
        holder = holder_for_email(email) if campaign.codes.bind_to_customer else None
        # claims made before the key existed sit under a bare SHA-256 of the address: a repeat still finds them
        legacy = legacy_email_hashes(email) if get_settings().legacy_hash_lookups else []
        consent_record = ({"email": {"given": bool(consent), "at": created, "source": "landing_page"}}
                          if consent is not None else None)
        uow = uow if uow is not None else UnitOfWork(self.table)
        for _ in DRAWS.attempts():
            uow.clear()
            # a claim has no customer id: its variant is the normalised e-mail's (domain/variants.py)
            code = self.issuer.draw(campaign, now, holder=holder, subject=subject_for_email(email))[0]
            ClaimStore.record(uow, Claim(campaign.id, ehash, code.code, created, country, code.expires_at,
                                         consent_record, code.variant), legacy)
            ClaimStore.count(uow, campaign.id, max_claims, created)
            self.issuer.write(uow, [code], now)
            uow.result = self._answer(campaign, code.code, code.expires_at)
            try:
                uow.commit(otherwise=lambda e: errors.RequestInProgress())
            except ClaimedBefore as r:  # this e-mail claimed before: the same code again
                old = r.claim or self.claims.get(r.campaign_id, r.email_hash)
                if old is None:  # that claim was erased in between: this e-mail may claim anew
                    continue
                self._mail(campaign, email, old.code, old.expires_at, now)
                return ClaimResult(self._answer(campaign, old.code, old.expires_at), created=False)
            except CodeSpaceCollision:
                continue  # cannot happen while the counter is intact; take the next counter
            self._mail(campaign, email, code.code, code.expires_at, now)
            return ClaimResult(uow.result, created=True)
        raise errors.Contention("could not draw a free code")

    @staticmethod
    def _answer(campaign: Campaign, code: str, expires_at: str | None) -> dict:
        if _mailed(campaign):
            return {"campaign_id": campaign.id, "expires_at": expires_at, "delivery": "email"}
        from ..adapters.delivery import qr_svg

        return {"code": code, "campaign_id": campaign.id, "expires_at": expires_at, "qr_svg": qr_svg(code)}

    def _mail(self, campaign: Campaign, email: str, code: str, expires_at: str | None, now: datetime) -> None:
        """Mails the claim's code (delivery: email) after its transaction committed. A delivery that did not go
        out is 503 delivery_failed: the landing page's retry mails the same code (the claim keeps it)."""
        if not _mailed(campaign):
            return
        messaging = self.config.bundle().messaging
        if messaging is None:  # ConfigBundle refuses delivery: email without messaging; narrows the type
            raise errors.ConfigError(f"campaign {campaign.id}: claims.delivery: email needs config/messaging.yaml")
        result = self.send(claim_message(campaign, email.strip(), code, expires_at, new_id("clm")),
                           messaging.from_email)
        if result.status != "sent":
            raise errors.DeliveryFailed(details={"retry": result.status == "retry", "error": result.error})

    @staticmethod
    def send(message: Message, from_email: str) -> DeliveryResult:
        from .. import wiring

        return wiring.email_delivery(from_email).send(message)


def _mailed(campaign: Campaign) -> bool:
    return campaign.claims is not None and campaign.claims.delivery == "email"


def claim_message(campaign: Campaign, email: str, code: str, expires_at: str | None, message_id: str) -> Message:
    """The e-mail of a claimed code: the code as text and as an inline QR code image."""
    from ..adapters.delivery import Message, qr_png

    name = campaign.name or campaign.id
    until = f"\n\nValid until {expires_at[:10]}." if expires_at else ""
    return Message(message_id=message_id, channel="email", to=email, subject=f"Your code: {name}",
                   text=f"Here is your code for {name}:\n\n{code}{until}\n\nShow the QR code in store or type "
                        "the code at checkout.",
                   code=code, qr_png=qr_png(code), meta={"campaign_id": campaign.id})
