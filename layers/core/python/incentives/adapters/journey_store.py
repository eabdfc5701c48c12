"""The journeys' repository: the keys and the conditions of the items a journey run reads and writes.

- the job lease (keys.job_lease): one run of a job at a time, wall-clock expiry;
- the due-date index (keys.journey_due): one partition per journey and UTC hour, sk = the customer id (or
  <customer>#<occurrence> for a points warning);
- the message record (keys.message): exactly one per customer, journey and occurrence;
- the frequency item (keys.frequency): the customer's recent send instants across journeys, under a version;
- the pending deliveries (keys.journey_pending): committed messages not yet handed to the provider.

services/journeys.py speaks in the objects below (DueEntry, Frequency, Message, Pending) and never in keys or
expressions; a failed condition reaches it as the typed exceptions of this module (MessageTaken, FrequencyMoved).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from . import keys
from .dynamo import ConditionFailed, Table, values
from .schema import GSI1
from .unit_of_work import UnitOfWork, always

Key = tuple[str, str]
WARNING_FIELDS = ("points", "points_expires_at", "program_id")  # a points warning's values, on its items


class MessageTaken(Exception):
    """Another run recorded this customer's occurrence first."""


class FrequencyMoved(Exception):
    """The customer's frequency item changed after it was read: decide again."""


@dataclass(frozen=True)
class DueEntry:
    """One item of the due-date index: a customer's occurrence due in the bucket's hour."""
    key: Key
    customer_id: str
    occurrence: str
    due_date: str
    not_before: str | None = None
    warning: dict | None = None  # WARNING_FIELDS of a points warning, None for a date-driven occurrence

    @classmethod
    def from_item(cls, item: dict) -> DueEntry:
        warning = {k: item[k] for k in WARNING_FIELDS if k in item} if "points" in item else None
        return cls((item["pk"], item["sk"]), item["customer_id"], item["occurrence"], item["due_date"],
                   item.get("not_before"), warning)


def due_item(journey_id: str, bucket: str, customer_id: str, occurrence: str, due_date: str,
             not_before: str | None = None, warning: dict | None = None) -> dict:
    """The index item of one occurrence in the bucket of a UTC hour: sk = the customer id (one current occurrence
    per customer and journey); a points warning is keyed by customer and occurrence, since one customer may have
    several warnings due in the same hour."""
    sk = f"{customer_id}#{occurrence}" if warning is not None else customer_id
    item = {"pk": keys.journey_due(journey_id, bucket), "sk": sk, "customer_id": customer_id,
            "journey_id": journey_id, "occurrence": occurrence, "due_date": due_date}
    if not_before:
        item["not_before"] = not_before
    if warning is not None:
        item.update({k: v for k, v in warning.items() if k in WARNING_FIELDS and v is not None})
    return item


@dataclass(frozen=True)
class Frequency:
    """The customer's recent sends across all journeys (the frequency cap), and the version they were read at."""
    customer_id: str
    sent: tuple[str, ...] = ()
    version: int = 0
    exists: bool = False

    @classmethod
    def from_item(cls, customer_id: str, item: dict | None) -> Frequency:
        if item is None:
            return cls(customer_id)
        return cls(customer_id, tuple(item.get("sent", [])), int(item.get("version", 0)), True)


@dataclass(frozen=True)
class Message:
    """A journey's message record. ``status``: deferred (with not_before), pending (committed, not yet
    delivered), sent, skipped (with reason) or failed (with reason)."""
    id: str
    customer_id: str
    journey_id: str
    occurrence: str
    created_at: str
    updated_at: str
    timezone: str
    status: str = "pending"
    channel: str | None = None
    reason: str | None = None
    not_before: str | None = None
    code: str | None = None
    campaign_id: str | None = None
    code_expires_at: str | None = None
    code_variant: str | None = None  # the issued code's A/B variant: its reward is the message's {discount}
    provider_id: str | None = None
    sent_at: str | None = None
    points: int | None = None
    points_expires_at: str | None = None
    program_id: str | None = None
    extra: dict = field(default_factory=dict)  # attributes of other versions, kept as they are

    @classmethod
    def from_item(cls, item: dict) -> Message:
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in item.items() if k in names}
        extra = {k: v for k, v in item.items() if k not in names and k not in ("pk", "sk", "gsi1pk", "gsi1sk")}
        return cls(**known, extra=extra)

    def item(self) -> dict:
        pk, sk = keys.message(self.customer_id, self.journey_id, self.occurrence)
        out = {"pk": pk, "sk": sk, **self.extra,
               **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"},
               # GET /v1/customers/{id}/messages and erasure find it on the customer's gsi1 partition
               "gsi1pk": keys.customer_gsi(self.customer_id), "gsi1sk": f"MESSAGE#{self.created_at}#{self.id}"}
        return {k: v for k, v in out.items() if v is not None}

    def with_(self, **changes: Any) -> Message:
        return replace(self, **changes)


@dataclass(frozen=True)
class Pending:
    """A committed message whose delivery is still to be made (first attempt, or a retry)."""
    journey_id: str
    customer_id: str
    occurrence: str
    unsubscribe_url: str | None = None
    attempts: int = 0

    @property
    def key(self) -> Key:
        return keys.journey_pending(self.journey_id), f"{self.customer_id}#{self.occurrence}"


class JourneyStore:
    def __init__(self, table: Table):
        self.table = table

    # --- the lease ------------------------------------------------------------------------------------------

    def acquire(self, job: str, holder: str, expires_at: str, now: str) -> bool:
        pk, sk = keys.job_lease(job)
        try:
            self.table.put({"pk": pk, "sk": sk, "holder": holder, "expires_at": expires_at},
                           "attribute_not_exists(pk) OR expires_at < :now", vals=values(now=now))
        except ConditionFailed:
            return False
        return True

    def release(self, job: str, holder: str) -> None:
        try:
            self.table.delete(*keys.job_lease(job), "holder = :h", vals=values(h=holder))
        except ConditionFailed:
            pass  # expired and taken over meanwhile

    # --- reads ----------------------------------------------------------------------------------------------

    def due(self, journey_id: str, bucket: str) -> list[DueEntry]:
        return [DueEntry.from_item(i) for i in self.table.query(keys.journey_due(journey_id, bucket))]

    def customers(self, journey_id: str, wanted: list[tuple[str, str]], profiles: bool = True,
                  ) -> dict[tuple[str, str], tuple[dict | None, Frequency, Message | None]]:
        """(customer, occurrence) -> (profile item, frequency, message record), read consistently in batches."""
        ks: list[Key] = []
        for cid, occ in wanted:
            ks += ([keys.customer_profile(cid)] if profiles else []) + [keys.frequency(cid),
                                                                         keys.message(cid, journey_id, occ)]
        found = self.table.batch_get_many(ks, consistent=True)
        out = {}
        for cid, occ in wanted:
            record = found.get(keys.message(cid, journey_id, occ))
            out[(cid, occ)] = (found.get(keys.customer_profile(cid)) if profiles else None,
                               Frequency.from_item(cid, found.get(keys.frequency(cid))),
                               Message.from_item(record) if record else None)
        return out

    def pending(self, journey_id: str) -> list[Pending]:
        return [Pending(journey_id, i["customer_id"], i["occurrence"], i.get("unsubscribe_url"),
                        int(i.get("attempts", 0)))
                for i in self.table.query(keys.journey_pending(journey_id))]

    def drop_pending(self, pending: Pending) -> None:
        self.table.delete(*pending.key)

    def messages_of(self, customer_id: str, limit: int) -> list[Message]:
        items = self.table.query(keys.customer_gsi(customer_id), "MESSAGE#", index=GSI1, limit=limit, forward=False)
        return [Message.from_item(i) for i in items]

    # --- writes, into the caller's unit of work --------------------------------------------------------------

    @staticmethod
    def drop_due(uow: UnitOfWork, entry: DueEntry) -> None:
        uow.delete(entry.key, condition=None)

    @staticmethod
    def put_due(uow: UnitOfWork, item: dict) -> None:
        uow.put(item, condition=None)  # the same occurrence again: the same item

    @staticmethod
    def record(uow: UnitOfWork, message: Message, previous: Message | None) -> None:
        """The message record: new (once per customer, journey and occurrence), or over the deferred record
        it takes over (still deferred to the same time). Either condition failing: MessageTaken."""
        if previous is None:
            uow.put(message.item(), explain=always(MessageTaken))
        else:
            uow.put(message.item(), "#st = :d AND not_before = :nb", names={"#st": "status"},
                    vals=values(d="deferred", nb=previous.not_before), explain=always(MessageTaken))

    @staticmethod
    def count_send(uow: UnitOfWork, freq: Frequency, sent: list[str]) -> None:
        """The frequency item with its new send instants, over the version read (two journeys sending at once
        cannot both pass the cap): a changed item is FrequencyMoved."""
        pk, sk = keys.frequency(freq.customer_id)
        uow.put({"pk": pk, "sk": sk, "sent": sent, "version": freq.version + 1},
                condition="version = :v" if freq.exists else "attribute_not_exists(pk)",
                vals=values(v=freq.version) if freq.exists else None, explain=always(FrequencyMoved))

    @staticmethod
    def add_pending(uow: UnitOfWork, pending: Pending, now: str) -> None:
        uow.put({"pk": pending.key[0], "sk": pending.key[1], "customer_id": pending.customer_id,
                 "occurrence": pending.occurrence, "unsubscribe_url": pending.unsubscribe_url, "created_at": now,
                 "attempts": 0}, condition=None)

    @staticmethod
    def retry_later(uow: UnitOfWork, pending: Pending, error: str) -> None:
        uow.update(pending.key, "SET attempts = attempts + :one, last_error = :e", vals=values(one=1, e=error))

    @staticmethod
    def delivered(uow: UnitOfWork, message: Message, pending: Pending, **outcome: Any) -> None:
        """The delivery's outcome on the record (still pending: another run may have recorded it meanwhile,
        then the commit fails), and the pending item leaves."""
        k = keys.message(message.customer_id, message.journey_id, message.occurrence)
        uow.set(k, **outcome)
        uow.cond(k, "#c_st = :c_p", names={"#c_st": "status"}, c_p="pending", explain=always(MessageTaken))
        uow.delete(pending.key, condition=None)

    @staticmethod
    def failed_undeliverable(uow: UnitOfWork, message: Message, pending: Pending, reason: str) -> None:
        uow.set(keys.message(message.customer_id, message.journey_id, message.occurrence), status="failed",
                reason=reason)
        uow.delete(pending.key, condition=None)
