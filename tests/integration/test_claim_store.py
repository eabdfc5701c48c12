"""ClaimStore against DynamoDB Local: each failed condition is its typed error and nothing of the unit of work
is written (the claim, the counter and the code commit together or not at all)."""
from __future__ import annotations

import pytest

from incentives.adapters import keys
from incentives.adapters.claim_store import Claim, ClaimedBefore, ClaimStore
from incentives.adapters.unit_of_work import UnitOfWork
from incentives.domain import errors
from tests.support import scan_all

NOW = "2026-12-04T10:00:00Z"


def claim(code: str, h: str = "hash-ann") -> Claim:
    return Claim("welcome", h, code, NOW, "DE", None, None, None)


def commit(table, c: Claim, max_claims: int | None = None, legacy: tuple[str, ...] = ()) -> None:
    uow = UnitOfWork(table)
    ClaimStore.record(uow, c, legacy)
    ClaimStore.count(uow, c.campaign_id, max_claims, NOW)
    uow.put({"pk": f"CODE#{c.code}", "sk": "CODE", "code": c.code})  # stands for the issued code
    uow.commit()


def test_a_second_claim_of_one_email_is_claimed_before_with_the_first_claim(table):
    store = ClaimStore(table)
    commit(table, claim("C-1"))
    with pytest.raises(ClaimedBefore) as e:
        commit(table, claim("C-2"))
    assert e.value.claim == claim("C-1")
    assert store.get("welcome", "hash-ann") == claim("C-1")
    assert table.get(*keys.campaign_counters("welcome"), consistent=True)["claims"] == 1
    assert table.get("CODE#C-2", "CODE") is None  # nothing of the refused claim was written


def test_a_claim_under_a_legacy_hash_is_claimed_before_under_that_hash(table):
    commit(table, claim("C-1", h="legacy-sha"))
    with pytest.raises(ClaimedBefore) as e:
        commit(table, claim("C-2", h="keyed"), legacy=("legacy-sha",))
    assert e.value.email_hash == "legacy-sha" and e.value.claim == claim("C-1", h="legacy-sha")
    assert ClaimStore(table).get("welcome", "keyed") is None


def test_the_claim_over_max_claims_is_claims_exhausted_and_writes_nothing(table):
    commit(table, claim("C-1", h="a"), max_claims=1)
    before = scan_all(table)
    with pytest.raises(errors.ClaimsExhausted):
        commit(table, claim("C-2", h="b"), max_claims=1)
    assert scan_all(table) == before


def test_the_throttle_refuses_the_client_over_its_minute(table):
    from datetime import UTC, datetime

    store, now = ClaimStore(table), datetime(2026, 12, 4, 10, 0, 30, tzinfo=UTC)
    store.throttle("welcome", "ip-1", 2, 100, now)
    store.throttle("welcome", "ip-1", 2, 100, now)
    with pytest.raises(errors.RateLimited):
        store.throttle("welcome", "ip-1", 2, 100, now)
    store.throttle("welcome", "ip-2", 2, 100, now)  # another client has its own window
