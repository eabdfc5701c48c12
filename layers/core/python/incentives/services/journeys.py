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

from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.journey_store import DueEntry, Frequency, FrequencyMoved, JourneyStore, Message, MessageTaken, Pending
from ..adapters.retry import RetryPolicy
from ..adapters.unit_of_work import UnitOfWork, contended
from ..domain import consent as C
from ..domain import errors
from ..domain import journeys as J
from ..domain.campaigns import ACTIVE, effective_status
from ..domain.clock import iso, parse_rfc3339, utcnow
from ..domain.customers import holder_for_id
from ..domain.ids import new_id
from .code_issuer import CodeIssuer
from .journey_index import index_item, journey_profile, next_occurrences
from .outbox import event_put
from .unsubscribe import unsubscribe_token_item

# job name -> the trigger type its journeys have
JOB_TRIGGERS = {"win-back": "win_back", "birthdays": "birthday", "anniversaries": "signup_anniversary",
                "replenishment": "replenishment", "post-purchase": "post_purchase",
                # loyalty's points.expiring warnings, indexed by the journey_events consumer (journey_index.py)
                "points-expiring": "points_expiring"}
MESSAGE_REQUESTED = "message.requested"
LEASE_SECONDS = 90  # longer than a scheduled job's timeout (60 s): a crashed run frees the job after this
FREQ_KEEP = 100  # send instants kept per customer (the cap needs at most max_messages of them in its window)
# decisions made again after a concurrent change of the customer's frequency item: a few, quickly
FREQUENCY_RETRY = RetryPolicy(deadline_s=2.0, max_attempts=4)


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


class JourneyRuns:
    def __init__(self, table: Table, config: ConfigSource, delivery: Callable | None = None,
                 public_base_url: str | None = None):
        self.table, self.config = table, config
        self.store = JourneyStore(table)
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
        return holder if self.store.acquire(job, holder, iso(wall + timedelta(seconds=seconds)), iso(wall)) else None

    def release(self, job: str, holder: str) -> None:
        self.store.release(job, holder)

    # --- a run --------------------------------------------------------------------------------------------

    def run(self, job: str, now: datetime, lease: bool = True) -> dict:
        """Raises errors.JobRunning while another run holds the job (with lease)."""
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
                entries = self.store.due(journey.id, bucket)
                counts.read += len(entries)
                for i in range(0, len(entries), 30):
                    self._batch(bundle, journey, entries[i:i + 30], now, counts)
        return {"job": job, "now": iso(now), "journeys": [j.id for j in journeys], **counts.view()}

    def _batch(self, bundle, journey: J.Journey, entries: list[DueEntry], now: datetime, counts: RunCounts) -> None:
        found = self.store.customers(journey.id, [(e.customer_id, e.occurrence) for e in entries])
        for entry in entries:
            profile, freq, record = found[(entry.customer_id, entry.occurrence)]
            for attempt in FREQUENCY_RETRY.attempts():
                if attempt:  # the frequency item moved under the last decision: read it (and the record) again
                    _, freq, record = self.store.customers(journey.id, [(entry.customer_id, entry.occurrence)],
                                                           profiles=False)[(entry.customer_id, entry.occurrence)]
                try:
                    self._decide(bundle, journey, entry, profile, freq, record, now, counts)
                    break
                except FrequencyMoved:
                    continue

    # --- one customer -------------------------------------------------------------------------------------

    def _decide(self, bundle, journey: J.Journey, entry: DueEntry, profile: dict | None, freq: Frequency,
                record: Message | None, now: datetime, counts: RunCounts) -> None:
        uow = UnitOfWork(self.table)
        if profile is None:  # erased meanwhile
            self.store.drop_due(uow, entry)
            uow.commit()
            return
        profile = journey_profile(profile)
        zone = J.customer_zone(profile, journey)
        occurrence = J.Occurrence(entry.occurrence, date.fromisoformat(entry.due_date))
        if record is not None and record.status != "deferred":
            self._done(uow, journey, entry, profile, zone, occurrence)  # sent/skipped by another run
            uow.commit()
            return
        if record is not None and record.not_before:
            timing = J.deferred_timing(journey, zone, now, parse_rfc3339(record.not_before))
        elif isinstance(journey.trigger, J.PointsExpiring) and entry.not_before:
            # a warning: from its start on, outside quiet hours
            timing = J.deferred_timing(journey, zone, now, parse_rfc3339(entry.not_before))
        else:
            if occurrence.key not in {o.key for o in J.occurrences_due(journey, profile, zone, occurrence.due_on)}:
                self.store.drop_due(uow, entry)  # no longer current (e.g. a newer order)
                uow.commit()
                return
            timing = J.timing(journey, zone, occurrence.due_on, now)
        if timing.action == "wait":
            return
        if timing.action == "missed":
            self._done(uow, journey, entry, profile, zone, occurrence)
            uow.commit()
            return
        base = self._message(journey, entry.customer_id, occurrence, zone, now, record)
        if timing.action == "defer" and timing.at is not None:
            at = iso(timing.at)
            self.store.record(uow, base.with_(status="deferred", not_before=at), record)
            self.store.drop_due(uow, entry)
            self.store.put_due(uow, index_item(journey, entry.customer_id, occurrence, zone, not_before=at,
                                               bucket_hour=timing.at.replace(minute=0, second=0, microsecond=0),
                                               warning=entry.warning))
            if self._commit(uow):
                counts.deferred += 1
            return
        self._send_or_skip(bundle, journey, entry, profile, freq, record, zone, occurrence, base, now, counts)

    def _send_or_skip(self, bundle, journey: J.Journey, entry: DueEntry, profile: dict, freq: Frequency,
                      record: Message | None, zone, occurrence: J.Occurrence, base: Message, now: datetime,
                      counts: RunCounts) -> None:
        cid = entry.customer_id
        uow = UnitOfWork(self.table)
        if not J.in_audience(journey, profile, now, bundle.segments):
            self._done(uow, journey, entry, profile, zone, occurrence)
            uow.commit()
            return
        consents = profile.get("consents") or {}
        consented = {ch for ch, s in consents.items() if isinstance(s, dict) and s.get("given")}
        choice = J.choose_channel(journey, profile, consented)
        messaging = bundle.messaging
        sent_at = [parse_rfc3339(t) for t in freq.sent]
        reason = choice.reason
        campaign = None
        if reason is None and J.frequency_capped(messaging.frequency_cap if messaging else None, sent_at, now):
            reason = "frequency_capped"
        if reason is None and journey.offer is not None:
            campaign = bundle.campaigns.get(journey.offer.campaign)
            if campaign is None or effective_status(campaign, now) != ACTIVE:
                reason = "offer_unavailable"
        if reason is not None:
            self.store.record(uow, base.with_(status="skipped", reason=reason,
                                              channel=choice.channel or journey.channels[0]), record)
            self._done(uow, journey, entry, profile, zone, occurrence)
            if self._commit(uow):
                counts.bump(counts.skipped, reason)
            return
        channel = choice.channel
        code = None
        if campaign is not None:
            (code,) = self.issuer.issue(uow, campaign, now, holder=holder_for_id(cid))
        token = None
        if channel in ("email", "event"):
            token, token_item = unsubscribe_token_item(cid, J.CONSENT_FOR[channel], journey.id, now)
            uow.put(token_item)
        warning = entry.warning or {}
        message = base.with_(channel=channel, status="sent" if channel == "event" else "pending",
                             code=code.code if code else None, campaign_id=code.campaign_id if code else None,
                             code_expires_at=code.expires_at if code else None,
                             code_variant=code.variant if code else None,  # {discount}: its A/B variant's reward
                             # a warning's values, for its text (and a retry's)
                             points=warning.get("points"), points_expires_at=warning.get("points_expires_at"),
                             program_id=warning.get("program_id"))
        self.store.record(uow, message, record)
        self.store.count_send(uow, freq, sorted([iso(t) for t in sent_at] + [iso(now)])[-FREQ_KEEP:])
        self._done(uow, journey, entry, profile, zone, occurrence)
        unsubscribe = C.unsubscribe_url(self._base_url(messaging), token) if token and self._base_url(messaging) \
            else None
        if channel == "event":
            composed = self._compose(journey, channel, choice.address, profile, message, zone, campaign, unsubscribe)
            from ..adapters.delivery import event_detail

            detail = event_detail(composed)
            detail.pop("to", None)  # no address in the event store: the ESP looks the customer up by id
            uow.op(event_put(self.table, f"message.{message.id}.requested", MESSAGE_REQUESTED, cid, now, now,
                             detail))
        else:
            self.store.add_pending(uow, Pending(journey.id, cid, occurrence.key, unsubscribe), iso(now))
        if not self._commit(uow):
            return
        if channel == "event":
            counts.bump(counts.sent, channel)
            return
        self._deliver(bundle, journey, profile, message, Pending(journey.id, cid, occurrence.key, unsubscribe),
                      choice.address, zone, campaign, now, counts)

    @staticmethod
    def _message(journey: J.Journey, cid: str, occurrence: J.Occurrence, zone, now: datetime,
                 record: Message | None) -> Message:
        """The record's identity: a deferred record taken over keeps its id and creation time."""
        return Message(id=record.id if record else new_id("msg"), customer_id=cid, journey_id=journey.id,
                       occurrence=occurrence.key, created_at=record.created_at if record else iso(now),
                       updated_at=iso(now), timezone=str(zone.key))

    def _done(self, uow: UnitOfWork, journey: J.Journey, entry: DueEntry, profile: dict, zone,
              occurrence: J.Occurrence) -> None:
        """The index item leaves; a yearly occurrence puts next year's."""
        self.store.drop_due(uow, entry)
        if isinstance(journey.trigger, (J.Birthday, J.SignupAnniversary)):
            for o in next_occurrences(journey, profile, zone, occurrence.due_on + timedelta(days=1)):
                nxt = index_item(journey, profile["customer_id"], o, zone)
                if (nxt["pk"], nxt["sk"]) != entry.key:
                    self.store.put_due(uow, nxt)

    @staticmethod
    def _commit(uow: UnitOfWork) -> bool:
        """False: another run recorded this occurrence first. FrequencyMoved: the frequency item changed."""
        try:
            uow.commit(otherwise=contended)
            return True
        except MessageTaken:
            return False

    def _base_url(self, messaging) -> str:
        return (messaging.public_base_url if messaging and messaging.public_base_url else self.public_base_url) or ""

    # --- delivery -----------------------------------------------------------------------------------------

    @staticmethod
    def _compose(journey, channel, address, profile, message: Message, zone, campaign, unsubscribe):
        from ..adapters.delivery import compose

        # {expires_on}: the points' expiry for a warning, else the code's
        return compose(journey, channel, address, profile, message_id=message.id, zone=zone,
                       code=message.code,
                       campaign=campaign.for_variant(message.code_variant) if campaign is not None else None,
                       expires_at=message.points_expires_at or message.code_expires_at,
                       unsubscribe_url=unsubscribe, points=message.points)

    def _deliver(self, bundle, journey, profile, message: Message, pending: Pending, address, zone, campaign,
                 now, counts) -> None:
        channel = message.channel or "email"  # a committed, deliverable record always names its channel
        messaging = bundle.messaging
        from_email = messaging.from_email if messaging else "noreply@localhost"
        composed = self._compose(journey, channel, address, profile, message, zone, campaign, pending.unsubscribe_url)
        result = self.delivery(channel, from_email).send(composed)
        uow = UnitOfWork(self.table)
        if result.status == "retry":
            self.store.retry_later(uow, pending, result.error or "")
            uow.commit()
            counts.pending += 1
            return
        if result.status == "sent":
            self.store.delivered(uow, message, pending, status="sent", provider_id=result.provider_id,
                                 sent_at=iso(now))
        else:
            self.store.delivered(uow, message, pending, status="failed", reason=result.error or "failed")
        try:  # any cancellation: the record is no longer pending, so another run delivered and recorded it
            uow.commit(otherwise=lambda _: MessageTaken())
        except MessageTaken:
            return
        counts.bump(counts.sent if result.status == "sent" else counts.failed, channel)

    def _retry_pending(self, bundle, journey: J.Journey, now: datetime, counts: RunCounts) -> None:
        """Messages whose delivery failed retryably: the same message (same id and code) again."""
        pending = self.store.pending(journey.id)
        if not pending:
            return
        found = self.store.customers(journey.id, [(p.customer_id, p.occurrence) for p in pending])
        for p in pending:
            profile, _, record = found[(p.customer_id, p.occurrence)]
            if profile is None or record is None or record.status != "pending":
                self.store.drop_pending(p)
                continue
            profile = journey_profile(profile)
            zone = J.customer_zone(profile, journey)
            channel = record.channel or "email"
            address = profile.get("phone") if channel == "sms" else profile.get("email")
            if not address:
                uow = UnitOfWork(self.table)
                self.store.failed_undeliverable(uow, record, p, "no_address")
                uow.commit()
                counts.bump(counts.failed, channel)
                continue
            campaign = bundle.campaigns.get(record.campaign_id) if record.campaign_id else None
            self._deliver(bundle, journey, profile, record, p, address, zone, campaign, now, counts)


def message_view(message: Message) -> dict:
    """GET /v1/customers/{id}/messages: one message."""
    out = {k: getattr(message, k) for k in ("id", "journey_id", "channel", "status", "reason", "code", "campaign_id",
                                            "created_at", "timezone")}
    return {k: v for k, v in out.items() if v is not None}


def list_messages(table: Table, customer_id: str, limit: int = 100) -> dict:
    return {"messages": [message_view(m) for m in JourneyStore(table).messages_of(customer_id, limit)]}
