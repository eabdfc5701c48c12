"""What the referral tests share: a program with every kind of tier, calls to the referrals function, order events
recorded like POST /v1/events and handed to the referral_events consumer as EventBridge delivers them."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, UTC

import yaml

from incentives.adapters import keys
from incentives.services.fanout import entry
from incentives.subscriptions import CustomerEvent
from local import lambdas
from local.bus import eventbridge_event
from tests.support import OPERATOR_KEY_ID, ROOT, STOREFRONT_KEY_ID, campaign

EUR = "EUR"
PROGRAM = "friends"
BASE = "/v1/referral-programs/{program_id}"


def amount(n: int) -> dict:
    return {"amount": n, "currency": EUR}


CAMPAIGNS = [
    campaign("friend-welcome", codes={"type": "unique", "pattern": "FRND-####-####", "expires_in_days": 60,
                                      "bind_to_customer": True},
             reward={"type": "amount_off", "amount": amount(1500)}, limits={"per_code": 1}),
    campaign("thanks-ten", codes={"type": "unique", "pattern": "THX-####-####", "bind_to_customer": True},
             reward={"type": "amount_off", "amount": amount(1000)}),
    campaign("thanks-card", codes={"type": "unique", "pattern": "CARD-####-####", "bind_to_customer": True},
             reward={"type": "gift_card", "balance": amount(2000)}),
]
TIERS = [{"from": 1, "campaign": "thanks-ten"}, {"from": 2, "campaign": "thanks-card"},
         {"from": 3, "points": {"program": "points", "points": 500}}, {"from": 4, "cash": amount(2500)}]


def program(**overrides) -> dict:
    base = {"id": PROGRAM, "name": "Friends", "enabled": True, "link_template": "https://shop.example/r/{code}",
            "code_pattern": "REF-####-####", "referee_reward": {"campaign": "friend-welcome"},
            "referrer_rewards": TIERS,
            "conversion": {"min_order_amount": amount(3000), "within_days": 30, "return_window_days": 14},
            "limits": {"max_conversions_per_referrer": 10, "period_days": 30}}
    base.update(overrides)
    return base


def write_config(config_dir, *programs: dict):
    """The campaigns, a loyalty program and the referral programs as files; a fresh config source."""
    for kind, items in (("referral-programs", programs), ("loyalty-programs", [{"id": "points"}])):
        d = config_dir.path / kind
        d.mkdir(exist_ok=True)
        for p in items:
            (d / f"{p['id']}.yaml").write_text(yaml.safe_dump(p), encoding="utf-8")
    return config_dir(*CAMPAIGNS)


def at(days: float = 0, minutes: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(days=days, minutes=minutes)


def stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class Shop:
    """The storefront, the operator and the event pipeline as the referral tests drive them."""

    def __init__(self, handlers, table, program_id: str = PROGRAM):
        self.handlers = handlers
        self.table = table
        self.program_id = program_id

    def request(self, method: str, path: str, body=None, operator: bool = False, query: dict | None = None,
                headers: dict | None = None, **params) -> tuple[int, object, dict]:
        """The referrals function's real lambda_handler with a REST proxy event; JSON bodies parsed."""
        resource = path if path.startswith("/v1") else BASE + path
        path_params = {"program_id": self.program_id, **params}
        concrete = resource
        for k, v in path_params.items():
            concrete = concrete.replace("{" + k + "}", v)
        event = {"resource": resource, "path": concrete, "httpMethod": method, "headers": headers or {},
                 "queryStringParameters": query, "pathParameters": path_params,
                 "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
                 "requestContext": {"identity": {"sourceIp": "203.0.113.9",
                                                 "apiKeyId": OPERATOR_KEY_ID if operator else STOREFRONT_KEY_ID}}}
        out = lambdas.load_handler("referrals", ROOT / "functions")(event, lambdas.LambdaContext("referrals"))
        text = out.get("body") or ""
        is_json = out["headers"].get("Content-Type", "").startswith("application/json")
        return out["statusCode"], (json.loads(text) if is_json and text else text), out["headers"]

    def call(self, method: str, path: str, body=None, **kwargs) -> tuple[int, object]:
        return self.request(method, path, body, **kwargs)[:2]

    def enroll(self, customer_id: str, email: str | None = None, **extra) -> dict:
        customer = {"id": customer_id, **({"email": email} if email else {})}
        status, out = self.call("POST", "/referrers", {"customer": customer, **extra})
        assert status in (200, 201), out
        return out

    def refer(self, code: str, referee_id: str, email: str | None = None, headers: dict | None = None, **extra):
        referee = {"id": referee_id, **({"email": email} if email else {})}
        return self.call("POST", "/referrals", {"referral_code": code, "referee": referee, **extra}, headers=headers)

    def referred(self, referrer_id: str, referee_id: str, **kwargs) -> dict:
        code = self.enroll(referrer_id)["referral_code"]
        status, out = self.refer(code, referee_id, **kwargs)
        assert status == 201, out
        return out

    def event(self, event_id: str, type_: str, customer_id: str, amount_: int, when: datetime,
              order_id: str | None = None) -> dict:
        """POST /v1/events, then the EventBridge event the consumer gets for it."""
        body = {"id": event_id, "type": type_, "occurred_at": stamp(when), "customer": {"id": customer_id},
                "order": {"id": order_id or f"o-{event_id}", "currency": EUR, "amount": amount_}}
        status, out, _ = self.handlers.call("events", "POST", "/v1/events", body=body)
        assert status == 202, out
        item = self.table.get(*keys.event(event_id), consistent=True)
        return eventbridge_event(entry(CustomerEvent.from_item(item)))

    @staticmethod
    def consume(event: dict) -> list[dict]:
        return lambdas.invoke("referral_events", event, ROOT / "functions")["outcomes"]

    def paid(self, event_id: str, customer_id: str, amount_: int = 5000, when: datetime | None = None,
             order_id: str | None = None) -> list[dict]:
        return self.consume(self.event(event_id, "order.paid", customer_id, amount_, when or at(minutes=1),
                                       order_id or f"o-{event_id}"))

    def refunded(self, event_id: str, customer_id: str, order_id: str, amount_: int = 5000,
                 when: datetime | None = None) -> list[dict]:
        return self.consume(self.event(event_id, "order.refunded", customer_id, amount_, when or at(minutes=2),
                                       order_id))

    def release(self, when: datetime) -> dict:
        return lambdas.invoke("referral_rewards", {"now": when.isoformat()}, ROOT / "functions")

    def referral(self, referral_id: str) -> dict:
        return self.table.get(*keys.referral(referral_id), consistent=True)

    def referrer(self, customer_id: str) -> dict:
        status, out = self.call("GET", "/referrers/{customer_id}", customer_id=customer_id)
        assert status == 200, out
        return out

    def counters(self) -> dict:
        return self.table.get(*keys.referral_program(self.program_id), consistent=True) or {}
