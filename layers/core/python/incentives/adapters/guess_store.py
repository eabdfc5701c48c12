"""The guessing throttle's counters (services/guessing.py): one item per scope and fixed window,
``GUESS#<scope>`` / ``W#<window>`` with ``hits`` and a TTL. The keys and the conditions live here; a scope at its
limit reaches the service as AtLimit.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from ..domain.pseudonyms import keyed
from .dynamo import Table, values
from .rate_limit import add_hit
from .unit_of_work import UnitOfWork, always

Key = tuple[str, str]
GUESS_PREFIX = "GUESS#"


class AtLimit(Exception):
    """The scope's counter of this window is at the limit."""


def guess_partition(scope: str) -> str:
    return f"{GUESS_PREFIX}{scope}"


def customer_scope(customer_id: str) -> str:
    """The customer's scope: a keyed pseudonym, so the counter names no one (erasure deletes it anyway)."""
    return "c#" + keyed("customer", customer_id)[:32]


def counter_keys(scopes: Iterable[str], window: int) -> list[Key]:
    """The counter items of the scopes in one window (read with the checkout's own BatchGetItem)."""
    return [(guess_partition(s), f"W#{window}") for s in scopes]


class GuessStore:
    def __init__(self, table: Table):
        self.table = table

    def of_customer(self, customer_id: str) -> list[Key]:
        """Every counter of the customer's scope, any window (erasure deletes them): one Query."""
        return [(i["pk"], i["sk"]) for i in self.table.query(guess_partition(customer_scope(customer_id)))]

    @staticmethod
    def below_limit(uow: UnitOfWork, k: Key, limit: int, error: Callable[[], Exception]) -> None:
        """A condition in the caller's transaction: the counter is below ``limit`` (or does not exist yet);
        otherwise the commit raises ``error()``."""
        uow.check(k, "attribute_not_exists(hits) OR hits < :g_limit", vals=values(g_limit=limit),
                  explain=always(error))

    def hit(self, k: Key, limit: int, ttl: int) -> None:
        """One more hit, within ``limit`` (one conditional ADD); AtLimit when the counter is at the limit."""
        if not add_hit(self.table, k, limit, ttl):
            raise AtLimit()
