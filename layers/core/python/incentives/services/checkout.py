"""Use cases of the checkout path: validate (reads only), redeem (one transaction), rollback, code lookup."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from ..adapters.checkout_store import BalanceChanged, CheckoutStore, CodeCampaignMismatch, CodeVariantMismatch, Line, \
    ProfileChanged, ShardSpent, record_plan, redemption_record
from ..adapters.config_source import ConfigSource
from ..adapters.retry import RetryPolicy
from ..adapters.unit_of_work import UnitOfWork
from ..domain import errors
from ..domain.checkout import CODE_ACTIVE, CODE_DISABLED, CodeState, check_profile, check_request, evaluate, \
    needs_profile, usage_period_attr
from ..domain.clock import iso, iso_ms
from ..domain.codes import normalize
from ..domain.config import Campaign, ConfigBundle
from ..domain.customers import holders
from ..domain.discounts import Basket
from ..domain.ids import new_id
from ..domain.orders import Customer, Order
from ..domain.shards import NoRoom, ShardPlan, code_sharded, plan, sample, sharded
from ..domain.variants import assign, subject_for_id
from ..settings import get_settings
from .guessing import NOBODY, GuessGuard, Shopper


# re-decide after a concurrent change of campaign guess, profile or card balance
DECISIONS = RetryPolicy(deadline_s=8.0, base_s=0.003, cap_s=0.2)


@dataclass(frozen=True)
class CheckoutRequest:
    code: str
    customer: Customer
    order: Order
    shopper_ip: str | None = None  # X-Shopper-IP, when the storefront forwards it (services/guessing.py)


def variant_for(campaign: Campaign, customer: Customer, code_variant: str | None = None) -> str | None:
    """The variant a checkout runs in: the one recorded on the code (what its holder was promised), else the
    customer's by id (public codes, codes issued before the experiment). None without variants."""
    if not campaign.variants:
        return None
    return code_variant or assign(campaign.id, subject_for_id(customer.id), campaign.variants)


class Checkout:
    def __init__(self, store: CheckoutStore, config: ConfigSource):
        self.store = store
        self.config = config
        self.guard = GuessGuard(store.table)

    # --- validation: one BatchGetItem when the code's pattern names its campaign -------------------------

    def validate(self, req: CheckoutRequest, now: datetime) -> dict:
        code = normalize(req.code)
        bundle = self.config.bundle()
        shopper = Shopper.of(req.customer.id, req.shopper_ip)
        throttle: dict = {}
        try:
            guess = bundle.campaign_for_code(code)
            campaign = bundle.campaigns.get(guess) if guess else None
            item, usage = self.store.read_state(code, campaign, req.customer.id,
                                                usage_period_attr(campaign, now) if campaign else None,
                                                self.guard.keys(shopper, now), throttle)
            self.guard.check(throttle, shopper, now)
            if item is None:
                if campaign is None or code not in bundle.public_codes:
                    self.guard.failed(shopper, now)
                    raise errors.CodeNotFound()
                item = {"code": code, "campaign_id": campaign.id}  # public code not yet used
            if campaign is None or item["campaign_id"] != campaign.id:
                campaign = bundle.campaign(item["campaign_id"])
                usage = self.store.read_usage(campaign, req.customer.id, usage_period_attr(campaign, now))
            variant = variant_for(campaign, req.customer, item.get("variant"))
            discount = evaluate(CodeState.from_item(item), campaign.for_variant(variant), req.customer, req.order,
                                usage, now, bundle.segments)
        except errors.RateLimited:
            raise  # throttled: 429 with Retry-After, not an answer about the code
        except errors.IncentiveError as e:
            return {"valid": False, "reason": e.code, "message": e.message}
        out = {"valid": True, "code": code, "campaign_id": campaign.id,
               "discount": {"amount": discount, "currency": req.order.currency},
               "order_amount_after": req.order.amount - discount}
        if variant is not None:
            out["variant"] = variant
        return out

    # --- redemption: one TransactWriteItems --------------------------------------------------------------

    def _uow(self, uow: UnitOfWork | None) -> UnitOfWork:
        return uow if uow is not None else UnitOfWork(self.store.table)

    def redeem(self, req: CheckoutRequest, now: datetime, uow: UnitOfWork | None = None) -> dict:
        return self._redeem([req.code], req.customer, req.order, now, self._uow(uow), lambda lines: lines[0],
                            Shopper.of(req.customer.id, req.shopper_ip))

    def redeem_stack(self, codes: list[str], customer: Customer, order: Order, now: datetime,
                     uow: UnitOfWork | None = None, shopper_ip: str | None = None) -> dict:
        """Several codes on one order, all or nothing: one transaction holds every code's limits and records.
        Each code gets its own redemption record (roll each back by its id)."""
        def answer(lines: list[dict]) -> dict:
            first = lines[0]
            return {"id": first["id"], "code": first["code"], "campaign_id": first["campaign_id"],
                    "customer_id": customer.id, "order_id": order.id,
                    "discount": {"amount": sum(ln["discount"]["amount"] for ln in lines), "currency": order.currency},
                    "status": "succeeded", "created_at": first["created_at"],
                    "redemptions": [{k: ln[k] for k in ("id", "code", "campaign_id", "discount", "balance_after",
                                                        "variant") if k in ln} for ln in lines]}
        return self._redeem(codes, customer, order, now, self._uow(uow), answer, Shopper.of(customer.id, shopper_ip))

    def _redeem(self, raw_codes: list[str], customer: Customer, order: Order, now: datetime,
                uow: UnitOfWork, answer, shopper: Shopper = NOBODY) -> dict:
        """Unknown codes count against the shopper (services/guessing.py): only here, on the failure path."""
        try:
            return self._redeem_once(raw_codes, customer, order, now, uow, answer, shopper)
        except errors.CodeNotFound:
            self.guard.failed(shopper, now)
            raise

    def _redeem_once(self, raw_codes: list[str], customer: Customer, order: Order, now: datetime,
                     uow: UnitOfWork, answer, shopper: Shopper) -> dict:
        codes = [normalize(c) for c in raw_codes]
        if len(set(codes)) != len(codes):
            raise errors.InvalidRequest("a code appears twice", {"field": "codes"})
        bundle = self.config.bundle()
        campaign_ids = self._campaign_ids(bundle, codes, shopper, now)
        code_variants: dict[str, str] = {}  # learnt from a code whose recorded variant is not the customer's
        read_all = False  # a sharded campaign's sampled shards were stale or short: read all of them
        for _ in DECISIONS.attempts():
            campaigns = {code: bundle.campaign(cid) for code, cid in campaign_ids.items()}
            if len(codes) > 1 and (not all(c.combinable for c in campaigns.values())
                                   or len({c.id for c in campaigns.values()}) < len(codes)):
                raise errors.NotCombinable(details={"codes": codes})
            profile = self._checked_profile(bundle, campaigns, customer, now)
            lines, responses, basket = [], [], Basket(order)
            created = iso_ms(now)
            # Discounts first, cards last, each on what the codes before it left of its own eligible parts of
            # the order (items, shipping): never over-discount.
            for code in sorted(codes, key=lambda c: campaigns[c].has_balance):
                line, response = self._line(code, campaigns[code], code_variants.get(code), len(codes) > 1,
                                            code in bundle.public_codes, customer, order, now, basket, created,
                                            read_all)
                lines.append(line)
                responses.append(response)
            if len(lines) > 1:
                for ln in lines:
                    ln.record["stack"] = [other.record["id"] for other in lines]
            uow.clear().result = answer(responses)
            self.guard.condition(uow, shopper, now)  # first: a throttled shopper learns nothing about the code
            try:
                self.store.redeem(uow, lines, holders(customer), customer.id, iso(now), profile)
                return uow.result
            except CodeCampaignMismatch as m:
                campaign_ids[m.code] = m.campaign_id
            except CodeVariantMismatch as m:  # the code was issued in another variant: redeem it in that one
                code_variants[m.code] = m.variant
            except (ProfileChanged, BalanceChanged):
                pass  # the profile or a card's balance changed meanwhile: decide again, after a jittered pause
            except ShardSpent:
                read_all = True  # the chosen shard filled up meanwhile: choose again from all shards
        raise errors.Contention()

    def _line(self, code: str, campaign: Campaign, known_variant: str | None, stacked: bool, public: bool,
              customer: Customer, order: Order, now: datetime, basket: Basket, created: str,
              read_all: bool = False) -> tuple[Line, dict]:
        """One code of the redemption: its variant's reward on what the codes before it left of its own
        eligible parts of the order (``basket``), its answer and its record."""
        variant = variant_for(campaign, customer, known_variant)
        campaign = campaign.for_variant(variant)  # the variant's reward, if it has one
        balance = None
        if campaign.has_balance:  # a card pays what its balance allows: read it, spend exactly from it
            card = self.store.get_code(code, consistent=True)
            if card is None:
                raise errors.CodeNotFound()
            balance = card.get("balance", 0)
        try:
            discount = check_request(campaign, customer, order, now, balance, basket)
        except errors.NoEligibleItems as e:
            if not stacked:
                raise
            raise errors.NoEligibleItems(e.message, {**(e.details or {}), "code": code}) from None
        if discount <= 0:
            raise errors.NoEligibleItems("nothing of the order is left to discount", {"code": code})
        rid = new_id("rdm")
        response = {"id": rid, "code": code, "campaign_id": campaign.id, "customer_id": customer.id,
                    "order_id": order.id, "discount": {"amount": discount, "currency": order.currency},
                    "status": "succeeded", "created_at": created}
        if balance is not None:
            response["balance_after"] = {"amount": balance - discount, "currency": order.currency}
        if variant is not None:
            response["variant"] = variant
        record = redemption_record(rid, code, campaign, customer.id, order, discount, created,
                                   usage_period_attr(campaign, now), balance is not None, variant)
        shard_plan = self._shard_plan(campaign, discount, read_all) if sharded(campaign) else None
        if shard_plan is not None:
            record_plan(record, campaign, shard_plan)
        return Line(code, campaign, public, discount, record, balance, variant, shard_plan), response

    def _shard_plan(self, campaign: Campaign, discount: int, read_all: bool) -> ShardPlan:
        """Where a redemption of a sharded campaign counts (domain/shards.py): from a sample of the shards read
        eventually consistent, or, when that is short or was stale, from all of them read consistently. Refused
        only when all of them, read consistently, have no room: the cap is reached."""
        k = campaign.limits.counter_shards
        reads = [(list(range(k)), True)] if read_all else [(sample(k), False), (list(range(k)), True)]
        scope = "campaign"
        for indexes, consistent in reads:
            counts = self.store.read_shards(campaign, indexes, consistent)
            if counts is None:  # no limit on the shards: any one will do
                j = random.randrange(k)  # noqa: S311 - load spreading, not security  # nosec B311
                return ShardPlan(j, {j: discount})
            try:
                return plan(campaign, discount, counts)
            except NoRoom as e:
                scope = e.scope
        lim = campaign.limits
        if scope == "budget":
            raise errors.BudgetExhausted()
        if scope == "code":
            raise errors.RedemptionLimitReached(details={"limit": lim.per_code, "scope": "code"})
        raise errors.RedemptionLimitReached(details={"limit": lim.total_redemptions, "scope": "campaign"})

    def _campaign_ids(self, bundle: ConfigBundle, codes: list[str], shopper: Shopper,
                      now: datetime) -> dict[str, str]:
        """Each code's campaign: by the pattern that names it, else one read of the code (with the shopper's
        guess counters in the same request: a throttled shopper learns nothing from the rules' answers)."""
        campaign_ids = {}
        for code in codes:
            cid = bundle.campaign_for_code(code)
            if cid is None:  # no pattern names it: one read to learn the campaign
                throttle: dict[tuple[str, str], dict] = {}
                item = self.store.get_code_with(code, self.guard.keys(shopper, now), throttle)
                self.guard.check(throttle, shopper, now)
                if item is None:
                    raise errors.CodeNotFound(details={"code": code} if len(codes) > 1 else None)
                cid = item["campaign_id"]
            campaign_ids[code] = cid
        return campaign_ids

    def _checked_profile(self, bundle: ConfigBundle, campaigns: dict[str, Campaign], customer: Customer,
                         now: datetime) -> dict | None:
        """The profile when a campaign's rules need it (one read, re-checked in the write), those rules checked."""
        if not any(needs_profile(c) for c in campaigns.values()):
            return None
        profile = self.store.get_profile(customer.id)
        for c in campaigns.values():
            if needs_profile(c):
                check_profile(c, profile, now, bundle.segments)
        return profile

    def rollback(self, redemption_id: str, reason: str | None, now: datetime,
                 uow: UnitOfWork | None = None) -> dict:
        record = self.store.get_redemption(redemption_id)
        if record is None:
            raise errors.NotFound(f"no redemption {redemption_id}", {"redemption_id": redemption_id})
        if record["status"] == "rolled_back":
            raise errors.AlreadyRolledBack()
        uow = self._uow(uow)
        uow.result = {"id": redemption_id, "status": "rolled_back"}
        self.store.rollback(uow, record, reason, iso(now))
        return uow.result

    def qualify(self, customer: Customer, order: Order, now: datetime) -> dict:
        """The customer's auto-applied incentives that the order qualifies for, best first. Reads only: the
        codes bound to the customer (gsi1, by id and by e-mail) and, in one BatchGetItem, the usage the
        campaigns' limits need."""
        bundle = self.config.bundle()
        holders_ = holders(customer, legacy=get_settings().legacy_hash_lookups)
        items = [i for h in holders_ for i in self.store.codes_held_by(h)]
        candidates = []
        for item in items:
            campaign = bundle.campaigns.get(item["campaign_id"])
            if campaign is not None and campaign.auto_apply:
                variant = variant_for(campaign, customer, item.get("variant"))
                candidates.append((CodeState.from_item(item), campaign.for_variant(variant)))
        if not candidates:
            return {"qualifications": [], "order_amount": order.amount}
        usages = self.store.read_usages([c for _, c in candidates], customer.id,
                                        {c.id: usage_period_attr(c, now) for _, c in candidates})
        found: list[dict] = []
        for state, campaign in candidates:
            try:
                discount = evaluate(state, campaign, customer, order, usages[campaign.id], now, bundle.segments)
            except errors.IncentiveError:
                continue
            found.append({"code": state.code, "campaign_id": campaign.id, "name": campaign.name,
                          "discount": {"amount": discount, "currency": order.currency},
                          "order_amount_after": order.amount - discount, "expires_at": state.expires_at})
        found.sort(key=lambda q: (-q["discount"]["amount"], q["expires_at"] or "9999", q["code"]))
        return {"qualifications": found, "order_amount": order.amount}

    def get_code(self, code: str, now: datetime, shopper_ip: str | None = None) -> dict:
        code = normalize(code)
        bundle = self.config.bundle()
        shopper, throttle = Shopper.of(None, shopper_ip), dict[tuple[str, str], dict]()
        item = self.store.get_code_with(code, self.guard.keys(shopper, now), throttle)
        self.guard.check(throttle, shopper, now)
        if item is None:
            if code not in bundle.public_codes:
                self.guard.failed(shopper, now)
                raise errors.CodeNotFound()
            item = {"code": code, "campaign_id": bundle.public_codes[code]}
        campaign = bundle.campaigns.get(item["campaign_id"])
        if campaign is not None and code_sharded(campaign) and code == campaign.codes.code:
            item = {**item, "redemptions": item.get("redemptions", 0)
                    + self.store.code_redemptions_on_shards(campaign, code)}
        state = CodeState.from_item(item)
        limit = campaign.limits.per_code if campaign else None
        if state.status == CODE_DISABLED:
            status = "disabled"
        elif state.expires_at is not None and state.expires_at <= iso(now):
            status = "expired"
        elif limit is not None and state.redemptions >= limit:
            status = "redeemed"
        else:
            status = CODE_ACTIVE
        out = {"code": code, "campaign_id": state.campaign_id, "status": status,
               "redemptions": {"count": state.redemptions, "limit": limit}, "expires_at": state.expires_at}
        if state.balance is not None:
            out["balance"] = {"amount": state.balance, "currency": item.get("currency")}
        if item.get("variant"):
            out["variant"] = item["variant"]
        return out
