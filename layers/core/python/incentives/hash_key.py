"""The key of the keyed pseudonyms (domain/pseudonyms.py): read once per process, on first use.

Deployed: HASH_KEY_SECRET_ARN names a Secrets Manager secret that CDK generates (infra/stack.py); its string is
the key. Locally and in tests: INCENTIVES_HASH_KEY holds it directly (local/wiring.py installs a fixed dev key
for `make run` and the tests). Without either, nothing may be hashed: a bare SHA-256 is never the fallback.
"""
from __future__ import annotations

import os

SECRET_ENV = "HASH_KEY_SECRET_ARN"  # noqa: S105 - the name of a variable, not a secret  # nosec B105
LOCAL_ENV = "INCENTIVES_HASH_KEY"


def configured(env=None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get(SECRET_ENV) or env.get(LOCAL_ENV))


def load() -> bytes:
    from .domain.pseudonyms import NoHashKey

    local = os.environ.get(LOCAL_ENV)
    if local:
        return local.encode("utf-8")
    arn = os.environ.get(SECRET_ENV)
    if not arn:
        raise NoHashKey(f"neither {SECRET_ENV} nor {LOCAL_ENV} is set: no key for e-mail and IP pseudonyms")
    import boto3  # only deployed functions get here, once per container

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return secret.encode("utf-8")
