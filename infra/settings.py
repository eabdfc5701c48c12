"""Deploy-time knobs, read from CDK context (cdk.json or `cdk deploy -c incentives:<name>=<value>`)."""
from __future__ import annotations

import json
from dataclasses import dataclass, fields

from constructs import Node

from .encryption import check_setting

PREFIX = "incentives:"


@dataclass(frozen=True)
class InfraSettings:
    stack_name: str = "IncentivesEngine"
    stage_name: str = "prod"
    log_retention_days: int = 30
    alarm_email: str = ""  # empty: create the topic, subscribe later (docs/runbook.md)
    storefront_rate_limit: int = 500
    storefront_burst_limit: int = 1000
    operator_rate_limit: int = 20
    operator_burst_limit: int = 40
    # Stage-level limit on the public claims POST, across all callers (per-campaign limits live in the app).
    claims_rate_limit: int = 20
    claims_burst_limit: int = 50
    config_max_age_seconds: int = 30
    # Journey messages (docs/runbook.md): the SES identity (a verified domain or address) the jobs may send from,
    # an existing configuration set (empty: the stack creates one), the From address (empty: messaging.yaml's
    # from_email) and the SMS sender id (empty: none). Without an identity the jobs get no SES permission.
    ses_identity: str = ""
    ses_configuration_set: str = ""
    ses_from_email: str = ""
    sms_sender_id: str = ""
    # Host web/claim and web/dashboard on S3 + CloudFront (infra/pages.py); off by default.
    host_pages: bool = False
    # May `POST /v1/jobs/{name}/run` take `now` (run a job as of another moment)? Off: an operator key could
    # otherwise expire point lots or release held referral rewards ahead of time. A test or staging stack turns it
    # on with `-c incentives:jobs_allow_now=true` (docs/runbook.md).
    jobs_allow_now: bool = False
    # "aws" (AWS owned and managed keys, as always), "customer" (the stack creates one KMS key) or the ARN of an
    # existing key (infra/encryption.py, docs/runbook.md "Customer managed key").
    encryption_key: str = "aws"
    # Reserved concurrent executions per function folder: "" or "0" (none: accounts with the default limit of 10
    # cannot reserve any), "name=n,name=n" or a JSON object {"name": n}. Unknown folders fail synth.
    reserved_concurrency: str = ""

    def __post_init__(self) -> None:
        check_setting(self.encryption_key)
        self.reserved_concurrency_map()  # raises on a malformed value

    def reserved_concurrency_map(self) -> dict[str, int]:
        """The reserved_concurrency setting as {function folder: reserved concurrent executions}."""
        raw = self.reserved_concurrency.strip()
        if raw in ("", "0"):
            return {}
        name = f"{PREFIX}reserved_concurrency"
        try:
            pairs = (json.loads(raw).items() if raw.startswith("{")
                     else (item.split("=", 1) for item in raw.split(",") if item.strip()))
            out = {str(folder).strip(): _count(count) for folder, count in pairs}
        except (ValueError, AttributeError) as e:
            raise ValueError(f"{name} must be 'folder=n,...' or a JSON object of function folders to counts, "
                             f"not {raw!r} ({e})") from None
        small = sorted(folder for folder, count in out.items() if count < 1)
        if small:
            raise ValueError(f"{name}: {', '.join(small)} must reserve at least 1 execution (0 would throttle "
                             "every invocation; leave a function out to reserve nothing)")
        return out

    @classmethod
    def from_context(cls, node: Node) -> InfraSettings:
        values = {}
        for f in fields(cls):
            raw = node.try_get_context(PREFIX + f.name)
            if raw is None:
                continue
            # Context given on the command line (-c key=value) always arrives as a string.
            if f.type in (bool, "bool"):
                values[f.name] = _flag(f.name, raw)
            elif f.type in (int, "int"):
                values[f.name] = int(raw)
            elif isinstance(raw, dict):  # a JSON object in cdk.json's context
                values[f.name] = json.dumps(raw)
            else:
                values[f.name] = str(raw)
        return cls(**values)


def _flag(name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"{PREFIX}{name} must be true or false, not {raw!r}")


def _count(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"{raw!r} is not a whole number")
    return int(str(raw).strip())
