"""What erasure reads and changes of the referral items (services/referral_erasure.py decides the order).

Every write is conditional on the old value (the id being erased, or the item being there), so a repeated or
concurrent erasure changes each item once: each method answers 1 when it changed the item now, 0 when it was done
before (or is not there). Each carries a ClientRequestToken (unit_of_work.commit_counted), so a write whose
answer was lost is recognised on botocore's re-send and counted once, not refused by its own condition.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import keys
from .dynamo import ConditionFailed, Table, values
from .referral_store import referral_from_item, referrer_from_item, referrer_item
from .unit_of_work import Gone, NotApplied, UnitOfWork, always, commit_counted, move_over_read
from ..domain.referrals import Referral, Referrer

_HASHES = ("email_hash", "ip_hash", "device_hash")
LEADERBOARD_PREFIX = 25  # of gsi1sk: <count:010d>#<inverted time:013d># (then the customer id)


@dataclass(frozen=True)
class MailboxLock:
    """A referee's attribution lock of an e-mail pseudonym in a program, and the referral it names."""
    program_id: str
    mailbox_hash: str
    referral_id: str


class ReferralErasureStore:
    def __init__(self, table: Table):
        self.table = table

    # --- reads ------------------------------------------------------------------------------------------------

    def customer(self, program_ids: list[str], customer_id: str
                 ) -> tuple[dict[str, str], dict[str, Referrer]]:
        """({program: referral id} where the customer was referred, {program: their referrer record}): one
        BatchGetItem of the attribution locks and the referrer records."""
        wanted = [k for p in program_ids for k in (keys.referee(p, customer_id), keys.referrer(p, customer_id))]
        got = self.table.batch_get(wanted, consistent=True) if wanted else {}
        referred = {p: got[keys.referee(p, customer_id)]["referral_id"] for p in program_ids
                    if keys.referee(p, customer_id) in got}
        records = {p: referrer_from_item(got[keys.referrer(p, customer_id)]) for p in program_ids
                   if keys.referrer(p, customer_id) in got}
        return referred, records

    def referral(self, referral_id: str) -> Referral | None:
        item = self.table.get(*keys.referral(referral_id), consistent=True)
        return referral_from_item(item) if item else None

    def referrals_of(self, program_id: str, referrer_id: str) -> list[Referral]:
        items = self.table.query(keys.referrals_gsi(program_id, referrer_id), index="gsi1", forward=False)
        return [referral_from_item(i) for i in items if i.get("referrer_id") == referrer_id]

    def mailbox_locks(self, program_ids: list[str], mailbox_hashes: list[str]) -> list[MailboxLock]:
        """The attribution locks of these mailbox pseudonyms (an erasure by e-mail address), by key in batches."""
        wanted = {keys.referee_mailbox(p, h): (p, h) for p in sorted(program_ids) for h in mailbox_hashes}
        got = self.table.batch_get_many(list(wanted), consistent=True)
        return [MailboxLock(*wanted[k], got[k]["referral_id"]) for k in wanted if k in got]

    # --- writes -----------------------------------------------------------------------------------------------

    def _update(self, k: tuple[str, str], update: str, condition: str, names: dict | None = None, **vals) -> int:
        uow = UnitOfWork(self.table)  # 0: done before (a resumed or concurrent erasure), or not there
        uow.update(k, update, condition, names, values(**vals), explain=always(NotApplied))
        return commit_counted(uow)

    def _delete(self, k: tuple[str, str]) -> int:
        uow = UnitOfWork(self.table)
        uow.delete(k, "attribute_exists(pk)", explain=always(NotApplied))
        return commit_counted(uow)

    def drop_mailbox_lock(self, program_id: str, mailbox_hash: str) -> int:
        return self._delete(keys.referee_mailbox(program_id, mailbox_hash))

    def erase_mailbox(self, lock: MailboxLock) -> int:
        """The referral forgets the mailbox hash (it keeps its ledger fields; a missing hash is nothing to do),
        then the lock goes: 1 if this call deleted it."""
        try:
            self.table.update(*keys.referral(lock.referral_id), "REMOVE mailbox_hash",
                              "attribute_exists(mailbox_hash)")
        except ConditionFailed:
            pass
        return self.drop_mailbox_lock(lock.program_id, lock.mailbox_hash)

    def drop_referee_lock(self, program_id: str, customer_id: str) -> int:
        return self._delete(keys.referee(program_id, customer_id))

    def anonymise_referee(self, referral: Referral, customer_id: str, anon: str) -> int:
        """The referral names the anonymised referee and forgets their mailbox hash."""
        return self._update(keys.referral(referral.id), "SET referee_id = :anon REMOVE mailbox_hash",
                            "referee_id = :old", anon=anon, old=customer_id)

    def anonymise_conversion_event(self, referral: Referral, customer_id: str, anon: str) -> int:
        """The referral.converted event's referee (services/referral_conversions.py puts it in the outbox)."""
        return self._update(keys.event(f"{referral.id}.converted"), "SET #d.referee_id = :anon",
                            "#d.referee_id = :old", {"#d": "data"}, anon=anon, old=customer_id)

    def retire_code(self, referrer: Referrer, anon: str) -> int:
        """The referrer's code stops working, names the anonymised id and forgets the hashes."""
        return self._update(keys.referral_code(referrer.program_id, referrer.referral_code),
                            "SET referrer_id = :anon, #st = :erased REMOVE email_hash, ip_hash, device_hash",
                            "referrer_id = :old", {"#st": "status"}, anon=anon, old=referrer.customer_id,
                            erased="erased")

    def anonymise_referrer_of(self, referral: Referral, customer_id: str, anon: str) -> int:
        """The referral names the anonymised referrer (and moves to their gsi1 partition)."""
        return self._update(keys.referral(referral.id), "SET referrer_id = :anon, gsi1pk = :g", "referrer_id = :old",
                            anon=anon, old=customer_id, g=keys.referrals_gsi(referral.program_id, anon))

    def anonymise_payout(self, referral: Referral, customer_id: str, anon: str) -> int:
        return self._update(keys.referral_payout(referral.id), "SET customer_id = :anon", "customer_id = :old",
                            anon=anon, old=customer_id)

    def anonymise_held(self, referral: Referral, customer_id: str, anon: str) -> int:
        return self._update(keys.referral_held(referral.program_id, referral.id), "SET referrer_id = :anon",
                            "referrer_id = :old", anon=anon, old=customer_id)

    def move_referrer(self, referrer: Referrer, anon: str) -> int:
        """The referrer's record moves to the anonymised id without the hashes: the old one deleted on condition
        that every counter is as read (a changed counter: read again from the cancellation's old image), the copy
        put, in one transaction."""
        new = keys.referrer(referrer.program_id, anon)

        def counters(read: dict) -> dict:
            return {k: v for k, v in read.items() if isinstance(v, int) and not isinstance(v, bool)}

        def write(uow: UnitOfWork, read: dict) -> None:
            copy = {k: v for k, v in read.items() if k not in _HASHES}
            copy.update(pk=new[0], sk=new[1], customer_id=anon)
            if copy.get("gsi1sk"):  # the leaderboard sort key ends with the customer id
                copy["gsi1sk"] = copy["gsi1sk"][:LEADERBOARD_PREFIX] + anon
            uow.put(copy, explain=always(Gone), first=True)  # a concurrent erasure moved it
        return move_over_read(self.table, keys.referrer(referrer.program_id, referrer.customer_id),
                              referrer_item(referrer), counters, write, "the referrer's counters")
