"""The event flow, declared once: what the fan-out publishes and which consumer function receives which event
types from which source. Read by the CDK stack (infra/customer_events.py: the stream's event source mapping, one
EventBridge rule per consumer and source), by the local run (local/stream.py, local/bus.py) and by the fan-out.

Every event is an EVENT# item first (the outbox), put in the transaction of what it announces:
- the shop's customer events: POST /v1/events (services/events.py), source CUSTOMERS;
- the engine's own events (campaign.*, points.expiring, referral.*, loyalty.*): services/outbox.py, source ENGINE.
The item records its source. The table's stream (NEW_IMAGE) -> functions/event_fanout, for new EVENT# items only
(STREAM_FILTER) -> PutEvents on the engine's bus: source the item's, detail-type the event type, detail a
CustomerEvent -> one rule per Subscription and source -> the consumer function (services/consumers.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .adapters.keys import EVENT_PREFIX

CUSTOMERS = "incentives.customers"  # the shop's customer events (POST /v1/events)
ENGINE = "incentives.engine"  # the engine's own events (services/outbox.py)
# Every id of an engine event starts with one of these (services/outbox.py refuses any other), and POST /v1/events
# refuses a shop event id that does (http/schemas.py): the two kinds share the EVENT# keys and the consumers'
# markers, so a shop id equal to an engine id would block or swallow the engine's event (docs/decision-log.md).
ENGINE_EVENT_ID_PREFIXES = ("campaign.", "loyalty.", "message.", "rfl_")
FANOUT_FUNCTION = "event_fanout"
FANOUT_BATCH_SIZE = 100  # stream records per fan-out invocation

# Lambda event filter on the stream (EventBridge pattern syntax): inserts of event items. Updates of event items
# (erasure anonymises them) and every other item never reach the fan-out.
STREAM_FILTER = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": EVENT_PREFIX}]}}}}


@dataclass(frozen=True)
class CustomerEvent:
    """An event as consumers get it (the EventBridge ``detail``): the event item's attributes, no PII. Engine
    events that concern no customer (campaign.*) have no customer_id: no consumer subscribes to them, and the
    fan-out builds their detail with detail_of()."""

    id: str
    type: str
    customer_id: str
    occurred_at: str
    received_at: str
    order_id: str | None = None
    order_amount: int | None = None  # minor units; for order.refunded the amount refunded
    currency: str | None = None
    data: dict | None = None  # engine events written through services/outbox.py (e.g. referral.converted)

    @classmethod
    def from_item(cls, item: dict) -> CustomerEvent:
        """From the event item (a stream image) or a detail: its own attributes only, keys and indexes left out."""
        return cls(**{f.name: item[f.name] for f in fields(cls) if f.name in item})

    def detail(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


_DETAIL_FIELDS = tuple(f.name for f in fields(CustomerEvent))


def detail_of(item: dict) -> dict:
    """The published detail of an event item (a stream image): CustomerEvent's attributes it has, nothing else."""
    return {name: item[name] for name in _DETAIL_FIELDS if item.get(name) is not None}


def source_of(item: dict) -> str:
    """The source an event item records; items written before the attribute existed: engine events carry
    ``data``, customer events never do."""
    return item.get("source") or (ENGINE if "data" in item else CUSTOMERS)


@dataclass(frozen=True)
class Subscription:
    function: str  # folder under functions/; also the consumer's name in its markers (keys.consumed)
    detail_types: tuple[str, ...]  # the shop's customer events (source CUSTOMERS)
    engine_types: tuple[str, ...] = ()  # the engine's own events (source ENGINE)

    def patterns(self) -> dict[str, dict]:
        """The event pattern of each of the consumer's EventBridge rules, by source (one rule per source: a
        customer event can never pass for an engine event of the same name, nor the other way round)."""
        out = {}
        for source, types in ((CUSTOMERS, self.detail_types), (ENGINE, self.engine_types)):
            if types:
                out[source] = {"source": [source], "detail-type": list(types)}
        return out

    def matches(self, event: dict) -> bool:
        """Would one of the consumer's rules pass this EventBridge event on?"""
        return any(matches(p, event) for p in self.patterns().values())


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # a full refund rolls back the order's redemptions in campaigns with rollback_on_refund
    Subscription("refunds", ("order.refunded",)),
    # the referee's paid order converts a referral; a refund within the return window reverses it
    Subscription("referral_events", ("order.paid", "order.refunded")),
    # loyalty: earning rules' events, the referrals engine's conversions and point rewards, refunds take back
    Subscription("loyalty_events", ("customer.created", "order.paid", "order.refunded", "review.submitted",
                                    "social.shared", "survey.completed", "store.checked_in"),
                 engine_types=("referral.converted", "referral.reward_points")),
    # journeys: the due-date index of each customer's next birthday, anniversary, win-back ... (journey_index.py),
    # and loyalty's points.expiring warnings for points_expiring journeys (sent by the points-expiring job)
    Subscription("journey_events", ("customer.created", "customer.updated", "order.paid", "order.refunded"),
                 engine_types=("points.expiring",)),
    # retention metrics: the order items and the day index of paid orders, refunds (services/retention.py)
    Subscription("metrics_events", ("order.paid", "order.refunded")),
)


def consumer_functions() -> list[str]:
    return [s.function for s in SUBSCRIPTIONS]


def matches(pattern: dict, event: dict) -> bool:
    """Does ``event`` match an EventBridge / Lambda filter pattern? Only the syntax used above: nested objects,
    lists of allowed values, ``{"prefix": ...}``. Deployed, AWS evaluates the patterns; the fan-out's own guard
    and the local run use this."""
    for name, allowed in pattern.items():
        if name not in event:
            return False
        value = event[name]
        if isinstance(allowed, dict):
            if not (isinstance(value, dict) and matches(allowed, value)):
                return False
        elif not any(isinstance(value, str) and value.startswith(a["prefix"]) if isinstance(a, dict) else a == value
                     for a in allowed):
            return False
    return True
