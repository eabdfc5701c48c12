"""GDPR erasure of one customer: personal data goes, ledgers and counters stay consistent.

Every record that must survive (redemptions, events, codes, per-customer usage, the profile's aggregates) moves
to an anonymised id drawn at random for this erasure (``anon_...``), linked to nothing; every record that only
serves the person (the profile's personal fields, landing-page claims) is deleted. Campaign counters, issued
shards and code redemption counts are never touched, so the numbers stay what they were, and a redeemed code
stays redeemed.

Only Query on gsi1 and GetItem/BatchGetItem read; every write is an individual conditional write (each item
changes at most once: ``customer_id = :old``, ``holder = :old``, ``redeemed = :n``, ``version = :v``), so a
retried or concurrent DELETE finishes the job without applying anything twice; each goes with its own
ClientRequestToken, so a write whose answer was lost is not failed (or counted twice) by botocore's retry. The
reads and writes are adapters/erasure_store.py's. While an erasure is unfinished, a marker item
(``CUSTOMER#<id>/ERASING``) keeps the anonymised id and the e-mail hash for the retry; it is the last item deleted.
docs/decision-log.md "Core: erasure" has the reasoning.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.erasure_store import (BoundCode, EmailData, ErasureStore, HistoryRecord, Marker, RetentionOrder,
                                      StillErasing, Usage)
from ..domain import errors
from ..domain.clock import iso
from ..domain.customers import email_hash, holder_for_id, legacy_email_hashes
from ..domain.ids import new_id
from ..settings import get_settings
from .loyalty import move_member
from .referral_erasure import Found, ReferralErasure

Key = tuple[str, str]
T = TypeVar("T")

KINDS = ("profile", "redemptions", "events", "codes", "claims", "usage", "consents")
EMAIL_KINDS = ("codes", "claims", "idempotency", "referrals")

BUDGET_S = 7.0  # the API functions time out after 10 s; an unfinished erasure answers 202 and is repeated


class _OutOfTime(Exception):
    pass


@dataclass(frozen=True)
class _Found:
    """What an erasure of one customer found to change (adapters/erasure_store.py's objects)."""
    profile: dict | None
    marker: Marker | None
    email_hashes: list[str]
    referral_ids: set[str]
    loyalty_ids: set[str]
    referral_data: Found
    history: list[HistoryRecord]
    messages: list[Key]
    orders: list[RetentionOrder]
    codes: list[BoundCode]
    claims: list[Key]
    usage: list[Usage]
    ledger: list[Key]
    members: list[dict]
    answers: list[Key]
    throttles: list[Key]

    def __bool__(self) -> bool:
        return bool(self.profile or self.marker or self.history or self.codes or self.usage or self.claims
                    or self.referral_data or self.members or self.ledger or self.messages or self.orders
                    or self.answers or self.throttles)


def email_hashes(email: str) -> list[str]:
    """Every pseudonym an address may be stored under: the keyed one, and the bare SHA-256 values of items
    written before the key (while settings.legacy_hash_lookups is on)."""
    out = [email_hash(email)]
    if get_settings().legacy_hash_lookups:
        out += legacy_email_hashes(email)
    return list(dict.fromkeys(out))


class Erasure:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.store = ErasureStore(table)
        self.referrals = ReferralErasure(table, config)

    def known_ids(self) -> tuple[set[str], set[str], set[str]]:
        """(campaign ids, referral program ids, loyalty program ids): the configured ones and every one ever
        recorded (one Query of each registry partition), so data of ids removed from config is found too."""
        bundle = self.config.bundle()
        campaigns = set(bundle.campaigns) | self.store.recorded_campaigns()
        referral, loyalty = self.store.recorded_programs()
        return campaigns, set(bundle.referral_programs) | referral, set(bundle.loyalty_programs) | loyalty

    # --- the use case -------------------------------------------------------------------------------------

    def erase(self, customer_id: str, now: datetime, budget_s: float = BUDGET_S) -> dict:
        """Returns ``{"status": "erased" | "in_progress", "erased": {kind: items changed by this call}}``.
        ``in_progress`` means the time budget ran out: repeat the call to finish (same anonymised id)."""
        deadline = time.monotonic() + budget_s
        found = self._find(customer_id)
        counts = dict.fromkeys(KINDS, 0)
        # kinds the answer names only where they exist (programs, journeys' messages, orders)
        counts.update((kind, 0) for kind, there in (("referrals", found.referral_ids), ("loyalty", found.loyalty_ids),
                                                    ("messages", found.messages), ("orders", found.orders),
                                                    ("idempotency", found.answers),
                                                    ("throttles", found.throttles)) if there)
        if not found:
            return {"status": "erased", "erased": counts}  # nothing stored (or erased before): nothing to write
        anon = found.marker.anonymised_id if found.marker else self._begin(customer_id, found.email_hashes, now)
        try:
            self._apply(found, customer_id, anon, now, deadline, counts)
        except _OutOfTime:
            self.store.record(anon, counts, iso(now), done=False)
            return {"status": "in_progress", "erased": counts}
        self.store.record(anon, counts, iso(now), done=True)
        self.store.finish(customer_id)
        return {"status": "erased", "erased": counts}

    def _find(self, customer_id: str) -> _Found:
        """Everything that names the customer, found by key or gsi1 (never a scan)."""
        store = self.store
        profile, marker = store.profile_and_marker(customer_id)
        campaign_ids, referral_ids, loyalty_ids = self.known_ids()
        referral_data = self.referrals.find(customer_id, sorted(referral_ids))

        # The e-mail pseudonyms linked to the customer: the profile's address (keyed and legacy forms), the
        # referral records' hashes, and what an unfinished attempt kept in its marker.
        ehashes = email_hashes(profile["email"]) if profile and profile.get("email") else []
        ehashes += referral_data.email_hashes()
        ehashes += marker.email_hashes if marker else []
        ehashes = list(dict.fromkeys(h for h in ehashes if h))

        items = store.customer_items(customer_id)
        history = items.history
        # found before the events are anonymised: their order ids find the retention items (services/retention.py)
        orders = store.retention_orders((h.order_id for h in history if h.event_type == "order.paid" and h.order_id),
                                        customer_id)
        codes = store.codes_of(holder_for_id(customer_id))
        usage_campaigns = {h.campaign_id for h in history if h.kind == "redemptions" and h.campaign_id}
        claim_campaigns = set(campaign_ids)
        if marker:  # a resumed erasure: what earlier attempts moved already still names the campaigns
            usage_campaigns |= store.redeemed_campaigns(marker.anonymised_id)
            claim_campaigns |= {c.campaign_id for c in store.codes_of(holder_for_id(marker.anonymised_id))}
        by_email = store.email_data(ehashes, claim_campaigns) if ehashes else EmailData([], [], [])
        usage = store.usage(usage_campaigns, customer_id)
        throttles = store.throttles(customer_id)
        # the consent ledger lives in the profile's partition and names the customer: it goes with them
        ledger = store.consent_ledger(customer_id) + items.links
        members = store.loyalty_members(loyalty_ids, customer_id)
        return _Found(profile, marker, ehashes, referral_ids, loyalty_ids, referral_data, history, items.messages,
                      orders, codes + by_email.codes, by_email.claims, usage, ledger, members,
                      items.answers + by_email.answers, throttles)

    def _apply(self, f: _Found, customer_id: str, anon: str, now: datetime, deadline: float, counts: dict) -> None:
        """The writes, in an order a repeat can resume from; ``counts`` counts what this call changed."""
        store, each = self.store, self._each(deadline, counts)
        # before the events are anonymised (their order ids found these)
        each("orders", f.orders, lambda order: store.move_retention_order(order, anon))
        for record in f.history:
            self._tick(deadline)
            if store.anonymise(record, customer_id, anon):
                counts[record.kind] = counts.get(record.kind, 0) + 1
        # After the redemptions: a rollback of an anonymised redemption decrements the anonymised counter
        # (ADD, so the move below still sums up right); the move carries the rest over in one transaction.
        each("messages", f.messages, store.delete_message)  # journey messages serve only the person
        if f.messages:
            store.delete_frequency(customer_id)
        each("usage", f.usage, lambda u: store.move_usage(u, customer_id, anon, iso(now)))
        # a bound code stays what it is; its holder becomes the anonymised id, which nobody can present, so an
        # unused bound code can no longer be redeemed
        each("codes", f.codes, lambda code: store.rebind(code, holder_for_id(anon)))
        # the claim holds the e-mail hash, the country and the consent: it goes (its code and the campaign's
        # claims and issued counts stay)
        each("claims", f.claims, store.delete)
        if f.referral_data:  # services/referral_erasure.py: ids anonymised, e-mail and signal hashes removed
            counts["referrals"] += self.referrals.erase(f.referral_data, customer_id, anon,
                                                        lambda: self._tick(deadline))
        # services/loyalty.py: the member item moves; lots and ledger name no one
        each("loyalty", f.members, lambda member: move_member(self.table, member, anon, now))
        each("consents", f.ledger, store.delete)
        each("idempotency", f.answers, store.delete)  # stored answers name the customer (or hold their code)
        each("throttles", f.throttles, store.delete)
        self._tick(deadline)
        counts["profile"] += store.replace_profile(customer_id, anon, f.profile, iso(now))

    def erase_email(self, email: str, now: datetime, budget_s: float = BUDGET_S) -> dict:
        """A person known only by an e-mail address (a landing-page claim, a code bound to the address, a
        referral's mailbox lock): the claims and the Idempotency-Key records of their claims are deleted, the
        codes are rebound to an anonymised holder (they stay issued and counted), the mailbox locks go and the
        referrals forget the mailbox hash. Every write is conditional on the old value, so a repeat (also after
        ``in_progress``) finishes the job and changes nothing twice. A customer with an id is erased by id."""
        deadline = time.monotonic() + budget_s
        store = self.store
        counts = dict.fromkeys(EMAIL_KINDS, 0)
        hashes = email_hashes(email)
        campaign_ids, referral_ids, _ = self.known_ids()
        found = store.email_data(hashes, campaign_ids)
        locks = self.referrals.store.mailbox_locks(sorted(referral_ids), hashes)
        anon = new_id("anon")
        each = self._each(deadline, counts)
        try:
            each("codes", found.codes, lambda code: store.rebind(code, holder_for_id(anon)))
            each("claims", found.claims, store.delete)
            each("idempotency", found.answers, store.delete)
            each("referrals", locks, self.referrals.store.erase_mailbox)
        except _OutOfTime:
            store.record(anon, counts, iso(now), done=False)
            return {"status": "in_progress", "erased": counts}
        if any(counts.values()):
            store.record(anon, counts, iso(now), done=True)
        return {"status": "erased", "erased": counts}

    def _each(self, deadline: float, counts: dict) -> Callable[[str, Iterable[T], Callable[[T], int]], None]:
        """``each(kind, items, write)``: ``write(item)`` for every item while the time budget lasts (else
        _OutOfTime), adding what each changed (1 or 0) to ``counts[kind]``."""
        def each(kind: str, items: Iterable[T], write: Callable[[T], int]) -> None:
            for item in items:
                self._tick(deadline)
                counts[kind] += write(item)
        return each

    @staticmethod
    def _tick(deadline: float) -> None:
        if time.monotonic() > deadline:
            raise _OutOfTime()

    def _begin(self, customer_id: str, ehashes: list[str], now: datetime) -> str:
        """The marker that lets a retry reuse this erasure's anonymised id; a concurrent DELETE that wrote it
        first wins, and both continue with its id."""
        try:
            return self.store.begin(customer_id, new_id("anon"), ehashes, iso(now))
        except StillErasing:
            raise errors.Contention("the erasure marker could not be read; retry") from None
