"""Shared fixtures for every test: one DynamoDB Local per test session (per xdist worker), a fresh table per test.

- ``ddb_endpoint`` (session): the endpoint URL of an in-memory DynamoDB Local started once for the session, or
  $DYNAMODB_ENDPOINT when set. Sets AWS_* (local_env()) and DYNAMODB_ENDPOINT in os.environ for the session.
- the local bus and job dispatcher are installed for the session (local/wiring.py), as `make run` does.
- ``table_name`` (function): a new table with the engine's schema (unique name, via ensure_table) that is
  deleted after the test. Also sets TABLE_NAME for the test and clears incentives.settings' cache before and
  after, so code that reads get_settings() sees this table and this endpoint. The table has the deployed
  table's stream only for tests that use the ``fan_out`` fixture or are marked ``stream``: every
  stream-enabled table makes DynamoDB Local slower for the rest of the session (bulk runs several times over).
- ``dynamodb_faults`` (function, autouse): with ``--dynamodb-faults=rate=R,seed=S[,kinds=...][,ops=...]`` (or
  $INCENTIVES_TEST_FAULTS), the tests marked ``concurrency`` run with DYNAMODB_FAULTS set (adapters/faults.py): the
  DynamoDB clients of the handlers and services get injected faults on the threads that play the concurrent
  clients, never on the test's own thread (its set-up and its final read-back see the truth). Tests marked
  ``concurrency(faults_in_suite=True)`` also run so in the normal suite, as ``[faults]`` with SUITE_FAULTS;
  ``concurrency(not_under_faults="why")`` are skipped under the option, with the reason. The terminal summary
  says how many faults were injected and what the clients got.
"""
from __future__ import annotations

import os
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT / "layers" / "core" / "python", ROOT):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from local.dynamodb_local import DynamoDBLocal, client, ensure_table, local_env  # noqa: E402
from local.wiring import install  # noqa: E402

# As the local run does: the functions publish on the in-process bus and run jobs in-process (a deployed function
# has EVENT_BUS_NAME and JOB_FUNCTIONS instead; tests/unit/test_cold_imports.py imports them that way).
install(ROOT / "functions")


SUITE_FAULTS = "rate=0.1,seed=3"  # the [faults] variants of the normal suite: a fixed seed, every kind


def pytest_addoption(parser):
    parser.addoption(
        "--dynamodb-faults", default=os.environ.get("INCENTIVES_TEST_FAULTS", ""),
        metavar="rate=R,seed=S[,kinds=a+b][,ops=A+B]",
        help="inject DynamoDB faults (adapters/faults.py) into the tests marked concurrency, on their client "
             "threads; default $INCENTIVES_TEST_FAULTS")


def _fault_option(config) -> str:
    return config.getoption("--dynamodb-faults") or ""


def pytest_configure(config):
    spec = _fault_option(config)
    if spec:
        from incentives.adapters.faults import FaultSpec

        try:
            FaultSpec.parse(spec)
        except ValueError as e:
            raise pytest.UsageError(f"--dynamodb-faults: {e}") from None


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("concurrency")
    if marker is not None and marker.kwargs.get("faults_in_suite") and not _fault_option(metafunc.config):
        metafunc.parametrize("dynamodb_faults", [None, SUITE_FAULTS], ids=["plain", "faults"], indirect=True)


def _reset_warm_state() -> None:
    """What a warm Lambda keeps (settings, the config source, the handler modules with their clients): the next
    call builds it with the environment as it is now."""
    _clear_settings_cache()
    try:
        from incentives.adapters import config_source
    except ImportError:
        return
    config_source._default = None
    for name in [m for m in sys.modules if m.startswith("fn_")]:
        del sys.modules[name]


@pytest.fixture(autouse=True)
def dynamodb_faults(request):
    """The fault spec the test runs with (None: none). Set up before the test's other fixtures (autouse), so every
    DynamoDB client the test's fixtures, handlers and services build has the injector; the test's own thread is
    spared."""
    spec = getattr(request, "param", None)
    marker = request.node.get_closest_marker("concurrency")
    if spec is None and marker is not None:
        spec = _fault_option(request.config) or None
        if spec and marker.kwargs.get("not_under_faults"):
            pytest.skip(f"not under faults: {marker.kwargs['not_under_faults']}")
    if not spec:
        yield None
        return
    from incentives.adapters import faults

    from tests import support

    patch = pytest.MonkeyPatch()
    patch.setenv("DYNAMODB_FAULTS", spec)
    _retry_asynchronous_starts(patch)
    _reset_warm_state()
    injected, seen = Counter(faults.INJECTED), Counter(support.CLIENT_SEEN)
    request.node.user_properties.append(("dynamodb_faults", spec))
    try:
        with faults.sparing_this_thread():
            yield spec
    finally:
        patch.undo()
        _reset_warm_state()
        # the teardown report carries them to the controller (xdist): pytest_runtest_logreport adds them up
        request.node.user_properties.append(("dynamodb_faults_injected", dict(faults.INJECTED - injected)))
        request.node.user_properties.append(("dynamodb_faults_seen", dict(support.CLIENT_SEEN - seen)))


def _retry_asynchronous_starts(patch: pytest.MonkeyPatch, attempts: int = 3) -> None:
    """Lambda runs an asynchronous invocation that raised twice more (its default retry policy); the local job
    dispatcher runs it once. Under faults a job's start can raise a transient error: the dispatcher retries it
    as Lambda would (the jobs are written to be run again)."""
    import threading
    import time

    from local.lambdas import LocalDispatcher

    def start(self, job_name: str, payload: dict) -> None:
        def run() -> None:
            for attempt in range(attempts):
                try:
                    self.run(job_name, payload)
                    return
                except Exception:
                    if attempt == attempts - 1:
                        raise
                    time.sleep(0.05)

        threading.Thread(target=run, daemon=True, name=f"job-{job_name}").start()

    patch.setattr(LocalDispatcher, "start", start)


_FAULT_RUN: dict[str, Counter] = {"tests": Counter(), "injected": Counter(), "seen": Counter()}


def pytest_runtest_logreport(report):
    props = dict(report.user_properties)
    if "dynamodb_faults" not in props:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _FAULT_RUN["tests"][report.outcome] += 1
    if report.when == "teardown":
        _FAULT_RUN["injected"].update(props.get("dynamodb_faults_injected", {}))
        _FAULT_RUN["seen"].update(props.get("dynamodb_faults_seen", {}))


def pytest_terminal_summary(terminalreporter, config):
    tests, injected, seen = _FAULT_RUN["tests"], _FAULT_RUN["injected"], _FAULT_RUN["seen"]
    if not tests:
        return
    spec = _fault_option(config) or f"{SUITE_FAULTS} (the [faults] variants)"
    terminalreporter.section("DynamoDB faults")
    terminalreporter.write_line(
        f"{spec}: {sum(tests.values())} tests under faults ("
        + ", ".join(f"{n} {k}" for k, n in sorted(tests.items())) + ")")
    terminalreporter.write_line(
        f"faults injected: {sum(injected.values())} ("
        + ", ".join(f"{k} {injected[k]}" for k in ("throttle", "throughput", "conflict", "timeout_after_commit"))
        + ")")
    terminalreporter.write_line(
        f"client answers: {seen['503']} x 503 (each with Retry-After), {seen['500']} x 500; "
        f"{seen['transient']} transient errors of service calls; {seen['retries']} retries")


def _clear_settings_cache() -> None:
    try:
        from incentives.settings import get_settings
    except ImportError:
        return
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def ddb_endpoint():
    saved = {k: os.environ.get(k) for k in (*local_env(), "DYNAMODB_ENDPOINT")}
    os.environ.update(local_env())
    external = os.environ.get("DYNAMODB_ENDPOINT")
    db = None
    if external:
        endpoint = external
    else:
        db = DynamoDBLocal(die_with_parent=True).start(timeout=60)
        endpoint = db.endpoint
        os.environ["DYNAMODB_ENDPOINT"] = endpoint
    _clear_settings_cache()
    try:
        yield endpoint
    finally:
        if db:
            db.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _clear_settings_cache()


@pytest.fixture
def table_name(ddb_endpoint, monkeypatch, request):
    name = f"test-{uuid.uuid4().hex[:16]}"
    stream = "fan_out" in request.fixturenames or request.node.get_closest_marker("stream") is not None
    ensure_table(ddb_endpoint, name, stream=stream)
    monkeypatch.setenv("TABLE_NAME", name)
    _clear_settings_cache()
    try:
        yield name
    finally:
        _clear_settings_cache()
        try:
            client(ddb_endpoint).delete_table(TableName=name)
        except (ClientError, BotoCoreError):
            pass  # the table or the whole database may already be gone at the end of the session
