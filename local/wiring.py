"""What the local run and the tests connect the functions to, where a deployed function has EVENT_BUS_NAME and
JOB_FUNCTIONS: the in-process bus (local/bus.py, which also writes each event to LOCAL_OUTBOX_DIR), the
in-process job dispatcher (local/lambdas.py) and, instead of SES, the outbox of .eml files. Installed through
incentives.wiring before a handler is imported; the layer itself never imports local/."""
from __future__ import annotations

from pathlib import Path


# The local run's and the tests' key of e-mail/IP pseudonyms (deployed: a generated Secrets Manager secret, read
# by incentives/hash_key.py). Fixed, so pseudonyms in a kept .local/ table stay valid across runs; never secret.
DEV_HASH_KEY = b"incentives-local-dev-pseudonym-key-not-secret"


def install(functions_dir: Path | str | None = None) -> None:
    import os

    from incentives import wiring
    from incentives.domain import pseudonyms

    from incentives.adapters.export_files import LocalExportFiles

    from local.bus import local_bus
    from local.lambdas import LocalDispatcher, LocalWorkQueue

    wiring.use_bus(local_bus())
    wiring.use_dispatcher(LocalDispatcher(functions_dir))
    wiring.use_work_queue(LocalWorkQueue(base=functions_dir))
    wiring.use_export_files(LocalExportFiles())  # LOCAL_EXPORT_DIR, read when a file is stored
    wiring.use_delivery(outbox_delivery)
    if not os.environ.get("INCENTIVES_HASH_KEY"):  # an explicit key (e.g. to read a copied table) wins
        pseudonyms.use_key(DEV_HASH_KEY)
    serialise_metric_flushes()


_flush_lock = None


def serialise_metric_flushes() -> None:
    """Powertools keeps one metric set per process (a class-level dict): in Lambda one invocation at a time uses
    it, but the local server runs every function's handler in threads of one process. Two requests finishing at
    once could then both see metrics and one flush them all, so the other's flush serialised an empty set and
    raised SchemaValidationError (a 502 locally; seen as an import-orders row failing under load). Locally, each
    flush and each add holds one lock, and a flush skips a set another thread already flushed; deployed nothing
    changes (local/ is never imported there)."""
    global _flush_lock
    if _flush_lock is not None:
        return
    import threading

    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    _flush_lock = threading.RLock()
    flush, add = AmazonCloudWatchEMFProvider.flush_metrics, AmazonCloudWatchEMFProvider.add_metric

    def locked_flush(self, raise_on_empty_metrics: bool = False) -> None:
        with _flush_lock:
            if self.metric_set:
                flush(self, raise_on_empty_metrics)

    def locked_add(self, *args, **kwargs):  # not while another thread serialises the same set
        with _flush_lock:
            return add(self, *args, **kwargs)

    AmazonCloudWatchEMFProvider.flush_metrics = locked_flush  # type: ignore[method-assign]
    AmazonCloudWatchEMFProvider.add_metric = locked_add  # type: ignore[method-assign]


def outbox_delivery(channel: str, from_email: str):
    """Journey messages as files: $LOCAL_OUTBOX_DIR/messages (make run: $INCENTIVES_DATA_DIR/outbox/messages)."""
    import os

    from incentives.adapters.delivery import OutboxDelivery

    from local.bus import outbox_dir

    return OutboxDelivery(os.path.join(outbox_dir(), "messages"), from_email)
