"""The due-date index of the journeys: a consumer of customer events (incentives/subscriptions.py,
``journey_events``) that keeps, for each enabled date-driven journey, the item of the customer's next occurrence
in the bucket of the UTC hour of its local send_at (keys.journey_due, sk = customer id; attributes occurrence,
due_date). The job runs (services/journeys.py) query only the buckets of their window, never scan profiles.

Each event is applied once (the consumer's marker in the same transaction as the index puts). The index is
computed from the stored profile, which the event's own ingest transaction updated before the event was
published. A stale item (a newer order moved the win-back date) is harmless: the run recomputes the occurrence
from the profile, finds it no longer current and deletes the item.

Loyalty's points.expiring warnings (an engine event) are indexed too, one item per points_expiring journey and
warning (handle_warning), for the `points-expiring` job.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.journey_store import JourneyStore, due_item
from ..adapters.profile_store import ProfileStore
from ..adapters.unit_of_work import UnitOfWork
from ..domain import journeys as J
from ..domain.clock import iso, parse_rfc3339
from .consumers import Consumer

# What the consumer subscribes to: whatever changes a profile field a journey's due date depends on.
EVENT_TYPES = ("customer.created", "customer.updated", "order.paid", "order.refunded")
# ... and, from the engine, loyalty's warnings (services/points_expiry.py) for points_expiring journeys
POINTS_EXPIRING = "points.expiring"
ENGINE_TYPES = (POINTS_EXPIRING,)
MAX_ITEMS_PER_EVENT = 90  # one transaction (100 items) with the marker


def journey_profile(profile: dict) -> dict:
    """The profile as domain/journeys.py reads it: ``purchases`` {"sku:<SKU>": at, "category:<c>": at} (the
    profile's latest paid purchase per sku and category) as last_purchases {skus: {...}, categories: {...}}."""
    purchases = profile.get("purchases")
    if not purchases or profile.get("last_purchases"):
        return profile
    skus: dict[str, str] = {}
    categories: dict[str, str] = {}
    for k, at in purchases.items():
        kind, _, name = k.partition(":")
        (skus if kind == "sku" else categories if kind == "category" else {})[name] = at
    return {**profile, "last_purchases": {"skus": skus, "categories": categories}}


def next_occurrences(journey: J.Journey, profile: dict, zone, today: date) -> list[J.Occurrence]:
    """The occurrences of a date-driven journey due on `today` or later (local dates; the next one of each)."""
    t = journey.trigger
    out: list[J.Occurrence | None] = []
    if isinstance(t, J.Birthday):
        out.append(J.birthday_occurrence(profile, t, today))
    elif isinstance(t, J.SignupAnniversary):
        for year in range(today.year, today.year + 101):
            o = J.anniversary_occurrence(profile, t, zone, date(year, 1, 1))
            if o is not None and o.due_on >= today:
                out.append(o)
                break
            if t.years is not None and year - today.year > max(t.years):
                break
    elif isinstance(t, J.WinBack):
        out.append(J.win_back_occurrence(profile, t, zone, today))
    elif isinstance(t, J.PostPurchase):
        out.append(J.post_purchase_occurrence(profile, t, zone, today))
    elif isinstance(t, J.Replenishment):
        bought = profile.get("last_purchases") or {}
        for kind, lifespans, last_of in (("sku", t.lifespan_days.skus, bought.get("skus") or {}),
                                         ("category", t.lifespan_days.categories, bought.get("categories") or {})):
            for item, days in sorted(lifespans.items()):
                raw = last_of.get(item)
                if raw:
                    last = J.local_date(raw, zone)
                    if last <= today:
                        out.append(J.Occurrence(f"replenishment-{kind}-{item}-{last.isoformat()}",
                                                last + timedelta(days=days)))
    return [o for o in out if o is not None and o.due_on >= today]


def index_item(journey: J.Journey, customer_id: str, occurrence: J.Occurrence, zone, not_before: str | None = None,
               bucket_hour: datetime | None = None, warning: dict | None = None) -> dict:
    """The index item of one occurrence, in the bucket of the UTC hour it is due (adapters/journey_store.py)."""
    hour = bucket_hour or J.due_hour(journey, zone, occurrence.due_on)
    return due_item(journey.id, J.bucket_key(hour), customer_id, occurrence.key, occurrence.due_on.isoformat(),
                    not_before, warning)


def dated(journey: J.Journey) -> bool:
    return journey.enabled and not isinstance(journey.trigger, J.PointsExpiring)


class JourneyIndex:
    def __init__(self, table: Table, config: ConfigSource, consumer: Consumer):
        self.table, self.config, self.consumer = table, config, consumer
        self.profiles = ProfileStore(table)

    def items_for(self, profile: dict, now: datetime) -> list[dict]:
        """The index items of a profile's next occurrences, for every enabled date-driven journey."""
        profile = journey_profile(profile)
        out = []
        for journey in self.config.bundle().journeys.values():
            if not dated(journey):
                continue
            zone = J.customer_zone(profile, journey)
            today = now.astimezone(zone).date()
            for o in next_occurrences(journey, profile, zone, today):
                out.append(index_item(journey, profile["customer_id"], o, zone))
        return out[:MAX_ITEMS_PER_EVENT]

    def handle(self, detail: dict, now: datetime) -> dict:
        """One customer event: put the index items of the customer's next occurrences, once per event."""
        if detail.get("type") == POINTS_EXPIRING:
            return self.handle_warning(detail, now)
        if not any(dated(j) for j in self.config.bundle().journeys.values()):
            return {"status": "no_journeys", "indexed": 0}
        profile = self.profiles.get(detail["customer_id"])
        if profile is None:
            return {"status": "no_profile", "indexed": 0}
        occurred = parse_rfc3339(detail["occurred_at"]) if detail.get("occurred_at") else now
        items = self.items_for(profile, max(now, occurred))
        uow = UnitOfWork(self.table)
        for item in items:
            JourneyStore.put_due(uow, item)
        if not self.consumer.apply_once(detail["id"], uow, now):
            return {"status": "duplicate", "indexed": 0}
        return {"status": "indexed", "indexed": len(items)}

    def handle_warning(self, detail: dict, now: datetime) -> dict:
        """A points.expiring warning: for each enabled points_expiring journey (of its program, if the journey
        names one) an index item in the bucket of the hour it may go out (points_expiring_start), sent by the
        `points-expiring` job's first run at or after it, like any journey's (services/journeys.py). Occurrence =
        the warning: a redelivered event puts the same item, and the message record is made once."""
        data = detail.get("data") or {}
        journeys = [j for j in self.config.bundle().journeys.values()
                    if j.enabled and isinstance(j.trigger, J.PointsExpiring)
                    and j.trigger.program in (None, data.get("program_id"))]
        if not journeys:
            return {"status": "no_journeys", "indexed": 0}
        profile = self.profiles.get(detail["customer_id"])
        if profile is None:
            return {"status": "no_profile", "indexed": 0}
        warned_at = parse_rfc3339(detail["occurred_at"]) if detail.get("occurred_at") else now
        warning = {"points": int(data["points"]), "points_expires_at": data["expires_at"],
                   "program_id": data["program_id"]}
        uow = UnitOfWork(self.table)
        for journey in journeys:
            zone = J.customer_zone(profile, journey)
            occurrence = J.points_expiring_occurrence(data["program_id"], str(data.get("warning_id") or detail["id"]),
                                                      warned_at, zone)
            start = J.points_expiring_start(journey, zone, warned_at)
            JourneyStore.put_due(uow, index_item(journey, detail["customer_id"], occurrence, zone,
                                                 not_before=iso(start),
                                                 bucket_hour=start.replace(minute=0, second=0, microsecond=0),
                                                 warning=warning))
        if not self.consumer.apply_once(detail["id"], uow, now):
            return {"status": "duplicate", "indexed": 0}
        return {"status": "indexed", "indexed": len(journeys)}
