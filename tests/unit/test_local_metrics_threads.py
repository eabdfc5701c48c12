"""The local server runs every function's handler in threads of one process, where Powertools keeps one metric
set: concurrent requests must not fail each other's metric flush (a 502 locally; local/wiring.py)."""
from __future__ import annotations

import contextlib
import io
import threading


def _hammer(threads: int = 8, rounds: int = 2000) -> list[BaseException]:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work() -> None:
        metrics = Metrics(namespace="Incentives", service="events")
        start.wait()
        for _ in range(rounds):
            try:
                metrics.add_metric("EventAccepted", MetricUnit.Count, 1)
                metrics.flush_metrics()
            except Exception as e:  # noqa: BLE001 - collected and asserted on
                errors.append(e)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    with contextlib.redirect_stdout(io.StringIO()):
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return errors


def test_concurrent_handlers_in_the_local_process_never_fail_a_metric_flush(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    from local.wiring import serialise_metric_flushes

    serialise_metric_flushes()
    assert _hammer() == []
