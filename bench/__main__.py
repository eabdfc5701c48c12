"""`python -m bench [name ...]`: run the benchmarks (all, or the ones named) and print a summary table.

Names: imports, codegen, checkout, hotcode, events, qualify, referrals, loyalty, journeys, bulk, export, retention,
localserver (run in this order by default: the CPU-bound ones before DynamoDB Local starts; localserver last:
`make run`'s table has the stream on). One DynamoDB Local in memory serves the whole run; each benchmark makes
its own fresh tables. BENCH_JSON=FILE also writes the figures as JSON (tools/cost.py reads them).
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import platform
import sys
import time
import traceback

from bench import ERROR, Context, Figure, setup_path

setup_path()  # layers/core/python (the engine's layer) and the repo root (local/, tests/) on sys.path

BENCHMARKS = ("imports", "codegen", "checkout", "hotcode", "events", "qualify", "referrals", "loyalty", "journeys",
              "bulk", "export", "retention", "localserver")


def summary(figures: list[Figure]) -> str:
    rows = [("benchmark", "figure", "value", "target", "result")]
    rows += [(f.bench, f.name, f.value, f.target, f.status) for f in figures]
    widths = [min(max(len(r[i]) for r in rows), cap) for i, cap in enumerate((10, 60, 70, 46, 6))]

    def fmt(r):
        return " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([fmt(rows[0]), sep, *map(fmt, rows[1:])])


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    print(f"python {platform.python_version()} on {platform.machine()}; benchmarks: {' '.join(names)}", flush=True)
    ctx = Context()
    figures: list[Figure] = []
    errors = 0
    try:
        for name in names:
            print(f"\n== {name}", flush=True)
            t0 = time.perf_counter()
            try:
                module = importlib.import_module(f"bench.{name}")
                figures.extend(module.run(ctx))
            except Exception as e:  # noqa: BLE001 - printed with its traceback, reported as failed; the next one runs
                errors += 1
                traceback.print_exc()
                figures.append(Figure(name, "failed", f"{type(e).__name__}: {e}"[:300], "", ERROR))
            print(f"   ({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    finally:
        ctx.close()
    print("\n== summary\n" + summary(figures))
    if os.environ.get("BENCH_JSON"):  # the figures for tools (tools/cost.py reads them)
        with open(os.environ["BENCH_JSON"], "w", encoding="utf-8") as f:
            json.dump([dataclasses.asdict(fig) for fig in figures], f, indent=1)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
