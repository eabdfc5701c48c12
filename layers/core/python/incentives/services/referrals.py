"""Referral programs, the HTTP side: enrol a referrer (one stable code and link), attribute a referee (once),
and the numbers (a referrer's, the leaderboard, the program's metrics, the affiliates' payout ledger).

Enrolment and attribution are each one TransactWriteItems whose conditional puts decide the races: the
referrer item (attribute_not_exists) makes concurrent first calls return one code; the referee's lock item
(and a lock per normalised e-mail hash) makes concurrent attributions of one referee end with exactly one
referral. The referee's reward code is put in the same transaction, so it exists exactly when the referral does.
Conversions, payouts and reviews are in services/referral_conversions.py.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..adapters import keys
from ..adapters.codespace_store import CodeSpaceStore
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import ConditionFailed, Table, values
from ..adapters.referral_store import STATUS, ReferralStore
from ..adapters.unit_of_work import UnitOfWork
from ..domain import errors
from ..domain import referrals as rules
from ..domain.clock import iso
from ..domain.codespace import CodeSpace
from ..domain.config import DEFAULT_CHARSET
from ..domain.customers import holder_for_id
from ..domain.ids import new_id
from ..domain.orders import Customer
from ..domain.programs import ReferralProgram
from ..domain.variants import assign, counter, subject_for_id
from ..settings import get_settings
from .code_issuer import CodeIssuer, CodeSpaceCollision

_spaces: dict[str, CodeSpace] = {}
SIGNAL_TTL_DAYS = 2
MAX_LEADERBOARD = 100
REWARDS_LISTED = 50


def referral_space(program: ReferralProgram) -> CodeSpace:
    space = _spaces.get(program.code_pattern)
    if space is None:
        space = _spaces[program.code_pattern] = CodeSpace(program.code_pattern, DEFAULT_CHARSET)
    return space


def program_of(config: ConfigSource, program_id: str, active: bool = False) -> ReferralProgram:
    program = config.bundle().referral_programs.get(program_id)
    if program is None:
        raise errors.ReferralProgramNotFound(details={"program_id": program_id})
    if active and not program.enabled:
        raise errors.ReferralProgramInactive(details={"program_id": program_id})
    return program


def referrer_variant(program: ReferralProgram, referrer_id: str) -> str | None:
    """The referrer's A/B variant of the program (their referrals follow it); None without variants."""
    return assign(program.id, subject_for_id(referrer_id), program.variants) if program.variants else None


def reward_view(referral: dict) -> dict:
    reward = dict(referral.get("reward") or {})
    reward.pop("tier_from", None)
    value = reward.pop("value", None)
    if value is not None:
        reward["value"] = {"amount": value, "currency": reward.pop("currency")}
    return {"referral_id": referral["id"], "status": referral["status"], **reward,
            "code": referral.get("reward_code"), "payout_status": referral.get("payout_status"),
            "release_at": referral.get("release_at"), "paid_at": referral.get("paid_at")}


@dataclass(frozen=True)
class Enrolment:
    body: dict
    created: bool


class _Enrolled(Exception):
    def __init__(self, referrer: dict):
        super().__init__("enrolled")
        self.referrer = referrer


class Referrals:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.store = ReferralStore(table)
        self.spaces = CodeSpaceStore(table)
        self.issuer = CodeIssuer(table)

    # --- enrolment ----------------------------------------------------------------------------------------

    def enroll(self, program_id: str, customer: Customer, ip: str | None, device_id: str | None,
               now: datetime) -> Enrolment:
        """A new code (``created``), or the code the customer already has (also for concurrent first calls)."""
        program = program_of(self.config, program_id, active=True)
        rkey, pkey = keys.referrer(program.id, customer.id), keys.customer_profile(customer.id)
        got = self.table.batch_get([rkey, pkey], consistent=True)
        if rkey in got:
            return Enrolment(self._enrolment(program, got[rkey]), created=False)
        email = customer.email or (got.get(pkey) or {}).get("email")
        mine = {"email_hash": rules.mailbox_hash(email) if email else None,
                "ip_hash": rules.signal_hash("ip", ip) if ip else None,
                "device_hash": rules.signal_hash("device", device_id) if device_id else None}
        space = referral_space(program)
        r = self.spaces.reserve(space, 1)
        code = space.code(r.key, r.start)
        created = iso(now)
        cpk, csk = keys.referral_code(program.id, code)
        referrer = {"pk": rkey[0], "sk": rkey[1], "program_id": program.id, "customer_id": customer.id,
                    "referral_code": code, "created_at": created, "referrals": 0, "pending": 0, "converted": 0,
                    "held": 0, "version": 0, **mine}
        uow = UnitOfWork(self.table)
        uow.put(referrer, explain=lambda old: _Enrolled(old) if old else None)
        uow.put({"pk": cpk, "sk": csk, "program_id": program.id, "code": code, "referrer_id": customer.id,
                 "status": "active", "created_at": created, **mine},
                explain=lambda _old: CodeSpaceCollision(f"referral code space {space.pattern}: {code} exists"))
        uow.add(keys.referral_program(program.id), referrers=1)
        try:
            uow.commit(otherwise=lambda e: errors.Contention(details={"reasons": e.reasons}))
        except _Enrolled as e:  # a concurrent first call enrolled this customer: its code is the code
            return Enrolment(self._enrolment(program, e.referrer), created=False)
        return Enrolment(self._enrolment(program, referrer), created=True)

    @staticmethod
    def _enrolment(program: ReferralProgram, referrer: dict) -> dict:
        code = referrer["referral_code"]
        return {"program_id": program.id, "customer_id": referrer["customer_id"], "referral_code": code,
                "referral_link": program.link_template.replace("{code}", code)}

    # --- attribution --------------------------------------------------------------------------------------

    def attribute(self, program_id: str, referral_code: str, referee: Customer, ip: str | None,
                  device_id: str | None, now: datetime, uow: UnitOfWork | None = None) -> dict:
        """One referral of a new customer (its answer: 201); the referee's reward code in the same write."""
        program = program_of(self.config, program_id, active=True)
        code = referral_code.strip().upper()
        ckey, pkey, lkey = (keys.referral_code(program.id, code), keys.customer_profile(referee.id),
                            keys.referee(program.id, referee.id))
        got = self.table.batch_get([ckey, pkey, lkey], consistent=True)
        owner = got.get(ckey)
        if owner is None or owner.get("status") != "active":
            raise errors.ReferralCodeNotFound(details={"referral_code": code})
        profile = got.get(pkey) or {}
        email = referee.email or profile.get("email")
        mailbox = rules.mailbox_hash(email) if email else None
        legacy = get_settings().legacy_hash_lookups and email is not None
        legacy_mailbox = rules.legacy_mailbox_hash(email) if legacy and email else None
        why = rules.self_referral(owner, referee.id, mailbox, (legacy_mailbox,) if legacy_mailbox else ())
        if why:
            raise errors.SelfReferral(details={"matched": why})
        if lkey in got:
            raise errors.AlreadyReferred(details={"program_id": program.id})
        if profile.get("order_count", 0) > 0:
            raise errors.ExistingCustomer(details={"order_count": profile["order_count"]})
        signals = self._signals(program, owner, ip, device_id, now)

        referral_id = new_id("rfl")
        at = iso(now)
        w = uow if uow is not None else UnitOfWork(self.table)
        w.put({"pk": lkey[0], "sk": lkey[1], "referral_id": referral_id, "created_at": at},
              explain=lambda _old: errors.AlreadyReferred(details={"program_id": program.id}))
        if mailbox:
            mkey = keys.referee_mailbox(program.id, mailbox)
            w.put({"pk": mkey[0], "sk": mkey[1], "referral_id": referral_id, "created_at": at},
                  explain=lambda _old: errors.AlreadyReferred("this e-mail address has been referred already",
                                                              {"program_id": program.id, "matched": "email"}))
            if legacy_mailbox:  # the mailbox lock of a referral attributed before the key existed
                w.check(keys.referee_mailbox(program.id, legacy_mailbox), "attribute_not_exists(pk)",
                        explain=lambda _old: errors.AlreadyReferred("this e-mail address has been referred already",
                                                                    {"program_id": program.id, "matched": "email"}))
        variant = referrer_variant(program, owner["referrer_id"])
        referral = {"id": referral_id, "program_id": program.id, "referrer_id": owner["referrer_id"],
                    "referee_id": referee.id, "referral_code": code, "status": rules.PENDING, "attributed_at": at,
                    "signals": signals or None, "mailbox_hash": mailbox, "variant": variant,
                    "gsi1pk": keys.referrals_gsi(program.id, owner["referrer_id"]),
                    "gsi1sk": f"{at}#{referral_id}"}
        body: dict[str, Any] = {"id": referral_id, "status": rules.PENDING, "program_id": program.id}
        if variant is not None:
            body["variant"] = variant
        pc = keys.referral_program(program.id)
        w.add(pc, referrals=1, pending=1, **({counter(variant, "referrals"): 1} if variant else {}))
        rk = keys.referrer(program.id, owner["referrer_id"])
        # the referrer was erased in the meantime
        w.add(rk, referrals=1, pending=1).cond(
            rk, "attribute_exists(pk)",
            explain=lambda _old: errors.ReferralCodeNotFound(details={"referral_code": code}))
        referee_reward = program.referee_reward_for(variant)
        if referee_reward is not None:
            reward = self._referee_reward(w, referee_reward.campaign, referee.id, now)
            referral["referee_reward"] = reward
            body["referee_reward"] = reward
            campaign = self.config.bundle().campaign(referee_reward.campaign)
            value = rules.campaign_value(campaign.for_variant(reward.get("variant")))
            if value is not None:
                cost = {f"referee_cost_{value.currency}": value.amount}
                if variant is not None:
                    cost[counter(variant, f"referee_cost_{value.currency}")] = value.amount
                w.add(pc, referee_rewards=1, **cost)
            else:
                w.add(pc, referee_rewards=1, referee_unpriced=1)
        rpk, rsk = keys.referral(referral_id)
        w.put({"pk": rpk, "sk": rsk, **{k: v for k, v in referral.items() if v is not None}})
        w.result = body
        w.commit(otherwise=lambda e: errors.Contention(details={"reasons": e.reasons}))
        return body

    def _referee_reward(self, w: UnitOfWork, campaign_id: str, referee_id: str, now: datetime) -> dict:
        """A code of the referee campaign bound to the referee, written in the attribution's transaction."""
        campaign = self.config.bundle().campaign(campaign_id)
        code = self.issuer.issue(w, campaign, now, holder=holder_for_id(referee_id))[0]
        out = {"code": code.code, "campaign_id": code.campaign_id, "expires_at": code.expires_at}
        return {**out, "variant": code.variant} if code.variant else out  # the reward campaign's own experiment

    def _signals(self, program: ReferralProgram, owner: dict, ip: str | None, device_id: str | None,
                 now: datetime) -> list[str]:
        """Why a conversion of this referral should be reviewed: the referrer's own IP address or device, or more
        referrals from one address or device per day than the program allows (attempts count, one UpdateItem
        each). Signals hold the conversion for review; they never refuse the sign-up."""
        out = []
        day = iso(now)[:10]
        ttl = int((now + timedelta(days=SIGNAL_TTL_DAYS)).timestamp())
        limits = program.limits
        for kind, value, limit, same, over in (
                ("ip", ip, limits.max_referrals_per_ip_per_day, rules.SAME_IP_AS_REFERRER, rules.IP_LIMIT),
                ("device", device_id, limits.max_referrals_per_device_per_day, rules.SAME_DEVICE_AS_REFERRER,
                 rules.DEVICE_LIMIT)):
            if not value:
                continue
            h = rules.signal_hash(kind, value)
            if owner.get(f"{kind}_hash") in (h, rules.legacy_signal_hash(kind, value)):
                out.append(same)
            if limit is not None:
                item = self.table.update(*keys.referral_signal(program.id, kind, h, day), "ADD hits :one SET #t = :t",
                                         names={"#t": "ttl"}, vals=values(one=1, t=ttl), return_new=True)
                if item["hits"] > limit:
                    out.append(over)
        return out

    # --- numbers ------------------------------------------------------------------------------------------

    def referrer(self, program_id: str, customer_id: str) -> dict:
        program = program_of(self.config, program_id)
        item = self.store.get(keys.referrer(program.id, customer_id))
        if item is None:
            raise errors.NotFound("this customer is not a referrer of the program",
                                  {"program_id": program.id, "customer_id": customer_id})
        bundle = self.config.bundle()
        converted = int(item.get("converted", 0))
        variant = referrer_variant(program, customer_id)
        rewards = [reward_view(r) for r in self.store.referrals_of(program.id, customer_id, REWARDS_LISTED)
                   if r.get("reward")]
        return {**self._enrolment(program, item), "referrals": int(item.get("referrals", 0)),
                "pending": int(item.get("pending", 0)), "converted": converted, "held": int(item.get("held", 0)),
                "tier": rules.tier_view(program.tier_for(converted, variant), bundle),
                "next_tier": rules.next_tier(program, converted, variant),
                "rewards_paid": int(item.get("rewards_paid", 0)), "rewards": rewards}

    def leaderboard(self, program_id: str, limit: int) -> dict:
        program = program_of(self.config, program_id)
        rows = self.store.leaderboard(program.id, max(1, min(limit, MAX_LEADERBOARD)))
        return {"program_id": program.id,
                "leaders": [{"rank": i + 1, "customer_id": r["customer_id"], "converted": int(r["converted"])}
                            for i, r in enumerate(rows)]}

    def metrics(self, program_id: str) -> dict:
        program = program_of(self.config, program_id)
        counters = self.store.get(keys.referral_program(program.id)) or {}
        bundle = self.config.bundle()
        return rules.metrics(program, counters, rules.program_currency(program, bundle))

    # --- affiliates' cash ledger --------------------------------------------------------------------------

    def payouts(self, program_id: str, status: str) -> dict:
        program = program_of(self.config, program_id)
        if status not in ("owed", "paid"):
            raise errors.InvalidRequest("status is owed or paid", {"field": "status"})
        rows = [{"id": p["id"], "referral_id": p["referral_id"], "customer_id": p["customer_id"],
                 "amount": p["amount"], "currency": p["currency"], "status": p["status"],
                 "created_at": p["created_at"], "paid_at": p.get("paid_at"), "reference": p.get("reference")}
                for p in self.store.payouts(program.id, status)]
        totals: dict[str, int] = {}
        for p in rows:
            totals[p["currency"]] = totals.get(p["currency"], 0) + p["amount"]
        return {"program_id": program.id, "status": status, "payouts": rows,
                "totals": [{"amount": a, "currency": c} for c, a in sorted(totals.items())]}

    @staticmethod
    def payouts_csv(ledger: dict) -> str:
        out = io.StringIO()
        fields = ["id", "referral_id", "customer_id", "amount", "currency", "status", "created_at", "paid_at",
                  "reference"]
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in ledger["payouts"]:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in fields})
        return out.getvalue()

    def mark_paid(self, program_id: str, payout_id: str, reference: str | None, now: datetime) -> dict:
        """owed -> paid, once (a repeat finds it paid and answers the same)."""
        program = program_of(self.config, program_id)
        pk, sk = keys.referral_payout(payout_id)
        try:
            item = self.table.update(pk, sk, "SET #st = :paid, paid_at = :now, #ref = :ref, gsi1pk = :g",
                                     "#st = :owed AND program_id = :p", {**STATUS, "#ref": "reference"},
                                     values(paid="paid", now=iso(now), ref=reference or "", owed="owed", p=program.id,
                                            g=keys.payouts_gsi(program.id, "paid")), return_new=True)
        except ConditionFailed as e:
            if e.item and e.item.get("program_id") == program.id and e.item.get("status") == "paid":
                item = e.item
            else:
                raise errors.NotFound("no payout owed with this id", {"payout_id": payout_id}) from None
        return {"id": item["id"], "status": item["status"], "amount": item["amount"], "currency": item["currency"],
                "paid_at": item["paid_at"], "reference": item.get("reference") or None}

    def held(self, program_id: str, limit: int = 100) -> dict:
        program = program_of(self.config, program_id)
        rows = self.store.held(program.id, max(1, min(limit, 500)))
        return {"program_id": program.id,
                "held": [{k: r.get(k) for k in ("referral_id", "referrer_id", "held_at", "reasons", "order_id",
                                                "order_amount", "currency")} for r in rows]}
