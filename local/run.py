"""`make run`: the whole engine on this machine.

Starts DynamoDB Local (unless DYNAMODB_ENDPOINT points at a running DynamoDB), creates the table, serves the
real Lambda handlers through the local API Gateway emulation (local/server.py) on http://127.0.0.1:$PORT,
fires the scheduled jobs on their schedule and fans customer events out like the deployed stack (the table's
stream -> event_fanout -> the local bus -> the consumer functions; local/stream.py, local/bus.py). Runs in the
foreground until SIGINT/SIGTERM, then stops the server, the scheduler, the stream reader and DynamoDB Local.

Environment: PORT (3000), INCENTIVES_CONFIG_DIR (config/), INCENTIVES_DATA_DIR (.local/), STOREFRONT_API_KEY,
OPERATOR_API_KEY, DYNAMODB_ENDPOINT, TABLE_NAME (incentives), FUNCTIONS_DIR (functions/),
LOCAL_SCHEDULES (on; "off" disables the scheduler), CONFIG_MAX_AGE_SECONDS (5), JOBS_ALLOW_NOW (true), LOG_LEVEL (INFO),
LOCAL_API_THREADS (32 workers) and LOCAL_API_QUEUE (512 requests waiting for one; beyond: 503 + Retry-After).
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "layers" / "core" / "python"
if str(CORE) not in sys.path:
    sys.path.insert(0, str(CORE))

from local import lambdas, tryit, wiring  # noqa: E402
from local.dynamodb_local import DynamoDBLocal, ensure_table, is_loopback, local_env  # noqa: E402
from local.scheduler import Scheduler  # noqa: E402
from local.stream import StreamPump  # noqa: E402
from local.server import (  # noqa: E402
    DEFAULT_OPERATOR_KEY, DEFAULT_PORT, DEFAULT_STOREFRONT_KEY, OPERATOR_KEY_ID, LocalApi, make_server,
    serve_in_thread,
)

log = logging.getLogger("local.run")


def _abs(path: str | os.PathLike) -> str:
    p = Path(path)
    return str(p if p.is_absolute() else (Path.cwd() / p).resolve())


def configure_env(endpoint: str, data_dir: str) -> dict[str, str]:
    """The environment the handlers see (incentives/settings.py), applied to os.environ; returns it. These are
    the local run's defaults (the layer has none); the bus and the job dispatcher are installed (local/wiring.py).

    The fixed local credentials are used for a DynamoDB on loopback only; a remote endpoint (AWS) keeps the
    caller's own AWS credentials.
    """
    env = {
        **(local_env() if is_loopback(endpoint) else {}),
        "TABLE_NAME": os.environ.get("TABLE_NAME") or "incentives",
        "CONFIG_SOURCE": "files",
        "INCENTIVES_CONFIG_DIR": _abs(os.environ.get("INCENTIVES_CONFIG_DIR") or ROOT / "config"),
        "DYNAMODB_ENDPOINT": endpoint,
        "OPERATOR_API_KEY_IDS": OPERATOR_KEY_ID,
        "FUNCTIONS_DIR": _abs(os.environ.get("FUNCTIONS_DIR") or ROOT / "functions"),
        "LOCAL_OUTBOX_DIR": _abs(os.environ.get("LOCAL_OUTBOX_DIR") or Path(data_dir) / "outbox"),
        "LOCAL_EXPORT_DIR": _abs(os.environ.get("LOCAL_EXPORT_DIR") or Path(data_dir) / "exports"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Incentives",
        "POWERTOOLS_DEV": os.environ.get("POWERTOOLS_DEV", "false"),
        # Deployed, AppConfig is cached 30 s; locally a config edit should show quickly.
        "CONFIG_MAX_AGE_SECONDS": os.environ.get("CONFIG_MAX_AGE_SECONDS") or "5",
        # Locally a job may run as of another moment (`now` in POST /v1/jobs/{name}/run); deployed it is off.
        "JOBS_ALLOW_NOW": os.environ.get("JOBS_ALLOW_NOW") or "true",
    }
    os.environ.update(env)
    os.makedirs(env["LOCAL_OUTBOX_DIR"], exist_ok=True)
    return env


def main() -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    port = int(os.environ.get("PORT") or DEFAULT_PORT)
    data_dir = _abs(os.environ.get("INCENTIVES_DATA_DIR") or ROOT / ".local")
    external = os.environ.get("DYNAMODB_ENDPOINT") or None
    storefront_key = os.environ.get("STOREFRONT_API_KEY") or DEFAULT_STOREFRONT_KEY
    operator_key = os.environ.get("OPERATOR_API_KEY") or DEFAULT_OPERATOR_KEY

    # The engine's own pages (/claim/, /dashboard/) are served from this origin: they may always claim.
    os.environ["ENGINE_ORIGINS"] = f"http://127.0.0.1:{port},http://localhost:{port}"
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    # Bind first: a busy port fails at once, and clients get 503 (not "connection refused") while starting.
    api = LocalApi(storefront_key=storefront_key, operator_key=operator_key,
                   functions_dir=os.environ.get("FUNCTIONS_DIR") or ROOT / "functions")
    try:
        server = make_server(api, "127.0.0.1", port)
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{port}: {exc} (set PORT)", file=sys.stderr)
        return 1
    serve_in_thread(server)

    ddb: DynamoDBLocal | None = None
    scheduler: Scheduler | None = None
    pump: StreamPump | None = None
    try:
        if external:
            endpoint = external
        else:
            t0 = time.monotonic()
            ddb = DynamoDBLocal(data_dir=data_dir, die_with_parent=True)
            ddb.start(timeout=60)
            endpoint = ddb.endpoint
            log.info("DynamoDB Local ready in %.1f s", time.monotonic() - t0)
        if stop.is_set():
            return 0
        env = configure_env(endpoint, data_dir)
        # unsubscribe links in journey messages point to this server (messaging.public_base_url overrides it)
        os.environ.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
        ensure_table(endpoint, env["TABLE_NAME"])
        api.functions_dir = Path(env["FUNCTIONS_DIR"])
        wiring.install(api.functions_dir)  # the local bus and job dispatcher, before any handler is imported
        from incentives.http.routes import JOBS
        from incentives.subscriptions import FANOUT_FUNCTION, SUBSCRIPTIONS, consumer_functions

        t0 = time.monotonic()
        api.load_all(extra=[*(folder for folder, _ in JOBS.values()), FANOUT_FUNCTION, *consumer_functions()])
        log.info("functions loaded in %.1f s", time.monotonic() - t0)

        def invoke(folder: str, event: dict):
            return lambdas.invoke(folder, event, api.functions_dir)

        pump = StreamPump(endpoint, env["TABLE_NAME"], invoke).start()

        if os.environ.get("LOCAL_SCHEDULES", "on").lower() not in ("off", "0", "false", "no"):
            scheduler = Scheduler(JOBS, invoke=invoke)
            scheduler.start()
        api.ready.set()

        base = f"http://127.0.0.1:{port}"
        lines = [
            f"Incentives engine (local) on {base}   (health: {base}/v1/health)",
            f"  storefront key : {storefront_key}",
            f"  operator key   : {operator_key}",
            f"  DynamoDB       : {endpoint}" + ("" if external else f" (DynamoDB Local, data in {data_dir})"),
            f"  table          : {env['TABLE_NAME']}",
            f"  config         : {env['INCENTIVES_CONFIG_DIR']}",
            f"  outbox         : {env['LOCAL_OUTBOX_DIR']}",
            f"  code exports   : {env['LOCAL_EXPORT_DIR']}",
            f"  functions      : {env['FUNCTIONS_DIR']}"
            + (f"  (not loaded: {', '.join(api.load_errors)})" if api.load_errors else ""),
            "  schedules      : " + (", ".join(f"{n} {s.expression}" for n, (_, s) in scheduler.schedules.items())
                                    if scheduler else "off"),
            f"  events         : stream -> {FANOUT_FUNCTION} -> "
            + ", ".join(f"{s.function} ({', '.join((*s.detail_types, *s.engine_types))})" for s in SUBSCRIPTIONS),
            "Ctrl-C to stop.",
            "",
            "Try it (the sample config in config/; the same block is in README.md, \"Try it\"):",
            tryit.render(base=f"localhost:{port}", keys={"storefront": storefront_key, "operator": operator_key}),
        ]
        print("\n".join(lines), flush=True)
        while not stop.wait(0.5):
            if ddb and ddb.proc and ddb.proc.poll() is not None:
                log.error("DynamoDB Local exited with %s", ddb.proc.returncode)
                return 1
        return 0
    except Exception:
        log.exception("local run failed")
        return 1
    finally:
        # The requests in flight finish (DynamoDB Local is still up), idle keep-alive connections are closed.
        server.shutdown()
        server.server_close()
        api.ready.clear()
        if scheduler:
            scheduler.stop()
        if pump:
            pump.stop()
        if ddb:
            ddb.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
