"""DynamoDB side of validation, redemption and rollback.

Redemption is one TransactWriteItems: the code's per-code count, the campaign's counters, the customer's
usage, the redemption record and (with an Idempotency-Key) the completed idempotency record. Each limit is
a ConditionExpression on the item that holds the count, so the limit holds under any concurrency; a failed
condition cancels the whole transaction and nothing is written.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..domain import errors
from ..domain.checkout import CODE_ACTIVE, CodeState, Usage, needs_profile
from ..domain.config import Campaign
from ..domain.ids import new_id
from ..domain.orders import Order
from . import keys
from .dynamo import Table, TransactionCancelled, values
from .unit_of_work import UnitOfWork, always


@dataclass
class CodeCampaignMismatch(Exception):
    """The code belongs to another campaign than the one its pattern suggested; retry with that one."""

    campaign_id: str
    code: str = ""


@dataclass
class Line:
    """One code of a redemption: its campaign, the discount it gives and the record that documents it."""

    code: str
    campaign: Campaign
    public: bool
    discount: int
    record: dict
    balance: int | None = None  # the card balance the discount was computed from (gift cards, store credit)


def redemption_record(rid: str, code: str, campaign: Campaign, customer_id: str, order: Order, discount: int,
                      created: str, usage_period: str | None, balance_spent: bool) -> dict:
    """The redemption as stored: what a rollback undoes (counted_customer, usage_period, balance_spent) and the
    customer's gsi1 entry."""
    pk, sk = keys.redemption(rid)
    return {"pk": pk, "sk": sk, "id": rid, "code": code, "campaign_id": campaign.id, "customer_id": customer_id,
            "order_id": order.id, "discount_amount": discount, "currency": order.currency,
            "order_amount": order.amount, "status": "succeeded", "created_at": created,
            "counted_customer": campaign.counts_customer, "usage_period": usage_period,
            "balance_spent": balance_spent, "gsi1pk": keys.customer_gsi(customer_id),
            "gsi1sk": f"REDEMPTION#{created}#{rid}"}


class BalanceChanged(Exception):
    """A gift card was spent between the balance read and this redemption: compute again."""


class ProfileChanged(Exception):
    """The customer's profile changed between the rules' read and the redemption: decide again."""


class CheckoutStore:
    def __init__(self, table: Table):
        self.table = table

    # --- reads (validation) -----------------------------------------------------------------------------

    def read_state(self, code: str, campaign: Campaign | None, customer_id: str,
                   period_attr: str | None = None, extra: list[tuple[str, str]] | None = None,
                   found: dict | None = None) -> tuple[dict | None, Usage]:
        """The code item and the usage counters the campaign's limits need, in one BatchGetItem when the
        campaign is known up front. ``extra`` keys ride in the same request (the guessing counters); what they
        found goes into ``found``."""
        wanted = [keys.code(code)]
        if campaign is not None:
            wanted += self._usage_keys(campaign, customer_id)
        wanted += extra or []
        got = self.table.batch_get(wanted)
        if found is not None:
            found.update({k: got[k] for k in extra or [] if k in got})
        item = got.get(keys.code(code))
        if campaign is None or (item is not None and item["campaign_id"] != campaign.id):
            return item, Usage()  # caller resolves the campaign and asks for usage
        return item, self._usage(got, campaign, customer_id, period_attr)

    def read_usage(self, campaign: Campaign, customer_id: str, period_attr: str | None = None) -> Usage:
        return self.read_usages([campaign], customer_id, {campaign.id: period_attr})[campaign.id]

    def read_usages(self, campaigns: list[Campaign], customer_id: str,
                    period_attrs: dict[str, str | None]) -> dict[str, Usage]:
        """Usage of several campaigns by one customer, in one BatchGetItem (at most 100 keys)."""
        wanted = [k for c in campaigns for k in self._usage_keys(c, customer_id)]
        got = self.table.batch_get(wanted[:100]) if wanted else {}
        return {c.id: self._usage(got, c, customer_id, period_attrs.get(c.id)) for c in campaigns}

    @staticmethod
    def _usage_keys(campaign: Campaign, customer_id: str) -> list[tuple[str, str]]:
        lim = campaign.limits
        out = []
        if lim.total_redemptions is not None or lim.budget is not None:
            out.append(keys.campaign_counters(campaign.id))
        if campaign.counts_customer:
            out.append(keys.customer_usage(campaign.id, customer_id))
        if needs_profile(campaign):
            out.append(keys.customer_profile(customer_id))
        return out

    @staticmethod
    def _usage(got: dict, campaign: Campaign, customer_id: str, period_attr: str | None = None) -> Usage:
        counters = got.get(keys.campaign_counters(campaign.id)) or {}
        mine = got.get(keys.customer_usage(campaign.id, customer_id)) or {}
        return Usage(counters.get("redeemed", 0), counters.get("discount_total", 0), mine.get("redeemed", 0),
                     mine.get(period_attr, 0) if period_attr else 0, got.get(keys.customer_profile(customer_id)))

    def get_profile(self, customer_id: str) -> dict | None:
        return self.table.get(*keys.customer_profile(customer_id), consistent=True)

    def get_code(self, code: str, consistent: bool = False) -> dict | None:
        return self.table.get(*keys.code(code), consistent=consistent)

    def get_code_with(self, code: str, extra: list[tuple[str, str]], found: dict) -> dict | None:
        """The code item and ``extra`` items (into ``found``) in one request: a GetItem when there are none."""
        if not extra:
            return self.get_code(code)
        got = self.table.batch_get([keys.code(code), *extra])
        found.update({k: got[k] for k in extra if k in got})
        return got.get(keys.code(code))

    def codes_held_by(self, holder: str) -> list[dict]:
        """The codes bound to one holder (gsi1)."""
        return self.table.query(keys.holder_gsi(holder), "CODE#", index="gsi1")

    def redemptions_of(self, customer_id: str) -> list[dict]:
        """The customer's redemption records (gsi1: eventually consistent)."""
        return self.table.query(keys.customer_gsi(customer_id), "REDEMPTION#", index="gsi1")

    def get_redemption(self, redemption_id: str) -> dict | None:
        return self.table.get(*keys.redemption(redemption_id), consistent=True)

    # --- redemption ---------------------------------------------------------------------------------------

    def redeem(self, uow: UnitOfWork, lines: list[Line], holders: list[str], customer_id: str, now_iso: str,
               profile: dict | None = None) -> None:
        """One TransactWriteItems for one code or a stack of codes (all or nothing): the profile check (once),
        per line the code, the campaign counters and the customer's usage with their limit conditions, then the
        redemption records and whatever else ``uow`` holds (the Idempotency-Key's answer)."""
        if any(needs_profile(ln.campaign) for ln in lines):
            # The profile-based rules were decided on the profile read before: it must still be that profile.
            k = keys.customer_profile(customer_id)
            if profile is None:
                uow.check(k, "attribute_not_exists(pk)", explain=always(ProfileChanged))
            else:
                uow.check(k, "version = :v", vals=values(v=profile["version"]), explain=always(ProfileChanged))
        for ln in lines:
            self._code_write(uow, ln, holders, now_iso)
            self._counters_write(uow, ln.campaign, ln.discount, ln.record["currency"], now_iso,
                                 ln.record.get("order_amount") or 0)
            if ln.campaign.counts_customer:
                self._usage_write(uow, ln.campaign, customer_id, ln.record.get("usage_period"), now_iso)
        for ln in lines:
            uow.put(ln.record)
        # Any other failed condition is the redemption id or the idempotency record: another attempt owns it.
        uow.commit(token=lines[0].record["id"], otherwise=_in_progress_or_contention)

    def _usage_write(self, uow: UnitOfWork, campaign: Campaign, customer_id: str, period_attr: str | None,
                     now_iso: str) -> None:
        """One item per customer and campaign: `redeemed` (lifetime; also what erasure moves it by) and one
        `period_<...>` count per calendar period, each limit a condition in the same update."""
        pk, sk = keys.customer_usage(campaign.id, customer_id)
        lim = campaign.limits
        per = lim.per_customer_per_period  # set whenever period_attr is (usage_period_attr)
        update, cond, names = "ADD redeemed :one", [], {}
        vals = values(one=1, now=now_iso)
        if lim.per_customer is not None:
            cond.append("(attribute_not_exists(redeemed) OR redeemed < :lim)")
            vals.update(values(lim=lim.per_customer))
        if period_attr is not None and per is not None:
            update += ", #per :one"
            names["#per"] = period_attr
            cond.append("(attribute_not_exists(#per) OR #per < :plim)")
            vals.update(values(plim=per.count))

        def explain(old: dict | None) -> Exception:
            if per is None or (lim.per_customer is not None and (old or {}).get("redeemed", 0) >= lim.per_customer):
                return errors.CustomerLimitReached(details={"limit": lim.per_customer})
            return errors.CustomerLimitReached(details={"limit": per.count, "period": per.period})
        # A DynamoDB update expression of constant fragments and placeholders, not SQL.
        uow.update((pk, sk), update + " SET updated_at = :now", " AND ".join(cond) or None,  # noqa: S608
                   names or None, vals, explain)

    def _code_write(self, uow: UnitOfWork, line: Line, holders: list[str], now_iso: str) -> None:
        code, campaign, public, balance, discount = line.code, line.campaign, line.public, line.balance, line.discount
        pk, sk = keys.code(code)
        names = {"#st": "status"}
        vals = values(one=1, cid=campaign.id, active=CODE_ACTIVE, now=now_iso)
        cond = ["campaign_id = :cid", "#st = :active", "(attribute_not_exists(expires_at) OR expires_at > :now)"]
        holder_names = []
        for i, h in enumerate(holders):
            vals[f":h{i}"] = {"S": h}
            holder_names.append(f":h{i}")
        cond.append(f"(attribute_not_exists(holder) OR holder IN ({', '.join(holder_names)}))")
        if campaign.limits.per_code is not None:
            vals.update(values(per_code=campaign.limits.per_code))
            cond.append("(attribute_not_exists(redemptions) OR redemptions < :per_code)")
        update = "ADD redemptions :one SET last_redeemed_at = :now"
        if balance is not None:
            # Spend exactly from the balance that was read: the card never goes below zero, and balance_after
            # in the answer is exact even when two checkouts spend the same card at once.
            vals.update(values(bal=balance, spend=-discount))
            cond.append("balance = :bal")
            update = "ADD redemptions :one, balance :spend SET last_redeemed_at = :now"
        condition = " AND ".join(cond)
        if public:
            # The public code's item is created on first use if the activation job has not written it yet.
            vals.update(values(code=code, kind="public"))
            update += (", code = :code, kind = :kind, campaign_id = if_not_exists(campaign_id, :cid),"
                       " #st = if_not_exists(#st, :active)")
            condition = f"attribute_not_exists(pk) OR ({condition})"
        else:
            condition = f"attribute_exists(pk) AND {condition}"
        uow.update((pk, sk), update, condition, names, vals,
                   lambda old: self._code_error(old, line, holders, now_iso))

    def _counters_write(self, uow: UnitOfWork, campaign: Campaign, discount: int, currency: str,
                        now_iso: str, order_amount: int = 0) -> None:
        pk, sk = keys.campaign_counters(campaign.id)
        lim = campaign.limits
        vals = values(one=1, d=discount, now=now_iso, rv=order_amount)
        cond = []
        if lim.total_redemptions is not None:
            vals.update(values(max=lim.total_redemptions))
            cond.append("(attribute_not_exists(redeemed) OR redeemed < :max)")
        if lim.budget is not None:
            vals.update(values(room=lim.budget.amount - discount))
            cond.append("(attribute_not_exists(discount_total) OR discount_total <= :room)")
        # discount_total feeds the budget (one currency per budgeted campaign); discount_<CUR> keeps the
        # numbers right for percent-only campaigns that take orders in several currencies.

        def explain(old: dict | None) -> Exception:
            if lim.total_redemptions is not None and (old or {}).get("redeemed", 0) >= lim.total_redemptions:
                return errors.RedemptionLimitReached(details={"limit": lim.total_redemptions, "scope": "campaign"})
            return errors.BudgetExhausted()
        # spend_<YYYY-MM-DD>_<CUR>: the day's discount (UTC), the dashboard's spend over time; revenue_<CUR>: the
        # order amounts sent with the redemptions, before the discount (campaign stats); same item, same write.
        uow.update((pk, sk), "ADD redeemed :one, discount_total :d, #dc :d, #day :d, #rv :rv SET updated_at = :now",
                   " AND ".join(cond) or None, {"#dc": f"discount_{currency}", "#day": spend_day(now_iso, currency),
                                                "#rv": f"revenue_{currency}"},
                   vals, explain)

    @staticmethod
    def _code_error(old: dict | None, line: Line, holders: list[str], now_iso: str) -> Exception:
        """Why the code's condition failed, from the code item as it was."""
        campaign = line.campaign
        if old is None:
            return errors.CodeNotFound()
        if old.get("campaign_id") != campaign.id:
            return CodeCampaignMismatch(old["campaign_id"], line.code)
        state = CodeState.from_item(old)
        if state.status != CODE_ACTIVE:
            return errors.CodeDisabled()
        if state.expires_at is not None and state.expires_at <= now_iso:
            return errors.CodeExpired(details={"expires_at": state.expires_at})
        if state.holder is not None and state.holder not in holders:
            return errors.CodeAssignedToOtherCustomer()
        if line.balance is not None and state.balance != line.balance:
            return BalanceChanged()
        return errors.RedemptionLimitReached(details={"limit": campaign.limits.per_code, "scope": "code"})

    # --- rollback -----------------------------------------------------------------------------------------

    def rollback_writes(self, uow: UnitOfWork, record: dict, reason: str | None, now_iso: str) -> None:
        """The rollback's writes; the record flips to rolled_back on condition it still succeeded (its failure
        explains itself: AlreadyRolledBack)."""
        uow.update(keys.redemption(record["id"]), "SET #st = :rolled, rolled_back_at = :now, rollback_reason = :reason",
                   "#st = :succeeded", {"#st": "status"},
                   values(rolled="rolled_back", succeeded="succeeded", now=now_iso, reason=reason or ""),
                   always(errors.AlreadyRolledBack))
        code_key = keys.code(record["code"])
        if record.get("balance_spent"):  # a gift card gets back what this redemption took
            uow.update(code_key, "ADD redemptions :minus, balance :back", "redemptions > :zero",
                       vals=values(minus=-1, zero=0, back=record["discount_amount"]))
        else:
            uow.update(code_key, "ADD redemptions :minus", "redemptions > :zero", vals=values(minus=-1, zero=0))
        uow.update(keys.campaign_counters(record["campaign_id"]),
                   "ADD redeemed :minus, discount_total :neg, #dc :neg, #day :neg, #rv :rv SET updated_at = :now",
                   names={"#dc": f"discount_{record['currency']}",
                          "#day": spend_day(record["created_at"], record["currency"]),  # the redemption's day
                          "#rv": f"revenue_{record['currency']}"},
                   vals=values(minus=-1, neg=-record["discount_amount"], now=now_iso,
                               rv=-(record.get("order_amount") or 0)))
        if record.get("counted_customer"):
            usage_key = keys.customer_usage(record["campaign_id"], record["customer_id"])
            if record.get("usage_period"):
                uow.update(usage_key, "ADD redeemed :minus, #per :minus", names={"#per": record["usage_period"]},
                           vals=values(minus=-1))
            else:
                uow.update(usage_key, "ADD redeemed :minus", vals=values(minus=-1))

    def rollback(self, uow: UnitOfWork, record: dict, reason: str | None, now_iso: str) -> None:
        self.rollback_writes(uow, record, reason, now_iso)
        # A fresh token per call: botocore's own retry of this call is then a no-op, not a second rollback.
        uow.commit(token=new_id("rbk"), otherwise=_in_progress_or_contention)


def _in_progress_or_contention(e: TransactionCancelled) -> Exception:
    if any(r == "ConditionalCheckFailed" for r in e.reasons):
        return errors.RequestInProgress()
    return errors.Contention(details={"reasons": e.reasons})


SPEND_DAY_PREFIX = "spend_"


def spend_day(iso_time: str, currency: str) -> str:
    """The campaign counter of one UTC day's discount in one currency: ``spend_<YYYY-MM-DD>_<CUR>``."""
    return f"{SPEND_DAY_PREFIX}{iso_time[:10]}_{currency}"
