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
from ..domain.shards import ShardCounts, ShardPlan, code_sharded, share, sum_counters
from ..domain.variants import counter
from . import keys
from .dynamo import Table, TransactionCancelled, values
from .unit_of_work import UnitOfWork, always


@dataclass
class CodeCampaignMismatch(Exception):
    """The code belongs to another campaign than the one its pattern suggested; retry with that one."""

    campaign_id: str
    code: str = ""


@dataclass
class CodeVariantMismatch(Exception):
    """The code was issued in another A/B variant than the one assumed; retry in that one."""

    variant: str
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
    variant: str | None = None  # the campaign's A/B variant this redemption runs in
    plan: ShardPlan | None = None  # where it counts when the campaign's counters are sharded (domain/shards.py)


def redemption_record(rid: str, code: str, campaign: Campaign, customer_id: str, order: Order, discount: int,
                      created: str, usage_period: str | None, balance_spent: bool,
                      variant: str | None = None) -> dict:
    """The redemption as stored: what a rollback undoes (counted_customer, usage_period, balance_spent, variant)
    and the customer's gsi1 entry."""
    pk, sk = keys.redemption(rid)
    return {"pk": pk, "sk": sk, "id": rid, "code": code, "campaign_id": campaign.id, "customer_id": customer_id,
            "variant": variant, "order_id": order.id, "discount_amount": discount, "currency": order.currency,
            "order_amount": order.amount, "status": "succeeded", "created_at": created,
            "counted_customer": campaign.counts_customer, "usage_period": usage_period,
            "balance_spent": balance_spent, "gsi1pk": keys.customer_gsi(customer_id),
            "gsi1sk": f"REDEMPTION#{created}#{rid}"}


class BalanceChanged(Exception):
    """A gift card was spent between the balance read and this redemption: compute again."""


class ProfileChanged(Exception):
    """The customer's profile changed between the rules' read and the redemption: decide again."""


class ShardSpent(Exception):
    """A counter shard chosen from a (sampled or stale) read had no room left: read all shards and choose again."""


def record_plan(record: dict, campaign: Campaign, plan: ShardPlan) -> None:
    """Where the redemption counted, on its record, so a rollback gives back to the same shards."""
    record["counter_shard"] = plan.shard
    record["discount_shards"] = {str(j): d for j, d in sorted(plan.discounts.items())}
    if code_sharded(campaign):
        record["code_shard"] = plan.shard


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
            wanted += self._usage_keys(campaign, customer_id) + _code_shard_keys(campaign, code)
        wanted += extra or []
        got = self.table.batch_get(wanted)
        if found is not None:
            found.update({k: got[k] for k in extra or [] if k in got})
        item = got.get(keys.code(code))
        if campaign is None or (item is not None and item["campaign_id"] != campaign.id):
            return item, Usage()  # caller resolves the campaign and asks for usage
        if _code_shard_keys(campaign, code):  # the code's count lives on its shards (public, counter_shards > 1)
            counted = sum(got.get(k, {}).get("redemptions", 0) for k in _code_shard_keys(campaign, code))
            item = {"code": code, "campaign_id": campaign.id, **(item or {})}
            item["redemptions"] = item.get("redemptions", 0) + counted
        return item, self._usage(got, campaign, customer_id, period_attr)

    def read_shards(self, campaign: Campaign, indexes: list[int], consistent: bool) -> list[ShardCounts] | None:
        """The shards' counts that the campaign's limits need, in one BatchGetItem; None when no limit needs a
        read (then any shard will do)."""
        lim = campaign.limits
        wanted: list[tuple[str, str]] = []
        if lim.total_redemptions is not None or lim.budget is not None:
            wanted += [keys.campaign_counter_shard(campaign.id, j) for j in indexes]
        if code_sharded(campaign) and lim.per_code is not None and campaign.codes.code:
            wanted += [keys.code_count_shard(campaign.codes.code, j) for j in indexes]
        if not wanted:
            return None
        got = self.table.batch_get(wanted, consistent=consistent)
        out = []
        for j in indexes:
            counters = got.get(keys.campaign_counter_shard(campaign.id, j)) or {}
            code = (got.get(keys.code_count_shard(campaign.codes.code, j)) or {}) if campaign.codes.code else {}
            out.append(ShardCounts(j, code.get("redemptions", 0), counters.get("redeemed", 0),
                                   counters.get("discount_total", 0)))
        return out

    def code_redemptions_on_shards(self, campaign: Campaign, code: str) -> int:
        """A sharded public code's redemptions on its shards (one BatchGetItem)."""
        wanted = _code_shard_keys(campaign, code)
        got = self.table.batch_get(wanted) if wanted else {}
        return sum(got.get(k, {}).get("redemptions", 0) for k in wanted)

    def read_usage(self, campaign: Campaign, customer_id: str, period_attr: str | None = None) -> Usage:
        return self.read_usages([campaign], customer_id, {campaign.id: period_attr})[campaign.id]

    def read_usages(self, campaigns: list[Campaign], customer_id: str,
                    period_attrs: dict[str, str | None]) -> dict[str, Usage]:
        """Usage of several campaigns by one customer, in one BatchGetItem up to 100 keys (a sharded campaign
        brings K counter keys: more than 100 take more requests, never a truncated read)."""
        wanted = [k for c in campaigns for k in self._usage_keys(c, customer_id)]
        got = self.table.batch_get_many(wanted) if wanted else {}
        return {c.id: self._usage(got, c, customer_id, period_attrs.get(c.id)) for c in campaigns}

    @staticmethod
    def _usage_keys(campaign: Campaign, customer_id: str) -> list[tuple[str, str]]:
        lim = campaign.limits
        out = []
        if lim.total_redemptions is not None or lim.budget is not None:
            out += _counter_keys(campaign)
        if campaign.counts_customer:
            out.append(keys.customer_usage(campaign.id, customer_id))
        if needs_profile(campaign):
            out.append(keys.customer_profile(customer_id))
        return out

    @staticmethod
    def _usage(got: dict, campaign: Campaign, customer_id: str, period_attr: str | None = None) -> Usage:
        counters = _summed(got, _counter_keys(campaign))
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
            if ln.plan is not None and code_sharded(ln.campaign):
                self._code_shard_write(uow, ln, ln.plan.shard, now_iso)
            else:
                self._code_write(uow, ln, holders, now_iso)
            if ln.plan is not None:
                self._shard_counters_write(uow, ln.campaign, ln.plan, ln.record["currency"], now_iso,
                                           ln.record.get("order_amount") or 0, ln.variant)
            else:
                self._counters_write(uow, ln.campaign, ln.discount, ln.record["currency"], now_iso,
                                     ln.record.get("order_amount") or 0, ln.variant)
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
        if line.variant is not None:  # the reward given is the variant's: the code must be of that variant
            vals.update(values(variant=line.variant))
            cond.append("(attribute_not_exists(variant) OR variant = :variant)")
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
                        now_iso: str, order_amount: int = 0, variant: str | None = None) -> None:
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
        # v_<id>_redeemed, v_<id>_discount_<CUR>, v_<id>_revenue_<CUR>: the A/B variant's numbers, same item, same
        # write (plain ADDs, summed over the items by services/campaign_stats.py).
        names = {"#dc": f"discount_{currency}", "#day": spend_day(now_iso, currency), "#rv": f"revenue_{currency}",
                 **variant_names(variant, currency)}
        adds = ", #vr :one, #vd :d, #vv :rv" if variant is not None else ""
        uow.update((pk, sk),
                   f"ADD redeemed :one, discount_total :d, #dc :d, #day :d, #rv :rv{adds} SET updated_at = :now",
                   " AND ".join(cond) or None, names, vals, explain)

    def _code_shard_write(self, uow: UnitOfWork, line: Line, j: int, now_iso: str) -> None:
        """A sharded public code counts on shard ``j`` against that shard's share of per_code. The shard is made on
        first use with the code's campaign and status, and checked like the code item."""
        campaign = line.campaign
        names = {"#st": "status"}
        vals = values(one=1, cid=campaign.id, active=CODE_ACTIVE, now=now_iso, code=line.code)
        cond = ["campaign_id = :cid", "#st = :active"]
        if campaign.limits.per_code is not None:
            vals.update(values(per_code=share(campaign.limits.per_code, campaign.limits.counter_shards, j)))
            cond.append("(attribute_not_exists(redemptions) OR redemptions < :per_code)")

        def explain(old: dict | None) -> Exception:
            if old is not None and old.get("campaign_id") != campaign.id:
                return CodeCampaignMismatch(old["campaign_id"], line.code)
            if old is not None and old.get("status", CODE_ACTIVE) != CODE_ACTIVE:
                return errors.CodeDisabled()
            return ShardSpent()
        uow.update(keys.code_count_shard(line.code, j),
                   "ADD redemptions :one SET last_redeemed_at = :now, code = :code,"
                   " campaign_id = if_not_exists(campaign_id, :cid), #st = if_not_exists(#st, :active)",
                   f"attribute_not_exists(pk) OR ({' AND '.join(cond)})", names, vals, explain)

    def _shard_counters_write(self, uow: UnitOfWork, campaign: Campaign, plan: ShardPlan, currency: str,
                              now_iso: str, order_amount: int, variant: str | None = None) -> None:
        """The counters of a sharded campaign: the plan's shard counts the redemption (and its revenue), each shard
        of the plan's discounts its part; every limit a condition on the share of the shard that holds it. An A/B
        variant's counters go the same way (its discount part with each part, its count and revenue with the
        count), so the stats' sum over the shards adds them up."""
        lim, k = campaign.limits, campaign.limits.counter_shards
        vnames = variant_names(variant, currency)
        for j in sorted({plan.shard, *plan.discounts}):
            part = plan.discounts.get(j, 0)
            vals = values(d=part, now=now_iso)
            names = {"#dc": f"discount_{currency}", "#day": spend_day(now_iso, currency)}
            cond = []
            vd = ", #vd :d" if variant is not None else ""
            update = f"ADD discount_total :d, #dc :d, #day :d{vd} SET updated_at = :now"
            if variant is not None:
                names["#vd"] = vnames["#vd"]
            if j == plan.shard:
                vrv = ", #vr :one, #vv :rv" if variant is not None else ""
                update = (f"ADD redeemed :one, discount_total :d, #dc :d, #day :d, #rv :rv{vd}{vrv} "
                          "SET updated_at = :now")
                names["#rv"] = f"revenue_{currency}"
                names.update(vnames)
                vals.update(values(one=1, rv=order_amount))
                if lim.total_redemptions is not None:
                    vals.update(values(max=share(lim.total_redemptions, k, j)))
                    cond.append("(attribute_not_exists(redeemed) OR redeemed < :max)")
            if lim.budget is not None:
                vals.update(values(room=share(lim.budget.amount, k, j) - part))
                cond.append("(attribute_not_exists(discount_total) OR discount_total <= :room)")
            uow.update(keys.campaign_counter_shard(campaign.id, j), update, " AND ".join(cond) or None, names, vals,
                       always(ShardSpent))

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
        if line.variant is not None and old.get("variant") not in (None, line.variant):
            return CodeVariantMismatch(old["variant"], line.code)
        return errors.RedemptionLimitReached(details={"limit": campaign.limits.per_code, "scope": "code"})

    # --- rollback -----------------------------------------------------------------------------------------

    def rollback_writes(self, uow: UnitOfWork, record: dict, reason: str | None, now_iso: str) -> None:
        """The rollback's writes; the record flips to rolled_back on condition it still succeeded (its failure
        explains itself: AlreadyRolledBack)."""
        uow.update(keys.redemption(record["id"]), "SET #st = :rolled, rolled_back_at = :now, rollback_reason = :reason",
                   "#st = :succeeded", {"#st": "status"},
                   values(rolled="rolled_back", succeeded="succeeded", now=now_iso, reason=reason or ""),
                   always(errors.AlreadyRolledBack))
        if record.get("counter_shard") is not None:
            self._shard_rollback_writes(uow, record, now_iso)
            return
        code_key = keys.code(record["code"])
        if record.get("balance_spent"):  # a gift card gets back what this redemption took
            uow.update(code_key, "ADD redemptions :minus, balance :back", "redemptions > :zero",
                       vals=values(minus=-1, zero=0, back=record["discount_amount"]))
        else:
            uow.update(code_key, "ADD redemptions :minus", "redemptions > :zero", vals=values(minus=-1, zero=0))
        variant = record.get("variant")
        adds = ", #vr :minus, #vd :neg, #vv :rv" if variant is not None else ""
        uow.update(keys.campaign_counters(record["campaign_id"]),
                   f"ADD redeemed :minus, discount_total :neg, #dc :neg, #day :neg, #rv :rv{adds} "
                   "SET updated_at = :now",
                   names={"#dc": f"discount_{record['currency']}",
                          "#day": spend_day(record["created_at"], record["currency"]),  # the redemption's day
                          "#rv": f"revenue_{record['currency']}", **variant_names(variant, record["currency"])},
                   vals=values(minus=-1, neg=-record["discount_amount"], now=now_iso,
                               rv=-(record.get("order_amount") or 0)))
        self._usage_rollback_writes(uow, record)

    @staticmethod
    def _usage_rollback_writes(uow: UnitOfWork, record: dict) -> None:
        if record.get("counted_customer"):
            usage_key = keys.customer_usage(record["campaign_id"], record["customer_id"])
            if record.get("usage_period"):
                uow.update(usage_key, "ADD redeemed :minus, #per :minus", names={"#per": record["usage_period"]},
                           vals=values(minus=-1))
            else:
                uow.update(usage_key, "ADD redeemed :minus", vals=values(minus=-1))

    def _shard_rollback_writes(self, uow: UnitOfWork, record: dict, now_iso: str) -> None:
        """The counter and code writes of a sharded redemption's rollback: back to the shards it counted on."""
        shard = int(record["counter_shard"])
        if record.get("code_shard") is not None:
            uow.update(keys.code_count_shard(record["code"], int(record["code_shard"])), "ADD redemptions :minus",
                       "redemptions > :zero", vals=values(minus=-1, zero=0))
        elif record.get("balance_spent"):
            uow.update(keys.code(record["code"]), "ADD redemptions :minus, balance :back", "redemptions > :zero",
                       vals=values(minus=-1, zero=0, back=record["discount_amount"]))
        else:
            uow.update(keys.code(record["code"]), "ADD redemptions :minus", "redemptions > :zero",
                       vals=values(minus=-1, zero=0))
        currency, variant = record["currency"], record.get("variant")
        vnames = variant_names(variant, currency)
        parts = {int(j): d for j, d in (record.get("discount_shards") or {}).items()}
        for j in sorted({shard, *parts}):
            names = {"#dc": f"discount_{currency}", "#day": spend_day(record["created_at"], currency)}
            vals = values(neg=-parts.get(j, 0), now=now_iso)
            vd = ", #vd :neg" if variant is not None else ""
            if variant is not None:
                names["#vd"] = vnames["#vd"]
            update = f"ADD discount_total :neg, #dc :neg, #day :neg{vd} SET updated_at = :now"
            if j == shard:
                vrv = ", #vr :minus, #vv :rv" if variant is not None else ""
                update = (f"ADD redeemed :minus, discount_total :neg, #dc :neg, #day :neg, #rv :rv{vd}{vrv} "
                          "SET updated_at = :now")
                names["#rv"] = f"revenue_{currency}"
                names.update(vnames)
                vals.update(values(minus=-1, rv=-(record.get("order_amount") or 0)))
            uow.update(keys.campaign_counter_shard(record["campaign_id"], j), update, names=names, vals=vals)
        self._usage_rollback_writes(uow, record)

    def rollback(self, uow: UnitOfWork, record: dict, reason: str | None, now_iso: str) -> None:
        self.rollback_writes(uow, record, reason, now_iso)
        # A fresh token per call: botocore's own retry of this call is then a no-op, not a second rollback.
        uow.commit(token=new_id("rbk"), otherwise=_in_progress_or_contention)


def _in_progress_or_contention(e: TransactionCancelled) -> Exception:
    if any(r == "ConditionalCheckFailed" for r in e.reasons):
        return errors.RequestInProgress()
    return errors.Contention(details={"reasons": e.reasons})


def variant_names(variant: str | None, currency: str) -> dict[str, str]:
    """The placeholders of a variant's counters on the campaign's counter item (none without a variant)."""
    if variant is None:
        return {}
    return {"#vr": counter(variant, "redeemed"), "#vd": counter(variant, f"discount_{currency}"),
            "#vv": counter(variant, f"revenue_{currency}")}


def _counter_keys(campaign: Campaign) -> list[tuple[str, str]]:
    """The item(s) that hold the campaign's counters: the counter item, or its K shards."""
    k = campaign.limits.counter_shards
    if k == 1:
        return [keys.campaign_counters(campaign.id)]
    return [keys.campaign_counter_shard(campaign.id, j) for j in range(k)]


def _code_shard_keys(campaign: Campaign, code: str) -> list[tuple[str, str]]:
    if not code_sharded(campaign) or code != campaign.codes.code:
        return []
    return [keys.code_count_shard(code, j) for j in range(campaign.limits.counter_shards)]


def _summed(got: dict, wanted: list[tuple[str, str]]) -> dict:
    if len(wanted) == 1:
        return got.get(wanted[0]) or {}
    return sum_counters(got.get(k) for k in wanted)


SPEND_DAY_PREFIX = "spend_"


def spend_day(iso_time: str, currency: str) -> str:
    """The campaign counter of one UTC day's discount in one currency: ``spend_<YYYY-MM-DD>_<CUR>``."""
    return f"{SPEND_DAY_PREFIX}{iso_time[:10]}_{currency}"
