"""The customer-event flow, declared once: what the fan-out publishes and which consumer function receives which
event types. Read by the CDK stack (infra/customer_events.py: the stream's event source mapping, one EventBridge
rule per consumer), by the local run (local/stream.py, local/bus.py) and by the fan-out itself.

POST /v1/events writes an EVENT# item -> the table's stream (NEW_IMAGE) -> functions/event_fanout, for new
EVENT# items only (STREAM_FILTER) -> PutEvents on the engine's bus: source SOURCE, detail-type the event type,
detail a CustomerEvent -> one rule per Subscription -> the consumer function (services/consumers.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .adapters.keys import EVENT_PREFIX

SOURCE = "incentives.customer-events"
FANOUT_FUNCTION = "event_fanout"
FANOUT_BATCH_SIZE = 100  # stream records per fan-out invocation

# Lambda event filter on the stream (EventBridge pattern syntax): inserts of event items. Updates of event items
# (erasure anonymises them) and every other item never reach the fan-out.
STREAM_FILTER = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": EVENT_PREFIX}]}}}}


@dataclass(frozen=True)
class CustomerEvent:
    """An ingested event as consumers get it (the EventBridge ``detail``): the event item's attributes, no PII."""

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


@dataclass(frozen=True)
class Subscription:
    function: str  # folder under functions/; also the consumer's name in its markers (keys.consumed)
    detail_types: tuple[str, ...]

    def pattern(self) -> dict:
        """The event pattern of the consumer's EventBridge rule."""
        return {"source": [SOURCE], "detail-type": list(self.detail_types)}


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # a full refund rolls back the order's redemptions in campaigns with rollback_on_refund
    Subscription("refunds", ("order.refunded",)),
    # the referee's paid order converts a referral; a refund within the return window reverses it
    Subscription("referral_events", ("order.paid", "order.refunded")),
    # loyalty: earning rules' events, the referrals engine's conversions and point rewards, refunds take back
    Subscription("loyalty_events", ("customer.created", "order.paid", "order.refunded", "review.submitted",
                                    "social.shared", "survey.completed", "store.checked_in", "referral.converted",
                                    "referral.reward_points")),
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
