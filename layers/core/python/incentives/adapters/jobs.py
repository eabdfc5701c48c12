"""Running job functions: Lambda Invoke when deployed (LambdaDispatcher, JOB_FUNCTIONS); the local run and the
tests install a dispatcher that runs the same handler in-process (incentives.wiring.use_dispatcher)."""
from __future__ import annotations

import json
from typing import Protocol


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
