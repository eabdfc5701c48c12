"""Run the scheduled jobs (routes.JOBS entries with an EventBridge schedule expression) on their cron locally.

Supports ``rate(N minute|minutes|hour|hours|day|days)`` and ``cron(minutes hours day-of-month month
day-of-week year)`` with ``*``, ``?``, lists, ranges, ``/`` steps and month/day names, evaluated in UTC like
EventBridge rules. Each run calls the job's ``lambda_handler`` with an EventBridge "Scheduled Event".
"""
from __future__ import annotations

import calendar
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC
from collections.abc import Callable

from local import lambdas

log = logging.getLogger("local.scheduler")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}  # EventBridge: 1 = Sunday


def _field(spec: str, lo: int, hi: int, names: dict[str, int] | None = None) -> frozenset[int] | None:
    """One cron field -> the allowed values (None = any)."""
    if spec in ("*", "?"):
        return None
    out: set[int] = set()
    for part in spec.split(","):
        step, stepped = 1, "/" in part
        if stepped:
            part, step_s = part.split("/", 1)
            step = int(step_s)
            if step < 1:
                raise ValueError(f"bad step in {spec!r}")
        if part in ("*", ""):
            a, b = lo, hi
        elif "-" in part:
            a_s, b_s = part.split("-", 1)
            a, b = _value(a_s, names), _value(b_s, names)
        else:
            a = _value(part, names)
            b = hi if stepped else a
        if not (lo <= a <= hi and lo <= b <= hi):
            raise ValueError(f"value out of range in {spec!r}")
        out.update(range(a, b + 1, step) if a <= b else [*range(a, hi + 1, step), *range(lo, b + 1, step)])
    return frozenset(out)


def _value(s: str, names: dict[str, int] | None) -> int:
    s = s.strip().upper()
    if names and s in names:
        return names[s]
    if not s.isdigit():
        raise ValueError(f"unsupported cron value {s!r} (L, W and # are not supported locally)")
    return int(s)


@dataclass(frozen=True)
class Schedule:
    expression: str
    interval: timedelta | None = None
    minutes: frozenset[int] | None = None
    hours: frozenset[int] | None = None
    days: frozenset[int] | None = None
    months: frozenset[int] | None = None
    weekdays: frozenset[int] | None = None  # 1 = Sunday ... 7 = Saturday
    years: frozenset[int] | None = None

    def next_after(self, t: datetime, started: datetime | None = None) -> datetime:
        """The first fire time strictly after ``t`` (UTC). Rates count from ``started`` (default: ``t``)."""
        t = t.astimezone(UTC)
        if self.interval is not None:
            base = (started or t).astimezone(UTC)
            n = int((t - base) / self.interval) + 1
            return base + n * self.interval
        c = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = c + timedelta(days=366 * 5)
        while c < limit:
            if self.years is not None and c.year not in self.years:
                c = datetime(c.year + 1, 1, 1, tzinfo=UTC)
                continue
            if self.months is not None and c.month not in self.months:
                c = (c.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            weekday = (c.isoweekday() % 7) + 1  # Sunday -> 1
            day_ok = (self.days is None or c.day in self.days) and (self.weekdays is None or weekday in self.weekdays)
            if not day_ok:
                c = c.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if self.hours is not None and c.hour not in self.hours:
                c = c.replace(minute=0) + timedelta(hours=1)
                continue
            if self.minutes is not None and c.minute not in self.minutes:
                c += timedelta(minutes=1)
                continue
            return c
        raise ValueError(f"{self.expression} never fires")


def parse_schedule(expression: str) -> Schedule:
    expr = expression.strip()
    m = _RATE.match(expr)
    if m:
        n, unit = int(m.group(1)), m.group(2).rstrip("s")
        if n < 1:
            raise ValueError(f"bad rate {expression!r}")
        return Schedule(expr, interval=timedelta(seconds=n * _UNIT[unit]))
    m = _CRON.match(expr)
    if m:
        fields = m.group(1).split()
        if len(fields) != 6:
            raise ValueError(f"cron needs 6 fields (minutes hours day-of-month month day-of-week year): {expression!r}")
        mi, h, dom, mon, dow, yr = fields
        return Schedule(
            expr,
            minutes=_field(mi, 0, 59), hours=_field(h, 0, 23), days=_field(dom, 1, 31),
            months=_field(mon, 1, 12, _MONTHS), weekdays=_field(dow, 1, 7, _DAYS), years=_field(yr, 1970, 2199),
        )
    raise ValueError(f"unsupported schedule expression {expression!r}")


def scheduled_event(job_name: str, at: datetime) -> dict:
    """An EventBridge scheduled-rule event ("Scheduled Event" from aws.events)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": lambdas.ACCOUNT_ID,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": lambdas.REGION,
        "resources": [f"arn:aws:events:{lambdas.REGION}:{lambdas.ACCOUNT_ID}:rule/incentives-local-{job_name}"],
        "detail": {},
    }


class Scheduler:
    """One thread that fires each scheduled job when due; a run that is still going skips the next tick."""

    def __init__(self, jobs: dict[str, tuple[str, str | None]], invoke: Callable[[str, dict], object] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.clock = clock
        self.invoke = invoke or (lambda folder, event: lambdas.invoke(folder, event))
        self.schedules: dict[str, tuple[str, Schedule]] = {}
        for name, (folder, expr) in jobs.items():
            if expr:
                self.schedules[name] = (folder, parse_schedule(expr))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: dict[str, threading.Thread] = {}

    def start(self) -> Scheduler:
        if self.schedules:
            self._thread = threading.Thread(target=self._loop, name="local-scheduler", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        started = self.clock()
        due = {name: sched.next_after(started, started) for name, (_, sched) in self.schedules.items()}
        while not self._stop.is_set():
            now = self.clock()
            for name, at in list(due.items()):
                if at <= now:
                    self._fire(name, at)
                    due[name] = self.schedules[name][1].next_after(now, started)
            wait = min((at - self.clock()).total_seconds() for at in due.values())
            self._stop.wait(max(0.05, min(wait, 1.0)))

    def _fire(self, name: str, at: datetime) -> None:
        running = self._running.get(name)
        if running and running.is_alive():
            log.warning("job %s still running: skipping the run due at %s", name, at.isoformat())
            return
        folder = self.schedules[name][0]
        t = threading.Thread(target=self._run, args=(name, folder, at), name=f"job-{name}", daemon=True)
        self._running[name] = t
        t.start()

    def _run(self, name: str, folder: str, at: datetime) -> None:
        try:
            result = self.invoke(folder, scheduled_event(name, at))
            log.info("job %s ran: %s", name, _short(result))
        except FileNotFoundError as exc:
            log.warning("job %s skipped: %s", name, exc)
        except Exception:  # a failing job is logged, the next tick runs again
            log.exception("job %s failed", name)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        for t in self._running.values():
            t.join(timeout)


def _short(value: object, limit: int = 300) -> str:
    s = repr(value)
    return s if len(s) <= limit else s[:limit] + "..."
