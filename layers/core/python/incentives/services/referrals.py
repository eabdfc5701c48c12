"""Referral programs, the HTTP side: enrol a referrer (one stable code and link), attribute a referee (once),
and the numbers (a referrer's, the leaderboard, the program's metrics, the affiliates' payout ledger).

Enrolment and attribution are each one TransactWriteItems whose conditional puts (adapters/referral_store.py, the
repository of the referral items) decide the races: the referrer's record is put once, so concurrent first calls
return one code (AlreadyEnrolled carries the first record); the referee's lock item
(and a lock per normalised e-mail hash) makes concurrent attributions of one referee end with exactly one
referral. The referee's reward code is put in the same transaction, so it exists exactly when the referral does.
Conversions, payouts and reviews are in services/referral_conversions.py.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ..adapters.codespace_store import CodeSpaceStore
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.referral_store import ReferralStore
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
from ..domain.referral_errors import AlreadyEnrolled, PayoutNotOwed, ReferralCodeTaken, WriteConflict
from ..domain.referrals import Referral, ReferralCode, Referrer
from ..domain.variants import assign, subject_for_id
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


@dataclass(frozen=True)
class Enrolment:
    body: dict
    created: bool


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
        known, profile = self.store.enrolment(program.id, customer.id)
        if known is not None:
            return Enrolment(self._enrolment(program, known), created=False)
        email = customer.email or (profile or {}).get("email")
        email_hash = rules.mailbox_hash(email) if email else None
        ip_hash = rules.signal_hash("ip", ip) if ip else None
        device_hash = rules.signal_hash("device", device_id) if device_id else None
        space = referral_space(program)
        r = self.spaces.reserve(space, 1)
        code = space.code(r.key, r.start)
        created = iso(now)
        referrer = Referrer(program.id, customer.id, code, created, email_hash=email_hash, ip_hash=ip_hash,
                            device_hash=device_hash)
        uow = self.store.unit()
        self.store.enrol(uow, referrer, ReferralCode(program.id, code, customer.id, "active", created, email_hash,
                                                     ip_hash, device_hash))
        try:
            uow.commit()
        except AlreadyEnrolled as e:  # a concurrent first call enrolled this customer: its code is the code
            return Enrolment(self._enrolment(program, e.referrer), created=False)
        except ReferralCodeTaken:
            raise CodeSpaceCollision(f"referral code space {space.pattern}: {code} exists") from None
        except WriteConflict as e:
            raise errors.Contention(details={"reasons": e.reasons}) from None
        return Enrolment(self._enrolment(program, referrer), created=True)

    @staticmethod
    def _enrolment(program: ReferralProgram, referrer: Referrer) -> dict:
        code = referrer.referral_code
        return {"program_id": program.id, "customer_id": referrer.customer_id, "referral_code": code,
                "referral_link": program.link_template.replace("{code}", code)}

    # --- attribution --------------------------------------------------------------------------------------

    def attribute(self, program_id: str, referral_code: str, referee: Customer, ip: str | None,
                  device_id: str | None, now: datetime, uow: UnitOfWork | None = None) -> dict:
        """One referral of a new customer; the referee's reward code in the same write. ``uow``: the caller's
        unit of work (the HTTP layer's, with its Idempotency-Key completion)."""
        program = program_of(self.config, program_id, active=True)
        code = referral_code.strip().upper()
        owner, profile, referred = self.store.attribution(program.id, code, referee.id)
        if owner is None or not owner.active:
            raise errors.ReferralCodeNotFound(details={"referral_code": code})
        profile = profile or {}
        email = referee.email or profile.get("email")
        mailbox = rules.mailbox_hash(email) if email else None
        legacy = get_settings().legacy_hash_lookups and email is not None
        legacy_mailbox = rules.legacy_mailbox_hash(email) if legacy and email else None
        why = rules.self_referral(owner, referee.id, mailbox, (legacy_mailbox,) if legacy_mailbox else ())
        if why:
            raise errors.SelfReferral(details={"matched": why})
        if referred:
            raise errors.AlreadyReferred(details={"program_id": program.id})
        if profile.get("order_count", 0) > 0:
            raise errors.ExistingCustomer(details={"order_count": profile["order_count"]})
        signals = self._signals(program, owner, ip, device_id, now)

        variant = referrer_variant(program, owner.referrer_id)
        referral = Referral(new_id("rfl"), program.id, owner.referrer_id, referee.id, code, iso(now),
                            signals=tuple(signals), mailbox_hash=mailbox, variant=variant)
        w = uow if uow is not None else self.store.unit()
        self.store.lock_referee(w, referral, legacy_mailbox)
        self.store.count_attribution(w, referral)
        body: dict[str, Any] = {"id": referral.id, "status": rules.PENDING, "program_id": program.id}
        if variant is not None:
            body["variant"] = variant
        referee_reward = program.referee_reward_for(variant)
        if referee_reward is not None:
            reward = self._referee_reward(w, referee_reward.campaign, referee.id, now)
            referral = replace(referral, referee_reward=reward)
            body["referee_reward"] = reward
            campaign = self.config.bundle().campaign(referee_reward.campaign)
            value = rules.campaign_value(campaign.for_variant(reward.get("variant")))
            self.store.count(w, program.id, rules.referee_reward_counters(value, variant))
        self.store.add_referral(w, referral)
        w.result = body
        try:
            self.store.commit(w)
        except WriteConflict as e:
            raise errors.Contention(details={"reasons": e.reasons}) from None
        return body

    def _referee_reward(self, w: UnitOfWork, campaign_id: str, referee_id: str, now: datetime) -> dict:
        """A code of the referee campaign bound to the referee, written in the attribution's transaction."""
        campaign = self.config.bundle().campaign(campaign_id)
        code = self.issuer.issue(w, campaign, now, holder=holder_for_id(referee_id))[0]
        out = {"code": code.code, "campaign_id": code.campaign_id, "expires_at": code.expires_at}
        return {**out, "variant": code.variant} if code.variant else out  # the reward campaign's own experiment

    def _signals(self, program: ReferralProgram, owner: ReferralCode, ip: str | None, device_id: str | None,
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
            if owner.signal_hash(kind) in (h, rules.legacy_signal_hash(kind, value)):
                out.append(same)
            if limit is not None and self.store.count_signal(program.id, kind, h, day, ttl) > limit:
                out.append(over)
        return out

    # --- numbers ------------------------------------------------------------------------------------------

    def referrer(self, program_id: str, customer_id: str) -> dict:
        program = program_of(self.config, program_id)
        referrer = self.store.referrer(program.id, customer_id)
        if referrer is None:
            raise errors.NotFound("this customer is not a referrer of the program",
                                  {"program_id": program.id, "customer_id": customer_id})
        bundle = self.config.bundle()
        converted = referrer.converted
        variant = referrer_variant(program, customer_id)
        rewards = [rules.reward_view(r) for r in self.store.referrals_of(program.id, customer_id, REWARDS_LISTED)
                   if r.reward is not None]
        return {**self._enrolment(program, referrer), "referrals": referrer.referrals, "pending": referrer.pending,
                "converted": converted, "held": referrer.held,
                "tier": rules.tier_view(program.tier_for(converted, variant), bundle),
                "next_tier": rules.next_tier(program, converted, variant),
                "rewards_paid": referrer.rewards_paid, "rewards": rewards}

    def leaderboard(self, program_id: str, limit: int) -> dict:
        program = program_of(self.config, program_id)
        rows = self.store.leaderboard(program.id, max(1, min(limit, MAX_LEADERBOARD)))
        return {"program_id": program.id,
                "leaders": [{"rank": i + 1, "customer_id": r.customer_id, "converted": r.converted}
                            for i, r in enumerate(rows)]}

    def metrics(self, program_id: str) -> dict:
        program = program_of(self.config, program_id)
        counters = self.store.counters(program.id)
        bundle = self.config.bundle()
        return rules.metrics(program, counters, rules.program_currency(program, bundle))

    # --- affiliates' cash ledger --------------------------------------------------------------------------

    def payouts(self, program_id: str, status: str) -> dict:
        program = program_of(self.config, program_id)
        if status not in ("owed", "paid"):
            raise errors.InvalidRequest("status is owed or paid", {"field": "status"})
        rows = [p.view() for p in self.store.payouts(program.id, status)]
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
        try:
            payout = self.store.mark_paid(program.id, payout_id, reference, iso(now))
        except PayoutNotOwed as e:
            if e.payout is None or e.payout.program_id != program.id or e.payout.status != "paid":
                raise errors.NotFound("no payout owed with this id", {"payout_id": payout_id}) from None
            payout = e.payout
        return {"id": payout.id, "status": payout.status, "amount": payout.amount, "currency": payout.currency,
                "paid_at": payout.paid_at, "reference": payout.reference or None}

    def held(self, program_id: str, limit: int = 100) -> dict:
        program = program_of(self.config, program_id)
        rows = self.store.held(program.id, max(1, min(limit, 500)))
        return {"program_id": program.id, "held": [h.view() for h in rows]}
