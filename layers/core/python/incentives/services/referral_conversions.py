"""Referral conversions: the referee's paid order converts a pending referral, a refund within the return window
reverses it, the reward is paid out when the window has closed, and suspicious conversions wait for review.

Each decision is one TransactWriteItems that changes the referral (condition: the status it was read in), the
referrer (condition: the version read, because the tier and the period cap depend on the count), the program's
counters (ADD) and the reward or its due item, together with the consumer's marker for the event (services/
consumers.py): an event delivered twice, or twice at once, decides once; two referees of one referrer converting
at once get consecutive tiers. A conflict with another decision (a domain/referral_errors.py error from the
repository, adapters/referral_store.py) is read again and decided again under the CONFLICTS retry policy.

"Paid out" means final: a conversion's reward is released (code issued, points event, cash owed) by the
referral-rewards job once the converting order's return window (conversion.return_window_days) has closed, or at
once when it has closed already. Until then a refund of that order reverses the conversion and nothing was given;
afterwards a refund changes only the revenue figures. referral.converted is emitted at the same moment, so a
consumer (loyalty) never has to take it back.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..adapters.codespace_store import CodeSpaceExhausted
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.referral_store import ReferralStore
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork
from ..domain import errors
from ..domain import referrals as rules
from ..domain.clock import iso
from ..domain.config import ConfigBundle
from ..domain.customers import holder_for_id
from ..domain.programs import ReferralProgram
from ..domain.referral_errors import (DueRewardGone, ReferralChanged, ReferralWriteError, ReferrerGone,
                                      WriteConflict)
from ..domain.referrals import ConvertingOrder, DueReward, HeldConversion, Payout, Referral, Referrer
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


@dataclass(frozen=True)
class Deferred:
    """A due reward whose payout failed this run: why, and whether it is parked now."""

    reason: str
    parked: bool


class _Ignored(Exception):
    """Nothing to write for this delivery: ``outcome`` says why."""

    def __init__(self, **outcome):
        super().__init__("ignored")
        self.outcome = outcome


def _order(event: CustomerEvent, early: int) -> ConvertingOrder:
    return ConvertingOrder(event.order_id, event.order_amount or 0, event.currency, event.occurred_at,
                           early or None)


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
        programs = {p.id: p for p in self.config.bundle().referral_programs.values()
                    if p.enabled or event.type == "order.refunded"}
        if not programs:
            return []
        referred, profile = self.store.referee(list(programs), event.customer_id)
        return [self._apply(programs[p], referral_id, event, profile, now) for p, referral_id in referred.items()]

    def _apply(self, program: ReferralProgram, referral_id: str, event: CustomerEvent, profile: dict | None,
               now: datetime) -> dict:
        for _ in CONFLICTS.attempts():
            referral = self.store.referral(referral_id)
            if referral is None:
                return {"referral_id": referral_id, "outcome": "ignored", "reason": "no_referral"}
            bundle = self.config.bundle()
            w = self.store.unit()
            try:
                if event.type == "order.paid":
                    outcome = self._paid(w, program, referral, event, profile, now, bundle)
                else:
                    outcome = self._refunded(w, program, referral, event, now)
            except _Ignored as e:
                return {"referral_id": referral_id, **e.outcome}
            try:
                applied = self.consumer.apply_once(event.id, w, now, self.store.effect(program.id))
            except ReferralWriteError:
                continue  # another decision on this referral or referrer came first: read and decide again
            return {"referral_id": referral_id, **(outcome if applied else {"outcome": "duplicate"})}
        raise errors.Contention("the referral kept changing; retry")

    def _paid(self, w: UnitOfWork, program: ReferralProgram, referral: Referral, event: CustomerEvent,
              profile: dict | None, now: datetime, bundle: ConfigBundle) -> dict:
        status, order_at = referral.status, event.occurred_at
        amount, currency = event.order_amount or 0, event.currency
        if status == rules.CONVERTED and (referral.order.order_id if referral.order else None) != event.order_id:
            # a converted referee's later order: their revenue, for LTV (the marker counts it once)
            self.store.count_revenue(w, program.id, currency, amount)
            return {"outcome": "revenue", "amount": amount}
        if status != rules.PENDING:
            raise _Ignored(outcome="ignored", reason=f"referral_{status}")
        early = referral.early_refund(event.order_id)  # its refund's event came first
        decision = rules.decide(program, referral, order_at, amount - early, currency,
                                (profile or {}).get("first_order_at"))
        if decision.action == "ignore":
            raise _Ignored(outcome="ignored", reason=decision.reason)
        order = _order(event, early)
        if decision.action in ("disqualify", "expire"):
            final = rules.DISQUALIFIED if decision.action == "disqualify" else rules.EXPIRED
            self.store.close(w, referral, final, decision.reason, iso(now), order)
            return {"outcome": final, "reason": decision.reason}
        referrer = self.store.referrer(program.id, referral.referrer_id)
        if referrer is None:
            raise _Ignored(outcome="ignored", reason="no_referrer")
        reasons = list(referral.signals)
        _, in_period = rules.period_after(referrer, order_at, program.limits.period_days)
        if rules.over_cap(program, in_period):
            if program.limits.over_limit == "reject":
                self.store.close(w, referral, rules.REJECTED, rules.PERIOD_LIMIT, iso(now), order)
                return {"outcome": rules.REJECTED, "reason": rules.PERIOD_LIMIT}
            reasons.append(rules.PERIOD_LIMIT)
        if reasons:
            self.store.hold(w, referral, HeldConversion(program.id, referral.id, referral.referrer_id, iso(now),
                                                        tuple(reasons), order))
            return {"outcome": rules.HELD, "reasons": reasons}
        return self._convert(w, program, referral, referrer, order, now, bundle)

    # --- conversion and payout (each adds to the caller's unit of work) ------------------------------------

    def _convert(self, w: UnitOfWork, program: ReferralProgram, referral: Referral, referrer: Referrer,
                 order: ConvertingOrder, now: datetime, bundle: ConfigBundle) -> dict:
        """pending/held -> converted: the referrer's count (their tier), the period, the leaderboard, the
        program's counters, and the reward: paid now if the return window has closed, else a due item."""
        conversion = rules.conversion_of(program, referral, referrer, order, iso(now), bundle)
        self.store.convert(w, referral, referrer, order, conversion, now)
        self.store.count(w, program.id, rules.reward_counters(conversion.reward, 1, referral.variant))
        if conversion.due(iso(now)):
            converted = replace(referral, status=rules.CONVERTED, reward=conversion.reward,
                                conversion_number=conversion.number)
            self._payout(w, program, converted, now, bundle)
        else:
            self.store.schedule(w, DueReward(program.id, referral.id, conversion.release_at, conversion.release_at))
        return {"outcome": rules.CONVERTED, "conversion_number": conversion.number,
                "reward": conversion.reward.type if conversion.reward else None,
                "payout": "now" if conversion.due(iso(now)) else conversion.release_at}

    def _payout(self, w: UnitOfWork, program: ReferralProgram, referral: Referral, now: datetime,
                bundle: ConfigBundle) -> None:
        """The conversion becomes final: referral.converted, and the tier's reward for the referrer (a bound code
        or gift card, a points event for the loyalty program, or cash owed), all in the caller's transaction."""
        rid, referrer_id = referral.id, referral.referrer_id
        w.op(event_put(self.table, f"{rid}.converted", CONVERTED_EVENT, referrer_id, now, now,
                       {"program_id": program.id, "referral_id": rid, "referee_id": referral.referee_id}))
        reward = referral.reward
        code = None
        if reward is not None:
            if reward.type == "points":
                w.op(event_put(self.table, f"{rid}.reward_points", POINTS_EVENT, referrer_id, now, now,
                               {"program_id": reward.program_id, "points": reward.points, "reward_id": rid,
                                "referral_program_id": program.id}))
            elif reward.type == "cash":
                self.store.owe(w, Payout(rid, rid, program.id, referrer_id, reward.value or 0, reward.currency or "",
                                         "owed", iso(now)))
            else:
                campaign = bundle.campaign(reward.campaign_id or "")
                code = self.issuer.issue(w, campaign, now, holder=holder_for_id(referrer_id))[0].code
        self.store.paid_out(w, referral, iso(now), code, rewarded=reward is not None)

    # --- refunds -------------------------------------------------------------------------------------------

    def _refunded(self, w: UnitOfWork, program: ReferralProgram, referral: Referral, event: CustomerEvent,
                  now: datetime) -> dict:
        status, amount, currency = referral.status, event.order_amount or 0, event.currency
        if status == rules.PENDING and event.order_id:
            # EventBridge keeps no order: this refund may come before its order's order.paid. Recorded on the
            # referral, it counts against that order when it arrives.
            self.store.refund_before_paid(w, referral, event.order_id, amount)
            return {"outcome": "refund_recorded"}
        order = referral.order
        if (order.order_id if order else None) != event.order_id:
            if status == rules.CONVERTED:  # a later order's refund: revenue only
                self.store.count_revenue(w, program.id, currency, -amount)
                return {"outcome": "revenue", "amount": -amount}
            raise _Ignored(outcome="ignored", reason="other_order")
        final = referral.payout_final
        if status not in (rules.CONVERTED, rules.HELD) or final or order is None or \
                not rules.refund_in_window(program, order.at, event.occurred_at):
            if status == rules.CONVERTED:
                self.store.count_revenue(w, program.id, currency, -amount)
                self.store.refund(w, referral, amount, in_status=False)
                return {"outcome": "refund_after_payout" if final else "refund_after_window"}
            raise _Ignored(outcome="ignored", reason=f"referral_{status}")
        refunded = (order.refunded_amount or 0) + amount
        remaining = order.amount - refunded
        minimum = program.conversion.min_order_amount
        floor = minimum.amount if minimum is not None and minimum.currency == currency else 0
        if remaining >= max(floor, 1):  # a partial refund that keeps the order qualifying
            self.store.refund(w, referral, amount)
            if status == rules.CONVERTED:
                self.store.count_revenue(w, program.id, currency, -amount)
            return {"outcome": "partial_refund", "remaining": remaining}
        if status == rules.HELD:
            self.store.reverse_held(w, referral, amount, iso(now))
            return {"outcome": rules.REVERSED}
        referrer = self.store.referrer(program.id, referral.referrer_id)
        if referrer is None:
            raise _Ignored(outcome="ignored", reason="no_referrer")
        self.store.reverse_conversion(w, referral, referrer, amount, currency,
                                      rules.reversal_period(referrer, referral), now, iso(now))
        self.store.count(w, program.id, rules.reward_counters(referral.reward, -1, referral.variant))
        return {"outcome": rules.REVERSED}

    # --- review of held conversions (operators) -------------------------------------------------------------

    def _held_referral(self, program_id: str, referral_id: str) -> tuple[ReferralProgram, Referral]:
        program = program_of(self.config, program_id)
        referral = self.store.referral(referral_id)
        if referral is None or referral.program_id != program.id:
            raise errors.NotFound("no such referral in this program", {"referral_id": referral_id})
        if referral.status != rules.HELD:
            raise errors.ConversionNotHeld(details={"referral_id": referral_id, "status": referral.status})
        return program, referral

    def approve(self, program_id: str, referral_id: str, now: datetime) -> dict:
        """A held conversion converts (the operator's decision counts past the period cap)."""
        for _ in CONFLICTS.attempts():
            program, referral = self._held_referral(program_id, referral_id)
            referrer = self.store.referrer(program.id, referral.referrer_id)
            if referrer is None:
                raise errors.NotFound("the referrer no longer exists", {"referral_id": referral_id})
            w = self.store.unit()
            order = referral.order or ConvertingOrder(None, 0, None, referral.held_at or iso(now))
            outcome = self._convert(w, program, referral, referrer, order, now, self.config.bundle())
            self.store.unhold(w, referral)
            try:
                w.commit()
            except ReferralWriteError:
                continue
            return {"id": referral_id, "status": rules.CONVERTED, "conversion_number": outcome["conversion_number"],
                    "payout": outcome["payout"]}
        raise errors.Contention("the referrer kept changing; retry")

    def reject(self, program_id: str, referral_id: str, now: datetime) -> dict:
        _, referral = self._held_referral(program_id, referral_id)
        w = self.store.unit()
        self.store.close(w, referral, rules.REJECTED, "operator", iso(now))
        try:
            w.commit()
        except ReferralWriteError:
            raise errors.ConversionNotHeld(details={"referral_id": referral_id}) from None
        return {"id": referral_id, "status": rules.REJECTED}

    # --- the referral-rewards job -------------------------------------------------------------------------

    def release_due(self, now: datetime) -> dict:
        """Pay out every conversion whose return window has closed by ``now`` (only due items are read: a Query
        of each program's due partition up to now). Programs switched off still pay what was earned.

        A payout that fails (its tier's campaign gone from config, an exhausted code space, a failed condition)
        never holds up the others: its due item moves behind them, retried with backoff (10 minutes, doubling),
        and after PARK_AFTER failures it is parked: retried once a day, listed in ``parked`` until it pays."""
        bundle = self.config.bundle()
        released, skipped, parked = 0, [], []
        failures: dict[str, int] = {}
        for program in bundle.referral_programs.values():
            while True:
                due = self.store.due(program.id, iso(now), RELEASE_BATCH)
                moved = 0  # due items that left this run's window: paid, deleted, or moved behind it
                for item in due:
                    outcome = self._release(program, item, now, bundle)
                    if outcome is True:
                        released += 1
                    elif isinstance(outcome, Deferred):
                        skipped.append(item.referral_id)
                        failures[outcome.reason] = failures.get(outcome.reason, 0) + 1
                        if outcome.parked:
                            parked.append(item.referral_id)
                    moved += outcome is not False
                if len(due) < RELEASE_BATCH or not moved:
                    break
        return {"released": released, "skipped": skipped, "parked": parked, "failures": failures, "now": iso(now)}

    def _release(self, program: ReferralProgram, due: DueReward, now: datetime,
                 bundle: ConfigBundle) -> bool | Deferred | None:
        """True: paid now; None: nothing to pay (another run paid it, or a refund reversed it: both delete the due
        item in their own transaction); Deferred: the payout failed and its due item moved behind the others;
        False: left where it is (a concurrent transaction on it: the next run decides)."""
        referral = self.store.referral(due.referral_id)
        if referral is None or not referral.payout_scheduled:
            self.store.drop_due(due)  # a leftover (its referral was decided otherwise): nothing is paid for it
            return None
        w = self.store.unit()
        self.store.release(w, due, referral)
        try:
            self._payout(w, program, referral, now, bundle)
            w.commit()
        except errors.IncentiveError as e:  # e.g. the tier's campaign is gone from config: fix config, a retry pays
            return self._defer(due, e.code, now)
        except CodeSpaceExhausted:  # the reward campaign's pattern has no unused codes left: widen it
            return self._defer(due, "code_space_exhausted", now)
        except CodeSpaceCollision:
            return self._defer(due, "code_space_collision", now)
        except (DueRewardGone, ReferralChanged):
            return None  # another run released it, or a refund reversed it a moment ago
        except WriteConflict as e:
            if not e.condition_failed:
                return False  # a conflict with a concurrent write, no rule said no
            return self._defer(due, "condition_failed", now)
        except (ReferrerGone, ReferralWriteError):  # e.g. the referrer was erased meanwhile
            return self._defer(due, "condition_failed", now)
        except Exception as e:  # noqa: BLE001 - one item's unforeseen failure must not stop every payout after it;
            # it is deferred with its type as the reason (the run's result and log name it), never swallowed
            return self._defer(due, f"error_{type(e).__name__}", now)
        return True

    def _defer(self, due: DueReward, reason: str, now: datetime) -> Deferred | None:
        """Moves a due reward whose payout failed behind the others, with its failure recorded (on the due item
        and the referral, whose ``due_at`` tells a refund where it is now). None: another run or a refund got
        to it first."""
        attempts = due.attempts + 1
        parked = attempts >= PARK_AFTER
        delay = PARKED_RETRY if parked else min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_CAP)
        retry_at = iso(now + delay)
        w = self.store.unit()
        self.store.defer(w, due, replace(due, due_at=retry_at, attempts=attempts, last_error=reason,
                                         failed_at=iso(now), retry_at=retry_at, parked=parked))
        try:
            w.commit()
        except ReferralWriteError:
            return None
        return Deferred(reason, parked)
