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

from dataclasses import dataclass, field

from ..adapters import keys
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import ConditionFailed, Table, values
from ..adapters.referral_store import ReferralStore
from ..adapters.unit_of_work import Gone, UnitOfWork, always, move_over_read

_HASHES = ("email_hash", "ip_hash", "device_hash")


@dataclass
class Found:
    as_referee: list[tuple[str, dict, dict | None]] = field(default_factory=list)  # (program, lock, referral)
    as_referrer: list[tuple[str, dict, list[dict]]] = field(default_factory=list)  # (program, record, referrals)

    def __bool__(self) -> bool:
        return bool(self.as_referee or self.as_referrer)

    def email_hashes(self) -> list[str]:
        """The e-mail pseudonyms the referral records link to the customer (erasure finds their claims and
        e-mail-bound codes with them)."""
        out = [r.get("mailbox_hash") for _p, _lock, r in self.as_referee if r]
        out += [record.get("email_hash") for _p, record, _refs in self.as_referrer]
        return [h for h in out if h]


class ReferralErasure:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.store = ReferralStore(table)

    def find(self, customer_id: str, programs: list[str] | None = None) -> Found:
        """Reads only: the attribution locks and referrer records of every program by key, then the referrals.
        ``programs``: the ids to look in (erasure passes every program ever recorded); default the configured."""
        found = Found()
        programs = sorted(self.config.bundle().referral_programs) if programs is None else programs
        wanted = [k for p in programs for k in (keys.referee(p, customer_id), keys.referrer(p, customer_id))]
        got = self.table.batch_get(wanted, consistent=True) if wanted else {}
        for p in programs:
            lock = got.get(keys.referee(p, customer_id))
            if lock:
                found.as_referee.append((p, lock, self.store.get(keys.referral(lock["referral_id"]))))
            record = got.get(keys.referrer(p, customer_id))
            if record:
                referrals = [r for r in self.store.referrals_of(p, customer_id) if r.get("referrer_id") == customer_id]
                found.as_referrer.append((p, record, referrals))
        return found

    def erase(self, found: Found, customer_id: str, anon: str, tick) -> int:
        """Items changed. ``tick()`` raises when the erasure's time budget is spent (the repeat resumes)."""
        changed = 0
        for program_id, _lock, referral in found.as_referee:
            tick()
            if referral is not None:
                if referral.get("mailbox_hash"):
                    changed += self._delete(keys.referee_mailbox(program_id, referral["mailbox_hash"]))
                changed += self._update(keys.referral(referral["id"]),
                                        "SET referee_id = :anon REMOVE mailbox_hash", "referee_id = :old",
                                        anon=anon, old=customer_id)
                changed += self._update(keys.event(f"{referral['id']}.converted"), "SET #d.referee_id = :anon",
                                        "#d.referee_id = :old", {"#d": "data"}, anon=anon, old=customer_id)
            changed += self._delete(keys.referee(program_id, customer_id))
        for program_id, record, referrals in found.as_referrer:
            tick()
            changed += self._update(keys.referral_code(program_id, record["referral_code"]),
                                    "SET referrer_id = :anon, #st = :erased REMOVE email_hash, ip_hash, device_hash",
                                    "referrer_id = :old", {"#st": "status"}, anon=anon, old=customer_id,
                                    erased="erased")
            for referral in referrals:
                tick()
                rid = referral["id"]
                changed += self._update(keys.referral(rid), "SET referrer_id = :anon, gsi1pk = :g",
                                        "referrer_id = :old", anon=anon, old=customer_id,
                                        g=keys.referrals_gsi(program_id, anon))
                if (referral.get("reward") or {}).get("type") == "cash":
                    changed += self._update(keys.referral_payout(rid), "SET customer_id = :anon",
                                            "customer_id = :old", anon=anon, old=customer_id)
                if referral.get("status") == "held":
                    changed += self._update(keys.referral_held(program_id, rid), "SET referrer_id = :anon",
                                            "referrer_id = :old", anon=anon, old=customer_id)
            tick()
            changed += self._move_referrer(program_id, record, customer_id, anon)
        return changed

    def _update(self, k: tuple[str, str], update: str, condition: str, names: dict | None = None, **vals) -> int:
        try:
            self.table.update(*k, update, condition, names, values(**vals))
        except ConditionFailed:
            return 0  # done before (a resumed or concurrent erasure), or not there
        return 1

    def _delete(self, k: tuple[str, str]) -> int:
        try:
            self.table.delete(*k, condition="attribute_exists(pk)")
        except ConditionFailed:
            return 0
        return 1

    def _move_referrer(self, program_id: str, record: dict, customer_id: str, anon: str) -> int:
        """REFERRER#<p>#<id> -> REFERRER#<p>#<anon>: delete conditional on every counter read (nothing counted
        meanwhile is lost: a changed counter means read again) and put the copy, in one transaction."""
        new = keys.referrer(program_id, anon)

        def counters(read: dict) -> dict:
            return {k: v for k, v in read.items() if isinstance(v, int) and not isinstance(v, bool)}

        def write(uow: UnitOfWork, read: dict) -> None:
            copy = {k: v for k, v in read.items() if k not in _HASHES}
            copy.update(pk=new[0], sk=new[1], customer_id=anon)
            if copy.get("gsi1sk"):  # the leaderboard sort key: <count:010d>#<inverted time:013d>#<customer id>
                copy["gsi1sk"] = copy["gsi1sk"][:25] + anon
            uow.put(copy, explain=always(Gone), first=True)  # a concurrent erasure moved it
        return move_over_read(self.table, keys.referrer(program_id, customer_id), record, counters, write,
                              "the referrer's counters")
