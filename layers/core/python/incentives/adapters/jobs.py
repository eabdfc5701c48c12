"""Running job functions: Lambda Invoke when deployed, the same handler in-process locally."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from typing import Protocol

from ..http.routes import JOBS
from ..settings import get_settings


class JobDispatcher(Protocol):
    def run(self, job_name: str, payload: dict) -> dict: ...

    def start(self, job_name: str, payload: dict) -> None: ...


class LambdaDispatcher:
    def __init__(self, functions: dict[str, str]):
        self.functions = functions
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import botocore.session

            self._client = botocore.session.get_session().create_client("lambda")
        return self._client

    def run(self, job_name: str, payload: dict) -> dict:
        r = self.client.invoke(FunctionName=self.functions[job_name], InvocationType="RequestResponse",
                               Payload=json.dumps(payload).encode())
        body = json.loads(r["Payload"].read() or b"null")
        if r.get("FunctionError"):
            raise RuntimeError(f"job {job_name} failed: {body}")
        return body

    def start(self, job_name: str, payload: dict) -> None:
        self.client.invoke(FunctionName=self.functions[job_name], InvocationType="Event",
                           Payload=json.dumps(payload).encode())


class _Context:
    def __init__(self, name: str):
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = "local"
        self.log_group_name = self.log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


_load_lock = threading.Lock()


def load_handler(functions_dir: str, folder: str):
    """Import functions/<folder>/<folder>_handler.py once, under a name that cannot clash with app.py."""
    name = f"fn_{folder}_handler"
    with _load_lock:
        module = sys.modules.get(name)
        if module is None:
            path = os.path.join(functions_dir, folder, f"{folder}_handler.py")
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[name] = module
    return module.lambda_handler


class LocalDispatcher:
    """Calls the job's real lambda_handler in this process (a thread for asynchronous starts)."""

    def __init__(self, functions_dir: str):
        self.functions_dir = functions_dir

    def _handler(self, job_name: str):
        folder = JOBS[job_name][0]
        return load_handler(self.functions_dir, folder), folder

    def run(self, job_name: str, payload: dict) -> dict:
        handler, folder = self._handler(job_name)
        return handler(payload, _Context(folder))

    def start(self, job_name: str, payload: dict) -> None:
        handler, folder = self._handler(job_name)
        threading.Thread(target=handler, args=(payload, _Context(folder)), daemon=True,
                         name=f"job-{job_name}").start()


def default_dispatcher() -> JobDispatcher:
    s = get_settings()
    if os.environ.get("JOB_DISPATCH", "local") == "lambda":
        return LambdaDispatcher(s.job_functions)
    return LocalDispatcher(os.environ.get("FUNCTIONS_DIR", "functions"))
