"""`import-orders`: a shop's order history as `order.paid` events (POST /v1/events).

The event id is derived from the order id alone, so importing the same file again (or an overlapping one) sends
the same ids and the engine answers `duplicate` for each: a re-import changes nothing. The whole file is checked
before the first request, so a typo in row 900 does not leave 899 orders imported.
"""
from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REQUIRED = ("customer_id", "order_id", "occurred_at", "amount", "currency")
OPTIONAL = ("email", "country")
CURRENCY = re.compile(r"^[A-Z]{3}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
MAX_ERRORS_SHOWN = 3


class BadFile(Exception):
    """The file cannot be imported as it is; nothing was sent."""


@dataclass(frozen=True)
class OrderRow:
    line: int  # in the file, the header being line 1
    event: dict

    @property
    def customer_id(self) -> str:
        return self.event["customer"]["id"]


def event_id(order_id: str) -> str:
    """Stable for the order: the same order imported twice is the same event."""
    return "import-order-paid-" + hashlib.sha256(order_id.encode("utf-8")).hexdigest()[:40]


def _time(value: str) -> str:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("occurred_at is not an RFC 3339 time") from None
    if at.tzinfo is None:
        raise ValueError("occurred_at needs an offset (e.g. 2026-03-01T10:00:00Z)")
    return value


def _row(line: int, raw: dict[str, str]) -> OrderRow:
    v = {k: (raw.get(k) or "").strip() for k in (*REQUIRED, *OPTIONAL)}
    for k in REQUIRED:
        if not v[k]:
            raise ValueError(f"{k} is empty")
    if not re.fullmatch(r"\d+", v["amount"]):
        raise ValueError(f"amount {v['amount']!r} is not a whole number of minor units (e.g. 1999 for 19.99)")
    if not CURRENCY.match(v["currency"]):
        raise ValueError(f"currency {v['currency']!r} is not an ISO 4217 code (e.g. EUR)")
    if v["country"] and not COUNTRY.match(v["country"]):
        raise ValueError(f"country {v['country']!r} is not an ISO 3166-1 alpha-2 code (e.g. DE)")
    customer = {"id": v["customer_id"]}
    if v["email"]:
        customer["email"] = v["email"]
    if v["country"]:
        customer["country"] = v["country"]
    return OrderRow(line, {
        "id": event_id(v["order_id"]), "type": "order.paid", "occurred_at": _time(v["occurred_at"]),
        "customer": customer,
        "order": {"id": v["order_id"], "currency": v["currency"], "amount": int(v["amount"])},
    })


def read_orders(path: Path) -> list[OrderRow]:
    """Every row of the file, or BadFile naming the lines at fault."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")  # a BOM from spreadsheet exports is fine
    except OSError as e:
        raise BadFile(f"cannot read {path}: {e.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise BadFile(f"{path}: the header row lacks {', '.join(missing)} "
                          f"(needs {', '.join(REQUIRED)}; optional {', '.join(OPTIONAL)})")
        reader.fieldnames = header
        rows: list[OrderRow] = []
        errors: list[str] = []
        seen: dict[str, int] = {}
        for raw in reader:
            line = reader.line_num
            if not any((value or "").strip() for value in raw.values() if isinstance(value, str)):
                continue  # a blank line
            try:
                row = _row(line, raw)
            except ValueError as e:
                errors.append(f"line {line}: {e}")
                continue
            order_id = row.event["order"]["id"]
            if order_id in seen:
                errors.append(f"line {line}: order {order_id} is already on line {seen[order_id]}")
                continue
            seen[order_id] = line
            rows.append(row)
    if errors:
        shown = "; ".join(errors[:MAX_ERRORS_SHOWN])
        more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise BadFile(f"{path}: {len(errors)} bad row(s), nothing was imported: {shown}{more}")
    return rows


def by_customer(rows: list[OrderRow]) -> list[list[OrderRow]]:
    """Each customer's orders oldest first: one customer's events go one after the other (they update one
    profile), different customers in parallel."""
    groups: dict[str, list[OrderRow]] = defaultdict(list)
    for row in rows:
        groups[row.customer_id].append(row)
    for group in groups.values():
        group.sort(key=lambda r: (datetime.fromisoformat(r.event["occurred_at"]), r.line))
    return list(groups.values())
