"""A discrete-event simulation of one hot public code on DynamoDB, to check docs/throughput.md's model.

`python -m tools.hotcode_sim [--rate R] [--shards K ...] [--cap C] [--seconds S]` prints, per K, the redemptions per
second, write requests per redemption, p99 latency, the attempts that gave up, and (with --cap) how many
attempts were refused as exhausted while the total still had room.

What is modelled (docs/throughput.md "Simulation"):
- Poisson arrivals of redemption attempts at R per second.
- Each shard index j is its code-shard and counter-shard items; each item sits on its own partition with a token
  bucket of PARTITION_WCU write units a second (burst: BURST_S worth). A redemption's transaction writes
  both items of its shard: TX_WCU units each. A failed condition costs the units too; a throttled request none.
- An item in a transaction is busy for LOCK_S; another transaction reaching it meanwhile is cancelled with
  TransactionConflict. Throttles and conflicts are retried with the engine's TRANSIENT policy (adapters/retry.py:
  4 ms doubling to 250 ms, jitter 0.5-1.5, 8 s deadline), then the attempt gives up (contention).
- Shard choice: "engine" is domain/shards.py's (read SAMPLE shards, write to the one with most room; short or
  stale -> read all consistently, choose again from two at random with room; refuse only when none has room);
  "naive" writes to a random shard and refuses when that shard's share is spent (sharding without a fall-over).
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
from dataclasses import dataclass, field

PARTITION_WCU = 1000.0  # per partition and second (DynamoDB's documented per-partition limit)
BURST_S = 0.1  # the bucket holds 100 ms of units: the limit holds over any 100 ms, not just per second
TX_WCU = 2.0  # a transactional write of an item up to 1 KB
LOCK_S = 0.002  # how long an item is part of an in-flight transaction (an assumption; see docs/throughput.md)
WRITE_S = 0.010  # latency of a TransactWriteItems
READ_S = 0.003  # latency of a BatchGetItem
SAMPLE = 2
DEADLINE_S = 8.0


def share(cap: int, k: int, j: int) -> int:
    return cap // k + (1 if j < cap % k else 0)


@dataclass
class Bucket:
    tokens: float = PARTITION_WCU * BURST_S
    at: float = 0.0

    def take(self, now: float, units: float) -> bool:
        self.tokens = min(PARTITION_WCU * BURST_S, self.tokens + (now - self.at) * PARTITION_WCU)
        self.at = now
        if self.tokens < units:
            return False
        self.tokens -= units
        return True


@dataclass
class Result:
    k: int
    attempts: int
    succeeded: int
    refused: int
    refused_early: int
    gave_up: int
    writes: int
    reads: int
    throttled: int
    conflicts: int
    seconds: float
    in_window: int  # successes while attempts were still arriving
    latencies: list[float] = field(repr=False)

    @property
    def rate(self) -> float:
        """Redemptions per second while attempts arrive (the retries that drain afterwards not counted)."""
        return self.in_window / self.seconds

    @property
    def p99_ms(self) -> float:
        s = sorted(self.latencies)
        return 1000 * s[max(0, math.ceil(0.99 * len(s)) - 1)] if s else 0.0


class _Sim:
    """The state of one run; ``decide`` and ``write`` are the two kinds of event."""

    def __init__(self, k: int, seconds: float, cap: int | None, strategy: str, seed: int, lock_s: float):
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not security  # nosec B311
        self.k, self.seconds, self.cap, self.strategy, self.lock_s = k, seconds, cap, strategy, lock_s
        self.buckets = [Bucket() for _ in range(k)]
        self.busy_until = [0.0] * k
        self.counts = [0] * k
        self.shares = [share(cap, k, j) if cap is not None else math.inf for j in range(k)]
        self.events: list[tuple[float, int, str, dict]] = []
        self.seq = 0
        self.stats = dict(succeeded=0, refused=0, refused_early=0, gave_up=0, writes=0, reads=0, throttled=0,
                          conflicts=0, in_window=0)
        self.latencies: list[float] = []
        self.last_success = 0.0

    def push(self, t: float, kind: str, req: dict) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, req))

    def again(self, now: float, req: dict, read_all: bool = False) -> None:
        """The engine's TRANSIENT retry: a jittered doubling pause, within the deadline."""
        req["retry"] += 1
        wait = min(0.25, 0.004 * 2 ** min(req["retry"], 16)) * self.rng.uniform(0.5, 1.5)
        if now + wait - req["arrived"] > DEADLINE_S:
            self.stats["gave_up"] += 1
            return
        req["read_all"] = req["read_all"] or read_all
        self.push(now + wait, "decide", req)

    def refuse(self) -> None:
        self.stats["refused"] += 1
        if sum(self.counts) < (self.cap or 0):
            self.stats["refused_early"] += 1

    def with_room(self, idx: list[int]) -> list[tuple[float, float, int]]:
        return [(self.shares[j] - self.counts[j], self.rng.random(), j) for j in idx if self.counts[j] < self.shares[j]]

    def decide(self, now: float, req: dict) -> None:
        k = self.k
        if self.strategy == "naive" or self.cap is None or k == 1:  # nothing to read for, or no fall-over
            j = self.rng.randrange(k)
            if self.counts[j] >= self.shares[j]:
                self.refuse()
            else:
                self.push(now, "write", req | {"shard": j})
            return
        self.stats["reads"] += 1
        idx = list(range(k)) if req["read_all"] or k <= SAMPLE else self.rng.sample(range(k), SAMPLE)
        room = self.with_room(idx)
        if not room and len(idx) < k:
            self.stats["reads"] += 1
            room = self.with_room(list(range(k)))
        if not room:
            self.refuse()
        else:
            two = self.rng.sample(room, min(SAMPLE, len(room)))  # as domain/shards.plan: two with room, the emptier
            self.push(now + READ_S, "write", req | {"shard": max(two)[2]})

    def write(self, now: float, req: dict) -> None:
        j = req["shard"]
        self.stats["writes"] += 1
        if self.busy_until[j] > now:
            self.stats["conflicts"] += 1
            self.again(now + WRITE_S, req)
        elif not self.buckets[j].take(now, TX_WCU):
            self.stats["throttled"] += 1
            self.again(now + WRITE_S, req)
        elif self.counts[j] >= self.shares[j]:  # the condition fails (units spent): the read was stale
            self.busy_until[j] = now + self.lock_s
            if self.k == 1:
                self.refuse()
            else:
                self.again(now + WRITE_S, req, read_all=True)
        else:
            self.busy_until[j] = now + self.lock_s
            self.counts[j] += 1
            self.stats["succeeded"] += 1
            self.last_success = now + WRITE_S
            self.stats["in_window"] += self.last_success <= self.seconds
            self.latencies.append(now + WRITE_S - req["arrived"])


def simulate(rate: float, k: int, seconds: float = 2.0, cap: int | None = None, strategy: str = "engine",
             seed: int = 1, lock_s: float = LOCK_S) -> Result:
    sim = _Sim(k, seconds, cap, strategy, seed, lock_s)
    t, n = 0.0, 0
    while True:
        t += sim.rng.expovariate(rate)
        if t >= seconds:
            break
        sim.push(t, "decide", {"arrived": t, "retry": 0, "read_all": False})
        n += 1
    while sim.events:
        now, _, kind, req = heapq.heappop(sim.events)
        (sim.decide if kind == "decide" else sim.write)(now, req)
    span = seconds if cap is None else min(seconds, max(sim.last_success, 1e-9))
    return Result(k, n, latencies=sim.latencies, seconds=span, **sim.stats)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=4000.0, help="attempts per second")
    p.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--cap", type=int, default=None)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--strategy", choices=("engine", "naive"), default="engine")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--lock-ms", type=float, default=LOCK_S * 1000, help="an item's in-transaction window")
    a = p.parse_args(argv)
    print(f"rate {a.rate:,.0f}/s for {a.seconds} s, cap {a.cap}, strategy {a.strategy}, lock {a.lock_ms} ms")
    print("K   redemptions/s  succeeded  writes/attempt  reads/attempt  p99 ms  gave up  refused (early)")
    for k in a.shards:
        r = simulate(a.rate, k, a.seconds, a.cap, a.strategy, a.seed, a.lock_ms / 1000)
        n = r.attempts
        print(f"{k:<3} {r.rate:>14,.0f}  {r.succeeded:>9}  {r.writes / n:>14.2f}  {r.reads / n:>13.2f}"
              f"  {r.p99_ms:>6.0f}  {r.gave_up:>7}  {r.refused} ({r.refused_early})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
