"""Erasure of a customer's referral data (called by services/erasure.py with the erasure's anonymised id).

The ledgers keep adding up: referral records, payouts and held items keep their statuses, amounts and order
ids, and only who they belong to changes (``anon_...``); program counters are not touched. What only serves the
person goes: the e-mail hash (the referee's mailbox lock and the hash on the referral, the referrer's hash on
code and record), IP and device hashes, the attribution lock keyed by the id. The referrer's record moves to the
anonymised id and their code stops working. Every write is conditional on the old value, so a repeated or
concurrent erasure changes each item once; the steps run in an order a retry can resume from (the lock that
finds a referee's referral is deleted last).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.referral_erasure_store import ReferralErasureStore
from ..domain.referrals import Referral, Referrer


@dataclass
class Found:
    as_referee: list[tuple[str, Referral | None]] = field(default_factory=list)  # (program, their referral)
    as_referrer: list[tuple[Referrer, list[Referral]]] = field(default_factory=list)  # (record, its referrals)

    def __bool__(self) -> bool:
        return bool(self.as_referee or self.as_referrer)

    def email_hashes(self) -> list[str]:
        """The e-mail pseudonyms the referral records link to the customer (erasure finds their claims and
        e-mail-bound codes with them)."""
        out = [r.mailbox_hash for _p, r in self.as_referee if r]
        out += [record.email_hash for record, _refs in self.as_referrer]
        return [h for h in out if h]


class ReferralErasure:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.store = ReferralErasureStore(table)

    def find(self, customer_id: str, programs: list[str] | None = None) -> Found:
        """Reads only: the attribution locks and referrer records of every program by key, then the referrals.
        ``programs``: the ids to look in (erasure passes every program ever recorded); default the configured."""
        found = Found()
        programs = sorted(self.config.bundle().referral_programs) if programs is None else programs
        referred, records = self.store.customer(programs, customer_id)
        for p in programs:
            if p in referred:
                found.as_referee.append((p, self.store.referral(referred[p])))
            if p in records:
                found.as_referrer.append((records[p], self.store.referrals_of(p, customer_id)))
        return found

    def erase(self, found: Found, customer_id: str, anon: str, tick: Callable[[], None]) -> int:
        """Items changed. ``tick()`` raises when the erasure's time budget is spent (the repeat resumes)."""
        changed = 0
        for program_id, referral in found.as_referee:
            tick()
            if referral is not None:
                if referral.mailbox_hash:
                    changed += self.store.drop_mailbox_lock(program_id, referral.mailbox_hash)
                changed += self.store.anonymise_referee(referral, customer_id, anon)
                changed += self.store.anonymise_conversion_event(referral, customer_id, anon)
            changed += self.store.drop_referee_lock(program_id, customer_id)
        for record, referrals in found.as_referrer:
            tick()
            changed += self.store.retire_code(record, anon)
            for referral in referrals:
                tick()
                changed += self.store.anonymise_referrer_of(referral, customer_id, anon)
                if referral.reward is not None and referral.reward.type == "cash":
                    changed += self.store.anonymise_payout(referral, customer_id, anon)
                if referral.status == "held":
                    changed += self.store.anonymise_held(referral, customer_id, anon)
            tick()
            changed += self.store.move_referrer(record, anon)
        return changed
