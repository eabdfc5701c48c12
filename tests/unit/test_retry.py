"""The one retry policy: jittered, doubling pauses; gives up at its deadline or attempt budget; the first attempt
always runs. A fake clock and sleep make it instant and exact."""
from __future__ import annotations

import pytest

from incentives.adapters.retry import RetryPolicy


class Clock:
    def __init__(self):
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, s: float) -> None:
        self.pauses.append(s)
        self.now += s


def policy(clock: Clock, **kw) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, clock=lambda: clock.now, rand=lambda: 1.0, **kw)


def test_pauses_double_up_to_the_cap_and_stop_at_the_deadline():
    clock = Clock()
    attempts = list(policy(clock, deadline_s=1.0, base_s=0.01, cap_s=0.1).attempts())
    assert clock.pauses[:5] == pytest.approx([0.02, 0.04, 0.08, 0.1, 0.1])
    assert clock.now <= 1.0 and clock.now + 0.1 > 1.0  # no attempt starts after the deadline
    assert len(attempts) == len(clock.pauses) + 1


def test_the_attempt_budget_ends_the_loop_first_attempt_without_a_pause():
    clock = Clock()
    assert list(policy(clock, max_attempts=3).attempts()) == [0, 1, 2]
    assert len(clock.pauses) == 2
    clock = Clock()
    assert list(policy(clock, deadline_s=0.0).attempts()) == [0]  # the first attempt always runs
    assert clock.pauses == []


def test_the_pause_is_jittered_over_the_window():
    p = RetryPolicy(base_s=0.01, cap_s=1.0, rand=lambda: 0.25)
    assert p.pause(3) == pytest.approx(0.08 * 0.25)


def test_run_retries_only_the_named_error_and_gives_up_with_the_last_or_its_own():
    clock = Clock()
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise KeyError("stale")
        return "ok"

    assert policy(clock, max_attempts=5).run(flaky, retry_on=KeyError) == "ok"
    assert len(calls) == 3

    def always_stale():
        raise KeyError("stale")

    with pytest.raises(KeyError):
        policy(Clock(), max_attempts=2).run(always_stale, retry_on=KeyError)
    with pytest.raises(TimeoutError):
        policy(Clock(), max_attempts=2).run(always_stale, retry_on=KeyError, give_up=lambda e: TimeoutError())

    def wrong():
        raise ValueError("not retryable")

    calls.clear()
    with pytest.raises(ValueError):
        policy(Clock(), max_attempts=5).run(wrong, retry_on=KeyError)
