"""One retry policy for conflicts: jittered exponential backoff within a deadline (and optionally a number of
attempts). Every "read, decide, write under a condition, and on a stale read decide again" loop of the engine
and every retry of DynamoDB's own transient answers (TransactionConflict, unprocessed batch items) goes through
it, so the pauses and the give-up point are the same everywhere and tests can make them instant.

Two shapes:
- ``for attempt in policy.attempts(): ...`` for a loop whose body decides itself (``return`` on success,
  ``continue`` to try again); the loop ends when the deadline or the attempt budget is spent.
- ``policy.run(fn, retry_on=SomeError)`` for a body that raises a retryable error; the last error is raised
  when the policy gives up (or ``give_up()``'s error when given).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TypeVar
from collections.abc import Callable, Iterator

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    deadline_s: float = 8.0
    max_attempts: int | None = None  # None: as many as the deadline allows
    base_s: float = 0.004  # first pause at most base_s * 2; doubles per attempt
    cap_s: float = 0.25  # no window is longer
    spread: tuple[float, float] = (0.0, 1.0)  # the pause is window * uniform(low, high): full jitter by default
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def pause(self, attempt: int) -> float:
        """The pause before attempt ``attempt`` (1 = the first retry): jitter over a doubling window."""
        low, high = self.spread
        return min(self.cap_s, self.base_s * 2 ** min(attempt, 16)) * (low + (high - low) * self.rand())

    def attempts(self) -> Iterator[int]:
        """Yields 0, 1, 2, ...; pauses before every attempt but the first; stops when the next attempt would
        start after the deadline or exceed max_attempts. The first attempt always runs."""
        start = self.clock()
        attempt = 0
        while True:
            yield attempt
            attempt += 1
            if self.max_attempts is not None and attempt >= self.max_attempts:
                return
            pause = self.pause(attempt)
            if self.clock() + pause - start > self.deadline_s:
                return
            self.sleep(pause)

    def run(self, fn: Callable[[], T], retry_on: type[BaseException] | tuple[type[BaseException], ...],
            give_up: Callable[[BaseException], BaseException] | None = None) -> T:
        last: BaseException | None = None
        for _ in self.attempts():
            try:
                return fn()
            except retry_on as e:
                last = e
        if last is None:  # unreachable: the first attempt always runs and either returns or sets it
            raise RuntimeError("RetryPolicy.run: no attempt was made")
        if give_up is not None:
            raise give_up(last) from None
        raise last


CONFLICTS = RetryPolicy()  # stale reads and transaction conflicts of one use case
# DynamoDB's own conflict/throttle answers: never a pause near zero, so a hot item's writers spread out
TRANSIENT = RetryPolicy(deadline_s=8.0, base_s=0.004, cap_s=0.25, spread=(0.5, 1.5))
BATCH = RetryPolicy(deadline_s=30.0, max_attempts=10, base_s=0.01, cap_s=0.5)  # unprocessed batch items
ERASURE = RetryPolicy(deadline_s=8.0, max_attempts=5)  # erasure's moves of items that other writes change
