"""Helpers of the loyalty tests: a program and its reward campaign written as config files, events delivered to the
real loyalty consumer as EventBridge would, and the loyalty and operators functions called in-process."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, UTC
from pathlib import Path

import yaml

from incentives.adapters import keys
from incentives.domain.clock import iso
from incentives.subscriptions import CUSTOMERS, ENGINE, SUBSCRIPTIONS
from local import lambdas
from tests.support import OPERATOR_KEY_ID, ROOT, campaign

UTC = UTC
ENGINE_TYPES = {t for s in SUBSCRIPTIONS for t in s.engine_types}
PROGRAM_ID = "club"
BASE = "/v1/loyalty-programs/{program_id}/members/{customer_id}"


def program_config(**overrides) -> dict:
    base = {"id": PROGRAM_ID, "name": "Club", "enabled": True, "timezone": "Europe/Berlin",
            "earning": [{"event": "order.paid", "points_per_unit": 1,
                         "unit_amount": {"amount": 100, "currency": "EUR"}},
                        {"event": "review.submitted", "points": 50, "max_per_day": 1, "max_per_month": 2},
                        {"event": "customer.created", "points": 100},
                        {"event": "referral.converted", "points": 200}],
            "pending_days": 14, "expiry": {"after_days": 365}, "expiry_warning_days": 7, "tier_window_days": 365,
            "tiers": [{"id": "silver", "min_points": 0, "multiplier": 1.0},
                      {"id": "gold", "min_points": 1000, "multiplier": 1.5}],
            "rewards": [{"id": "five-off", "points": 500, "campaign": "club-5off"}],
            "milestones": [{"points": 2000, "reward": "five-off"}]}
    base.update(overrides)
    return base


class Loyalty:
    def __init__(self, handlers, table, config_dir):
        self.handlers = handlers
        self.table = table
        self.config_dir = config_dir

    def configure(self, **overrides) -> None:
        self.config_dir(campaign("club-5off", codes={"type": "unique", "pattern": "CLUB-####-####",
                                                      "expires_in_days": 180, "bind_to_customer": True},
                                 reward={"type": "amount_off", "amount": {"amount": 500, "currency": "EUR"}}))
        d = Path(self.config_dir.path) / "loyalty-programs"
        d.mkdir(exist_ok=True)
        (d / f"{PROGRAM_ID}.yaml").write_text(yaml.safe_dump(program_config(**overrides)), encoding="utf-8")

    # --- events as the consumer gets them ------------------------------------------------------------------

    @staticmethod
    def detail(event_type: str, customer: str, occurred_at: datetime | None = None, order: dict | None = None,
               data: dict | None = None, event_id: str | None = None) -> dict:
        at = occurred_at or datetime.now(UTC)
        d = {"id": event_id or f"ev-{uuid.uuid4().hex[:12]}", "type": event_type, "customer_id": customer,
             "occurred_at": iso(at), "received_at": iso(datetime.now(UTC))}
        if order:
            d.update(order_id=order["id"], order_amount=order["amount"], currency=order.get("currency", "EUR"))
        if data is not None:
            d["data"] = data
        return d

    def deliver(self, detail: dict) -> dict:
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail["type"],
                 "source": ENGINE if detail["type"] in ENGINE_TYPES else CUSTOMERS, "account": "000000000000",
                 "region": "eu-central-1", "time": detail["occurred_at"], "resources": [], "detail": detail}
        return lambdas.invoke("loyalty_events", event, ROOT / "functions")

    def send(self, event_type: str, customer: str, **kw) -> dict:
        return self.deliver(self.detail(event_type, customer, **kw))

    def points(self, customer: str, amount: int, occurred_at: datetime | None = None, order_id: str | None = None):
        """An order.paid worth ``amount`` cents (1 point per EUR at silver)."""
        return self.send("order.paid", customer, occurred_at=occurred_at,
                         order={"id": order_id or f"o-{uuid.uuid4().hex[:8]}", "amount": amount})

    # --- HTTP --------------------------------------------------------------------------------------------------

    def call(self, method: str, customer: str, suffix: str = "", body=None, key_id: str | None = None,
             headers: dict | None = None, query: dict | None = None):
        params = {"program_id": PROGRAM_ID, "customer_id": customer}
        kwargs = {"key_id": key_id} if key_id else {}
        if query:
            return self._call_with_query(method, BASE + suffix, params, query, kwargs)
        return self.handlers.call("loyalty", method, BASE + suffix, params, body=body, headers=headers, **kwargs)

    def _call_with_query(self, method, resource, params, query, kwargs):
        from tests.support import STOREFRONT_KEY_ID, _Ctx

        path = resource
        for k, v in params.items():
            path = path.replace("{" + k + "}", v)
        event = {"resource": resource, "path": path, "httpMethod": method, "headers": {}, "multiValueHeaders": {},
                 "queryStringParameters": query, "pathParameters": params,
                 "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "v1",
                                    "identity": {"sourceIp": "203.0.113.9",
                                                 "apiKeyId": kwargs.get("key_id", STOREFRONT_KEY_ID)}},
                 "body": None, "isBase64Encoded": False}
        out = lambdas.load_handler("loyalty", ROOT / "functions")(event, _Ctx("loyalty"))
        return out["statusCode"], json.loads(out["body"]), out.get("headers", {})

    def view(self, customer: str) -> dict:
        status, body, _ = self.call("GET", customer)
        assert status == 200, body
        return body

    def redeem(self, customer: str, reward_id: str = "five-off", key: str | None = None):
        headers = {"Idempotency-Key": key} if key else None
        return self.call("POST", customer, "/rewards", {"reward_id": reward_id}, headers=headers)

    def adjust(self, customer: str, points: int, reason: str = "goodwill", expires_on: str | None = None,
               key_id: str = OPERATOR_KEY_ID):
        body = {"points": points, "reason": reason, **({"expires_on": expires_on} if expires_on else {})}
        return self.call("POST", customer, "/adjustments", body, key_id=key_id)

    def ledger(self, customer: str, limit: int = 100) -> list[dict]:
        status, body, _ = self._call_with_query("GET", BASE + "/transactions",
                                                {"program_id": PROGRAM_ID, "customer_id": customer},
                                                {"limit": str(limit)}, {})
        assert status == 200, body
        return body["transactions"]

    def run_job(self, now: datetime) -> dict:
        status, body, _ = self.handlers.call("operators", "POST", "/v1/jobs/{job}/run", {"job": "points-expiry"},
                                             body={"now": iso(now)}, key_id=OPERATOR_KEY_ID)
        assert status == 200, body
        return body["result"]

    # --- the table -----------------------------------------------------------------------------------------

    def member(self, customer: str) -> dict | None:
        return self.table.get(*keys.loyalty_member(PROGRAM_ID, customer), consistent=True)

    def lots(self, customer: str) -> list[dict]:
        member = self.member(customer)
        items = self.table.query(keys.loyalty_ledger(member["member_id"]), "LOT#")
        return sorted(items, key=lambda i: i["sk"])

    def lots_total(self, customer: str) -> int:
        return self.table.get(*keys.loyalty_balance(self.member(customer)["member_id"]), consistent=True)["lots_total"]

    def outbox(self, detail_type: str) -> list[dict]:
        """Events the fan-out published on the local bus (it leaves each in LOCAL_OUTBOX_DIR/events)."""
        import os

        d = Path(os.environ["LOCAL_OUTBOX_DIR"]) / "events"
        found = [json.loads(p.read_text()) for p in d.glob("*.json")] if d.is_dir() else []
        return [e for e in found if e["detail-type"] == detail_type]

    def engine_events(self, event_type: str) -> list[dict]:
        """Engine events recorded in the table (the outbox the stream publishes)."""
        from tests.support import scan_all

        return [i for i in scan_all(self.table) if i["pk"].startswith("EVENT#") and i.get("type") == event_type]


def days(n: float) -> timedelta:
    return timedelta(days=n)


def make_loyalty(handlers, table, config_dir) -> Loyalty:
    """For each test module's ``loyalty`` fixture: the default program and its reward campaign configured."""
    lo = Loyalty(handlers, table, config_dir)
    lo.configure()
    return lo
