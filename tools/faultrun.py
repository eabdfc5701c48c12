"""A Jepsen-style run of the engine's contended writes under injected DynamoDB faults, and the check after it.

``python -m tools.faultrun [--ops N] [--rate R] [--seed S] [--threads T]`` starts a DynamoDB Local (or uses
$DYNAMODB_ENDPOINT), writes its own campaigns, then sends concurrent requests through the real Lambda handlers
(in-process API Gateway events, as ``make run`` does) with ``DYNAMODB_FAULTS`` on: redemptions of a code with a
per-code and a per-customer limit, of a code with a budget, gift card spends, landing-page claims and loyalty
reward redemptions (points spends). Each client sends its request with an Idempotency-Key and retries it while
the answer is a 503 (which must carry Retry-After) or request_in_progress, as the contract asks a client to.

Then it reads the table without faults and checks (``check``):
- every answer is a success, a contract rejection, or a 503 with Retry-After: never a 500;
- money given equals money recorded: the redemption records' discounts = the campaign counters = the card
  balance moves; no balance below zero; every counter equals its records; no limit exceeded;
- no lost or doubled effect: every success has its record, every record belongs to a success (one per
  Idempotency-Key), the answer replayed for a key is the first one.
``tests/integration/test_faults.py`` runs it with a modest size; docs/reliability.md has a bigger run's figures.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
STOREFRONT = "key-storefront"
OPERATOR = "key-operator"
EUR = "EUR"
# contract answers a client may get under contention (the rest of the 4xx would be a bug of the workload)
REJECTIONS = {"redemption_limit_reached", "customer_limit_reached", "budget_exhausted", "balance_exhausted",
              "claims_exhausted", "insufficient_points"}

LIMITED = {"id": "jlimit", "name": "jlimit", "enabled": True, "codes": {"type": "public", "code": "JLIMIT"},
           "reward": {"type": "amount_off", "amount": {"amount": 500, "currency": EUR}},
           "limits": {"per_code": 25, "per_customer": 2}}
BUDGET = {"id": "jbudget", "name": "jbudget", "enabled": True, "codes": {"type": "public", "code": "JBUDGET"},
          "reward": {"type": "amount_off", "amount": {"amount": 700, "currency": EUR}},
          "limits": {"budget": {"amount": 10_000, "currency": EUR}}}
GIFT = {"id": "jgift", "name": "jgift", "enabled": True, "codes": {"type": "unique", "pattern": "JGIF-####-####"},
        "reward": {"type": "gift_card", "balance": {"amount": 10_000, "currency": EUR}}}
CLAIMS = {"id": "jclaim", "name": "jclaim", "enabled": True,
          "codes": {"type": "unique", "pattern": "JCLA-####-####", "bind_to_customer": True},
          "reward": {"type": "percent_off", "percent": 10},
          "claims": {"allowed_origins": ["https://shop.example"], "max_claims": 8}}
CLUB_REWARD = {"id": "club-5off", "name": "club-5off", "enabled": True,
               "codes": {"type": "unique", "pattern": "CLUB-####-####", "bind_to_customer": True},
               "reward": {"type": "amount_off", "amount": {"amount": 500, "currency": EUR}}}
PROGRAM = {"id": "club", "name": "Club", "enabled": True, "timezone": "Europe/Berlin",
           "earning": [{"event": "customer.created", "points": 100}], "pending_days": 0,
           "expiry": {"after_days": 365}, "tiers": [{"id": "silver", "min_points": 0, "multiplier": 1.0}],
           "rewards": [{"id": "five-off", "points": 500, "campaign": "club-5off"}]}
MEMBER_POINTS = {"m1": 2_000, "m2": 1_000}  # 4 and 2 rewards of 500 points
CARD_SPEND = 1_500


@dataclass
class Op:
    name: str  # redeem_limit | redeem_budget | spend_card | claim | reward
    body: dict
    customer: str
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    answers: list[tuple[int, dict | None, dict]] = field(default_factory=list)

    @property
    def final(self) -> tuple[int, dict | None, dict]:
        return self.answers[-1]


@dataclass
class Report:
    operations: int = 0
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    indeterminate: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"operations": self.operations, "requests": self.requests, "faults_injected": sum(self.faults.values()),
                "faults": dict(sorted(self.faults.items())), "statuses": dict(sorted(self.statuses.items())),
                "outcomes": dict(sorted(self.outcomes.items())), "indeterminate": self.indeterminate,
                "violations": len(self.violations), "seconds": round(self.seconds, 1)}


class _Ctx:
    function_name = "faultrun"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-central-1:000000000000:function:faultrun"
    aws_request_id = "faultrun"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def call(function: str, method: str, resource: str, params: dict | None = None, body: Any = None,
         headers: dict | None = None, key_id: str | None = STOREFRONT, ip: str = "203.0.113.9"):
    """One API Gateway REST proxy event to the function's real lambda_handler, in-process."""
    from local.lambdas import load_handler

    path = resource
    for k, v in (params or {}).items():
        path = path.replace("{" + k + "}", v)
    event = {"resource": resource, "path": path, "httpMethod": method, "headers": headers or {},
             "multiValueHeaders": {}, "queryStringParameters": None, "pathParameters": params,
             "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "v1",
                                "identity": {"sourceIp": ip, "apiKeyId": key_id}},
             "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False}
    out = load_handler(function, ROOT / "functions")(event, _Ctx())
    raw = out.get("body")
    return out["statusCode"], (json.loads(raw) if raw else None), out.get("headers") or {}


def reset_handlers() -> None:
    """Drop the warm handler modules (they keep their DynamoDB client in globals): the next call builds them with
    the current settings, as a new Lambda instance would."""
    from incentives.adapters import config_source
    from incentives.settings import get_settings

    get_settings.cache_clear()
    config_source._default = None
    for name in [m for m in sys.modules if m.startswith("fn_")]:
        del sys.modules[name]


def scaled(scale: int) -> tuple[dict, dict, dict]:
    """The limited, budget and claims campaigns with their limits times ``scale`` (bigger runs: the limits bind
    after proportionally more successful writes, all under faults)."""
    limited = {**LIMITED, "limits": {"per_code": LIMITED["limits"]["per_code"] * scale, "per_customer": 2}}
    budget = {**BUDGET, "limits": {"budget": {"amount": BUDGET["limits"]["budget"]["amount"] * scale,
                                              "currency": EUR}}}
    claims = {**CLAIMS, "claims": {**CLAIMS["claims"], "max_claims": CLAIMS["claims"]["max_claims"] * scale}}
    return limited, budget, claims


def write_config(config_dir: Path, scale: int = 1) -> None:
    (config_dir / "campaigns").mkdir(parents=True, exist_ok=True)
    (config_dir / "loyalty-programs").mkdir(parents=True, exist_ok=True)
    for c in (*scaled(scale), GIFT, CLUB_REWARD):
        (config_dir / "campaigns" / f"{c['id']}.yaml").write_text(yaml.safe_dump(c), encoding="utf-8")
    (config_dir / "loyalty-programs" / "club.yaml").write_text(yaml.safe_dump(PROGRAM), encoding="utf-8")


class FaultRun:
    """One run: ``setup()`` without faults, ``run(ops)`` with them, ``check()`` without them."""

    def __init__(self, table: Any, seed: int = 7, retry_deadline_s: float = 60.0, scale: int = 1):
        self.table = table  # a Table on a client WITHOUT faults (the checker's view)
        self.scale = scale  # limits, cards and points times scale (write_config(scale) wrote the campaigns)
        self.limited, self.budget, self.claims = scaled(scale)
        self.points = {member: p * scale for member, p in MEMBER_POINTS.items()}
        self.rand = random.Random(seed)  # noqa: S311 - a reproducible workload  # nosec B311
        self.retry_deadline_s = retry_deadline_s
        self.cards: list[str] = []
        self.ops: list[Op] = []
        self.report = Report()
        self._lock = threading.Lock()

    # --- before the faults ------------------------------------------------------------------------------------

    def setup(self) -> None:
        for i in range(2 * self.scale):
            status, body, _ = call("operators", "POST", "/v1/campaigns/{campaign_id}/codes",
                                   {"campaign_id": "jgift"}, {"count": 1}, key_id=OPERATOR,
                                   headers={"Idempotency-Key": f"setup-card-{i}"})
            if status not in (200, 201):
                raise RuntimeError(f"issuing a gift card answered {status}: {body}")
            self.cards.append(body["codes"][0]["code"])
        for member, points in self.points.items():
            status, body, _ = call("loyalty", "POST", "/v1/loyalty-programs/{program_id}/members/{customer_id}"
                                   "/adjustments", {"program_id": "club", "customer_id": member},
                                   {"points": points, "reason": "fault run"}, key_id=OPERATOR)
            if status not in (200, 201):
                raise RuntimeError(f"the adjustment answered {status}: {body}")

    def workload(self, size: int) -> list[Op]:
        """``size`` operations in a seeded random order, in proportions that make every limit bind."""
        ops: list[Op] = []
        mix = (("redeem_limit", 6), ("redeem_budget", 4), ("spend_card", 4), ("claim", 3), ("reward", 3))
        names = [n for n, w in mix for _ in range(w)]
        for i in range(size):
            name = names[i % len(names)]
            if name == "redeem_limit":
                c = f"c{self.rand.randrange(20 * self.scale)}"
                ops.append(Op(name, _checkout("JLIMIT", c, 10_000), c))
            elif name == "redeem_budget":
                c = f"b{i}"
                ops.append(Op(name, _checkout("JBUDGET", c, 10_000), c))
            elif name == "spend_card":
                c = f"g{i}"
                ops.append(Op(name, _checkout(self.rand.choice(self.cards), c, CARD_SPEND), c))
            elif name == "claim":
                e = f"p{self.rand.randrange(size)}@example.com"  # some e-mails claim twice: one code each
                ops.append(Op(name, {"email": e, "country": "DE"}, e))
            else:
                m = self.rand.choice(sorted(MEMBER_POINTS))
                ops.append(Op(name, {"reward_id": "five-off"}, m))
        self.rand.shuffle(ops)
        return ops

    # --- with the faults --------------------------------------------------------------------------------------

    def send(self, op: Op) -> tuple[int, dict | None, dict]:
        headers = {"Idempotency-Key": op.key}
        if op.name == "claim":
            return call("claims", "POST", "/v1/public/campaigns/{campaign_id}/claims", {"campaign_id": "jclaim"},
                        op.body, headers={**headers, "Origin": "https://shop.example"}, key_id=None,
                        ip=f"198.51.100.{hash(op.customer) % 250}")
        if op.name == "reward":
            return call("loyalty", "POST", "/v1/loyalty-programs/{program_id}/members/{customer_id}/rewards",
                        {"program_id": "club", "customer_id": op.customer}, op.body, headers=headers)
        return call("storefront", "POST", "/v1/redemptions", body=op.body, headers=headers)

    def client(self, op: Op) -> None:
        """A well-behaved client: the same request with the same Idempotency-Key until a definite answer."""
        deadline = time.monotonic() + self.retry_deadline_s
        while True:
            try:
                answer = self.send(op)
            except Exception as e:  # noqa: BLE001 - a handler that raises is a 500 to API Gateway
                answer = (500, {"error": {"code": "raised", "message": f"{type(e).__name__}: {e}"}}, {})
            op.answers.append(answer)
            status, body, headers = answer
            code = (body or {}).get("error", {}).get("code") if status >= 400 else None
            again = status == 503 or code == "request_in_progress"
            if not again or time.monotonic() > deadline:
                return
            # Retry-After is in seconds; the run scales it down (the retried effect, not the wait, is under test)
            pause = min(float(headers.get("Retry-After", "1")), 1.0) * 0.05
            time.sleep(pause * (1 + random.random()))  # noqa: S311 - jitter  # nosec B311

    def run(self, ops: list[Op], threads: int = 16) -> None:
        self.ops = ops
        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(self.client, ops))
        self.report.seconds = time.perf_counter() - t0

    # --- the check, without faults ----------------------------------------------------------------------------

    def check(self) -> Report:
        """The invariants over the answers and the table as it is now (a fresh report each time)."""
        r = self.report = Report(seconds=self.report.seconds)
        r.operations = len(self.ops)
        v = r.violations
        for op in self.ops:
            for status, body, headers in op.answers:
                r.requests += 1
                r.statuses[status] += 1
                code = (body or {}).get("error", {}).get("code") if status >= 400 else None
                if status >= 500 and status != 503:
                    v.append(f"{op.name} {op.key}: {status} {body}")
                elif status == 503 and not headers.get("Retry-After"):
                    v.append(f"{op.name} {op.key}: 503 without Retry-After")
                elif 400 <= status < 500 and code not in REJECTIONS | {"request_in_progress"}:
                    v.append(f"{op.name} {op.key}: unexpected {status} {code}")
            status, body, _ = op.final
            outcome = "ok" if status in (200, 201) else (body or {}).get("error", {}).get("code", str(status))
            if status == 503 or outcome == "request_in_progress":
                r.indeterminate += 1
            r.outcomes[f"{op.name}:{outcome}"] += 1
        items = _scan(self.table)
        self._check_redemptions(items)
        self._check_cards(items)
        self._check_claims(items)
        self._check_rewards(items)
        self._check_replays()
        from incentives.adapters import faults

        r.faults = Counter(faults.INJECTED)
        return r

    def _successes(self, *names: str) -> list[Op]:
        return [op for op in self.ops if op.name in names and op.final[0] in (200, 201)]

    def _indeterminate(self, *names: str) -> int:
        return sum(1 for op in self.ops if op.name in names
                   and (op.final[0] == 503
                        or (op.final[1] or {}).get("error", {}).get("code") == "request_in_progress"))

    def _check_redemptions(self, items: list[dict]) -> None:
        v = self.report.violations
        records = [i for i in items if i["sk"] == "REDEMPTION"]
        by_id = {rec["id"]: rec for rec in records}
        answered = {}
        for op in self._successes("redeem_limit", "redeem_budget", "spend_card"):
            body = op.final[1] or {}
            answered[body["id"]] = op
            rec = by_id.get(body["id"])
            if rec is None:
                v.append(f"lost effect: {op.name} {op.key} answered {body['id']}, no record")
            elif rec["discount_amount"] != body["discount"]["amount"]:
                v.append(f"{body['id']}: answered {body['discount']['amount']}, recorded {rec['discount_amount']}")
        for cid, names, code in (("jlimit", ("redeem_limit",), "JLIMIT"), ("jbudget", ("redeem_budget",), "JBUDGET"),
                                 ("jgift", ("spend_card",), None)):
            mine = [rec for rec in records if rec["campaign_id"] == cid]
            extra = [rec["id"] for rec in mine if rec["id"] not in answered]
            if len(extra) > self._indeterminate(*names):
                v.append(f"doubled effect: {cid} has records no success answered: {extra}")
            counters = next((i for i in items if (i["pk"], i["sk"]) == _key("campaign_counters", cid)), {})
            given = sum(rec["discount_amount"] for rec in mine)
            if counters.get("redeemed", 0) != len(mine) or counters.get("discount_total", 0) != given:
                v.append(f"{cid}: counters {counters.get('redeemed')}/{counters.get('discount_total')} != "
                         f"records {len(mine)}/{given}")
            if code is not None:
                item = next(i for i in items if (i["pk"], i["sk"]) == _key("code", code))
                if item.get("redemptions", 0) != len(mine):
                    v.append(f"{code}: code counter {item.get('redemptions')} != {len(mine)} records")
            if cid == "jlimit":
                if len(mine) > self.limited["limits"]["per_code"]:
                    v.append(f"jlimit: {len(mine)} redemptions over the limit")
                per_customer = Counter(rec["customer_id"] for rec in mine)
                for customer, n in per_customer.items():
                    usage = next((i for i in items if (i["pk"], i["sk"]) == _key("customer_usage", cid, customer)),
                                 {})
                    if n > 2 or usage.get("redeemed", 0) != n:
                        v.append(f"jlimit {customer}: {n} records, usage {usage.get('redeemed')} (limit 2)")
            if cid == "jbudget" and given > self.budget["limits"]["budget"]["amount"]:
                v.append(f"jbudget: {given} given over the budget")

    def _check_cards(self, items: list[dict]) -> None:
        v = self.report.violations
        records = [i for i in items if i["sk"] == "REDEMPTION" and i["campaign_id"] == "jgift"]
        for card in self.cards:
            item = next(i for i in items if (i["pk"], i["sk"]) == _key("code", card))
            spent = sum(rec["discount_amount"] for rec in records if rec["code"] == card)
            if item["balance"] < 0:
                v.append(f"card {card}: balance {item['balance']} below zero")
            if item["balance"] != GIFT["reward"]["balance"]["amount"] - spent:
                v.append(f"card {card}: balance {item['balance']} != 10000 - {spent} recorded")

    def _check_claims(self, items: list[dict]) -> None:
        v = self.report.violations
        codes = [i for i in items if i["sk"] == "CODE" and i.get("campaign_id") == "jclaim"]
        claims = [i for i in items if i["sk"] == "CLAIM" and i["pk"].startswith("CLAIM#jclaim#")]
        answered = {}
        for op in self._successes("claim"):
            answered.setdefault(op.customer, set()).add(op.final[1]["code"])
        max_claims = self.claims["claims"]["max_claims"]
        if len(codes) > max_claims:
            v.append(f"claims: {len(codes)} codes over max_claims {max_claims}")
        if any(len(got) > 1 for got in answered.values()):
            v.append(f"claims: one e-mail got several codes: {[e for e, g in answered.items() if len(g) > 1]}")
        handed = {c for got in answered.values() for c in got}
        stored = {i["code"] for i in codes}
        if not handed <= stored:
            v.append(f"claims: answered codes without an item: {sorted(handed - stored)}")
        if len(stored - handed) > self._indeterminate("claim"):
            v.append(f"claims: codes no answer handed out: {sorted(stored - handed)}")
        if claims and len(claims) != len(codes):
            v.append(f"claims: {len(claims)} claim records for {len(codes)} codes")

    def _check_rewards(self, items: list[dict]) -> None:
        v = self.report.violations
        for member, points in self.points.items():
            ok = [op for op in self._successes("reward") if op.customer == member]
            m = next(i for i in items if (i["pk"], i["sk"]) == _key("loyalty_member", "club", member))
            balance = next(i for i in items if (i["pk"], i["sk"]) == _key("loyalty_balance", m["member_id"]))
            lots = [i for i in items if i["pk"] == _key_prefix("loyalty_ledger", m["member_id"])
                    and i["sk"].startswith("LOT#")]
            spends = [i for i in items if i["pk"] == _key_prefix("loyalty_ledger", m["member_id"])
                      and i.get("type") == "reward"]
            if balance["lots_total"] < 0 or any(lot["remaining"] < 0 for lot in lots):
                v.append(f"{member}: points below zero")
            if balance["lots_total"] != sum(lot["remaining"] for lot in lots):
                v.append(f"{member}: lots_total {balance['lots_total']} != the lots' "
                         f"{sum(x['remaining'] for x in lots)}")
            if len(spends) != len(ok) and len(spends) - len(ok) > self._indeterminate("reward"):
                v.append(f"{member}: {len(spends)} reward spends recorded, {len(ok)} answered")
            if len(spends) < len(ok):
                v.append(f"lost effect: {member}: {len(ok)} rewards answered, {len(spends)} recorded")
            if balance["lots_total"] != points - 500 * len(spends):
                v.append(f"{member}: {balance['lots_total']} points left != {points} - 500 x {len(spends)}")
            held = [i for i in items if i["sk"] == "CODE" and i.get("campaign_id") == "club-5off"
                    and i.get("holder") == f"id:{member}"]
            if len(held) != len(spends):
                v.append(f"{member}: {len(held)} reward codes for {len(spends)} spends")

    def _check_replays(self) -> None:
        """A key's success, asked again without faults, is replayed as the first answer: no second effect."""
        v = self.report.violations
        for op in self.rand.sample(self.ops, min(20, len(self.ops))):
            if op.final[0] not in (200, 201):
                continue
            status, body, _ = self.send(op)
            if (status, body) != op.final[:2]:
                v.append(f"replay of {op.name} {op.key}: {status} {body} != {op.final[:2]}")


def _checkout(code: str, customer: str, amount: int) -> dict:
    return {"code": code, "customer": {"id": customer, "country": "DE"},
            "order": {"id": f"o-{customer}-{uuid.uuid4().hex[:6]}", "currency": EUR, "amount": amount}}


def _key(name: str, *args: str) -> tuple[str, str]:
    from incentives.adapters import keys

    return getattr(keys, name)(*args)


def _key_prefix(name: str, *args: str) -> str:
    from incentives.adapters import keys

    return getattr(keys, name)(*args)


def _scan(table: Any) -> list[dict]:
    from incentives.adapters.dynamo import from_item

    out: list[dict] = []
    kwargs: dict[str, Any] = {"TableName": table.name, "ConsistentRead": True}
    while True:
        page = table.client.scan(**kwargs)
        out.extend(from_item(i) for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def execute(table: Any, config_dir: Path, size: int, rate: float, seed: int, threads: int = 16) -> FaultRun:
    """The whole run on ``table`` (a fault-free Table whose name the handlers use): config, setup, the
    faulty run, the check (``.report``). Sets and restores DYNAMODB_FAULTS."""
    from incentives.adapters import faults

    scale = max(1, size // 120)
    write_config(config_dir, scale)
    reset_handlers()
    run = FaultRun(table, seed, scale=scale)
    run.setup()
    ops = run.workload(size)
    saved = os.environ.get("DYNAMODB_FAULTS")
    os.environ["DYNAMODB_FAULTS"] = f"rate={rate},seed={seed}"
    faults.INJECTED.clear()
    reset_handlers()
    try:
        run.run(ops, threads)
    finally:
        if saved is None:
            os.environ.pop("DYNAMODB_FAULTS", None)
        else:
            os.environ["DYNAMODB_FAULTS"] = saved
        reset_handlers()
    run.check()
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.faultrun", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=400)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="independent runs (fresh table), seeds seed..seed+n-1")
    args = parser.parse_args(argv)
    for p in (ROOT / "layers" / "core" / "python", ROOT):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))
    from local.dynamodb_local import DynamoDBLocal, ensure_table, local_env
    from local.wiring import install

    os.environ.update(local_env())
    install(ROOT / "functions")
    db = None
    endpoint = os.environ.get("DYNAMODB_ENDPOINT")
    if not endpoint:
        db = DynamoDBLocal(die_with_parent=True).start(timeout=60)
        endpoint = db.endpoint
    os.environ.update({"DYNAMODB_ENDPOINT": endpoint, "CONFIG_SOURCE": "files", "CONFIG_MAX_AGE_SECONDS": "0",
                       "OPERATOR_API_KEY_IDS": OPERATOR, "POWERTOOLS_TRACE_DISABLED": "true",
                       "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR"})
    from incentives.adapters.dynamo import Table, dynamodb_client

    worst = 0
    try:
        for n in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                name = f"faultrun-{uuid.uuid4().hex[:8]}"
                os.environ.update({"TABLE_NAME": name, "INCENTIVES_CONFIG_DIR": str(Path(tmp) / "config"),
                                   "LOCAL_OUTBOX_DIR": str(Path(tmp) / "outbox")})
                ensure_table(endpoint, name, stream=False)
                client = dynamodb_client(endpoint, max_pool=64, faults="")
                report = execute(Table(name, client), Path(tmp) / "config", args.ops, args.rate,
                                 args.seed + n, args.threads).report
                print(json.dumps({"round": n, "seed": args.seed + n, "rate": args.rate,
                                  "at": datetime.now(UTC).isoformat(timespec="seconds"), **report.summary()}))
                for line in report.violations[:50]:
                    print("VIOLATION", line)
                worst = max(worst, len(report.violations))
    finally:
        if db:
            db.stop()
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
