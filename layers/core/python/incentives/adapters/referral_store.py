"""The referrals' repository: every key, expression and condition of the referral items (keys.py "referral
programs"; docs/data-model.md "Referrals"), and their mapping to the objects of domain/referrals.py.

- the referrer (keys.referrer): code and counts, under a version (the tier and the period cap depend on them);
- the referral code (keys.referral_code) -> referrer, with the hashes of the self-referral check;
- the attribution locks: one referral per referee (keys.referee) and per mailbox (keys.referee_mailbox);
- the referral (keys.referral), its held review item (keys.referral_held), its due reward (keys.referral_due) and
  a cash payout (keys.referral_payout); the program's counters (keys.referral_program); the sign-up signals.

Writes are added to the use case's unit of work (adapters/unit_of_work.py), which merges the counters of a
conversion and the fields of its payout on one item into one operation. Each condition explains its own failure
as a domain/referral_errors.py error (or a domain/errors.py contract error where the caller's answer is that);
what no condition explains is a WriteConflict. services/referral*.py never see a key or an expression.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..domain import errors
from ..domain.referral_errors import (AlreadyEnrolled, DueRewardGone, HeldGone, PayoutNotOwed, ReferralChanged,
                                      ReferralCodeTaken, ReferrerChanged, ReferrerGone, WriteConflict)
from ..domain.referrals import (CONVERTED, HELD, PENDING, REVERSED, SCHEDULED, Conversion, ConvertingOrder,
                                DueReward, HeldConversion, Payout, Referral, ReferralCode, Referrer, Reward, PAID,
                                CANCELLED)
from ..domain.variants import counter
from . import keys
from .dynamo import ConditionFailed, Table, TransactionCancelled, from_item, values
from .unit_of_work import UnitOfWork, always

Key = tuple[str, str]
STATUS = {"#st": "status"}  # a reserved word in expressions
LEADERBOARD_EPOCH_MS = 10**13  # sort key part: earlier achievers of an equal count rank first
_EARLY_REFUND = "refund#"  # + order id: refunds of one order received before its order.paid


# ---- items <-> objects ---------------------------------------------------------------------------------------

def _some(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def reward_map(r: Reward) -> dict:
    return _some({"type": r.type, "tier_from": r.tier_from, "campaign_id": r.campaign_id,
                  "program_id": r.program_id, "points": r.points, "value": r.value, "currency": r.currency})


def reward_from_map(m: dict | None) -> Reward | None:
    if not m:
        return None
    return Reward(m["type"], int(m.get("tier_from", 0)), m.get("campaign_id"), m.get("program_id"), m.get("points"),
                  m.get("value"), m.get("currency"))


def order_fields(o: ConvertingOrder | None) -> dict:
    """The converting order as recorded on the referral and its held item (None fields are not written)."""
    if o is None:
        return {}
    return {"order_id": o.order_id, "order_amount": o.amount, "currency": o.currency, "order_at": o.at,
            "refunded_amount": o.refunded_amount}


def order_from(item: dict) -> ConvertingOrder | None:
    if item.get("order_at") is None or item.get("order_amount") is None:
        return None
    refunded = item.get("refunded_amount")
    return ConvertingOrder(item.get("order_id"), int(item["order_amount"]), item.get("currency"), item["order_at"],
                           int(refunded) if refunded is not None else None)


def referral_item(r: Referral) -> dict:
    pk, sk = keys.referral(r.id)
    out = {"pk": pk, "sk": sk, "id": r.id, "program_id": r.program_id, "referrer_id": r.referrer_id,
           "referee_id": r.referee_id, "referral_code": r.referral_code, "status": r.status,
           "attributed_at": r.attributed_at, "signals": list(r.signals) or None, "mailbox_hash": r.mailbox_hash,
           "variant": r.variant, "referee_reward": r.referee_reward,
           # a referrer's referrals (their rewards list, erasure), newest first
           "gsi1pk": keys.referrals_gsi(r.program_id, r.referrer_id), "gsi1sk": f"{r.attributed_at}#{r.id}",
           **order_fields(r.order), **{f"{_EARLY_REFUND}{o}": n for o, n in r.early_refunds.items()},
           "reason": r.reason, "decided_at": r.decided_at, "hold_reasons": list(r.hold_reasons) or None,
           "held_at": r.held_at, "converted_at": r.converted_at, "conversion_number": r.conversion_number,
           "reward": reward_map(r.reward) if r.reward else None, "reward_code": r.reward_code,
           "payout_status": r.payout_status, "release_at": r.release_at, "due_at": r.due_at, "paid_at": r.paid_at,
           "period_start": r.period_start, "reversed_at": r.reversed_at, "payout_error": r.payout_error,
           "payout_attempts": r.payout_attempts or None}
    return _some(out)


def referral_from_item(i: dict) -> Referral:
    return Referral(
        i["id"], i["program_id"], i["referrer_id"], i["referee_id"], i.get("referral_code", ""), i["attributed_at"],
        status=i["status"], signals=tuple(i.get("signals") or ()), mailbox_hash=i.get("mailbox_hash"),
        variant=i.get("variant"), referee_reward=i.get("referee_reward"), order=order_from(i),
        early_refunds={k[len(_EARLY_REFUND):]: int(v) for k, v in i.items() if k.startswith(_EARLY_REFUND)},
        reason=i.get("reason"), decided_at=i.get("decided_at"), hold_reasons=tuple(i.get("hold_reasons") or ()),
        held_at=i.get("held_at"), converted_at=i.get("converted_at"), conversion_number=i.get("conversion_number"),
        reward=reward_from_map(i.get("reward")), reward_code=i.get("reward_code"),
        payout_status=i.get("payout_status"), release_at=i.get("release_at"), due_at=i.get("due_at"),
        paid_at=i.get("paid_at"), period_start=i.get("period_start"), reversed_at=i.get("reversed_at"),
        payout_error=i.get("payout_error"), payout_attempts=int(i.get("payout_attempts", 0)))


_REFERRER_FIELDS = ("program_id", "customer_id", "referral_code", "created_at", "referrals", "pending", "converted",
                    "held", "rewards_paid", "version", "period_start", "period_conversions", "email_hash", "ip_hash",
                    "device_hash")
_REFERRER_COUNTS = ("referrals", "pending", "converted", "held", "rewards_paid", "version", "period_conversions")


def referrer_item(r: Referrer) -> dict:
    """The referrer's item. On enrolment the counts the later ADDs and the version condition start from are 0;
    rewards_paid is written by its first ADD, period_conversions with period_start."""
    pk, sk = keys.referrer(r.program_id, r.customer_id)
    fields_: dict[str, Any] = {f: getattr(r, f) for f in _REFERRER_FIELDS}
    if not r.rewards_paid:
        fields_["rewards_paid"] = None
    if r.period_start is None:
        fields_["period_conversions"] = None
    return _some({"pk": pk, "sk": sk, **r.extra, **fields_})


def referrer_from_item(i: dict) -> Referrer:
    known = {f: i[f] for f in _REFERRER_FIELDS if f in i}
    for f in _REFERRER_COUNTS:
        if f in known:
            known[f] = int(known[f])
    extra = {k: v for k, v in i.items() if k not in _REFERRER_FIELDS and k not in ("pk", "sk")}
    return Referrer(**known, extra=extra)


def code_item(c: ReferralCode) -> dict:
    pk, sk = keys.referral_code(c.program_id, c.code)
    return _some({"pk": pk, "sk": sk, "program_id": c.program_id, "code": c.code, "referrer_id": c.referrer_id,
                  "status": c.status, "created_at": c.created_at, "email_hash": c.email_hash, "ip_hash": c.ip_hash,
                  "device_hash": c.device_hash})


def code_from_item(i: dict) -> ReferralCode:
    return ReferralCode(i["program_id"], i["code"], i["referrer_id"], i.get("status", "active"), i.get("created_at"),
                        i.get("email_hash"), i.get("ip_hash"), i.get("device_hash"))


def held_item(h: HeldConversion) -> dict:
    pk, sk = keys.referral_held(h.program_id, h.referral_id)
    return _some({"pk": pk, "sk": sk, "referral_id": h.referral_id, "referrer_id": h.referrer_id,
                  "held_at": h.held_at, "reasons": list(h.reasons), **order_fields(h.order)})


def held_from_item(program_id: str, i: dict) -> HeldConversion:
    return HeldConversion(program_id, i["referral_id"], i["referrer_id"], i["held_at"], tuple(i.get("reasons") or ()),
                          order_from(i))


def due_item(d: DueReward) -> dict:
    pk, sk = keys.referral_due(d.program_id, d.due_at, d.referral_id)
    out: dict[str, Any] = {"pk": pk, "sk": sk, "referral_id": d.referral_id, "program_id": d.program_id,
                           "release_at": d.release_at}
    if d.attempts:  # a payout failed: why, when, and when it is retried (parked: once a day)
        out.update(attempts=d.attempts, last_error=d.last_error, failed_at=d.failed_at, retry_at=d.retry_at,
                   parked=d.parked)
    return _some(out)


def due_from_item(i: dict) -> DueReward:
    rid = i["referral_id"]
    return DueReward(i["program_id"], rid, i["release_at"], i["sk"][:-(len(rid) + 1)], int(i.get("attempts", 0)),
                     i.get("last_error"), i.get("failed_at"), i.get("retry_at"), bool(i.get("parked", False)))


def payout_item(p: Payout) -> dict:
    pk, sk = keys.referral_payout(p.id)
    return _some({"pk": pk, "sk": sk, "id": p.id, "referral_id": p.referral_id, "program_id": p.program_id,
                  "customer_id": p.customer_id, "amount": p.amount, "currency": p.currency, "status": p.status,
                  "created_at": p.created_at, "gsi1pk": keys.payouts_gsi(p.program_id, p.status),
                  "gsi1sk": f"{p.created_at}#{p.referral_id}", "paid_at": p.paid_at, "reference": p.reference})


def payout_from_item(i: dict) -> Payout:
    return Payout(i["id"], i["referral_id"], i["program_id"], i["customer_id"], int(i["amount"]), i["currency"],
                  i["status"], i["created_at"], i.get("paid_at"), i.get("reference"))


# ---- the unit of work of referral use cases ------------------------------------------------------------------

def _unexplained(e: TransactionCancelled) -> Exception:
    return WriteConflict(e.reasons, bool(e.failed_keys()) or "ConditionalCheckFailed" in e.reasons)


class ReferralWork(UnitOfWork):
    """A unit of work whose cancellation that no condition explains is a WriteConflict (also when a caller such
    as services/consumers.py commits it)."""

    def commit(self, token: str | None = None,
               otherwise: Callable[[TransactionCancelled], Exception] | None = None) -> None:
        super().commit(token, otherwise or _unexplained)


class ReferralStore:
    def __init__(self, table: Table):
        self.table = table

    def unit(self) -> ReferralWork:
        return ReferralWork(self.table)

    @staticmethod
    def effect(program_id: str) -> str:
        """The effect a customer event has on the program's referrals (services/consumers.py marks it applied:
        one event may convert referrals of several programs, each once)."""
        return f"REFERRAL#{program_id}"

    @staticmethod
    def commit(uow: UnitOfWork) -> None:
        """Commits a unit of work built elsewhere (the HTTP layer's, with its Idempotency-Key completion)."""
        uow.commit(otherwise=_unexplained)

    # --- reads ------------------------------------------------------------------------------------------------

    def enrolment(self, program_id: str, customer_id: str) -> tuple[Referrer | None, dict | None]:
        """The customer's referrer record in the program and their profile (one BatchGetItem)."""
        rkey, pkey = keys.referrer(program_id, customer_id), keys.customer_profile(customer_id)
        got = self.table.batch_get([rkey, pkey], consistent=True)
        return (referrer_from_item(got[rkey]) if rkey in got else None), got.get(pkey)

    def attribution(self, program_id: str, code: str, referee_id: str
                    ) -> tuple[ReferralCode | None, dict | None, bool]:
        """(the referral code, the referee's profile, whether the referee was referred in the program already):
        one BatchGetItem."""
        ckey, pkey, lkey = (keys.referral_code(program_id, code), keys.customer_profile(referee_id),
                            keys.referee(program_id, referee_id))
        got = self.table.batch_get([ckey, pkey, lkey], consistent=True)
        return (code_from_item(got[ckey]) if ckey in got else None), got.get(pkey), lkey in got

    def referee(self, program_ids: list[str], customer_id: str) -> tuple[dict[str, str], dict | None]:
        """({program id: referral id} of the programs the customer was referred in, their profile): one
        BatchGetItem of the attribution locks and the profile."""
        locks = {keys.referee(p, customer_id): p for p in program_ids}
        pkey = keys.customer_profile(customer_id)
        got = self.table.batch_get([*locks, pkey], consistent=True)
        return {p: got[k]["referral_id"] for k, p in locks.items() if k in got}, got.get(pkey)

    def referral(self, referral_id: str) -> Referral | None:
        item = self.table.get(*keys.referral(referral_id), consistent=True)
        return referral_from_item(item) if item else None

    def referrer(self, program_id: str, customer_id: str) -> Referrer | None:
        item = self.table.get(*keys.referrer(program_id, customer_id), consistent=True)
        return referrer_from_item(item) if item else None

    def counters(self, program_id: str) -> dict[str, int]:
        """The program's counters (metrics): every number, by name."""
        item = self.table.get(*keys.referral_program(program_id), consistent=True) or {}
        return {k: v for k, v in item.items() if isinstance(v, int) and not isinstance(v, bool)}

    def referrals_of(self, program_id: str, referrer_id: str, limit: int | None = None) -> list[Referral]:
        """The referrer's referrals, newest first (gsi1: eventually consistent)."""
        return [referral_from_item(i) for i in self.table.query(keys.referrals_gsi(program_id, referrer_id),
                                                                index="gsi1", forward=False, limit=limit)]

    def leaderboard(self, program_id: str, limit: int) -> list[Referrer]:
        """Referrers with at least one conversion, most first (an equal count: who reached it first)."""
        return [referrer_from_item(i) for i in self.table.query(keys.leaderboard_gsi(program_id), index="gsi1",
                                                                forward=False, limit=limit)]

    def payouts(self, program_id: str, status: str) -> list[Payout]:
        return [payout_from_item(i) for i in self.table.query(keys.payouts_gsi(program_id, status), index="gsi1")]

    def held(self, program_id: str, limit: int) -> list[HeldConversion]:
        return [held_from_item(program_id, i)
                for i in self.table.query(keys.referral_held(program_id, "")[0], limit=limit)]

    def due(self, program_id: str, until: str, limit: int = 100) -> list[DueReward]:
        """Due rewards of the program with due_at <= ``until``, oldest first (one Query page)."""
        r = self.table.client.query(TableName=self.table.name, KeyConditionExpression="pk = :p AND sk <= :s",
                                    ExpressionAttributeValues=values(p=keys.referral_due(program_id, "", "")[0],
                                                                     s=f"{until}#~"),
                                    Limit=limit, ConsistentRead=True)
        return [due_from_item(from_item(i)) for i in r["Items"]]

    # --- single writes -------------------------------------------------------------------------------------

    def count_signal(self, program_id: str, kind: str, value_hash: str, day: str, expires: int) -> int:
        """One more sign-up from this IP address or device today (attempts count): the day's count after it."""
        item = self.table.update(*keys.referral_signal(program_id, kind, value_hash, day), "ADD hits :one SET #t = :t",
                                 names={"#t": "ttl"}, vals=values(one=1, t=expires), return_new=True)
        return int(item["hits"])

    def mark_paid(self, program_id: str, payout_id: str, reference: str | None, at: str) -> Payout:
        """An owed payout of the program becomes paid (moves to the paid ledger); anything else is
        PayoutNotOwed with what is stored."""
        pk, sk = keys.referral_payout(payout_id)
        try:
            item = self.table.update(pk, sk, "SET #st = :paid, paid_at = :now, #ref = :ref, gsi1pk = :g",
                                     "#st = :owed AND program_id = :p", {**STATUS, "#ref": "reference"},
                                     values(paid="paid", now=at, ref=reference or "", owed="owed", p=program_id,
                                            g=keys.payouts_gsi(program_id, "paid")), return_new=True)
        except ConditionFailed as e:
            raise PayoutNotOwed(payout_from_item(e.item) if e.item else None) from None
        return payout_from_item(item)

    def drop_due(self, due: DueReward) -> None:
        """A leftover due item (its referral was decided otherwise): nothing is paid for it."""
        self.table.delete(*keys.referral_due(due.program_id, due.due_at, due.referral_id))

    # --- writes into the caller's unit of work: enrolment and attribution ----------------------------------

    @staticmethod
    def enrol(uow: UnitOfWork, referrer: Referrer, code: ReferralCode) -> None:
        """The referrer's record (once: a concurrent first call's is AlreadyEnrolled with it), their code (new:
        else ReferralCodeTaken) and the program's referrer count."""
        uow.put(referrer_item(referrer),
                explain=lambda old: AlreadyEnrolled(referrer_from_item(old)) if old else None)
        uow.put(code_item(code), explain=always(lambda: ReferralCodeTaken(
            f"referral code {code.code} of program {code.program_id} exists")))
        uow.add(keys.referral_program(referrer.program_id), referrers=1)

    @staticmethod
    def lock_referee(uow: UnitOfWork, referral: Referral, legacy_mailbox: str | None = None) -> None:
        """The attribution locks: one referral per referee and program, and per mailbox (also the lock of a
        referral attributed before the mailbox key existed: ``legacy_mailbox``). Taken: AlreadyReferred."""
        program_id = referral.program_id
        lk = keys.referee(program_id, referral.referee_id)
        lock = {"referral_id": referral.id, "created_at": referral.attributed_at}
        uow.put({"pk": lk[0], "sk": lk[1], **lock},
                explain=always(lambda: errors.AlreadyReferred(details={"program_id": program_id})))
        if referral.mailbox_hash:
            def by_mail(_old: Any) -> Exception:
                return errors.AlreadyReferred("this e-mail address has been referred already",
                                              {"program_id": program_id, "matched": "email"})
            mk = keys.referee_mailbox(program_id, referral.mailbox_hash)
            uow.put({"pk": mk[0], "sk": mk[1], **lock}, explain=by_mail)
            if legacy_mailbox:
                uow.check(keys.referee_mailbox(program_id, legacy_mailbox), "attribute_not_exists(pk)",
                          explain=by_mail)

    @staticmethod
    def count_attribution(uow: UnitOfWork, referral: Referral) -> None:
        """The program's and the referrer's counts (a referrer erased meanwhile: ReferralCodeNotFound)."""
        variant = referral.variant
        uow.add(keys.referral_program(referral.program_id), referrals=1, pending=1,
                **({counter(variant, "referrals"): 1} if variant else {}))
        fk = keys.referrer(referral.program_id, referral.referrer_id)
        uow.add(fk, referrals=1, pending=1).cond(
            fk, "attribute_exists(pk)",
            explain=always(lambda: errors.ReferralCodeNotFound(details={"referral_code": referral.referral_code})))

    @staticmethod
    def add_referral(uow: UnitOfWork, referral: Referral) -> None:
        uow.put(referral_item(referral))

    @staticmethod
    def count(uow: UnitOfWork, program_id: str, counters: dict[str, int]) -> None:
        """ADD to the program's counters (domain/referrals.py names them)."""
        if counters:
            uow.add(keys.referral_program(program_id), **counters)

    # --- conversions ---------------------------------------------------------------------------------------

    @staticmethod
    def _from(uow: UnitOfWork, referral: Referral, status: str | None = None) -> Key:
        """A condition: the referral is still in the status it was read in (else ReferralChanged)."""
        rk = keys.referral(referral.id)
        uow.cond(rk, "#st = :c_from", STATUS, explain=always(ReferralChanged), c_from=status or referral.status)
        return rk

    @staticmethod
    def _referrer_key(uow: UnitOfWork, program_id: str, referrer_id: str, **counts: int) -> Key:
        """ADD to the referrer's counts, if they still exist (after erasure no stub is made: ReferrerGone)."""
        fk = keys.referrer(program_id, referrer_id)
        uow.add(fk, **counts).cond(fk, "attribute_exists(pk)", explain=always(ReferrerGone))
        return fk

    def close(self, uow: UnitOfWork, referral: Referral, to_status: str, reason: str | None, at: str,
              order: ConvertingOrder | None = None) -> None:
        """pending/held -> disqualified, expired or rejected: counted, nothing paid."""
        rk = keys.referral(referral.id)
        uow.set(rk, status=to_status, reason=reason, decided_at=at, **order_fields(order))
        self._from(uow, referral)
        self._referrer_key(uow, referral.program_id, referral.referrer_id, **{referral.status: -1, to_status: 1})
        uow.add(keys.referral_program(referral.program_id), **{referral.status: -1, to_status: 1})
        if referral.status == HELD:
            self.unhold(uow, referral)

    def hold(self, uow: UnitOfWork, referral: Referral, held: HeldConversion) -> None:
        """pending -> held for review, with the review item."""
        rk = keys.referral(referral.id)
        uow.set(rk, status=HELD, hold_reasons=list(held.reasons), held_at=held.held_at, **order_fields(held.order))
        self._from(uow, referral, PENDING)
        self._referrer_key(uow, referral.program_id, referral.referrer_id, pending=-1, held=1)
        uow.add(keys.referral_program(referral.program_id), pending=-1, held=1)
        uow.put(held_item(held), explain=always(ReferralChanged))

    @staticmethod
    def unhold(uow: UnitOfWork, referral: Referral) -> None:
        """The review item goes (another decision took it: HeldGone)."""
        uow.delete(keys.referral_held(referral.program_id, referral.id), explain=always(HeldGone))

    def convert(self, uow: UnitOfWork, referral: Referral, referrer: Referrer, order: ConvertingOrder,
                conversion: Conversion, now: datetime) -> None:
        """pending/held -> converted: the referral, the referrer's count (under the version read), their period
        and leaderboard entry, and the program's counters (without the reward's: ``count``)."""
        rk = keys.referral(referral.id)
        uow.set(rk, status=CONVERTED, converted_at=conversion.converted_at, conversion_number=conversion.number,
                reward=reward_map(conversion.reward) if conversion.reward else None, payout_status=SCHEDULED,
                release_at=conversion.release_at, period_start=conversion.period_start, **order_fields(order))
        self._from(uow, referral)
        fk = self._count_referrer(uow, referrer, conversion.number, now, period_start=conversion.period_start,
                                  period_conversions=conversion.period_conversions)
        uow.add(fk, **{referral.status: -1})
        variant = referral.variant
        uow.add(keys.referral_program(referral.program_id), conversions=1,
                **{referral.status: -1, f"revenue_{order.currency}": order.revenue},
                **({counter(variant, "conversions"): 1} if variant else {}))

    @staticmethod
    def _count_referrer(uow: UnitOfWork, referrer: Referrer, n: int, now: datetime, **fields: Any) -> Key:
        """converted = n under the version read (else ReferrerChanged); the leaderboard entry (gsi1) follows the
        count."""
        fk = keys.referrer(referrer.program_id, referrer.customer_id)
        uow.set(fk, converted=n, version=referrer.version + 1, **fields)
        if n > 0:
            inverted = LEADERBOARD_EPOCH_MS - int(now.timestamp() * 1000)
            uow.set(fk, gsi1pk=keys.leaderboard_gsi(referrer.program_id),
                    gsi1sk=f"{n:010d}#{inverted:013d}#{referrer.customer_id}")
        else:
            uow.remove(fk, "gsi1pk", "gsi1sk")
        uow.cond(fk, "version = :c_version", explain=always(ReferrerChanged), c_version=referrer.version)
        return fk

    @staticmethod
    def schedule(uow: UnitOfWork, due: DueReward) -> None:
        """The reward waits for the return window: its due item (the referral-rewards job reads it)."""
        uow.put(due_item(due), explain=always(ReferralChanged))

    @staticmethod
    def owe(uow: UnitOfWork, payout: Payout) -> None:
        """Cash owed to the referrer (the affiliates' ledger)."""
        uow.put(payout_item(payout), explain=always(ReferralChanged))

    def paid_out(self, uow: UnitOfWork, referral: Referral, at: str, reward_code: str | None = None,
                 rewarded: bool = True) -> None:
        """The conversion is final: its reward counted as paid out (``rewarded``) and the referral paid."""
        rk = keys.referral(referral.id)
        if reward_code is not None:
            uow.set(rk, reward_code=reward_code)
        if rewarded:
            uow.add(keys.referral_program(referral.program_id), rewards_paid=1)
            self._referrer_key(uow, referral.program_id, referral.referrer_id, rewards_paid=1)
        uow.set(rk, payout_status=PAID, paid_at=at)

    # --- refunds -------------------------------------------------------------------------------------------

    def refund_before_paid(self, uow: UnitOfWork, referral: Referral, order_id: str, amount: int) -> None:
        """A refund of a pending referral's order that came before its order.paid: it counts against that
        order when it arrives."""
        uow.add(keys.referral(referral.id), **{f"{_EARLY_REFUND}{order_id}": amount})
        self._from(uow, referral)

    @staticmethod
    def count_revenue(uow: UnitOfWork, program_id: str, currency: str | None, amount: int) -> None:
        """A converted referee's later order (or its refund, negative): their revenue, for LTV."""
        uow.add(keys.referral_program(program_id), **{f"revenue_{currency}": amount})

    def refund(self, uow: UnitOfWork, referral: Referral, amount: int, in_status: bool = True) -> None:
        """A refund of the converting order that leaves the referral as it is (``in_status``: on condition it is
        still in the status read)."""
        uow.add(keys.referral(referral.id), refunded_amount=amount)
        if in_status:
            self._from(uow, referral)

    def reverse_held(self, uow: UnitOfWork, referral: Referral, amount: int, at: str) -> None:
        """held -> reversed (its order was refunded before review)."""
        self._reversed(uow, referral, amount, at)
        self.unhold(uow, referral)
        self._referrer_key(uow, referral.program_id, referral.referrer_id, held=-1, reversed=1)
        uow.add(keys.referral_program(referral.program_id), held=-1, reversed=1)

    def reverse_conversion(self, uow: UnitOfWork, referral: Referral, referrer: Referrer, amount: int,
                           currency: str | None, period_conversions: int | None, now: datetime, at: str) -> None:
        """converted -> reversed before its payout: the referrer's count back (under the version read), the
        scheduled payout cancelled and its due item gone, the program's counters back (without the reward's:
        ``count``)."""
        rk = self._reversed(uow, referral, amount, at)
        fk = self._count_referrer(uow, referrer, max(0, referrer.converted - 1), now,
                                  period_conversions=period_conversions)
        uow.add(fk, reversed=1)
        uow.set(rk, payout_status=CANCELLED).cond(rk, "payout_status = :c_sched", explain=always(ReferralChanged),
                                                  c_sched=SCHEDULED)
        # where the due item is now: a payout that failed moved it (due_at)
        uow.delete(keys.referral_due(referral.program_id, referral.due_at or referral.release_at or "", referral.id),
                   explain=always(DueRewardGone))
        revenue = referral.order.revenue if referral.order else 0
        variant = referral.variant
        uow.add(keys.referral_program(referral.program_id), conversions=-1, reversed=1,
                **{f"revenue_{currency}": -revenue},
                **({counter(variant, "conversions"): -1} if variant else {}))

    def _reversed(self, uow: UnitOfWork, referral: Referral, amount: int, at: str) -> Key:
        rk = keys.referral(referral.id)
        uow.set(rk, status=REVERSED, reversed_at=at, reason="order_refunded").add(rk, refunded_amount=amount)
        self._from(uow, referral)
        return rk

    # --- the referral-rewards job --------------------------------------------------------------------------

    @staticmethod
    def release(uow: UnitOfWork, due: DueReward, referral: Referral) -> None:
        """The due item goes (another run took it: DueRewardGone) while the referral's payout is still
        scheduled (else ReferralChanged); the payout is added to the same unit of work."""
        uow.delete(keys.referral_due(due.program_id, due.due_at, due.referral_id), explain=always(DueRewardGone))
        uow.cond(keys.referral(referral.id), "#st = :c_conv AND payout_status = :c_sched", STATUS,
                 explain=always(ReferralChanged), c_conv=CONVERTED, c_sched=SCHEDULED)

    @staticmethod
    def defer(uow: UnitOfWork, due: DueReward, retry: DueReward) -> None:
        """A due reward whose payout failed moves behind the others (``retry``: its new place and the failure);
        the referral records where it is now, while its payout is still scheduled."""
        uow.delete(keys.referral_due(due.program_id, due.due_at, due.referral_id), explain=always(DueRewardGone))
        uow.put(due_item(retry), explain=always(DueRewardGone))
        rk = keys.referral(due.referral_id)
        uow.set(rk, due_at=retry.due_at, payout_error=retry.last_error, payout_attempts=retry.attempts)
        uow.cond(rk, "#st = :c_conv AND payout_status = :c_sched", STATUS, explain=always(ReferralChanged),
                 c_conv=CONVERTED, c_sched=SCHEDULED)
