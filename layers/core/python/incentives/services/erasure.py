"""GDPR erasure of one customer: personal data goes, ledgers and counters stay consistent.

Every record that must survive (redemptions, events, codes, per-customer usage, the profile's aggregates) moves
to an anonymised id drawn at random for this erasure (``anon_...``), linked to nothing; every record that only
serves the person (the profile's personal fields, landing-page claims) is deleted. Campaign counters, issued
shards and code redemption counts are never touched, so the numbers stay what they were, and a redeemed code
stays redeemed.

Only Query on gsi1 and GetItem/BatchGetItem read; every write is an individual conditional write (each item
changes at most once: ``customer_id = :old``, ``holder = :old``, ``redeemed = :n``, ``version = :v``), so a
retried or concurrent DELETE finishes the job without applying anything twice. While an erasure is unfinished,
a marker item (``CUSTOMER#<id>/ERASING``) keeps the anonymised id and the e-mail hash for the retry; it is the
last item deleted. docs/decision-log.md "Core: erasure" has the reasoning.
"""
from __future__ import annotations

import time
from datetime import datetime

from ..adapters import keys, schema
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import ConditionFailed, Table, values
from ..adapters.unit_of_work import ReadAgain, UnitOfWork, move_over_read
from ..domain import errors
from ..domain.clock import iso
from ..domain.customers import email_hash, holder_for_id, legacy_email_hashes
from ..domain.ids import new_id
from ..settings import get_settings
from .loyalty import move_member
from .referral_erasure import ReferralErasure

KINDS = ("profile", "redemptions", "events", "codes", "claims", "usage", "consents")
EMAIL_KINDS = ("codes", "claims", "idempotency", "referrals")

BUDGET_S = 7.0  # the API functions time out after 10 s; an unfinished erasure answers 202 and is repeated
_BATCH = 100  # BatchGetItem's limit


class _OutOfTime(Exception):
    pass


def _email_holder(ehash: str) -> str:
    """The holder key of codes bound to an e-mail, from its hash (domain.customers.holder_for_email)."""
    return f"email:{ehash}"


def email_hashes(email: str) -> list[str]:
    """Every pseudonym an address may be stored under: the keyed one, and the bare SHA-256 values of items
    written before the key (while settings.legacy_hash_lookups is on)."""
    out = [email_hash(email)]
    if get_settings().legacy_hash_lookups:
        out += legacy_email_hashes(email)
    return list(dict.fromkeys(out))


def _is_idempotency(item: dict) -> bool:
    return item.get("record") == "idempotency"


def _month(at: str | None) -> str | None:
    """2026-12-03T10:00:00Z -> 2026-12-01T00:00:00Z: the anonymised profile keeps months, not days."""
    return f"{at[:7]}-01T00:00:00Z" if at else None


def _kind(sk: str) -> str:
    return {"REDEMPTION": "redemptions", "EVENT": "events"}.get(sk, sk.lower())


class Erasure:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.referrals = ReferralErasure(table, config)

    # --- reads --------------------------------------------------------------------------------------------

    def _batch_get(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        found: dict[tuple[str, str], dict] = {}
        wanted = list(dict.fromkeys(wanted))
        for i in range(0, len(wanted), _BATCH):
            found.update(self.table.batch_get(wanted[i:i + _BATCH], consistent=True))
        return found

    def _gsi(self, partition: str) -> list[dict]:
        return self.table.query(partition, index=schema.GSI1)

    def known_ids(self) -> tuple[set[str], set[str], set[str]]:
        """(campaign ids, referral program ids, loyalty program ids): the configured ones and every one ever
        recorded (one Query of each registry partition), so data of ids removed from config is found too."""
        bundle = self.config.bundle()
        campaigns = set(bundle.campaigns) | {i["campaign_id"] for i in self.table.query(keys.CAMPAIGN_STATUS_PK,
                                                                                         "STATUS#")}
        registry = self.table.query(keys.PROGRAMS_PK)
        referral = set(bundle.referral_programs) | {i["program_id"] for i in registry
                                                    if i["sk"].startswith("REFERRAL#")}
        loyalty = set(bundle.loyalty_programs) | {i["program_id"] for i in registry if i["sk"].startswith("LOYALTY#")}
        return campaigns, referral, loyalty

    def _email_data(self, hashes: list[str], campaigns: set[str]) -> tuple[list[dict], list[tuple[str, str]],
                                                                          list[dict]]:
        """Codes bound to these e-mail pseudonyms, the claims made with them (in any campaign ever recorded or
        one of the codes' campaigns) and the Idempotency-Key records of their claims: gsi1 queries and a
        BatchGetItem."""
        holders = [_email_holder(h) for h in hashes]
        codes, records = [], []
        for h in holders:
            for item in self._gsi(keys.holder_gsi(h)):
                if item.get("holder") == h:
                    codes.append(item)
                elif _is_idempotency(item):
                    records.append(item)
        campaigns = campaigns | {c["campaign_id"] for c in codes}
        claim_keys = [keys.claim(c, h) for c in sorted(campaigns) for h in hashes]
        found = self._batch_get(claim_keys)
        return codes, [k for k in claim_keys if k in found], records

    def _throttles(self, customer_id: str) -> list[tuple[str, str]]:
        """The customer's guessing counters (services/guessing.py): one Query of their partition."""
        from .guessing import customer_scope, guess_partition

        return [(i["pk"], i["sk"]) for i in self.table.query(guess_partition(customer_scope(customer_id)))]

    # --- the use case -------------------------------------------------------------------------------------

    def erase(self, customer_id: str, now: datetime, budget_s: float = BUDGET_S) -> dict:
        """Returns ``{"status": "erased" | "in_progress", "erased": {kind: items changed by this call}}``.
        ``in_progress`` means the time budget ran out: repeat the call to finish (same anonymised id)."""
        deadline = time.monotonic() + budget_s
        counts = dict.fromkeys(KINDS, 0)
        profile_key, marker_key = keys.customer_profile(customer_id), keys.erasure_marker(customer_id)
        got = self._batch_get([profile_key, marker_key])
        profile, marker = got.get(profile_key), got.get(marker_key)
        campaign_ids, referral_ids, loyalty_ids = self.known_ids()
        referral_data = self.referrals.find(customer_id, sorted(referral_ids))

        # The e-mail pseudonyms linked to the customer: the profile's address (keyed and legacy forms), the
        # referral records' hashes, and what an unfinished attempt kept in its marker.
        ehashes = email_hashes(profile["email"]) if profile and profile.get("email") else []
        ehashes += referral_data.email_hashes()
        kept = marker or {}
        ehashes += kept.get("email_hashes") or ([kept["email_hash"]] if kept.get("email_hash") else [])
        ehashes = list(dict.fromkeys(h for h in ehashes if h))

        # Everything that names the customer, found by key or gsi1 (never a scan).
        history, links, messages = _split_history(
            [i for i in self._gsi(keys.customer_gsi(customer_id)) if i.get("customer_id") == customer_id])
        records = [i for i in history if _is_idempotency(i)]
        history = [i for i in history if not _is_idempotency(i)]
        orders = self._retention_orders(history, customer_id)
        id_holder = holder_for_id(customer_id)
        codes = [c for c in self._gsi(keys.holder_gsi(id_holder)) if c.get("holder") == id_holder]
        usage_campaigns = {i["campaign_id"] for i in history if i.get("sk") == "REDEMPTION"}
        claim_campaigns = set(campaign_ids)
        if marker:  # a resumed erasure: what earlier attempts moved already still names the campaigns
            anon = marker["anonymised_id"]
            usage_campaigns |= {i["campaign_id"] for i in self._gsi(keys.customer_gsi(anon))
                                if i.get("sk") == "REDEMPTION"}
            claim_campaigns |= {c["campaign_id"] for c in self._gsi(keys.holder_gsi(holder_for_id(anon)))}
        email_codes, claims, email_records = self._email_data(ehashes, claim_campaigns) if ehashes else ([], [], [])
        codes += email_codes
        records += email_records
        usage_keys = {keys.customer_usage(c, customer_id): c for c in usage_campaigns}
        found = self._batch_get([*usage_keys])
        usage = [(usage_keys[k], found[k]) for k in usage_keys if k in found]
        throttles = self._throttles(customer_id)

        # the consent ledger lives in the profile's partition and names the customer: it goes with them
        ledger = self.table.query(profile_key[0], keys.CONSENT_PREFIX) + links
        members = list(self._batch_get([keys.loyalty_member(p, customer_id) for p in sorted(loyalty_ids)]).values())
        # kinds the answer names only where they exist (programs, journeys' messages, orders)
        counts.update((kind, 0) for kind, there in (("referrals", referral_ids), ("loyalty", loyalty_ids),
                                                    ("messages", messages), ("orders", orders),
                                                    ("idempotency", records), ("throttles", throttles)) if there)
        if not (profile or marker or history or codes or usage or claims or referral_data or members or ledger
                or messages or orders or records or throttles):
            return {"status": "erased", "erased": counts}  # nothing stored (or erased before): nothing to write
        anon = marker["anonymised_id"] if marker else self._begin(customer_id, ehashes, now)

        try:
            # before the events are anonymised: their order ids find the retention items (services/retention.py)
            for order in orders:
                self._tick(deadline)
                counts["orders"] += self._move_retention_order(order, anon)
            for item in history:
                self._tick(deadline)
                if self._anonymise_history(item, customer_id, anon):
                    kind = _kind(item["sk"])
                    counts[kind] = counts.get(kind, 0) + 1
            # After the redemptions: a rollback of an anonymised redemption decrements the anonymised counter
            # (ADD, so the move below still sums up right); the move carries the rest over in one transaction.
            self._delete_messages(messages, customer_id, deadline, counts)
            for campaign_id, item in usage:
                self._tick(deadline)
                counts["usage"] += self._move_usage(campaign_id, customer_id, anon, item, iso(now))
            for code in codes:
                self._tick(deadline)
                counts["codes"] += self._rebind_code(code, anon)
            for claim_key in claims:
                self._tick(deadline)
                counts["claims"] += self._delete_claim(claim_key)
            if referral_data:  # services/referral_erasure.py: ids anonymised, e-mail and signal hashes removed
                counts["referrals"] += self.referrals.erase(referral_data, customer_id, anon,
                                                            lambda: self._tick(deadline))
            for member in members:  # services/loyalty.py: the member item moves; lots and ledger name no one
                self._tick(deadline)
                counts["loyalty"] += move_member(self.table, member, anon, now)
            for statement in ledger:
                self._tick(deadline)
                counts["consents"] += self._delete_item((statement["pk"], statement["sk"]))
            for record in records:  # stored answers of Idempotency-Keys name the customer (or hold their code)
                self._tick(deadline)
                counts["idempotency"] += self._delete_item((record["pk"], record["sk"]))
            for k in throttles:
                self._tick(deadline)
                counts["throttles"] += self._delete_item(k)
            self._tick(deadline)
            counts["profile"] += self._replace_profile(customer_id, anon, profile, now)
        except _OutOfTime:
            self._record(anon, counts, now, done=False)
            return {"status": "in_progress", "erased": counts}
        self._record(anon, counts, now, done=True)
        self.table.delete(*keys.erasure_marker(customer_id))
        return {"status": "erased", "erased": counts}

    def erase_email(self, email: str, now: datetime, budget_s: float = BUDGET_S) -> dict:
        """A person known only by an e-mail address (a landing-page claim, a code bound to the address, a
        referral's mailbox lock): the claims and the Idempotency-Key records of their claims are deleted, the
        codes are rebound to an anonymised holder (they stay issued and counted), the mailbox locks go and the
        referrals forget the mailbox hash. Every write is conditional on the old value, so a repeat (also after
        ``in_progress``) finishes the job and changes nothing twice. A customer with an id is erased by id."""
        deadline = time.monotonic() + budget_s
        counts = dict.fromkeys(EMAIL_KINDS, 0)
        hashes = email_hashes(email)
        campaign_ids, referral_ids, _ = self.known_ids()
        codes, claims, records = self._email_data(hashes, campaign_ids)
        lock_keys = [keys.referee_mailbox(p, h) for p in sorted(referral_ids) for h in hashes]
        locks = list(self._batch_get(lock_keys).items())
        anon = new_id("anon")
        try:
            for code in codes:
                self._tick(deadline)
                counts["codes"] += self._rebind_code(code, anon)
            for claim_key in claims:
                self._tick(deadline)
                counts["claims"] += self._delete_claim(claim_key)
            for record in records:
                self._tick(deadline)
                counts["idempotency"] += self._delete_item((record["pk"], record["sk"]))
            for k, lock in locks:
                self._tick(deadline)
                try:  # the referral keeps its ledger fields; only the mailbox hash goes
                    self.table.update(*keys.referral(lock["referral_id"]), "REMOVE mailbox_hash",
                                      "attribute_exists(mailbox_hash)")
                except ConditionFailed:
                    pass
                counts["referrals"] += self._delete_item(k)
        except _OutOfTime:
            self._record(anon, counts, now, done=False)
            return {"status": "in_progress", "erased": counts}
        if any(counts.values()):
            self._record(anon, counts, now, done=True)
        return {"status": "erased", "erased": counts}

    def _retention_orders(self, history: list[dict], customer_id: str) -> list[dict]:
        """The retention metrics' order items of the customer's paid orders (found by the order ids of their
        order.paid events: the order items have no index by customer)."""
        ids = sorted({i["order_id"] for i in history if i.get("type") == "order.paid" and i.get("order_id")})
        found = self._batch_get([keys.retention_order(o) for o in ids])
        return [o for o in found.values() if o.get("customer_id") == customer_id]

    def _move_retention_order(self, order: dict, anon: str) -> int:
        """The order item and its day item name the anonymised id instead (the figures stay exact: still one
        distinct customer). Conditional on the order item's version, so a refund the metrics consumer records
        meanwhile is decided again by one side."""
        uow = UnitOfWork(self.table)
        uow.update((order["pk"], order["sk"]), "SET customer_id = :c_anon, version = :c_next", "version = :c_v",
                   vals=values(c_anon=anon, c_next=order["version"] + 1, c_v=order["version"]))
        if "day" in order:
            old = keys.retention_day_order(order["day"], order["customer_id"], order["order_id"])
            day_item = self.table.get(*old, consistent=True)
            if day_item is not None:
                new = keys.retention_day_order(order["day"], anon, order["order_id"])
                uow.delete(old)
                uow.put({**day_item, "pk": new[0], "sk": new[1], "customer_id": anon})
        uow.commit(otherwise=lambda e: errors.Contention(details={"reasons": e.reasons}))
        return 1

    def _delete_messages(self, messages: list[dict], customer_id: str, deadline: float, counts: dict) -> None:
        """Journey message records and the frequency item serve only the person (services/journeys.py)."""
        for item in messages:
            self._tick(deadline)
            self.table.delete(item["pk"], item["sk"])
            counts["messages"] += 1
        if messages:
            self.table.delete(*keys.frequency(customer_id))

    @staticmethod
    def _tick(deadline: float) -> None:
        if time.monotonic() > deadline:
            raise _OutOfTime()

    def _begin(self, customer_id: str, ehashes: list[str], now: datetime) -> str:
        """The marker that lets a retry reuse this erasure's anonymised id; a concurrent DELETE that wrote it
        first wins, and both continue with its id."""
        anon = new_id("anon")
        pk, sk = keys.erasure_marker(customer_id)
        try:
            self.table.put({"pk": pk, "sk": sk, "anonymised_id": anon, "email_hashes": ehashes or None,
                            "started_at": iso(now)},
                           "attribute_not_exists(pk)")
        except ConditionFailed as e:
            if not e.item:
                raise errors.Contention("the erasure marker could not be read; retry") from None
            return e.item["anonymised_id"]
        return anon

    # --- the steps: each write changes its item at most once -------------------------------------------------

    def _anonymise_history(self, item: dict, customer_id: str, anon: str) -> bool:
        """A redemption or event keeps its ledger fields; only who it belongs to changes. The rollback of an
        anonymised redemption reads customer_id, so it finds the moved usage counter."""
        try:
            self.table.update(item["pk"], item["sk"], "SET customer_id = :anon, gsi1pk = :g",
                              "customer_id = :old", vals=values(anon=anon, g=keys.customer_gsi(anon), old=customer_id))
        except ConditionFailed:
            return False  # changed by a concurrent erasure
        return True

    def _move_usage(self, campaign_id: str, customer_id: str, anon: str, item: dict | None, now_iso: str) -> int:
        """The per-customer usage count goes to the anonymised id: ADD to the new item and delete the old one
        with ``redeemed = <the count read>`` in one transaction, so a concurrent redemption or rollback is
        never lost (the old image of a failed condition is the next attempt's read)."""
        def write(uow: UnitOfWork, read: dict) -> None:
            # Per-period counts (period_<...>) move with it; every usage write also adds to `redeemed`, so the
            # condition on `redeemed` covers them too.
            periods = {k: v for k, v in read.items() if k.startswith("period_") and v}
            if read.get("redeemed") or periods:
                target = keys.customer_usage(campaign_id, anon)
                uow.add(target, redeemed=read.get("redeemed") or 0, **periods).set(target, updated_at=now_iso)
        return move_over_read(self.table, keys.customer_usage(campaign_id, customer_id), item,
                              lambda read: {"redeemed": read.get("redeemed")}, write, "the customer's usage counter")

    def _rebind_code(self, code: dict, anon: str) -> int:
        """A bound code stays what it is (status, redemptions, expiry); its holder becomes the anonymised id,
        which nobody can present, so an unused bound code can no longer be redeemed."""
        holder = holder_for_id(anon)
        try:
            self.table.update(code["pk"], code["sk"], "SET holder = :h, gsi1pk = :g", "holder = :old",
                              vals=values(h=holder, g=keys.holder_gsi(holder), old=code["holder"]))
        except ConditionFailed:
            return 0
        return 1

    def _delete_claim(self, claim_key: tuple[str, str]) -> int:
        """The claim holds the e-mail hash, the country and the consent: it goes. The code it handed out stays
        (rebound above when the campaign binds codes); the campaign's claims and issued counts stay."""
        try:
            self.table.delete(*claim_key, condition="attribute_exists(pk)")
        except ConditionFailed:
            return 0
        return 1

    def _delete_item(self, k: tuple[str, str]) -> int:
        try:
            self.table.delete(*k, condition="attribute_exists(pk)")
        except ConditionFailed:
            return 0
        return 1

    def _replace_profile(self, customer_id: str, anon: str, profile: dict | None, now: datetime) -> int:
        """The personal profile is deleted; its non-personal aggregates live on under the anonymised id, so a
        customer count or revenue figure computed from profiles stays the same."""
        apk, ask = keys.customer_profile(anon)
        write_aggregates = [True]

        def write(uow: UnitOfWork, read: dict) -> None:
            if not write_aggregates[0]:
                return

            def written_already(_old) -> Exception:  # a concurrent erasure wrote them: delete the profile only
                write_aggregates[0] = False
                return ReadAgain(read)
            uow.put({"pk": apk, "sk": ask, "customer_id": anon, "anonymised": True,
                     "order_count": read.get("order_count", 0), "refund_count": read.get("refund_count", 0),
                     "total_spent": read.get("total_spent", {}), "first_order_at": _month(read.get("first_order_at")),
                     "last_order_at": _month(read.get("last_order_at")), "version": 1, "updated_at": iso(now)},
                    explain=written_already)
        # an event changed (or a concurrent erasure deleted) the profile: read again
        return move_over_read(self.table, keys.customer_profile(customer_id), profile,
                              lambda read: {"version": read.get("version")}, write, "the customer's profile")

    def _record(self, anon: str, counts: dict, now: datetime, done: bool) -> None:
        """ERASURE#<anon>: what this erasure changed (summed over its attempts) and when; no original id, no
        e-mail."""
        pk, sk = keys.erasure(anon)
        names = {"#st": "status", **{f"#k{i}": k for i, k in enumerate(counts)}}
        vals = values(st="completed" if done else "in_progress", now=iso(now),
                      **{f"n{i}": n for i, n in enumerate(counts.values())})
        adds = ", ".join(f"#k{i} :n{i}" for i in range(len(counts)))
        update = f"ADD {adds} SET #st = :st, started_at = if_not_exists(started_at, :now)"
        if done:
            update += ", erased_at = if_not_exists(erased_at, :now)"
        self.table.update(pk, sk, update, names=names, vals=vals)


def _split_history(items: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """The customer's gsi1 items as (history to anonymise, unsubscribe links, journey message records): links
    are deleted with the consent ledger (they then 404), message records with the frequency item."""
    links = [i for i in items if i.get("sk") == keys.unsubscribe("")[1]]
    messages = [i for i in items if i["pk"].startswith("MSG#")]
    return [i for i in items if i not in links and i not in messages], links, messages
