"""Load and invoke the Lambda handlers in-process, the way the Lambda runtime does.

Each function lives in ``functions/<folder>/<folder>_handler.py`` and exposes ``lambda_handler(event, context)``.
It is imported from its file path under a unique module name (``fn_<folder>_handler``, the name the local
job dispatcher (LocalDispatcher below) uses too, so both share one warm module), so it can never
clash with the CDK ``app.py`` or with another function's handler, with ``layers/core/python`` and the
function's own folder on ``sys.path`` as in Lambda (layers under /opt/python, the code under /var/task).

Used by the local API (local/server.py), the local scheduler (local/run.py) and local job dispatch
(LocalDispatcher, installed by local/wiring.py).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any
from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
CORE_PATH = ROOT / "layers" / "core" / "python"
REGION = "eu-central-1"
ACCOUNT_ID = "000000000000"
DEFAULT_TIMEOUT_SECONDS = 30
DEFAULT_MEMORY_MB = 256

log = logging.getLogger("local.lambdas")
_lock = threading.RLock()


def functions_dir() -> Path:
    """FUNCTIONS_DIR (default: the repository's functions/)."""
    return Path(os.environ.get("FUNCTIONS_DIR") or ROOT / "functions").resolve()


def handler_path(folder: str, base: Path | str | None = None) -> Path:
    base = Path(base).resolve() if base else functions_dir()
    return base / folder / f"{folder}_handler.py"


def module_name(folder: str) -> str:
    return f"fn_{folder}_handler"


def function_name(folder: str) -> str:
    return f"incentives-local-{folder.replace('_', '-')}"


def _ensure_path(p: Path) -> None:
    s = str(p)
    if s not in sys.path:
        sys.path.insert(0, s)


def load_module(folder: str, base: Path | str | None = None) -> ModuleType:
    """Import ``<base>/<folder>/<folder>_handler.py`` once per process (cached in sys.modules)."""
    path = handler_path(folder, base)
    name = module_name(folder)
    with _lock:
        mod = sys.modules.get(name)
        if mod is not None and Path(getattr(mod, "__file__", "")).resolve() == path:
            return mod
        if not path.is_file():
            raise FileNotFoundError(f"Lambda handler not found: {path}")
        _ensure_path(CORE_PATH)
        _ensure_path(path.parent)
        # Powertools reads these when the handler module creates its Logger/Tracer/Metrics at import time.
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Incentives")
        previous_service = os.environ.get("POWERTOOLS_SERVICE_NAME")
        os.environ["POWERTOOLS_SERVICE_NAME"] = folder
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        finally:
            if previous_service is None:
                os.environ.pop("POWERTOOLS_SERVICE_NAME", None)
            else:
                os.environ["POWERTOOLS_SERVICE_NAME"] = previous_service
        if not callable(getattr(mod, "lambda_handler", None)):
            sys.modules.pop(name, None)
            raise AttributeError(f"{path} has no lambda_handler(event, context)")
        _warn_on_clashes(path.parent)
        return mod


def load_handler(folder: str, base: Path | str | None = None) -> Callable[[dict, Any], Any]:
    return load_module(folder, base).lambda_handler


def _warn_on_clashes(folder_path: Path) -> None:
    """All functions share one process locally: warn when a module of this function's folder is shadowed by
    a module of the same name imported from elsewhere (another function's folder, usually)."""
    for entry in folder_path.iterdir():
        name = entry.stem if entry.suffix == ".py" else entry.name if (entry / "__init__.py").is_file() else None
        if not name or entry.name.endswith("_handler.py"):
            continue
        mod = sys.modules.get(name)
        f = getattr(mod, "__file__", None) if mod else None
        if f and not Path(f).resolve().is_relative_to(folder_path):
            log.warning("module %r of %s is shadowed by %s: locally all functions share one process",
                        name, folder_path, f)


class LambdaContext:
    """The attributes and method of the Lambda runtime's context object that handlers and Powertools use."""

    def __init__(self, folder: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                 memory_limit_in_mb: int = DEFAULT_MEMORY_MB, request_id: str | None = None):
        self.function_name = function_name(folder)
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
        self.memory_limit_in_mb = int(memory_limit_in_mb)
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def invoke(folder: str, event: dict, base: Path | str | None = None, timeout_seconds: float = 900) -> Any:
    """Invoke a function synchronously with a fresh context (jobs and workers; the API uses the server)."""
    return load_handler(folder, base)(event, LambdaContext(folder, timeout_seconds=timeout_seconds))


class LocalDispatcher:
    """incentives.adapters.jobs.JobDispatcher for `make run` and the tests (installed by local/wiring.py): the
    job's real lambda_handler in this process (a thread for asynchronous starts), as Lambda Invoke would run it."""

    def __init__(self, base: Path | str | None = None):
        self.base = base

    def run(self, job_name: str, payload: dict) -> Any:
        from incentives.http.routes import JOBS

        return invoke(JOBS[job_name][0], payload, self.base)

    def start(self, job_name: str, payload: dict) -> None:
        threading.Thread(target=self.run, args=(job_name, payload), daemon=True, name=f"job-{job_name}").start()


class LocalWorkQueue:
    """incentives.adapters.work_queue.WorkQueue for `make run` and the tests: what SQS and the event source
    mapping do deployed, in this process. Each message is delivered to the worker's real lambda_handler as an SQS
    event of one record, ``workers`` at a time (the mapping's maximum concurrency); a message the handler reports
    as a batch item failure (or that raises) is delivered again with ApproximateReceiveCount + 1, until
    ``max_receives``, then kept in ``dead_letters`` (the dead-letter queue)."""

    def __init__(self, folder: str = "bulk_codes_worker", workers: int = 4, max_receives: int | None = None,
                 base: Path | str | None = None, timeout_seconds: float = 900):
        self.folder, self.workers, self.base, self.timeout_seconds = folder, workers, base, timeout_seconds
        self._max_receives = max_receives
        self._pool: Any = None
        self.dead_letters: list[dict] = []

    @property
    def max_receives(self) -> int:
        if self._max_receives is None:
            from incentives.services.issuance import WORKER_MAX_RECEIVES

            self._max_receives = WORKER_MAX_RECEIVES
        return self._max_receives

    def _executor(self):
        from concurrent.futures import ThreadPoolExecutor

        with _lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="bulk-worker")
            return self._pool

    def send(self, messages: list[dict]) -> None:
        for m in messages:
            self._executor().submit(self._deliver, m, 1)

    def _deliver(self, body: dict, receives: int) -> None:
        import json

        message_id = str(uuid.uuid4())
        event = {"Records": [{"messageId": message_id, "receiptHandle": message_id, "body": json.dumps(body),
                              "attributes": {"ApproximateReceiveCount": str(receives)},
                              "eventSource": "aws:sqs"}]}
        try:
            failed = bool((invoke(self.folder, event, self.base, self.timeout_seconds) or {}).get("batchItemFailures"))
        except BaseException:
            log.exception("local bulk worker died on %s", body)
            failed = True
        if not failed:
            return
        if receives >= self.max_receives:
            self.dead_letters.append(body)
        else:
            self._executor().submit(self._deliver, body, receives + 1)
