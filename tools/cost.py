"""The cost of 1,000,000 validations, redemptions, claims, events and sends at AWS list prices, recomputed from
what `make bench` measured (docs/cost.md explains every line).

    .venv/bin/python -m tools.cost                            # figures from docs/benchmarks.md's Results table
    BENCH_JSON=out.json .venv/bin/python -m bench checkout events loyalty
    .venv/bin/python -m tools.cost --bench-json out.json      # figures from that run

Measured inputs (per call): DynamoDB request units by the documented rules (the benchmarks' "capacity/call per
documented rules" rows, plus one write unit per GSI write they list) and the handler's p50 duration (its
"handler p50 / p99" rows). What the benchmarks do not measure (claims; a journey send's write units; the order.paid
consumers other than loyalty) is an ESTIMATE below, counted from the items the code writes, and marked so in the
table. Prices: AWS list prices, us-east-1, USD, without free tiers (PRICES, with their pages and the date read).
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# USD, us-east-1, on-demand list prices; read 2026-12 from the AWS pricing pages (aws.amazon.com/<service>/pricing).
# DynamoDB's are the prices after the November 2024 on-demand price cut.
PRICES = {
    "api_gateway_rest_per_million": 3.50,  # first 333 million requests a month
    "lambda_requests_per_million": 0.20,
    "lambda_arm64_gb_second": 0.0000133334,  # first 7.5 billion GB-s a month
    "dynamodb_wru_per_million": 0.625,  # on-demand write request units
    "dynamodb_rru_per_million": 0.125,  # on-demand read request units
    "eventbridge_custom_events_per_million": 1.00,
    "ses_per_thousand_emails": 0.10,
    "cloudwatch_logs_ingest_per_gb": 0.50,
}
LOG_BYTES_PER_INVOCATION = 1500  # START/END/REPORT lines, one EMF metrics line, one or two log lines (assumed)
API_MEMORY_MB = 512  # infra/lambda_factory.py's default: every API function
CONSUMER_MEMORY_MB = 512
FANOUT_BATCH = 100  # incentives/subscriptions.py FANOUT_BATCH_SIZE: stream records per fan-out invocation


@dataclass(frozen=True)
class Call:
    """What one call costs in resources."""

    name: str
    rru: float = 0.0  # DynamoDB read request units
    wru: float = 0.0  # DynamoDB write request units (GSI writes included)
    lambda_ms: float = 0.0  # billed duration of the API function (p50)
    memory_mb: int = API_MEMORY_MB
    api_request: bool = True
    extra_invocations: list[tuple[float, float, int]] = field(default_factory=list)  # (count, ms, MB) per call
    eventbridge_events: float = 0.0
    emails: float = 0.0
    measured: set[str] = field(default_factory=set)  # which inputs came from the benchmarks

    def costs(self) -> dict[str, float]:
        """USD per 1,000,000 calls, by service."""
        m = 1_000_000
        invocations = [(1.0, self.lambda_ms, self.memory_mb), *self.extra_invocations]
        gb_s = sum(n * math.ceil(ms) / 1000 * mb / 1024 for n, ms, mb in invocations)  # billed per 1 ms
        count = sum(n for n, _, _ in invocations)
        return {
            "api_gateway": PRICES["api_gateway_rest_per_million"] if self.api_request else 0.0,
            "lambda": count * PRICES["lambda_requests_per_million"] + gb_s * m * PRICES["lambda_arm64_gb_second"],
            "dynamodb": self.rru * PRICES["dynamodb_rru_per_million"] + self.wru * PRICES["dynamodb_wru_per_million"],
            "eventbridge": self.eventbridge_events * PRICES["eventbridge_custom_events_per_million"],
            "ses": self.emails * m / 1000 * PRICES["ses_per_thousand_emails"],
            "logs": count * m * LOG_BYTES_PER_INVOCATION / 1e9 * PRICES["cloudwatch_logs_ingest_per_gb"],
        }


# ---- reading the benchmarks' figures ---------------------------------------------------------------------------

_UNITS = re.compile(r"([\d.]+) RCU \+ ([\d.]+) WCU(?: \+ (\d+) GSI writes?)?")
_P50 = re.compile(r"([\d.]+) ms /")


def figures_from_markdown(text: str) -> dict[tuple[str, str], str]:
    """(benchmark, figure) -> value, from the Results table of docs/benchmarks.md (the first row wins)."""
    out: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] and not cells[0].startswith("-") and cells[0] != "Benchmark":
            out.setdefault((cells[0], cells[1]), cells[2])
    return out


def figures_from_json(rows: list[dict]) -> dict[tuple[str, str], str]:
    """(benchmark, figure) -> value, from the list BENCH_JSON=FILE makes `python -m bench` write."""
    out: dict[tuple[str, str], str] = {}
    for r in rows:
        out.setdefault((r["bench"], r["name"]), r["value"])
    return out


def units(figures: dict, bench: str, call: str) -> tuple[float, float] | None:
    """(RRU, WRU incl. GSI writes) per call by the documented rules, or None when the run has no such row."""
    value = figures.get((bench, f"{call}: capacity/call per documented rules (item sizes)")) \
        or figures.get((bench, f"{call}: capacity/event per documented rules (item sizes)"))
    match = _UNITS.search(value or "")
    if not match:
        return None
    rcu, wcu, gsi = float(match[1]), float(match[2]), int(match[3] or 0)
    return rcu, wcu + gsi


def p50_ms(figures: dict, bench: str, call: str) -> float | None:
    match = _P50.search(figures.get((bench, f"{call}: handler p50 / p99"), ""))
    return float(match[1]) if match else None


def order_paid_consumers() -> int:
    sys.path.insert(0, str(ROOT / "layers" / "core" / "python"))
    from incentives.subscriptions import SUBSCRIPTIONS

    return sum(1 for s in SUBSCRIPTIONS if "order.paid" in s.detail_types)


# ---- the calls -------------------------------------------------------------------------------------------------

# Estimates where the benchmarks measure nothing (docs/cost.md, "Assumptions"):
# claim (docs/data-model.md pattern 5): 2 rate-window updates + the code-space reservation (1 WRU each), a 4-item
# transaction (2 WRU per item), the code's gsi2 entry
CLAIM = Call("claim (landing page, code e-mailed)", rru=1.0, wru=3 + 2 * 4 + 1, lambda_ms=15.0, emails=1.0)
# send (docs/benchmarks.md "Journeys"): the reservation, an 8-item and a 2-item transaction, the code's gsi2 entry
SEND = Call("journey send (e-mail with code)", rru=1.0, wru=1 + 2 * 8 + 2 * 2 + 1, lambda_ms=40.0,
            api_request=False, emails=1.0)
CONSUMER_MS = 20.0  # an order.paid consumer (loyalty earning measured at ~21 ms p50; the others assumed alike)
CONSUMER_WRU = 6.0  # its transaction (loyalty earning: 6 items; assumed for each consumer, 1 KB items, x2 written)
# The recorded checkout run predates gsi2 (the code export's index, which projects `redemptions`): a redemption
# also writes the code's gsi2 entry, one more write unit (docs/benchmarks.md "Code export").
GSI2_WRU_PER_REDEMPTION = 1.0


def calls(figures: dict) -> list[Call]:
    out = []
    for bench, call, label in (("checkout", "validation", "validation"), ("checkout", "redemption", "redemption")):
        u, ms = units(figures, bench, call), p50_ms(figures, bench, call)
        if u is None or ms is None:
            raise SystemExit(f"no {bench} {call} figures in the benchmark output")
        wru = u[1] + (GSI2_WRU_PER_REDEMPTION if call == "redemption" else 0.0)
        out.append(Call(label, rru=u[0], wru=wru, lambda_ms=ms, measured={"dynamodb", "lambda"}))
    out.append(CLAIM)
    u, ms = units(figures, "events", "order.paid"), p50_ms(figures, "events", "order.paid")
    if u is None or ms is None:
        raise SystemExit("no events order.paid figures in the benchmark output")
    loyalty_ms = p50_ms(figures, "loyalty", "earning") or CONSUMER_MS
    consumers = order_paid_consumers()
    out.append(Call(
        f"event (order.paid, {consumers} consumers)", rru=u[0] + consumers * 1.0,
        wru=u[1] + consumers * 2 * CONSUMER_WRU,
        lambda_ms=ms, eventbridge_events=1.0,
        extra_invocations=[(1 / FANOUT_BATCH, 50.0, API_MEMORY_MB), (consumers, loyalty_ms, CONSUMER_MEMORY_MB)],
        measured={"dynamodb (ingest)", "lambda (ingest)"}))
    out.append(SEND)
    return out


def table(rows: list[Call]) -> str:
    services = ["api_gateway", "lambda", "dynamodb", "eventbridge", "ses", "logs"]
    lines = ["| per 1,000,000 | API Gateway | Lambda | DynamoDB | EventBridge | SES | Logs | total | inputs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in rows:
        cost = c.costs()
        inputs = (f"{c.rru:g} RRU + {c.wru:g} WRU, {c.lambda_ms:g} ms x {c.memory_mb} MB; "
                  + ("measured: " + ", ".join(sorted(c.measured)) if c.measured else "ESTIMATE"))
        lines.append(f"| {c.name} | " + " | ".join(f"${cost[s]:,.2f}" for s in services)
                     + f" | **${sum(cost.values()):,.2f}** | {inputs} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-json", help="the figures BENCH_JSON=FILE made `python -m bench` write")
    parser.add_argument("--benchmarks-md", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--json", action="store_true", help="USD per service and call as JSON")
    args = parser.parse_args(argv)
    if args.bench_json:
        figures = figures_from_json(json.loads(Path(args.bench_json).read_text(encoding="utf-8")))
    else:
        figures = figures_from_markdown(Path(args.benchmarks_md).read_text(encoding="utf-8"))
    rows = calls(figures)
    if args.json:
        print(json.dumps({c.name: c.costs() for c in rows}, indent=1))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
