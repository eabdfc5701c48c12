"""The journey jobs (win-back, birthdays, anniversaries, replenishment, post-purchase): a run as of `now` reads the
due-date index buckets of its window (services/journey_index.py) for each enabled journey of its trigger type,
the due customers' profiles (BatchGetItem), and decides each with domain/journeys.py.

Each decision is ONE unit of work: the message record (keys.message: attribute_not_exists, or the deferred record
it takes over, so one customer, journey and occurrence gets one message however many runs overlap), the code
(CodeIssuer, bound to the customer), the unsubscribe token (e-mail), the frequency item (keys.frequency, under its
version: two journeys sending at once cannot both pass the cap), the index item's delete (or its move, for a
deferral; next year's item for yearly occurrences), the pending-delivery item, and for the `event` channel the
outbox event `message.requested`. A skipped send issues no code.

Delivery comes after the commit, through the adapters/delivery.py port: sent -> the record is marked sent with
the provider's id; retry -> the record stays `pending` and the next run delivers the same message (same code);
failed -> the record is `failed` with the provider's error code.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from collections.abc import Callable

from ..adapters import keys
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import ConditionFailed, Table, TransactionCancelled, values
from ..adapters.schema import GSI1
from ..adapters.unit_of_work import UnitOfWork
from ..domain import consent as C
from ..domain import journeys as J
from ..domain.campaigns import ACTIVE, effective_status
from ..domain.clock import iso, parse_rfc3339, utcnow
from ..domain.customers import holder_for_id
from ..domain.ids import new_id
from .code_issuer import CodeIssuer
from .journey_index import WARNING_FIELDS, index_item, journey_profile, next_occurrences, warning_of
from .outbox import event_put

# job name -> the trigger type its journeys have
JOB_TRIGGERS = {"win-back": "win_back", "birthdays": "birthday", "anniversaries": "signup_anniversary",
                "replenishment": "replenishment", "post-purchase": "post_purchase",
                # loyalty's points.expiring warnings, indexed by the journey_events consumer (journey_index.py)
                "points-expiring": "points_expiring"}
MESSAGE_REQUESTED = "message.requested"
LEASE_SECONDS = 90  # longer than a scheduled job's timeout (60 s): a crashed run frees the job after this
FREQ_KEEP = 100  # send instants kept per customer (the cap needs at most max_messages of them in its window)
ATTEMPTS = 4  # decisions made again after a concurrent change of the customer's frequency item


@dataclass
class RunCounts:
    sent: dict = field(default_factory=dict)  # channel -> n
    skipped: dict = field(default_factory=dict)  # reason -> n
    deferred: int = 0
    failed: dict = field(default_factory=dict)  # channel -> n
    pending: int = 0
    read: int = 0  # index items read

    def bump(self, bucket: dict, name: str) -> None:
        bucket[name] = bucket.get(name, 0) + 1

    def view(self) -> dict:
        return {"sent": self.sent, "skipped": self.skipped, "deferred": self.deferred, "failed": self.failed,
                "pending": self.pending, "index_items_read": self.read}


class _Again(Exception):
    """The customer's frequency item changed after it was read: decide again."""


class JourneyRuns:
    def __init__(self, table: Table, config: ConfigSource, delivery: Callable | None = None,
                 public_base_url: str | None = None):
        self.table, self.config = table, config
        self.issuer = CodeIssuer(table)
        if delivery is None:
            from .. import wiring

            delivery = wiring.delivery
        self.delivery = delivery  # (channel, from_email) -> Delivery
        self.public_base_url = public_base_url or os.environ.get("PUBLIC_BASE_URL") or ""

    # --- the lease: overlapping runs of one job ---------------------------------------------------------------

    def acquire(self, job: str, seconds: int = LEASE_SECONDS) -> str | None:
        """A holder id, or None while another run holds the job (wall-clock expiry, whatever `now` a run uses)."""
        holder, wall = uuid.uuid4().hex, utcnow()
        pk, sk = keys.job_lease(job)
        try:
            self.table.put({"pk": pk, "sk": sk, "holder": holder, "expires_at": iso(wall + timedelta(seconds=seconds))},
                           "attribute_not_exists(pk) OR expires_at < :now", vals=values(now=iso(wall)))
        except ConditionFailed:
            return None
        return holder

    def release(self, job: str, holder: str) -> None:
        try:
            self.table.delete(*keys.job_lease(job), "holder = :h", vals=values(h=holder))
        except ConditionFailed:
            pass  # expired and taken over meanwhile

    # --- a run --------------------------------------------------------------------------------------------

    def run(self, job: str, now: datetime, lease: bool = True) -> dict:
        """Raises errors.JobRunning while another run holds the job (with lease)."""
        from ..domain import errors

        holder = self.acquire(job) if lease else None
        if lease and holder is None:
            raise errors.JobRunning(details={"job": job})
        try:
            return self._run(job, now)
        finally:
            if holder:
                self.release(job, holder)

    def _run(self, job: str, now: datetime) -> dict:
        bundle = self.config.bundle()
        trigger = JOB_TRIGGERS[job]
        counts = RunCounts()
        journeys = [j for j in bundle.journeys.values() if j.enabled and j.trigger.type == trigger]
        for journey in journeys:
            self._retry_pending(bundle, journey, now, counts)
            for bucket in J.buckets_for_run(now):
                items = self.table.query(keys.journey_due(journey.id, bucket))
                counts.read += len(items)
                for i in range(0, len(items), 30):
                    self._batch(bundle, journey, items[i:i + 30], now, counts)
        return {"job": job, "now": iso(now), "journeys": [j.id for j in journeys], **counts.view()}

    def _batch(self, bundle, journey: J.Journey, items: list[dict], now: datetime, counts: RunCounts) -> None:
        wanted = []
        for it in items:
            cid = it["customer_id"]
            wanted += [keys.customer_profile(cid), keys.frequency(cid), keys.message(cid, journey.id, it["occurrence"])]
        found = self.table.batch_get_many(wanted, consistent=True)
        for it in items:
            cid = it["customer_id"]
            profile = found.get(keys.customer_profile(cid))
            freq = found.get(keys.frequency(cid))
            record = found.get(keys.message(cid, journey.id, it["occurrence"]))
            for _ in range(ATTEMPTS):
                try:
                    self._decide(bundle, journey, it, profile, freq, record, now, counts)
                    break
                except _Again:
                    got = self.table.batch_get([keys.frequency(cid), keys.message(cid, journey.id, it["occurrence"])],
                                               consistent=True)
                    freq = got.get(keys.frequency(cid))
                    record = got.get(keys.message(cid, journey.id, it["occurrence"]))

    # --- one customer -------------------------------------------------------------------------------------

    def _decide(self, bundle, journey: J.Journey, it: dict, profile: dict | None, freq: dict | None,
                record: dict | None, now: datetime, counts: RunCounts) -> None:
        idx = (it["pk"], it["sk"])
        cid = it["customer_id"]
        uow = UnitOfWork(self.table)
        if profile is None:  # erased meanwhile
            uow.delete(idx, condition=None)
            uow.commit()
            return
        profile = journey_profile(profile)
        zone = J.customer_zone(profile, journey)
        due_on = date.fromisoformat(it["due_date"])
        occurrence = J.Occurrence(it["occurrence"], due_on)
        if record is not None and record.get("status") != "deferred":
            self._done(uow, journey, idx, profile, zone, occurrence)  # sent/skipped by another run
            uow.commit()
            return
        if record is not None:
            timing = J.deferred_timing(journey, zone, now, parse_rfc3339(record["not_before"]))
        elif isinstance(journey.trigger, J.PointsExpiring):  # a warning: from its start on, outside quiet hours
            timing = J.deferred_timing(journey, zone, now, parse_rfc3339(it["not_before"]))
        else:
            if occurrence.key not in {o.key for o in J.occurrences_due(journey, profile, zone, due_on)}:
                uow.delete(idx, condition=None)  # no longer current (e.g. a newer order)
                uow.commit()
                return
            timing = J.timing(journey, zone, due_on, now)
        if timing.action == "wait":
            return
        if timing.action == "missed":
            self._done(uow, journey, idx, profile, zone, occurrence)
            uow.commit()
            return
        msg_key = keys.message(cid, journey.id, occurrence.key)
        base = self._record(journey, cid, occurrence, zone, now, record)
        if timing.action == "defer" and timing.at is not None:
            at = iso(timing.at)
            self._put_record(uow, msg_key, {**base, "status": "deferred", "not_before": at}, record)
            uow.delete(idx, condition=None)
            uow.put(index_item(journey, cid, occurrence, zone, not_before=at,
                               bucket_hour=timing.at.replace(minute=0, second=0, microsecond=0),
                               warning=warning_of(it)), condition=None)
            if self._commit(uow, msg_key):
                counts.deferred += 1
            return
        self._send_or_skip(bundle, journey, it, profile, freq, record, zone, occurrence, base, now, counts)

    def _send_or_skip(self, bundle, journey: J.Journey, it: dict, profile: dict, freq: dict | None,
                      record: dict | None, zone, occurrence: J.Occurrence, base: dict, now: datetime,
                      counts: RunCounts) -> None:
        idx = (it["pk"], it["sk"])
        cid = it["customer_id"]
        msg_key = keys.message(cid, journey.id, occurrence.key)
        uow = UnitOfWork(self.table)
        if not J.in_audience(journey, profile, now, bundle.segments):
            self._done(uow, journey, idx, profile, zone, occurrence)
            uow.commit()
            return
        consents = profile.get("consents") or {}
        consented = {ch for ch, s in consents.items() if isinstance(s, dict) and s.get("given")}
        choice = J.choose_channel(journey, profile, consented)
        messaging = bundle.messaging
        sent_at = [parse_rfc3339(t) for t in (freq or {}).get("sent", [])]
        reason = choice.reason
        campaign = None
        if reason is None and J.frequency_capped(messaging.frequency_cap if messaging else None, sent_at, now):
            reason = "frequency_capped"
        if reason is None and journey.offer is not None:
            campaign = bundle.campaigns.get(journey.offer.campaign)
            if campaign is None or effective_status(campaign, now) != ACTIVE:
                reason = "offer_unavailable"
        if reason is not None:
            self._put_record(uow, msg_key, {**base, "status": "skipped", "reason": reason,
                                            "channel": choice.channel or journey.channels[0]}, record)
            self._done(uow, journey, idx, profile, zone, occurrence)
            if self._commit(uow, msg_key):
                counts.bump(counts.skipped, reason)
            return
        channel = choice.channel
        code = None
        if campaign is not None:
            (code,) = self.issuer.issue(uow, campaign, now, holder=holder_for_id(cid))
        token = None
        if channel in ("email", "event"):
            token = C.new_unsubscribe_token()
            upk, usk = keys.unsubscribe(C.token_key(token))
            uow.put({"pk": upk, "sk": usk, "customer_id": cid, "channel": J.CONSENT_FOR[channel],
                     "journey_id": journey.id, "created_at": iso(now)})
        fields = {**base, "channel": channel, "status": "sent" if channel == "event" else "pending",
                  "code": code.code if code else None, "campaign_id": code.campaign_id if code else None,
                  "code_expires_at": code.expires_at if code else None,
                  "code_variant": code.variant if code else None,  # {discount}: the code's A/B variant's reward
                  **{k: it.get(k) for k in WARNING_FIELDS}}  # a warning's values, for its text (and a retry's)
        self._put_record(uow, msg_key, fields, record)
        # the frequency item: over the version read, so two journeys sending at once cannot both pass the cap
        fpk, fsk = keys.frequency(cid)
        keep = sorted([iso(t) for t in sent_at] + [iso(now)])[-FREQ_KEEP:]
        version = (freq or {}).get("version", 0)
        uow.put({"pk": fpk, "sk": fsk, "sent": keep, "version": version + 1},
                condition="attribute_not_exists(pk)" if freq is None else "version = :v",
                vals=None if freq is None else values(v=version))
        self._done(uow, journey, idx, profile, zone, occurrence)
        unsubscribe = C.unsubscribe_url(self._base_url(messaging), token) if token and self._base_url(messaging) \
            else None
        if channel == "event":
            message = self._compose(journey, channel, choice.address, profile, fields, zone, campaign, unsubscribe)
            from ..adapters.delivery import event_detail

            detail = event_detail(message)
            detail.pop("to", None)  # no address in the event store: the ESP looks the customer up by id
            uow.op(event_put(self.table, f"message.{fields['id']}.requested", MESSAGE_REQUESTED, cid, now, now,
                             detail))
        else:
            ppk, psk = keys.journey_pending(journey.id), f"{cid}#{occurrence.key}"
            uow.put({"pk": ppk, "sk": psk, "customer_id": cid, "occurrence": occurrence.key,
                     "unsubscribe_url": unsubscribe, "created_at": iso(now), "attempts": 0}, condition=None)
        if not self._commit(uow, msg_key, freq_key=(fpk, fsk)):
            return
        if channel == "event":
            counts.bump(counts.sent, channel)
            return
        self._deliver(bundle, journey, profile, fields, choice.address, zone, campaign, unsubscribe, now, counts)

    @staticmethod
    def _record(journey: J.Journey, cid: str, occurrence: J.Occurrence, zone, now: datetime,
                record: dict | None) -> dict:
        mid = (record or {}).get("id") or new_id("msg")
        created = (record or {}).get("created_at") or iso(now)
        return {"id": mid, "customer_id": cid, "journey_id": journey.id, "occurrence": occurrence.key,
                "created_at": created, "updated_at": iso(now), "timezone": str(zone.key),
                "gsi1pk": keys.customer_gsi(cid), "gsi1sk": f"MESSAGE#{created}#{mid}"}

    @staticmethod
    def _put_record(uow: UnitOfWork, k: tuple[str, str], fields: dict, record: dict | None) -> None:
        item = {"pk": k[0], "sk": k[1], **{f: v for f, v in fields.items() if v is not None}}
        if record is None:
            uow.put(item)  # attribute_not_exists: once per customer, journey and occurrence
        else:
            uow.put(item, "#st = :d AND not_before = :nb", names={"#st": "status"},
                    vals=values(d="deferred", nb=record["not_before"]))

    def _done(self, uow: UnitOfWork, journey: J.Journey, idx: tuple[str, str], profile: dict, zone,
              occurrence: J.Occurrence) -> None:
        """The index item leaves; a yearly occurrence puts next year's."""
        uow.delete(idx, condition=None)
        if isinstance(journey.trigger, (J.Birthday, J.SignupAnniversary)):
            for o in next_occurrences(journey, profile, zone, occurrence.due_on + timedelta(days=1)):
                nxt = index_item(journey, profile["customer_id"], o, zone)
                if (nxt["pk"], nxt["sk"]) != idx:
                    uow.put(nxt, condition=None)

    @staticmethod
    def _commit(uow: UnitOfWork, msg_key: tuple[str, str], freq_key: tuple[str, str] | None = None) -> bool:
        """False: another run recorded this occurrence first. _Again: the frequency item changed."""
        from ..domain import errors

        try:
            uow.commit()
            return True
        except TransactionCancelled as e:
            failed = e.failed_keys()
            if msg_key in failed:
                return False
            if freq_key is not None and freq_key in failed:
                raise _Again() from None
            raise errors.Contention(details={"reasons": e.reasons}) from None

    def _base_url(self, messaging) -> str:
        return (messaging.public_base_url if messaging and messaging.public_base_url else self.public_base_url) or ""

    # --- delivery -----------------------------------------------------------------------------------------

    @staticmethod
    def _compose(journey, channel, address, profile, fields, zone, campaign, unsubscribe):
        from ..adapters.delivery import compose

        # {expires_on}: the points' expiry for a warning, else the code's
        return compose(journey, channel, address, profile, message_id=fields["id"], zone=zone,
                       code=fields.get("code"),
                       campaign=campaign.for_variant(fields.get("code_variant")) if campaign is not None else None,
                       expires_at=fields.get("points_expires_at") or fields.get("code_expires_at"),
                       unsubscribe_url=unsubscribe, points=fields.get("points"))

    def _deliver(self, bundle, journey, profile, fields, address, zone, campaign, unsubscribe, now, counts) -> None:
        channel = fields["channel"]
        messaging = bundle.messaging
        from_email = messaging.from_email if messaging else "noreply@localhost"
        message = self._compose(journey, channel, address, profile, fields, zone, campaign, unsubscribe)
        result = self.delivery(channel, from_email).send(message)
        cid = profile["customer_id"]
        msg_key = keys.message(cid, journey.id, fields["occurrence"])
        pend = (keys.journey_pending(journey.id), f"{cid}#{fields['occurrence']}")
        uow = UnitOfWork(self.table)
        if result.status == "retry":
            uow.update(pend, "SET attempts = attempts + :one, last_error = :e",
                       vals=values(one=1, e=result.error or ""))
            uow.commit()
            counts.pending += 1
            return
        sets = {"status": "sent", "provider_id": result.provider_id, "sent_at": iso(now)} \
            if result.status == "sent" else {"status": "failed", "reason": result.error or "failed"}
        uow.set(msg_key, **sets)
        uow.cond(msg_key, "#c_st = :c_p", names={"#c_st": "status"}, c_p="pending")
        uow.delete(pend, condition=None)
        try:
            uow.commit()
        except TransactionCancelled:
            return  # delivered and recorded by another run meanwhile
        counts.bump(counts.sent if result.status == "sent" else counts.failed, channel)

    def _retry_pending(self, bundle, journey: J.Journey, now: datetime, counts: RunCounts) -> None:
        """Messages whose delivery failed retryably: the same message (same id and code) again."""
        pending = self.table.query(keys.journey_pending(journey.id))
        if not pending:
            return
        wanted = []
        for p in pending:
            wanted += [keys.customer_profile(p["customer_id"]), keys.message(p["customer_id"], journey.id,
                                                                              p["occurrence"])]
        found = self.table.batch_get_many(wanted, consistent=True)
        for p in pending:
            cid = p["customer_id"]
            profile = found.get(keys.customer_profile(cid))
            record = found.get(keys.message(cid, journey.id, p["occurrence"]))
            if profile is None or record is None or record.get("status") != "pending":
                self.table.delete(p["pk"], p["sk"])
                continue
            profile = journey_profile(profile)
            zone = J.customer_zone(profile, journey)
            channel = record["channel"]
            address = profile.get("phone") if channel == "sms" else profile.get("email")
            if not address:
                uow = UnitOfWork(self.table)
                uow.set(keys.message(cid, journey.id, p["occurrence"]), status="failed", reason="no_address")
                uow.delete((p["pk"], p["sk"]), condition=None)
                uow.commit()
                counts.bump(counts.failed, channel)
                continue
            campaign = bundle.campaigns.get(record["campaign_id"]) if record.get("campaign_id") else None
            self._deliver(bundle, journey, profile, record, address, zone, campaign, p.get("unsubscribe_url"), now,
                          counts)


def message_view(item: dict) -> dict:
    """GET /v1/customers/{id}/messages: one message."""
    out = {k: item.get(k) for k in ("id", "journey_id", "channel", "status", "reason", "code", "campaign_id",
                                    "created_at", "timezone")}
    return {k: v for k, v in out.items() if v is not None}


def list_messages(table: Table, customer_id: str, limit: int = 100) -> dict:
    items = table.query(keys.customer_gsi(customer_id), "MESSAGE#", index=GSI1, limit=limit, forward=False)
    return {"messages": [message_view(i) for i in items]}
