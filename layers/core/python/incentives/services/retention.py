"""Retention metrics (GET /v1/metrics/retention): the ``metrics_events`` consumer keeps what the query reads.

The consumer (subscribed to order.paid and order.refunded, incentives/subscriptions.py) keeps, each event once
(its marker in the same TransactWriteItems, services/consumers.py):
- the order item ``RORDER#<order id>``: customer, currency, amount, UTC day of the order.paid's occurred_at,
  refunded (the sum of the refunds, also of refunds that arrived before the order.paid), version;
- the day index item ``RDAY#<day>`` / ``<customer id>#<order id>``: customer, currency, amount and refunded
  (capped at the amount), written with the order.paid and updated by each refund.

The query reads only the day partitions of the window (one Query per day, paged): its cost grows with the
orders in the window, never with the table. Figures are computed exactly in memory, per currency. A refund
counts against its order whenever it arrives: the window selects orders by their order.paid's day, and each is
taken with what was refunded of it so far (a refund in full takes the order out, a partial one lowers revenue).
``campaign_id`` restricts to the campaign's cohort: per customer active in the window one Query of gsi1
``CUSTOMER#<id>`` / ``REDEMPTION#`` (the customer's redemptions), a succeeded one of the campaign makes the
customer part of it.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..adapters.dynamo import Table
from ..adapters.retention_store import OrderMoved, RetentionStore
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork, contended
from ..domain import errors
from ..domain.clock import parse_date, parse_rfc3339
from .consumers import Consumer

ORDER_PAID = "order.paid"
ORDER_REFUNDED = "order.refunded"
EVENT_TYPES = (ORDER_PAID, ORDER_REFUNDED)  # incentives/subscriptions.py lists the same
GRANULARITIES = ("day", "week", "month")
READERS = 16  # concurrent day Queries of one request (the shared client's pool is larger)
MAX_DAYS = 3660  # about ten years: one Query per day (extension: a longer window is 422 invalid_request)


# --- the consumer -------------------------------------------------------------------------------------------

class RetentionEvents:
    def __init__(self, table: Table, consumer: Consumer):
        self.table = table
        self.store = RetentionStore(table)
        self.consumer = consumer

    def handle(self, detail: dict, now: datetime) -> dict:
        kind, order_id, amount = detail.get("type"), detail.get("order_id"), detail.get("order_amount")
        if kind not in EVENT_TYPES or not order_id or type(amount) is not int or amount < 0:
            return {"status": "ignored"}
        return CONFLICTS.run(lambda: self._apply(detail, now), retry_on=OrderMoved,
                             give_up=lambda _: errors.Contention("the order kept changing; retry"))

    def _apply(self, d: dict, now: datetime) -> dict:
        order = self.store.order(d["order_id"])
        uow = UnitOfWork(self.table)
        amount: int = d["order_amount"]
        if d["type"] == ORDER_PAID:
            if order.paid:
                status = "order_seen_before"  # the same order under another event id: counted once
            else:
                day = parse_rfc3339(d["occurred_at"]).date().isoformat()  # aware -> UTC by parse_rfc3339
                self.store.save(uow, order.with_(customer_id=d["customer_id"], currency=d.get("currency"),
                                                 amount=amount, day=day), order)
                status = "order_recorded"
        else:
            self.store.save(uow, order.with_(refunded=order.refunded + amount), order)
            # before the order.paid, the refund waits on the order item; the order.paid takes it into account
            status = "refund_recorded" if order.paid else "refund_before_order"
        applied = self.consumer.apply_once(d["id"], uow, now, otherwise=contended)
        return {"status": status if applied else "duplicate"}


# --- the query ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    start: date
    end: date
    granularity: str | None = None
    campaign_id: str | None = None

    @classmethod
    def parse(cls, start_raw: str | None, end_raw: str | None, granularity: str | None = None,
              campaign_id: str | None = None) -> Window:
        """The query parameters as given (None: absent); anything the contract refuses is invalid_request."""
        start, end = _date(start_raw, "from"), _date(end_raw, "to")
        if start > end:
            raise errors.InvalidRequest("from must not be after to", {"field": "from"})
        if (end - start).days + 1 > MAX_DAYS:
            raise errors.InvalidRequest(f"the window is longer than {MAX_DAYS} days", {"field": "to"})
        granularity = granularity or None
        if granularity is not None and granularity not in GRANULARITIES:
            raise errors.InvalidRequest("granularity must be day, week or month", {"field": "granularity"})
        return cls(start, end, granularity, campaign_id or None)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def period(self, day: date) -> date:
        """The first date of the day's part of the window (day, ISO week from Monday, calendar month)."""
        if self.granularity == "week":
            first = day - timedelta(days=day.weekday())
        elif self.granularity == "month":
            first = day.replace(day=1)
        else:
            first = day
        return max(first, self.start)


def _date(raw: str | None, name: str) -> date:
    if not raw:
        raise errors.InvalidRequest(f"{name} is required (YYYY-MM-DD)", {"field": name})
    try:
        return parse_date(raw)
    except ValueError:
        raise errors.InvalidRequest(f"{name} must be a date YYYY-MM-DD", {"field": name}) from None


def figures(rows: Iterable[dict]) -> dict[str, dict]:
    """Per currency, the contract's figures of the given day-index rows (orders refunded in full left out)."""
    per: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))  # cur -> cust -> n, rev
    for row in rows:
        amount, refunded = int(row["amount"]), int(row.get("refunded", 0))
        if refunded > 0 and refunded >= amount:
            continue  # refunded in full: no longer an order
        acc = per[row["currency"]][row["customer_id"]]
        acc[0] += 1
        acc[1] += amount - refunded
    out = {}
    for currency in sorted(per):
        customers = per[currency]
        n_customers = len(customers)
        orders = sum(c[0] for c in customers.values())
        revenue = sum(c[1] for c in customers.values())
        repeat = sum(1 for c in customers.values() if c[0] >= 2)
        out[currency] = {
            "customers": n_customers, "repeat_customers": repeat, "orders": orders, "revenue": revenue,
            "repeat_purchase_rate": repeat / n_customers, "purchase_frequency": orders / n_customers,
            "average_order_value": revenue // orders, "customer_value": revenue // n_customers,
        }
    return out


class RetentionMetrics:
    def __init__(self, table: Table, campaigns: Iterable[str] | None = None):
        self.table = table
        self.store = RetentionStore(table)
        self.campaigns = None if campaigns is None else set(campaigns)

    def get(self, window: Window) -> dict:
        if window.campaign_id is not None and self.campaigns is not None and window.campaign_id not in self.campaigns:
            raise errors.CampaignNotFound(details={"campaign_id": window.campaign_id})
        days = window.days()
        with ThreadPoolExecutor(max_workers=min(READERS, len(days))) as pool:  # one Query per day, in parallel
            by_day = dict(zip(days, pool.map(lambda d: self.store.day_rows(d.isoformat()), days), strict=True))
        if window.campaign_id is not None:
            cohort = self._cohort(window.campaign_id, {r["customer_id"] for rows in by_day.values() for r in rows})
            by_day = {day: [r for r in rows if r["customer_id"] in cohort] for day, rows in by_day.items()}
        out: dict = {"from": window.start.isoformat(), "to": window.end.isoformat(),
                     "currencies": figures(r for rows in by_day.values() for r in rows)}
        if window.campaign_id is not None:
            out["campaign_id"] = window.campaign_id
        if window.granularity is not None:
            parts: dict[date, list[dict]] = {}
            for day, rows in by_day.items():
                parts.setdefault(window.period(day), []).extend(rows)
            out["series"] = [{"period": p.isoformat(), "currencies": figures(rows)} for p, rows in parts.items()]
        return out

    def _cohort(self, campaign_id: str, customers: set[str]) -> set[str]:
        """The active customers with a succeeded redemption of the campaign (gsi1, one Query per customer)."""
        def redeemed(customer: str) -> bool:
            redemptions = self.store.redemptions_of(customer)
            return any(r.get("campaign_id") == campaign_id and r.get("status") == "succeeded" for r in redemptions)

        if not customers:
            return set()
        ordered = sorted(customers)
        with ThreadPoolExecutor(max_workers=min(READERS, len(ordered))) as pool:
            return {c for c, yes in zip(ordered, pool.map(redeemed, ordered), strict=True) if yes}
