"""ErasureStore against DynamoDB Local: each write changes its item once (a second erasure's write is 0, not an
error), a failed condition writes nothing of its transaction, and a write sent twice with its token (an answer
lost after the commit) is applied once and counted once."""
from __future__ import annotations

import pytest

from incentives.adapters import keys
from incentives.adapters.erasure_store import BoundCode, ErasureStore, HistoryRecord, Usage
from incentives.domain import errors

NOW = "2026-12-04T10:00:00Z"


class TwiceSent:
    """A client that sends every TransactWriteItems twice with the same arguments (the first answer 'lost')."""

    def __init__(self, client):
        self._client = client
        self.sent = 0

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if name != "transact_write_items":
            return attr

        def twice(**kw):
            attr(**kw)
            self.sent += 1
            return attr(**kw)
        return twice


def test_a_history_record_moves_once_and_a_second_erasure_counts_it_zero(table):
    table.put({"pk": "REDEMPTION#r1", "sk": "REDEMPTION", "customer_id": "c1", "gsi1pk": keys.customer_gsi("c1")})
    record = HistoryRecord(("REDEMPTION#r1", "REDEMPTION"), "redemptions", "pub")
    store = ErasureStore(table)
    assert store.anonymise(record, "c1", "anon_a") == 1
    assert store.anonymise(record, "c1", "anon_b") == 0  # a concurrent erasure: its condition failed
    item = table.get("REDEMPTION#r1", "REDEMPTION", consistent=True)
    assert (item["customer_id"], item["gsi1pk"]) == ("anon_a", keys.customer_gsi("anon_a"))


def test_writes_sent_twice_with_their_token_apply_and_count_once(table):
    table.put({"pk": "CODE#X", "sk": "CODE", "code": "X", "holder": "id:c1", "campaign_id": "sorry"})
    table.put({"pk": "CLAIM#welcome#h", "sk": "CLAIM", "code": "W"})
    usage_key = keys.customer_usage("pub", "c1")
    table.put({"pk": usage_key[0], "sk": usage_key[1], "redeemed": 2})
    twice = TwiceSent(table.client)
    table._client = twice
    store = ErasureStore(table)
    assert store.rebind(BoundCode(("CODE#X", "CODE"), "X", "id:c1", "sorry"), "id:anon_a") == 1
    assert store.delete(("CLAIM#welcome#h", "CLAIM")) == 1
    assert store.move_usage(Usage("pub", table.get(*usage_key, consistent=True)), "c1", "anon_a", NOW) == 1
    store.record("anon_a", {"codes": 1, "claims": 1, "usage": 1}, NOW, done=True)
    assert twice.sent == 4  # each of the four writes reached DynamoDB twice
    assert table.get("CODE#X", "CODE", consistent=True)["holder"] == "id:anon_a"
    assert table.get(*keys.customer_usage("pub", "anon_a"), consistent=True)["redeemed"] == 2  # not 4
    record = table.get(*keys.erasure("anon_a"), consistent=True)
    assert (record["codes"], record["claims"], record["usage"], record["status"]) == (1, 1, 1, "completed")


def test_a_usage_counter_that_changed_is_moved_from_what_it_is_now(table):
    usage_key = keys.customer_usage("pub", "c1")
    table.put({"pk": usage_key[0], "sk": usage_key[1], "redeemed": 1})
    read = table.get(*usage_key, consistent=True)
    table.update(*usage_key, "ADD redeemed :one", vals={":one": {"N": "1"}})  # a redemption meanwhile
    assert ErasureStore(table).move_usage(Usage("pub", read), "c1", "anon_a", NOW) == 1
    assert table.get(*usage_key, consistent=True) is None
    assert table.get(*keys.customer_usage("pub", "anon_a"), consistent=True)["redeemed"] == 2


def test_a_retention_order_changed_meanwhile_is_contention_and_nothing_moves(table):
    order_key = keys.retention_order("o-1")
    day_key = keys.retention_day_order("2026-12-03", "c1", "o-1")
    table.put({"pk": order_key[0], "sk": order_key[1], "order_id": "o-1", "customer_id": "c1", "version": 2,
               "day": "2026-12-03"})
    table.put({"pk": day_key[0], "sk": day_key[1], "customer_id": "c1", "amount": 100})
    store = ErasureStore(table)
    (order,) = store.retention_orders(["o-1"], "c1")
    table.update(*order_key, "SET version = :v", vals={":v": {"N": "3"}})  # a refund recorded meanwhile
    with pytest.raises(errors.Contention):
        store.move_retention_order(order, "anon_a")
    assert table.get(*day_key, consistent=True)["customer_id"] == "c1"  # the day item did not move either
    assert table.get(*keys.retention_day_order("2026-12-03", "anon_a", "o-1"), consistent=True) is None


def test_a_second_erasure_reuses_the_marker_of_the_first(table):
    store = ErasureStore(table)
    assert store.begin("c1", "anon_a", ["h"], NOW) == "anon_a"
    assert store.begin("c1", "anon_b", [], NOW) == "anon_a"
    profile, marker = store.profile_and_marker("c1")
    assert profile is None and marker is not None and (marker.anonymised_id, marker.email_hashes) == ("anon_a", ("h",))
    store.finish("c1")
    assert store.profile_and_marker("c1") == (None, None)


def test_an_item_deleted_by_another_erasure_counts_zero(table):
    store = ErasureStore(table)
    table.put({"pk": "CLAIM#welcome#h", "sk": "CLAIM", "code": "W"})
    assert store.delete(("CLAIM#welcome#h", "CLAIM")) == 1
    assert store.delete(("CLAIM#welcome#h", "CLAIM")) == 0  # gone already: not an error
