"""Code generation speed: the engine's CodeSpace.codes next to the npm generators a shop would otherwise use.

Same pattern, charset and count for all three, in the same run: CodeSpace (keyed format-preserving permutation
of a counter, AES-128 rounds, 16-byte key from the OS CSPRNG; unique by construction) in this process, and
voucher-code-generator / referral-codes (Math.random per character, de-duplicated in memory) in one node
process (bench/npm_codegen.mjs). Each generator makes the full count `RUNS` times; the median run counts.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time

from . import ROOT, Context, Figure, median, say, verdict

NAME = "codegen"
PATTERN = "WELCOME-####-####"
CHARSET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
COUNT = int(os.environ.get("BENCH_CODEGEN_COUNT", "1000000"))
RUNS = int(os.environ.get("BENCH_CODEGEN_RUNS", "3"))
MIN_FACTOR = 2.0


def _codespace() -> tuple[list[float], int, list[str]]:
    from incentives.domain.codespace import CodeSpace

    space = CodeSpace(PATTERN, CHARSET)
    seconds, codes = [], []
    for _ in range(RUNS):
        key = secrets.token_bytes(16)  # a random 16-byte key, as CodeSpaceStore makes one per code space
        codes = []
        t = time.perf_counter()
        codes = space.codes(key, 0, COUNT)
        seconds.append(time.perf_counter() - t)
    unique = len(set(codes))
    if not all(space.matches(c) for c in codes[:1000]):
        raise RuntimeError(f"CodeSpace.codes produced codes outside the pattern: {codes[:3]}")
    return seconds, unique, codes[:3]


def _npm() -> dict:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node not found on PATH")
    arg = json.dumps({"pattern": PATTERN, "charset": CHARSET, "count": COUNT, "runs": RUNS})
    r = subprocess.run([node, str(ROOT / "bench" / "npm_codegen.mjs"), arg], cwd=ROOT, capture_output=True,
                       text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"bench/npm_codegen.mjs failed (exit {r.returncode}): {r.stderr.strip()[-800:]} "
                           "(missing packages? run `npm ci`)")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run(ctx: Context) -> list[Figure]:
    figures = []
    cs_seconds, cs_unique, cs_sample = _codespace()
    cs_rate = COUNT / median(cs_seconds)
    npm = _npm()
    rates = {}
    for name, res in npm["results"].items():
        rates[name] = COUNT / median(res["seconds"])
    best_name = max(rates, key=rates.get)
    factor = cs_rate / rates[best_name]
    figures.append(say(Figure(
        NAME, f"CodeSpace.codes, {COUNT:,} x {PATTERN}",
        f"{cs_rate:,.0f} codes/s = {factor:.2f}x {best_name}; AES-128 FPE, key from os CSPRNG; "
        f"{cs_unique:,} unique", f">= {MIN_FACTOR}x faster npm peer", verdict(factor >= MIN_FACTOR))))
    for name, res in npm["results"].items():
        figures.append(say(Figure(
            NAME, f"{name} {res['version']} (node {npm['node']})",
            f"{rates[name]:,.0f} codes/s; {res['source']} (not a CSPRNG); {res['unique']:,} unique")))
    print(f"  runs (s): CodeSpace {[round(s, 3) for s in cs_seconds]}; "
          + "; ".join(f"{k} {[round(s, 3) for s in v['seconds']]}" for k, v in npm["results"].items()), flush=True)
    print(f"  samples: CodeSpace {cs_sample}; "
          + "; ".join(f"{k} {v['sample']}" for k, v in npm["results"].items()), flush=True)
    return figures
