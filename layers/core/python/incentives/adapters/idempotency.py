"""Idempotency-Key handling with our own conditional writes.

The record is claimed IN_PROGRESS with a conditional put; the operation's own transaction flips it to
COMPLETED with the response (condition: we still own it). So "the effect happened" and "the answer is
stored" commit together: a crash in between cannot leave an applied effect whose retry applies it again.
A rejected request (a 4xx domain error) releases the record, so a retry is evaluated afresh, as Powertools'
idempotency utility does.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta

from ..domain import errors
from ..domain.clock import iso
from . import keys
from .dynamo import ConditionFailed, Table, is_transient, values
from .retry import RetryPolicy

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
LEASE = timedelta(seconds=30)  # longer than any function's timeout
RETENTION = timedelta(hours=24)
RELEASE = RetryPolicy(deadline_s=2.0, max_attempts=4, base_s=0.02, cap_s=0.5)  # on top of botocore's own retries


def fingerprint(method: str, path: str, body: object) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyGuard:
    def __init__(self, table: Table, scope: str, key: str, fp: str, now: datetime,
                 subject: dict | None = None):
        """``subject``: whom the stored answer is about, as gsi1 attributes (``gsi1pk`` and ``customer_id``, or an
        e-mail holder's ``gsi1pk``), so erasure finds and deletes the record (services/erasure.py)."""
        self.subject = subject or {}
        self.table = table
        self.pk, self.sk = keys.idempotency(scope, key)
        self.fp = fp
        self.now = now
        self.token = secrets.token_hex(8)
        self.completed = False

    def begin(self) -> tuple[int, dict] | None:
        """Claim the key. Returns the stored (status, body) of a completed first request, or None to proceed."""
        now_iso = iso(self.now)
        item = {"pk": self.pk, "sk": self.sk, "status": IN_PROGRESS, "fingerprint": self.fp, "token": self.token,
                "lease_until": iso(self.now + LEASE), "expires_at": iso(self.now + RETENTION),
                "ttl": int((self.now + RETENTION).timestamp())}
        try:
            self.table.put(item, "attribute_not_exists(pk) OR expires_at < :now OR "
                                 "(#st = :inprog AND lease_until < :now)",
                           {"#st": "status"}, values(now=now_iso, inprog=IN_PROGRESS))
            return None
        except ConditionFailed as e:
            old = e.item or {}
        if old.get("token") == self.token and old.get("status") == IN_PROGRESS:
            # Our own claim: the put applied, its answer was lost (a timeout) and botocore's retry found it.
            return None
        if old.get("fingerprint") != self.fp:
            raise errors.IdempotencyKeyReused()
        if old.get("status") == COMPLETED:
            return int(old["response_status"]), json.loads(old["response_body"])
        raise errors.RequestInProgress()

    def attach(self, uow, status: int) -> None:
        """Makes ``uow``'s commit store ``uow.result`` as this key's answer (``status``), in the same write: the
        HTTP layer adds it, the use case only sets its result. ``completed`` tells whether that commit happened."""
        def complete(u) -> None:
            u.op(self.completion_op(status, u.result), lambda _old: errors.RequestInProgress())

        def done() -> None:
            self.completed = True
        uow.on_commit(complete)
        uow.after_commit(done)

    def completion_op(self, status: int, body: dict) -> dict:
        """The transaction item that stores the answer, conditional on still owning the key."""
        return self.table.update_op(self.pk, self.sk, *self._completion(status, body))

    def complete(self, status: int, body: dict) -> None:
        try:
            self.table.update(self.pk, self.sk, *self._completion(status, body))
        except ConditionFailed:
            raise errors.RequestInProgress() from None

    def _completion(self, status: int, body: dict) -> tuple:
        """Only a completed record holds an answer (the customer's data), so only it is indexed for erasure: one
        index write per key, with the completion."""
        names, subject = {"#st": "status", "#tk": "token"}, {}
        if self.subject:
            fields = {**self.subject, "record": "idempotency", "gsi1sk": f"IDEMPOTENCY#{iso(self.now)}"}
            for i, (k, v) in enumerate(fields.items()):
                names[f"#s{i}"], subject[f"s{i}"] = k, v
        extra = "".join(f", #s{i} = :s{i}" for i in range(len(subject)))
        return ("SET #st = :done, response_status = :code, response_body = :body" + extra,
                "#st = :inprog AND #tk = :token", names,
                values(done=COMPLETED, code=status, body=json.dumps(body, separators=(",", ":")),
                       inprog=IN_PROGRESS, token=self.token, **subject))

    def release(self, quiet: bool = False) -> None:
        """Deletes our IN_PROGRESS claim. ``quiet``: on the way out of another error, a failure of the delete
        itself (DynamoDB still unavailable) is logged by the caller's error, not raised over it; the lease then
        ends the claim."""
        def delete() -> None:
            try:
                self.table.delete(self.pk, self.sk, "#st = :inprog AND #tk = :token",
                                  {"#st": "status", "#tk": "token"}, values(inprog=IN_PROGRESS, token=self.token))
            except ConditionFailed:
                pass  # completed by our own transaction after all, or taken over: nothing to release
            except Exception as e:
                raise (_Transient() if is_transient(e) else e) from e

        try:  # a throttled release would leave the key leased (409 to the client's retries) for 30 s: retry it
            RELEASE.run(delete, retry_on=_Transient)
        except Exception as e:  # noqa: BLE001 - raised unless quiet (the caller is raising its own error)
            if not quiet:
                raise (e.__cause__ if isinstance(e, _Transient) and e.__cause__ is not None else e) from None


class _Transient(Exception):
    """A release DynamoDB did not take now (throttled, conflicting, timed out)."""
