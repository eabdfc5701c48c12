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


MAX_PURCHASES = 200  # profile["purchases"] keeps the newest entries (by purchase time) of sku and category
# Customer attributes each event may restate; the newest statement by occurred_at wins (stated_at keeps the times).
CUSTOMER_FIELDS = ("email", "country", "locale", "timezone", "phone")
# How sure a sign-up date is: data.signed_up_at (the shop says so) > customer.created > the first event seen.
_SIGNUP_RANK = {"data": 2, "created": 1, "first_event": 0}


def _min(a: str | None, b: str) -> str:
    return b if a is None or b < a else a


def _max(a: str | None, b: str) -> str:
    return b if a is None or b > a else a


def _restate(p: dict, attr: str, value, at: str) -> None:
    """Sets ``attr`` unless a newer event stated it already (events may arrive out of order)."""
    stated = p.get("stated_at", {})
    if attr in p and stated.get(attr, "") > at:
        return
    p[attr] = value
    p["stated_at"] = {**stated, attr: at}


def _signup(p: dict, at: str, how: str) -> None:
    rank, old = _SIGNUP_RANK[how], p.get("signed_up_at")
    old_rank = _SIGNUP_RANK.get(p.get("signed_up_by", "first_event"), 0)
    if old is None or rank > old_rank or (rank == old_rank and at < old):
        p["signed_up_at"], p["signed_up_by"] = at, how


def consent_wins(previous: dict | None, given: bool, at: str) -> bool:
    """Whether a statement (given, at) replaces the channel's current state {given, at, source}: the newest by
    time; at the same instant the withdrawal (as domain/consent.py ranks them: when in doubt, do not send)."""
    if previous is None or previous["at"] < at:
        return True
    return previous["at"] == at and not given


def apply_consent(profile: dict, channel: str, given: bool, at: str, source: str) -> dict:
    """The profile with one consent statement folded in (a new dict; unchanged when an older statement)."""
    consents = profile.get("consents") or {}
    if not consent_wins(consents.get(channel), given, at):
        return profile
    return {**profile, "consents": {**consents, channel: {"given": given, "at": at, "source": source}}}


def _purchases(p: dict, items: list[dict], at: str) -> None:
    """The latest paid purchase per sku and category ("sku:<SKU>", "category:<cat>"), newest MAX_PURCHASES."""
    out = dict(p.get("purchases", {}))
    for item in items:
        for kind in ("sku", "category"):
            if item.get(kind):
                k = f"{kind}:{item[kind]}"
                out[k] = _max(out.get(k), at)
    if len(out) > MAX_PURCHASES:
        out = dict(sorted(out.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:MAX_PURCHASES])
    p["purchases"] = out


def new_profile(customer_id: str) -> dict:
    return {"customer_id": customer_id, "order_count": 0, "refund_count": 0, "total_spent": {}, "categories": {},
            "consents": {}}


def apply_event(profile: dict | None, event: Event) -> dict:
    """The profile after ``event``. Does not mutate ``profile``."""
    p = dict(profile or new_profile(event.customer["id"]))
    at = iso(event.occurred_at)
    for attr in CUSTOMER_FIELDS:
        value = event.customer.get(attr)
        if value:
            _restate(p, attr, value.strip().lower() if attr == "email" else value, at)
    _signup(p, at, "first_event")
    if event.type == "customer.created":
        _signup(p, at, "created")
    if event.data.get("signed_up_at"):
        _signup(p, iso(parse_rfc3339(event.data["signed_up_at"])), "data")
    if event.data.get("birthday"):
        _restate(p, "birthday", event.data["birthday"], at)
    if event.data.get("tags") is not None:
        _restate(p, "tags", sorted(set(event.data["tags"])), at)
    for channel, given in (event.data.get("consents") or {}).items():
        if channel in CHANNELS and isinstance(given, bool):
            p = apply_consent(p, channel, given, at, event.data.get("consent_source") or event.type)
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
        _purchases(p, event.order.get("items", []), at)
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
