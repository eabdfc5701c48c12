"""Referral conversions: the referee's paid order converts a pending referral, a refund within the return window
reverses it, the reward is paid out when the window has closed, and suspicious conversions wait for review.

Each decision is one TransactWriteItems that changes the referral (condition: the status it was read in), the
referrer (condition: the version read, because the tier and the period cap depend on the count), the program's
counters (ADD) and the reward or its due item, together with the consumer's marker for the event (services/
consumers.py): an event delivered twice, or twice at once, decides once; two referees of one referrer converting
at once get consecutive tiers. A conflict with another decision is read again and decided again.

"Paid out" means final: a conversion's reward is released (code issued, points event, cash owed) by the
referral-rewards job once the converting order's return window (conversion.return_window_days) has closed, or at
once when it has closed already. Until then a refund of that order reverses the conversion and nothing was given;
afterwards a refund changes only the revenue figures. referral.converted is emitted at the same moment, so a
consumer (loyalty) never has to take it back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..adapters import keys
from ..adapters.codespace_store import CodeSpaceExhausted
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table, TransactionCancelled
from ..adapters.referral_store import STATUS, ReferralStore
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork
from ..domain import errors
from ..domain import referrals as rules
from ..domain.clock import iso
from ..domain.config import ConfigBundle
from ..domain.customers import holder_for_id
from ..domain.programs import ReferralProgram
from ..domain.variants import counter
from ..subscriptions import CustomerEvent
from .consumers import Consumer
from .code_issuer import CodeIssuer, CodeSpaceCollision
from .outbox import event_put
from .referrals import program_of

RELEASE_BATCH = 100
# A payout that fails is retried after 10 minutes (the job's period), then 20, 40, ... up to a day; after
# PARK_AFTER failures it is parked: retried once a day only, and reported in each run's result.
RETRY_FIRST, RETRY_CAP, PARKED_RETRY = timedelta(minutes=10), timedelta(days=1), timedelta(days=1)
PARK_AFTER = 6
CONVERTED_EVENT, POINTS_EVENT = "referral.converted", "referral.reward_points"
LEADERBOARD_EPOCH_MS = 10**13  # sort key part: earlier achievers of an equal count rank first


@dataclass(frozen=True)
class Deferred:
    """A due reward whose payout failed this run: why, and whether it is parked now."""

    reason: str
    parked: bool


def _effect(program_id: str) -> str:
    return f"REFERRAL#{program_id}"


def _early_refund(order_id: str | None) -> str:
    """The attribute of a pending referral that sums refunds of one order received before its order.paid."""
    return f"refund#{order_id}"


class Conversions:
    def __init__(self, table: Table, config: ConfigSource, consumer: Consumer):
        self.table = table
        self.config = config
        self.consumer = consumer
        self.store = ReferralStore(table)
        self.issuer = CodeIssuer(table)

    # --- the consumer: order.paid, order.refunded ---------------------------------------------------------

    def handle(self, event: CustomerEvent, now: datetime) -> list[dict]:
        """What this delivery did per program the customer was referred in. A program switched off converts
        nothing (order.paid is ignored) but still reverses on refunds what it converted before."""
        if event.type not in ("order.paid", "order.refunded") or event.order_amount is None:
            return []
        programs = [p for p in self.config.bundle().referral_programs.values()
                    if p.enabled or event.type == "order.refunded"]
        if not programs:
            return []
        locks = {keys.referee(p.id, event.customer_id): p for p in programs}
        pkey = keys.customer_profile(event.customer_id)
        got = self.table.batch_get([*locks, pkey], consistent=True)
        return [self._apply(program, got[k]["referral_id"], event, got.get(pkey), now)
                for k, program in locks.items() if k in got]

    def _apply(self, program: ReferralProgram, referral_id: str, event: CustomerEvent, profile: dict | None,
               now: datetime) -> dict:
        for _ in CONFLICTS.attempts():
            referral = self.store.get(keys.referral(referral_id))
            if referral is None:
                return {"referral_id": referral_id, "outcome": "ignored", "reason": "no_referral"}
            bundle = self.config.bundle()
            if event.type == "order.paid":
                plan = self._paid(program, referral, event, profile, now, bundle)
            else:
                plan = self._refunded(program, referral, event, now)
            if isinstance(plan, dict):
                return {"referral_id": referral_id, **plan}
            w, outcome = plan
            try:
                applied = self.consumer.apply_once(event.id, w, now, _effect(program.id))
            except TransactionCancelled:
                continue  # another decision on this referral or referrer came first: read and decide again
            return {"referral_id": referral_id, **(outcome if applied else {"outcome": "duplicate"})}
        raise errors.Contention("the referral kept changing; retry")

    def _paid(self, program, referral, event, profile, now, bundle):
        status, order_at = referral["status"], event.occurred_at
        amount, currency = event.order_amount, event.currency
        if status == rules.CONVERTED and referral.get("order_id") != event.order_id:
            # a converted referee's later order: their revenue, for LTV (the marker counts it once)
            w = UnitOfWork(self.table).add(keys.referral_program(program.id), **{f"revenue_{currency}": amount})
            return w, {"outcome": "revenue", "amount": amount}
        if status != rules.PENDING:
            return {"outcome": "ignored", "reason": f"referral_{status}"}
        early = int(referral.get(_early_refund(event.order_id), 0))  # its refund's event came first
        decision = rules.decide(program, referral, order_at, amount - early, currency,
                                (profile or {}).get("first_order_at"))
        if decision.action == "ignore":
            return {"outcome": "ignored", "reason": decision.reason}
        order = {"order_id": event.order_id, "order_amount": amount, "currency": currency, "order_at": order_at,
                 "refunded_amount": early or None}
        if decision.action in ("disqualify", "expire"):
            final = rules.DISQUALIFIED if decision.action == "disqualify" else rules.EXPIRED
            return self._close(program, referral, rules.PENDING, final, decision.reason, now, order), \
                {"outcome": final, "reason": decision.reason}
        referrer = self.store.get(keys.referrer(program.id, referral["referrer_id"]))
        if referrer is None:
            return {"outcome": "ignored", "reason": "no_referrer"}
        reasons = list(referral.get("signals") or [])
        _, in_period = rules.period_after(referrer, order_at, program.limits.period_days)
        if rules.over_cap(program, in_period):
            if program.limits.over_limit == "reject":
                return self._close(program, referral, rules.PENDING, rules.REJECTED, rules.PERIOD_LIMIT, now,
                                   order), {"outcome": rules.REJECTED, "reason": rules.PERIOD_LIMIT}
            reasons.append(rules.PERIOD_LIMIT)
        if reasons:
            return self._hold(program, referral, reasons, now, order), {"outcome": rules.HELD, "reasons": reasons}
        w = UnitOfWork(self.table)
        outcome = self._convert(w, program, referral, referrer, rules.PENDING, order, now, bundle)
        return w, outcome

    # --- state changes (each adds to a unit of work; the caller commits) -----------------------------------

    def _close(self, program, referral, from_status: str, to_status: str, reason: str | None, now: datetime,
               order: dict | None = None) -> UnitOfWork:
        """pending/held -> disqualified, expired or rejected: counted, nothing paid."""
        rk = keys.referral(referral["id"])
        w = UnitOfWork(self.table)
        w.set(rk, status=to_status, reason=reason, decided_at=iso(now), **(order or {}))
        w.cond(rk, "#st = :c_from", STATUS, c_from=from_status)
        fk = keys.referrer(program.id, referral["referrer_id"])
        w.add(fk, **{from_status: -1, to_status: 1}).cond(fk, "attribute_exists(pk)")  # not a stub after erasure
        w.add(keys.referral_program(program.id), **{from_status: -1, to_status: 1})
        if from_status == rules.HELD:
            w.delete(keys.referral_held(program.id, referral["id"]))
        return w

    def _hold(self, program, referral, reasons: list[str], now: datetime, order: dict) -> UnitOfWork:
        rk = keys.referral(referral["id"])
        at = iso(now)
        w = UnitOfWork(self.table)
        w.set(rk, status=rules.HELD, hold_reasons=reasons, held_at=at, **order)
        w.cond(rk, "#st = :c_from", STATUS, c_from=rules.PENDING)
        fk = keys.referrer(program.id, referral["referrer_id"])
        w.add(fk, pending=-1, held=1).cond(fk, "attribute_exists(pk)")
        w.add(keys.referral_program(program.id), pending=-1, held=1)
        hpk, hsk = keys.referral_held(program.id, referral["id"])
        w.op(self.table.put_op({"pk": hpk, "sk": hsk, "referral_id": referral["id"], "referrer_id":
                                 referral["referrer_id"], "held_at": at, "reasons": reasons, **order}))
        return w

    def _convert(self, w: UnitOfWork, program: ReferralProgram, referral: dict, referrer: dict, from_status: str,
                 order: dict, now: datetime, bundle: ConfigBundle) -> dict:
        """pending/held -> converted: the referrer's count (their tier), the period, the leaderboard, the
        program's counters, and the reward: paid now if the return window has closed, else a due item."""
        rk, fk, pc = (keys.referral(referral["id"]), keys.referrer(program.id, referral["referrer_id"]),
                      keys.referral_program(program.id))
        n = int(referrer.get("converted", 0)) + 1
        variant = referral.get("variant")  # the referrer's A/B variant, recorded at attribution
        reward = rules.reward_of(program.tier_for(n, variant), bundle)
        release = rules.release_at(program, order["order_at"])
        period_start, in_period = rules.period_after(referrer, order["order_at"], program.limits.period_days)
        w.set(rk, status=rules.CONVERTED, converted_at=iso(now), conversion_number=n, reward=reward,
              payout_status=rules.SCHEDULED, release_at=release, period_start=period_start, **order)
        w.cond(rk, "#st = :c_from", STATUS, c_from=from_status)
        self._referrer_count(w, fk, referrer, n, now, period_start=period_start, period_conversions=in_period + 1)
        w.add(fk, **{from_status: -1})
        revenue = order["order_amount"] - (order.get("refunded_amount") or 0)
        w.add(pc, conversions=1, **{from_status: -1, f"revenue_{order['currency']}": revenue},
              **({counter(variant, "conversions"): 1} if variant else {}))
        self._count_reward(w, pc, reward, 1, variant)
        converted = {**referral, "status": rules.CONVERTED, "reward": reward, "conversion_number": n}
        if release <= iso(now):
            self._payout(w, program, converted, now, bundle)
        else:
            dpk, dsk = keys.referral_due(program.id, release, referral["id"])
            w.op(self.table.put_op({"pk": dpk, "sk": dsk, "referral_id": referral["id"], "program_id": program.id,
                                     "release_at": release}))
        return {"outcome": rules.CONVERTED, "conversion_number": n,
                "reward": reward["type"] if reward else None,
                "payout": "now" if release <= iso(now) else release}

    def _referrer_count(self, w: UnitOfWork, fk: tuple[str, str], referrer: dict, n: int, now: datetime,
                        **fields) -> None:
        """converted = n under the version read; the leaderboard entry (gsi1) follows the count."""
        version = int(referrer.get("version", 0))
        w.set(fk, converted=n, version=version + 1, **fields)
        if n > 0:
            inverted = LEADERBOARD_EPOCH_MS - int(now.timestamp() * 1000)
            w.set(fk, gsi1pk=keys.leaderboard_gsi(referrer["program_id"]),
                  gsi1sk=f"{n:010d}#{inverted:013d}#{referrer['customer_id']}")
        else:
            w.remove(fk, "gsi1pk", "gsi1sk")
        w.cond(fk, "version = :c_version", c_version=version)

    @staticmethod
    def _count_reward(w: UnitOfWork, pc: tuple[str, str], reward: dict | None, sign: int,
                      variant: str | None = None) -> None:
        """The referrer reward a conversion commits, at face value where it has one (metrics: rewards cost, also
        per A/B variant)."""
        if reward is None:
            return
        w.add(pc, referrer_rewards=sign)
        if reward["type"] == "points":
            w.add(pc, referrer_points=sign * reward["points"])
        elif reward.get("value") is not None:
            cost = {f"referrer_cost_{reward['currency']}": sign * reward["value"]}
            if variant is not None:
                cost[counter(variant, f"referrer_cost_{reward['currency']}")] = sign * reward["value"]
            w.add(pc, **cost)
        else:
            w.add(pc, referrer_unpriced=sign)

    def _payout(self, w: UnitOfWork, program: ReferralProgram, referral: dict, now: datetime,
                bundle: ConfigBundle) -> None:
        """The conversion becomes final: referral.converted, and the tier's reward for the referrer (a bound code
        or gift card, a points event for the loyalty program, or cash owed), all in the caller's transaction."""
        rid, referrer_id = referral["id"], referral["referrer_id"]
        rk = keys.referral(rid)
        w.op(event_put(self.table, f"{rid}.converted", CONVERTED_EVENT, referrer_id, now, now,
                        {"program_id": program.id, "referral_id": rid, "referee_id": referral["referee_id"]}))
        reward = referral.get("reward")
        if reward is not None:
            if reward["type"] == "points":
                w.op(event_put(self.table, f"{rid}.reward_points", POINTS_EVENT, referrer_id, now, now,
                                {"program_id": reward["program_id"], "points": reward["points"], "reward_id": rid,
                                 "referral_program_id": program.id}))
            elif reward["type"] == "cash":
                pk, sk = keys.referral_payout(rid)
                w.op(self.table.put_op({"pk": pk, "sk": sk, "id": rid, "referral_id": rid, "program_id": program.id,
                                         "customer_id": referrer_id, "amount": reward["value"],
                                         "currency": reward["currency"], "status": "owed", "created_at": iso(now),
                                         "gsi1pk": keys.payouts_gsi(program.id, "owed"),
                                         "gsi1sk": f"{iso(now)}#{rid}"}))
            else:
                campaign = bundle.campaign(reward["campaign_id"])
                code = self.issuer.issue(w, campaign, now, holder=holder_for_id(referrer_id))[0]
                w.set(rk, reward_code=code.code)
            w.add(keys.referral_program(program.id), rewards_paid=1)
            fk = keys.referrer(program.id, referrer_id)
            w.add(fk, rewards_paid=1).cond(fk, "attribute_exists(pk)")
        w.set(rk, payout_status=rules.PAID, paid_at=iso(now))

    # --- refunds -------------------------------------------------------------------------------------------

    def _refunded(self, program, referral, event, now):
        status, amount, currency = referral["status"], event.order_amount, event.currency
        pc = keys.referral_program(program.id)
        if status == rules.PENDING and event.order_id:
            # EventBridge keeps no order: this refund may come before its order's order.paid. Recorded on the
            # referral, it counts against that order when it arrives.
            rk = keys.referral(referral["id"])
            w = UnitOfWork(self.table).add(rk, **{_early_refund(event.order_id): amount})
            return w.cond(rk, "#st = :c_st", STATUS, c_st=status), {"outcome": "refund_recorded"}
        if referral.get("order_id") != event.order_id:
            if status == rules.CONVERTED:  # a later order's refund: revenue only
                return UnitOfWork(self.table).add(pc, **{f"revenue_{currency}": -amount}), {"outcome": "revenue",
                                                                                        "amount": -amount}
            return {"outcome": "ignored", "reason": "other_order"}
        rk = keys.referral(referral["id"])
        final = status == rules.CONVERTED and referral.get("payout_status") == rules.PAID
        if status not in (rules.CONVERTED, rules.HELD) or final or \
                not rules.refund_in_window(program, referral["order_at"], event.occurred_at):
            if status == rules.CONVERTED:
                w = UnitOfWork(self.table).add(pc, **{f"revenue_{currency}": -amount})
                w.add(rk, refunded_amount=amount)
                return w, {"outcome": "refund_after_payout" if final else "refund_after_window"}
            return {"outcome": "ignored", "reason": f"referral_{status}"}
        refunded = int(referral.get("refunded_amount", 0)) + amount
        remaining = int(referral["order_amount"]) - refunded
        minimum = program.conversion.min_order_amount
        floor = minimum.amount if minimum is not None and minimum.currency == currency else 0
        if remaining >= max(floor, 1):  # a partial refund that keeps the order qualifying
            w = UnitOfWork(self.table).add(rk, refunded_amount=amount).cond(rk, "#st = :c_st", STATUS, c_st=status)
            if status == rules.CONVERTED:
                w.add(pc, **{f"revenue_{currency}": -amount})
            return w, {"outcome": "partial_refund", "remaining": remaining}
        w = UnitOfWork(self.table)
        w.set(rk, status=rules.REVERSED, reversed_at=iso(now), reason="order_refunded").add(rk, refunded_amount=amount)
        w.cond(rk, "#st = :c_st", STATUS, c_st=status)
        fk = keys.referrer(program.id, referral["referrer_id"])
        if status == rules.HELD:
            w.delete(keys.referral_held(program.id, referral["id"]))
            w.add(fk, held=-1, reversed=1).cond(fk, "attribute_exists(pk)")
            w.add(pc, held=-1, reversed=1)
            return w, {"outcome": rules.REVERSED}
        referrer = self.store.get(fk)
        if referrer is None:
            return {"outcome": "ignored", "reason": "no_referrer"}
        n = max(0, int(referrer.get("converted", 0)) - 1)
        fields = {}
        if referrer.get("period_start") == referral.get("period_start"):
            fields["period_conversions"] = max(0, int(referrer.get("period_conversions", 0)) - 1)
        self._referrer_count(w, fk, referrer, n, now, **fields)
        w.add(fk, reversed=1)
        w.set(rk, payout_status=rules.CANCELLED).cond(rk, "payout_status = :c_sched", c_sched=rules.SCHEDULED)
        # where the due item is now: a payout that failed moved it (due_at)
        w.delete(keys.referral_due(program.id, referral.get("due_at") or referral["release_at"], referral["id"]))
        variant = referral.get("variant")
        w.add(pc, conversions=-1, reversed=1,
              **{f"revenue_{currency}": -(int(referral["order_amount"]) - int(referral.get("refunded_amount", 0)))},
              **({counter(variant, "conversions"): -1} if variant else {}))
        self._count_reward(w, pc, referral.get("reward"), -1, variant)
        return w, {"outcome": rules.REVERSED}

    # --- review of held conversions (operators) -------------------------------------------------------------

    def _held_referral(self, program_id: str, referral_id: str) -> tuple[ReferralProgram, dict]:
        program = program_of(self.config, program_id)
        referral = self.store.get(keys.referral(referral_id))
        if referral is None or referral.get("program_id") != program.id:
            raise errors.NotFound("no such referral in this program", {"referral_id": referral_id})
        if referral["status"] != rules.HELD:
            raise errors.ConversionNotHeld(details={"referral_id": referral_id, "status": referral["status"]})
        return program, referral

    def approve(self, program_id: str, referral_id: str, now: datetime) -> dict:
        """A held conversion converts (the operator's decision counts past the period cap)."""
        for _ in CONFLICTS.attempts():
            program, referral = self._held_referral(program_id, referral_id)
            referrer = self.store.get(keys.referrer(program.id, referral["referrer_id"]))
            if referrer is None:
                raise errors.NotFound("the referrer no longer exists", {"referral_id": referral_id})
            w = UnitOfWork(self.table)
            order = {k: referral.get(k) for k in ("order_id", "order_amount", "currency", "order_at",
                                                   "refunded_amount")}
            outcome = self._convert(w, program, referral, referrer, rules.HELD, order, now, self.config.bundle())
            w.delete(keys.referral_held(program.id, referral_id))
            try:
                w.commit()
            except TransactionCancelled:
                continue
            return {"id": referral_id, "status": rules.CONVERTED, "conversion_number": outcome["conversion_number"],
                    "payout": outcome["payout"]}
        raise errors.Contention("the referrer kept changing; retry")

    def reject(self, program_id: str, referral_id: str, now: datetime) -> dict:
        program, referral = self._held_referral(program_id, referral_id)
        w = self._close(program, referral, rules.HELD, rules.REJECTED, "operator", now)
        try:
            w.commit()
        except TransactionCancelled:
            raise errors.ConversionNotHeld(details={"referral_id": referral_id}) from None
        return {"id": referral_id, "status": rules.REJECTED}

    # --- the referral-rewards job -------------------------------------------------------------------------

    def release_due(self, now: datetime) -> dict:
        """Pay out every conversion whose return window has closed by ``now`` (only due items are read: a Query
        of each program's REFDUE partition up to now). Programs switched off still pay what was earned.

        A payout that fails (its tier's campaign gone from config, an exhausted code space, a failed condition)
        never holds up the others: its due item moves behind them, retried with backoff (10 minutes, doubling),
        and after PARK_AFTER failures it is parked: retried once a day, listed in ``parked`` until it pays."""
        bundle = self.config.bundle()
        released, skipped, parked = 0, [], []
        failures: dict[str, int] = {}
        for program in bundle.referral_programs.values():
            while True:
                due = self.store.until(keys.referral_due(program.id, "", "")[0], f"{iso(now)}#~", RELEASE_BATCH)
                moved = 0  # due items that left this run's window: paid, deleted, or moved behind it
                for item in due:
                    outcome = self._release(program, item, now, bundle)
                    if outcome is True:
                        released += 1
                    elif isinstance(outcome, Deferred):
                        skipped.append(item["referral_id"])
                        failures[outcome.reason] = failures.get(outcome.reason, 0) + 1
                        if outcome.parked:
                            parked.append(item["referral_id"])
                    moved += outcome is not False
                if len(due) < RELEASE_BATCH or not moved:
                    break
        return {"released": released, "skipped": skipped, "parked": parked, "failures": failures, "now": iso(now)}

    def _release(self, program: ReferralProgram, due: dict, now: datetime,
                 bundle: ConfigBundle) -> bool | Deferred | None:
        """True: paid now; None: nothing to pay (another run paid it, or a refund reversed it: both delete the due
        item in their own transaction); Deferred: the payout failed and its due item moved behind the others;
        False: left where it is (a concurrent transaction on it: the next run decides)."""
        referral = self.store.get(keys.referral(due["referral_id"]))
        dk = (due["pk"], due["sk"])
        if referral is None or referral["status"] != rules.CONVERTED or \
                referral.get("payout_status") != rules.SCHEDULED:
            self.table.delete(*dk)  # a leftover (its referral was decided otherwise): nothing is paid for it
            return None
        w = UnitOfWork(self.table)
        w.delete(dk)
        rk = keys.referral(referral["id"])
        w.cond(rk, "#st = :c_conv AND payout_status = :c_sched", STATUS, c_conv=rules.CONVERTED,
               c_sched=rules.SCHEDULED)
        try:
            self._payout(w, program, referral, now, bundle)
            w.commit()
        except errors.IncentiveError as e:  # e.g. the tier's campaign is gone from config: fix config, a retry pays
            return self._defer(program, due, e.code, now)
        except CodeSpaceExhausted:  # the reward campaign's pattern has no unused codes left: widen it
            return self._defer(program, due, "code_space_exhausted", now)
        except CodeSpaceCollision:
            return self._defer(program, due, "code_space_collision", now)
        except TransactionCancelled as e:
            if {dk, rk} & e.failed_keys():
                return None  # another run released it, or a refund reversed it a moment ago
            if not e.failed_keys():
                return False  # a conflict with a concurrent write, no rule said no
            return self._defer(program, due, "condition_failed", now)  # e.g. the referrer was erased meanwhile
        except Exception as e:  # noqa: BLE001 - one item's unforeseen failure must not stop every payout after it;
            # it is deferred with its type as the reason (the run's result and log name it), never swallowed
            return self._defer(program, due, f"error_{type(e).__name__}", now)
        return True

    def _defer(self, program: ReferralProgram, due: dict, reason: str, now: datetime) -> Deferred | None:
        """Moves a due reward whose payout failed behind the others, with its failure recorded (on the due item
        and the referral, whose ``due_at`` tells a refund where it is now). None: another run or a refund got
        to it first."""
        attempts = int(due.get("attempts", 0)) + 1
        parked = attempts >= PARK_AFTER
        delay = PARKED_RETRY if parked else min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_CAP)
        retry_at = iso(now + delay)
        rid = due["referral_id"]
        npk, nsk = keys.referral_due(program.id, retry_at, rid)
        rk = keys.referral(rid)
        w = UnitOfWork(self.table)
        w.delete((due["pk"], due["sk"]))
        w.put({**due, "pk": npk, "sk": nsk, "attempts": attempts, "last_error": reason, "failed_at": iso(now),
               "retry_at": retry_at, "parked": parked})
        w.set(rk, due_at=retry_at, payout_error=reason, payout_attempts=attempts)
        w.cond(rk, "#st = :c_conv AND payout_status = :c_sched", STATUS, c_conv=rules.CONVERTED,
               c_sched=rules.SCHEDULED)
        try:
            w.commit()
        except TransactionCancelled:
            return None
        return Deferred(reason, parked)
