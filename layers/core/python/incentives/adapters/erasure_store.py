"""Erasure's repository: what a customer's erasure finds (by key, on gsi1 and by e-mail pseudonym; never a scan)
and each write that anonymises, moves or deletes it. services/erasure.py decides the order and keeps the counts;
the keys, the queries and the conditions live here.

Every write changes its item at most once: it is conditional on the value it replaces (``customer_id = :old``,
``holder = :old``, ``redeemed = <read>``, ``version = <read>``, ``attribute_exists``), so a repeated or concurrent
erasure changes each item once and counts it once. And every conditional write goes as a transaction with its
own ClientRequestToken: when DynamoDB applied the write and its answer was lost (a timeout), botocore sends the
same request again, and the token makes that retry a success that changes nothing, where the bare condition
would fail (the item was counted 0) or an ADD would count twice (the erasure record). The price is the
transactional write's capacity (2 WCU per KB instead of 1) on a call that is made once per person.
The unconditional deletes (journey messages, the frequency item, the marker) are idempotent as they are.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import keys, schema
from .campaign_store import LOYALTY, REFERRAL, CampaignStore
from .dynamo import ConditionFailed, Table, request_token, values
from .guess_store import GuessStore
from .unit_of_work import NotApplied, ReadAgain, UnitOfWork, always, commit_counted, contended, move_over_read

Key = tuple[str, str]


class StillErasing(Exception):
    """The erasure marker exists but its old image did not come back: the caller retries (503)."""


@dataclass(frozen=True)
class Marker:
    """An unfinished erasure of a customer: the anonymised id its retries reuse and the e-mail hashes it found."""
    anonymised_id: str
    email_hashes: tuple[str, ...] = ()

    @classmethod
    def from_item(cls, item: dict) -> Marker:
        hashes = item.get("email_hashes") or ([item["email_hash"]] if item.get("email_hash") else [])
        return cls(item["anonymised_id"], tuple(hashes))


@dataclass(frozen=True)
class HistoryRecord:
    """A redemption or an event naming the customer: it stays, under the anonymised id."""
    key: Key
    kind: str  # "redemptions" or "events"
    campaign_id: str | None = None  # a redemption's
    event_type: str | None = None
    order_id: str | None = None

    @classmethod
    def from_item(cls, item: dict) -> HistoryRecord:
        kind = {"REDEMPTION": "redemptions", "EVENT": "events"}.get(item["sk"], item["sk"].lower())
        return cls((item["pk"], item["sk"]), kind, item.get("campaign_id"), item.get("type"), item.get("order_id"))


@dataclass(frozen=True)
class CustomerItems:
    """What the customer's gsi1 partition holds: history to anonymise, unsubscribe links (deleted with the
    consent ledger: they then 404), journey message records (deleted with the frequency item) and the stored
    answers of Idempotency-Keys (deleted)."""
    history: list[HistoryRecord]
    links: list[Key]
    messages: list[Key]
    answers: list[Key]


@dataclass(frozen=True)
class BoundCode:
    """A code bound to the customer (holder ``id:<id>``) or to one of their e-mail pseudonyms."""
    key: Key
    code: str
    holder: str
    campaign_id: str


@dataclass(frozen=True)
class Usage:
    """A per-customer usage counter as read (``read``: the item, moved over what it holds)."""
    campaign_id: str
    read: dict


@dataclass(frozen=True)
class RetentionOrder:
    """The retention metrics' record of one of the customer's paid orders (services/retention.py)."""
    order_id: str
    customer_id: str
    version: int
    day: str | None


@dataclass(frozen=True)
class EmailData:
    """What an e-mail pseudonym links to: bound codes, claims, stored answers of claims' Idempotency-Keys."""
    codes: list[BoundCode]
    claims: list[Key]
    answers: list[Key]


def _is_answer(item: dict) -> bool:
    return item.get("record") == "idempotency"


def _bound(item: dict) -> BoundCode:
    return BoundCode((item["pk"], item["sk"]), item["code"], item["holder"], item["campaign_id"])


def _month(at: str | None) -> str | None:
    """2026-12-03T10:00:00Z -> 2026-12-01T00:00:00Z: the anonymised profile keeps months, not days."""
    return f"{at[:7]}-01T00:00:00Z" if at else None


class ErasureStore:
    def __init__(self, table: Table, token: Callable[[], str] = request_token):
        self.table = table
        self.token = token
        self.guesses = GuessStore(table)
        self.campaigns = CampaignStore(table)

    # --- reads ----------------------------------------------------------------------------------------------

    def _batch_get(self, wanted: Iterable[Key]) -> dict[Key, dict]:
        return self.table.batch_get_many(list(wanted), consistent=True)

    def _gsi(self, partition: str) -> list[dict]:
        return self.table.query(partition, index=schema.GSI1)

    def profile_and_marker(self, customer_id: str) -> tuple[dict | None, Marker | None]:
        """The profile item (its fields as stored) and the marker of an unfinished erasure: one BatchGetItem."""
        profile_key, marker_key = keys.customer_profile(customer_id), keys.erasure_marker(customer_id)
        got = self._batch_get([profile_key, marker_key])
        marker = got.get(marker_key)
        return got.get(profile_key), Marker.from_item(marker) if marker else None

    def recorded_campaigns(self) -> set[str]:
        """Every campaign ever recorded by the activation job (one Query of the status partition)."""
        return self.campaigns.recorded_campaigns()

    def recorded_programs(self) -> tuple[set[str], set[str]]:
        """(referral program ids, loyalty program ids) ever recorded (one Query of the registry)."""
        registry = self.campaigns.recorded_programs()
        return registry[REFERRAL], registry[LOYALTY]

    def customer_items(self, customer_id: str) -> CustomerItems:
        """The items naming the customer on their gsi1 partition (one Query), split by what erasure does."""
        history: list[HistoryRecord] = []
        links: list[Key] = []
        messages: list[Key] = []
        answers: list[Key] = []
        unsubscribe_sk = keys.unsubscribe("")[1]
        for i in self._gsi(keys.customer_gsi(customer_id)):
            if i.get("customer_id") != customer_id:
                continue
            k = (i["pk"], i["sk"])
            if i.get("sk") == unsubscribe_sk:
                links.append(k)
            elif i["pk"].startswith("MSG#"):
                messages.append(k)
            elif _is_answer(i):
                answers.append(k)
            else:
                history.append(HistoryRecord.from_item(i))
        return CustomerItems(history, links, messages, answers)

    def redeemed_campaigns(self, anon: str) -> set[str]:
        """The campaigns of the redemptions an earlier attempt moved to ``anon`` already."""
        return {i["campaign_id"] for i in self._gsi(keys.customer_gsi(anon)) if i.get("sk") == "REDEMPTION"}

    def codes_of(self, holder: str) -> list[BoundCode]:
        """The codes bound to ``holder`` (its gsi1 partition)."""
        return [_bound(c) for c in self._gsi(keys.holder_gsi(holder)) if c.get("holder") == holder]

    def email_data(self, hashes: list[str], campaigns: set[str]) -> EmailData:
        """Codes bound to these e-mail pseudonyms (holder ``email:<hash>``), the claims made with them (in any of
        ``campaigns`` or of the codes' campaigns) and the stored answers of their claims' Idempotency-Keys: gsi1
        queries and a BatchGetItem."""
        codes, answers = [], []
        for h in hashes:
            holder = f"email:{h}"  # domain.customers.holder_for_email, from the hash
            for item in self._gsi(keys.holder_gsi(holder)):
                if item.get("holder") == holder:
                    codes.append(_bound(item))
                elif _is_answer(item):
                    answers.append((item["pk"], item["sk"]))
        campaigns = campaigns | {c.campaign_id for c in codes}
        claim_keys = [keys.claim(c, h) for c in sorted(campaigns) for h in hashes]
        found = self._batch_get(claim_keys)
        return EmailData(codes, [k for k in claim_keys if k in found], answers)

    def usage(self, campaign_ids: Iterable[str], customer_id: str) -> list[Usage]:
        wanted = {keys.customer_usage(c, customer_id): c for c in campaign_ids}
        found = self._batch_get(wanted)
        return [Usage(wanted[k], found[k]) for k in wanted if k in found]

    def throttles(self, customer_id: str) -> list[Key]:
        """The customer's guessing counters (adapters/guess_store.py): one Query of their partition."""
        return self.guesses.of_customer(customer_id)

    def consent_ledger(self, customer_id: str) -> list[Key]:
        """The consent statements in the profile's partition (they name the customer): one Query."""
        pk = keys.customer_profile(customer_id)[0]
        return [(i["pk"], i["sk"]) for i in self.table.query(pk, keys.CONSENT_PREFIX)]

    def loyalty_members(self, program_ids: Iterable[str], customer_id: str) -> list[dict]:
        """The customer's member items (as services/loyalty.py's move_member takes them)."""
        return list(self._batch_get([keys.loyalty_member(p, customer_id) for p in sorted(program_ids)]).values())

    def retention_orders(self, order_ids: Iterable[str], customer_id: str) -> list[RetentionOrder]:
        found = self._batch_get([keys.retention_order(o) for o in sorted(set(order_ids))])
        return [RetentionOrder(o["order_id"], o["customer_id"], o["version"], o.get("day"))
                for o in found.values() if o.get("customer_id") == customer_id]

    # --- writes: each one request, each changes its item at most once ----------------------------------------

    def _commit(self, uow: UnitOfWork) -> int:
        """1 when this call applied the write (or its lost answer's retry found it applied), 0 when another
        erasure did it first."""
        return commit_counted(uow, self.token())

    def begin(self, customer_id: str, anon: str, email_hashes: list[str], now_iso: str) -> str:
        """The marker that lets a retry reuse this erasure's anonymised id. A concurrent erasure (or this one's
        own write whose answer was lost) wrote it first: its id is the one. StillErasing without its image."""
        pk, sk = keys.erasure_marker(customer_id)
        try:
            self.table.put({"pk": pk, "sk": sk, "anonymised_id": anon, "email_hashes": email_hashes or None,
                            "started_at": now_iso}, "attribute_not_exists(pk)")
        except ConditionFailed as e:
            if not e.item:
                raise StillErasing() from None
            return e.item["anonymised_id"]
        return anon

    def anonymise(self, record: HistoryRecord, customer_id: str, anon: str) -> int:
        """A redemption or event keeps its ledger fields; only whom it belongs to changes. The rollback of an
        anonymised redemption reads customer_id, so it finds the moved usage counter."""
        uow = UnitOfWork(self.table)
        uow.update(record.key, "SET customer_id = :anon, gsi1pk = :g", "customer_id = :old",
                   vals=values(anon=anon, g=keys.customer_gsi(anon), old=customer_id),
                   explain=always(NotApplied))
        return self._commit(uow)

    def move_retention_order(self, order: RetentionOrder, anon: str) -> int:
        """The order item and its day item name the anonymised id instead (the figures stay exact: still one
        distinct customer). Conditional on the order item's version, so a refund the metrics consumer records
        meanwhile is decided again by one side (errors.Contention here: the repeated erasure moves it)."""
        uow = UnitOfWork(self.table)
        uow.update(keys.retention_order(order.order_id), "SET customer_id = :c_anon, version = :c_next",
                   "version = :c_v", vals=values(c_anon=anon, c_next=order.version + 1, c_v=order.version))
        if order.day is not None:
            old = keys.retention_day_order(order.day, order.customer_id, order.order_id)
            day_item = self.table.get(*old, consistent=True)
            if day_item is not None:
                new = keys.retention_day_order(order.day, anon, order.order_id)
                uow.delete(old)
                uow.put({**day_item, "pk": new[0], "sk": new[1], "customer_id": anon})
        uow.commit(token=self.token(), otherwise=contended)
        return 1

    def delete_message(self, k: Key) -> int:
        """A journey's message record (unconditional: a repeat deletes nothing and changes nothing)."""
        self.table.delete(*k)
        return 1

    def delete_frequency(self, customer_id: str) -> None:
        self.table.delete(*keys.frequency(customer_id))

    def move_usage(self, usage: Usage, customer_id: str, anon: str, now_iso: str) -> int:
        """The per-customer usage count goes to the anonymised id: ADD to the new item and delete the old one
        with ``redeemed = <the count read>`` in one transaction, so a concurrent redemption or rollback is
        never lost (the old image of a failed condition is the next attempt's read)."""
        def write(uow: UnitOfWork, read: dict) -> None:
            # Per-period counts (period_<...>) move with it; every usage write also adds to `redeemed`, so the
            # condition on `redeemed` covers them too.
            periods = {k: v for k, v in read.items() if k.startswith("period_") and v}
            if read.get("redeemed") or periods:
                target = keys.customer_usage(usage.campaign_id, anon)
                uow.add(target, redeemed=read.get("redeemed") or 0, **periods).set(target, updated_at=now_iso)
        return move_over_read(self.table, keys.customer_usage(usage.campaign_id, customer_id), usage.read,
                              lambda read: {"redeemed": read.get("redeemed")}, write, "the customer's usage counter",
                              token=self.token)

    def rebind(self, code: BoundCode, holder: str) -> int:
        """The code stays what it is (status, redemptions, expiry); only its holder changes, over the old one."""
        uow = UnitOfWork(self.table)
        uow.update(code.key, "SET holder = :h, gsi1pk = :g", "holder = :old",
                   vals=values(h=holder, g=keys.holder_gsi(holder), old=code.holder), explain=always(NotApplied))
        return self._commit(uow)

    def delete(self, k: Key) -> int:
        """A claim, a consent statement or link, a stored answer, a guess counter: 1 if this
        call deleted it."""
        uow = UnitOfWork(self.table)
        uow.delete(k, explain=always(NotApplied))
        return self._commit(uow)

    def replace_profile(self, customer_id: str, anon: str, profile: dict | None, now_iso: str) -> int:
        """The personal profile is deleted; its non-personal aggregates live on under the anonymised id (months,
        not days), so a customer count or revenue figure computed from profiles stays the same."""
        apk, ask = keys.customer_profile(anon)
        write_aggregates = [True]

        def write(uow: UnitOfWork, read: dict) -> None:
            if not write_aggregates[0]:
                return

            def written_already(_old: object) -> Exception:  # a concurrent erasure wrote them: delete only
                write_aggregates[0] = False
                return ReadAgain(read)
            uow.put({"pk": apk, "sk": ask, "customer_id": anon, "anonymised": True,
                     "order_count": read.get("order_count", 0), "refund_count": read.get("refund_count", 0),
                     "total_spent": read.get("total_spent", {}), "first_order_at": _month(read.get("first_order_at")),
                     "last_order_at": _month(read.get("last_order_at")), "version": 1, "updated_at": now_iso},
                    explain=written_already)
        # an event changed (or a concurrent erasure deleted) the profile: read again
        return move_over_read(self.table, keys.customer_profile(customer_id), profile,
                              lambda read: {"version": read.get("version")}, write, "the customer's profile",
                              token=self.token)

    def record(self, anon: str, counts: dict[str, int], now_iso: str, done: bool) -> None:
        """ERASURE#<anon>: what this erasure changed (summed over its attempts: ADD) and when; no original id, no
        e-mail."""
        names = {"#st": "status", **{f"#k{i}": k for i, k in enumerate(counts)}}
        vals = values(st="completed" if done else "in_progress", now=now_iso,
                      **{f"n{i}": n for i, n in enumerate(counts.values())})
        adds = ", ".join(f"#k{i} :n{i}" for i in range(len(counts)))
        update = f"ADD {adds} SET #st = :st, started_at = if_not_exists(started_at, :now)"
        if done:
            update += ", erased_at = if_not_exists(erased_at, :now)"
        UnitOfWork(self.table).update(keys.erasure(anon), update, names=names, vals=vals).commit(token=self.token())

    def finish(self, customer_id: str) -> None:
        """The marker goes last: a later erasure of the same id starts afresh."""
        self.table.delete(*keys.erasure_marker(customer_id))
