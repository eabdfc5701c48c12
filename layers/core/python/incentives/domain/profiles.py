"""Customer profiles kept by events, and the segments computed from them. Pure: a profile is a dict as stored.

Events may arrive late or out of order; first/last dates therefore take min/max, and counters only move on
the event types that own them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clock import iso, parse_rfc3339

EVENT_TYPES = ("customer.created", "customer.updated", "order.paid", "order.refunded", "review.submitted",
               "social.shared", "survey.completed", "store.checked_in")
CHANNELS = ("email", "sms", "push")
LAPSED_AFTER_DAYS = 180


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    occurred_at: datetime
    customer: dict  # {id, email?, country?, locale?, timezone?}
    order: dict | None = None  # {id?, currency, amount, items: [{sku, category?, quantity, unit_price}]}
    data: dict = field(default_factory=dict)


def _min(a: str | None, b: str) -> str:
    return b if a is None or b < a else a


def _max(a: str | None, b: str) -> str:
    return b if a is None or b > a else a


def apply_event(profile: dict | None, event: Event) -> dict:
    """The profile after ``event``. Does not mutate ``profile``."""
    p = dict(profile or {"customer_id": event.customer["id"], "order_count": 0, "refund_count": 0,
                          "total_spent": {}, "categories": {}, "consents": {}})
    at = iso(event.occurred_at)
    for attr in ("email", "country", "locale", "timezone"):
        value = event.customer.get(attr)
        if value:
            p[attr] = value.strip().lower() if attr == "email" else value
    if event.type == "customer.created":
        p["signed_up_at"] = _min(p.get("signed_up_at"), at)
    if event.data.get("birthday"):
        p["birthday"] = event.data["birthday"]
    if event.data.get("tags") is not None:
        p["tags"] = sorted(set(event.data["tags"]))
    for channel, given in (event.data.get("consents") or {}).items():
        if channel in CHANNELS and isinstance(given, bool):
            previous = p["consents"].get(channel)
            if previous is None or previous["at"] <= at:  # the newest statement wins, whatever the order
                p["consents"] = {**p["consents"], channel: {"given": given, "at": at,
                                                            "source": event.data.get("consent_source", event.type)}}
    if event.type == "order.paid" and event.order:
        cur, amount = event.order["currency"], event.order["amount"]
        p["order_count"] = p.get("order_count", 0) + 1
        p["total_spent"] = {**p.get("total_spent", {}), cur: p.get("total_spent", {}).get(cur, 0) + amount}
        p["first_order_at"] = _min(p.get("first_order_at"), at)
        p["last_order_at"] = _max(p.get("last_order_at"), at)
        cats = dict(p.get("categories", {}))
        for item in event.order.get("items", []):
            if item.get("category"):
                cats[item["category"]] = cats.get(item["category"], 0) + item["quantity"]
        p["categories"] = cats
    elif event.type == "order.refunded" and event.order:
        cur, amount = event.order["currency"], event.order["amount"]
        p["refund_count"] = p.get("refund_count", 0) + 1
        spent = p.get("total_spent", {})
        p["total_spent"] = {**spent, cur: max(0, spent.get(cur, 0) - amount)}
    return p


def favourite_categories(profile: dict, n: int = 3) -> list[str]:
    cats = profile.get("categories", {})
    return [c for c, _ in sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def segments_of(profile: dict | None, now: datetime, custom: dict | None = None,
                lapsed_after_days: int = LAPSED_AFTER_DAYS) -> set[str]:
    """Built-in segments: new_customers (no paid order yet), returning_customers (two or more),
    lapsed_customers (a paid order, none for N days); plus every custom segment (config/segments) that matches."""
    p = profile or {}
    count = p.get("order_count", 0)
    out = set()
    if count == 0:
        out.add("new_customers")
    if count >= 2:
        out.add("returning_customers")
    last = p.get("last_order_at")
    if count and last and parse_rfc3339(last) <= now - timedelta(days=lapsed_after_days):
        out.add("lapsed_customers")
    for sid, seg in (custom or {}).items():
        if seg.matches(p, now):
            out.add(sid)
    return out
