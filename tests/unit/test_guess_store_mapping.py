"""The guessing counters' keys: a pseudonym per customer, one item per scope and window."""
from __future__ import annotations

from incentives.adapters.guess_store import counter_keys, customer_scope


def test_guess_counters_are_keyed_by_a_pseudonym_and_the_window():
    scope = customer_scope("cust-42")
    assert "cust-42" not in scope and scope == customer_scope("cust-42")
    assert counter_keys([scope, "ip#x"], 9) == [(f"GUESS#{scope}", "W#9"), ("GUESS#ip#x", "W#9")]
