"""A/B variants, pure: which variant a customer gets, the names of the per-variant counters, and the
two-proportion z-test that compares the variants' rates.

Assignment needs no stored state: a keyed hash (BLAKE2b, keyed with the campaign's or program's id) of the
subject (the customer id, else the normalised e-mail, else the code itself) gives a number in [0, 1) that falls
into one variant's slice of the cumulative weights. The same subject always gets the same variant of one
campaign, and the key makes a customer's variants of two campaigns independent of each other.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Protocol

VARIANT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"  # no '_': it separates the parts of the counters' names
COUNTER_PREFIX = "v_"
_SCALE = 1 << 64


class Weighted(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def weight(self) -> int: ...


def subject_for_id(customer_id: str) -> str:
    """A customer known by id (the same string as the code holder key, customers.holder_for_id)."""
    return f"id:{customer_id}"


def subject_for_email(email: str) -> str:
    """A customer known only by e-mail: its normalised mailbox, so aliases of one mailbox share a variant."""
    from .referrals import mailbox_hash

    return f"email:{mailbox_hash(email)}"


def subject_for_code(code: str) -> str:
    """A code issued to nobody in particular (bulk runs, unbound codes): the code is the subject."""
    return f"code:{code}"


def _hash(owner_id: str, subject: str) -> int:
    """64 bits of the subject's keyed hash for this campaign or program."""
    digest = hashlib.blake2b(subject.encode("utf-8"), key=owner_id.encode("utf-8")[:64], digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assign(owner_id: str, subject: str, variants: Sequence[Weighted]) -> str:
    """The id of the subject's variant: its hash mapped onto the cumulative (relative, integer) weights."""
    total = sum(v.weight for v in variants)
    point = _hash(owner_id, subject) * total // _SCALE  # exact integer arithmetic: 0 <= point < total
    edge = 0
    for v in variants:
        edge += v.weight
        if point < edge:
            return v.id
    return variants[-1].id  # unreachable: point < total


def counter(variant_id: str, name: str) -> str:
    """A per-variant counter's attribute: ``v_<id>_<name>`` (issued, redeemed, discount_EUR, revenue_EUR, ...)."""
    return f"{COUNTER_PREFIX}{variant_id}_{name}"


def sum_counters(items: Sequence[dict]) -> dict[str, dict[str, int]]:
    """The ``v_<id>_<name>`` attributes of any number of counter items (shards), summed: {variant: {name: n}}."""
    out: dict[str, dict[str, int]] = {}
    for item in items:
        for k, v in item.items():
            if not k.startswith(COUNTER_PREFIX) or isinstance(v, bool) or not isinstance(v, int):
                continue
            vid, sep, name = k[len(COUNTER_PREFIX):].partition("_")
            if sep:
                mine = out.setdefault(vid, {})
                mine[name] = mine.get(name, 0) + int(v)
    return out


def rate(successes: int, trials: int) -> float | None:
    return round(successes / trials, 4) if trials > 0 else None


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of the two-proportion z-test with the pooled proportion; None when it cannot be
    computed (no trials on a side, counts that are not proportions, or a pooled proportion of 0 or 1)."""
    if n1 <= 0 or n2 <= 0 or not (0 <= x1 <= n1 and 0 <= x2 <= n2):
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


ALPHA = 0.05


def comparison(metric: str, rows: Sequence[tuple[str, int, int]]) -> dict:
    """Compare the variants' rates: ``rows`` are (variant id, successes, trials), the first the control.

    Two variants: the z-test of the two. More: the control against the variant whose rate differs most from
    it, significant below ALPHA / (variants - 1) (Bonferroni: a best-of-several pick must clear a higher bar).
    """
    out: dict = {"metric": metric, "variants": [r[0] for r in rows[:2]], "p_value": None, "significant": False}
    if len(rows) < 2:
        return out
    control, others = rows[0], rows[1:]
    base = control[1] / control[2] if control[2] else 0.0
    other = max(others, key=lambda r: abs((r[1] / r[2] if r[2] else 0.0) - base))
    p = two_proportion_p_value(control[1], control[2], other[1], other[2])
    out["variants"] = [control[0], other[0]]
    if p is not None:
        out["p_value"] = round(p, 6)
        out["significant"] = p < ALPHA / len(others)
    return out
