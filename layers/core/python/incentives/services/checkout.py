"""Use cases of the checkout path: validate (reads only), redeem (one transaction), rollback, code lookup."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime

from ..adapters.checkout_store import BalanceChanged, CheckoutStore, CodeCampaignMismatch, ProfileChanged
from ..adapters.config_source import ConfigSource
from ..adapters.idempotency import IdempotencyGuard
from ..domain import errors
from ..domain.checkout import CODE_ACTIVE, CODE_DISABLED, CodeState, check_profile, check_request, evaluate, \
    needs_profile, usage_period_attr
from ..domain.clock import iso, iso_ms
from ..domain.codes import normalize
from ..domain.config import Campaign, ConfigBundle
from ..domain.customers import holders
from ..domain.ids import new_id
from ..domain.orders import Customer, Order
from ..adapters import keys


DECISION_DEADLINE_S = 8.0  # re-decide after a concurrent change of campaign guess, profile or card balance


@dataclass(frozen=True)
class CheckoutRequest:
    code: str
    customer: Customer
    order: Order


class Checkout:
    def __init__(self, store: CheckoutStore, config: ConfigSource):
        self.store = store
        self.config = config

    def _campaign(self, bundle: ConfigBundle, campaign_id: str) -> Campaign:
        campaign = bundle.campaigns.get(campaign_id)
        if campaign is None:
            raise errors.CampaignNotFound(details={"campaign_id": campaign_id})
        return campaign

    # --- validation: one BatchGetItem when the code's pattern names its campaign -------------------------

    def validate(self, req: CheckoutRequest, now: datetime) -> dict:
        code = normalize(req.code)
        bundle = self.config.bundle()
        try:
            guess = bundle.campaign_for_code(code)
            campaign = bundle.campaigns.get(guess) if guess else None
            item, usage = self.store.read_state(code, campaign, req.customer.id,
                                                usage_period_attr(campaign, now) if campaign else None)
            if item is None:
                if campaign is None or code not in bundle.public_codes:
                    raise errors.CodeNotFound()
                item = {"code": code, "campaign_id": campaign.id}  # public code not yet used
            if campaign is None or item["campaign_id"] != campaign.id:
                campaign = self._campaign(bundle, item["campaign_id"])
                usage = self.store.read_usage(campaign, req.customer.id, usage_period_attr(campaign, now))
            discount = evaluate(CodeState.from_item(item), campaign, req.customer, req.order, usage, now,
                                bundle.segments)
        except errors.IncentiveError as e:
            return {"valid": False, "reason": e.code, "message": e.message}
        return {"valid": True, "code": code, "campaign_id": campaign.id,
                "discount": {"amount": discount, "currency": req.order.currency},
                "order_amount_after": req.order.amount - discount}

    # --- redemption: one TransactWriteItems --------------------------------------------------------------

    def redeem(self, req: CheckoutRequest, now: datetime, guard: IdempotencyGuard | None = None) -> dict:
        code = normalize(req.code)
        bundle = self.config.bundle()
        campaign_id = bundle.campaign_for_code(code)
        if campaign_id is None:  # no pattern names it: one read to learn the campaign
            item = self.store.table.get(*keys.code(code))
            if item is None:
                raise errors.CodeNotFound()
            campaign_id = item["campaign_id"]
        deadline, attempt = time.monotonic() + DECISION_DEADLINE_S, 0
        while time.monotonic() < deadline:
            campaign = self._campaign(bundle, campaign_id)
            balance = None
            if campaign.has_balance:  # a card pays what its balance allows: read it, spend exactly from it
                card = self.store.table.get(*keys.code(code), consistent=True)
                if card is None:
                    raise errors.CodeNotFound()
                balance = card.get("balance", 0)
            discount = check_request(campaign, req.customer, req.order, now, balance)
            profile = None
            if needs_profile(campaign):  # first-order and segment rules: one read, re-checked in the write
                profile = self.store.get_profile(req.customer.id)
                check_profile(campaign, profile, now, bundle.segments)
            rid = new_id("rdm")
            created = iso_ms(now)
            response = {"id": rid, "code": code, "campaign_id": campaign.id, "customer_id": req.customer.id,
                         "order_id": req.order.id, "discount": {"amount": discount, "currency": req.order.currency},
                         "status": "succeeded", "created_at": created}
            if balance is not None:
                response["balance_after"] = {"amount": balance - discount, "currency": req.order.currency}
            record = {"pk": keys.redemption(rid)[0], "sk": keys.redemption(rid)[1], "id": rid, "code": code,
                      "campaign_id": campaign.id, "customer_id": req.customer.id, "order_id": req.order.id,
                      "discount_amount": discount, "currency": req.order.currency, "order_amount": req.order.amount,
                      "status": "succeeded", "created_at": created,
                      "counted_customer": campaign.counts_customer,
                      "usage_period": usage_period_attr(campaign, now),
                      "balance_spent": balance is not None,
                      "gsi1pk": keys.customer_gsi(req.customer.id), "gsi1sk": f"REDEMPTION#{created}#{rid}"}
            extra = [guard.completion_op(201, response)] if guard else []
            try:
                self.store.redeem(code=code, campaign=campaign, public=code in bundle.public_codes,
                                  holders=holders(req.customer), customer_id=req.customer.id, discount=discount,
                                  record=record, now_iso=iso(now), extra_ops=extra, profile=profile,
                                  balance=balance)
                return response
            except CodeCampaignMismatch as m:
                campaign_id = m.campaign_id
            except (ProfileChanged, BalanceChanged):
                # the profile or the card's balance changed meanwhile: decide again, after a jittered pause
                attempt += 1
                time.sleep(random.uniform(0, min(0.2, 0.003 * 2**min(attempt, 8))))
        raise errors.Contention()

    def rollback(self, redemption_id: str, reason: str | None, now: datetime,
                 guard: IdempotencyGuard | None = None) -> dict:
        record = self.store.get_redemption(redemption_id)
        if record is None:
            raise errors.NotFound(f"no redemption {redemption_id}", {"redemption_id": redemption_id})
        if record["status"] == "rolled_back":
            raise errors.AlreadyRolledBack()
        response = {"id": redemption_id, "status": "rolled_back"}
        extra = [guard.completion_op(200, response)] if guard else []
        self.store.rollback(record, reason, iso(now), extra)
        return response

    def qualify(self, customer: Customer, order: Order, now: datetime) -> dict:
        """The customer's auto-applied incentives that the order qualifies for, best first. Reads only: the
        codes bound to the customer (gsi1, by id and by e-mail) and, in one BatchGetItem, the usage the
        campaigns' limits need."""
        bundle = self.config.bundle()
        holders_ = holders(customer)
        items = [i for h in holders_ for i in self.store.table.query(keys.holder_gsi(h), "CODE#", index="gsi1")]
        candidates = []
        for item in items:
            campaign = bundle.campaigns.get(item["campaign_id"])
            if campaign is not None and campaign.auto_apply:
                candidates.append((CodeState.from_item(item), campaign))
        if not candidates:
            return {"qualifications": [], "order_amount": order.amount}
        usages = self.store.read_usages([c for _, c in candidates], customer.id,
                                        {c.id: usage_period_attr(c, now) for _, c in candidates})
        found = []
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

    def get_code(self, code: str, now: datetime) -> dict:
        code = normalize(code)
        bundle = self.config.bundle()
        item = self.store.table.get(*keys.code(code))
        if item is None:
            if code not in bundle.public_codes:
                raise errors.CodeNotFound()
            item = {"code": code, "campaign_id": bundle.public_codes[code]}
        state = CodeState.from_item(item)
        campaign = bundle.campaigns.get(state.campaign_id)
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
        return out
