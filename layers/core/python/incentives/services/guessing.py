"""Guessing throttle of the checkout path: unknown codes are counted per shopper, never per storefront key.

A shopper is known by the customer id of the request and, when the storefront forwards it, the shopper's IP
(header X-Shopper-IP; an IPv6 address counts as its /64). Each gets a counter item per fixed window
(settings.guess_window_seconds, 600 s): ``GUESS#<keyed pseudonym>`` / ``W#<window>``, ``hits``. Only the failure
path writes: a ``code_not_found`` answer is one conditional ADD per scope (``hits < limit``), and a failed
condition answers 429 ``rate_limited`` instead, so at most ``limit`` unknown codes per scope and window are ever
answered. Once a scope is at its limit every checkout call of that shopper is throttled until the window ends
(Retry-After): validation and the code lookup read the counters in the BatchGetItem they do anyway, redemption
carries a ConditionCheck per scope in its one TransactWriteItems, so a successful call costs no extra request.

Calls with neither a customer id nor a shopper IP are not counted: the storefront's key is shared by all its
shoppers, and one guessing shopper must not throttle the others.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..adapters.dynamo import Table
from ..adapters.guess_store import AtLimit, GuessStore, counter_keys, customer_scope
from ..adapters.unit_of_work import UnitOfWork
from ..domain import errors
from ..domain.pseudonyms import ip_pseudonym
from ..settings import get_settings

Key = tuple[str, str]


@dataclass(frozen=True)
class Shopper:
    """Whom a checkout call's failures are counted against: its scopes (zero, one or two)."""

    scopes: tuple[str, ...]

    @classmethod
    def of(cls, customer_id: str | None, shopper_ip: str | None) -> Shopper:
        scopes = []
        if customer_id:
            scopes.append(customer_scope(customer_id))
        if shopper_ip:
            pseudonym = ip_pseudonym(shopper_ip)
            if pseudonym is not None:
                scopes.append("ip#" + pseudonym)
        return cls(tuple(scopes))


NOBODY = Shopper(())


class GuessGuard:
    def __init__(self, table: Table, limit: int | None = None, window_seconds: int | None = None):
        s = get_settings()
        self.table = table
        self.store = GuessStore(table)
        self.limit = limit if limit is not None else s.guess_limit
        self.window = window_seconds if window_seconds is not None else s.guess_window_seconds

    def _window(self, now: datetime) -> int:
        return int(now.timestamp()) // self.window

    def _retry_after(self, now: datetime) -> int:
        return max(1, (self._window(now) + 1) * self.window - int(now.timestamp()))

    def throttled(self, now: datetime) -> errors.IncentiveError:
        return errors.RateLimited("too many unknown codes tried; retry later",
                                  {"retry_after_seconds": self._retry_after(now), "scope": "shopper"})

    def keys(self, shopper: Shopper, now: datetime) -> list[Key]:
        """The counter items of this window (read with the checkout's own BatchGetItem)."""
        return counter_keys(shopper.scopes, self._window(now))

    def check(self, got: dict, shopper: Shopper, now: datetime) -> None:
        """Raises RateLimited when a counter read in ``got`` is at the limit."""
        for k in self.keys(shopper, now):
            if (got.get(k) or {}).get("hits", 0) >= self.limit:
                raise self.throttled(now)

    def condition(self, uow: UnitOfWork, shopper: Shopper, now: datetime) -> None:
        """A ConditionCheck per scope in the redemption's transaction: below the limit (or no counter yet)."""
        for k in self.keys(shopper, now):
            GuessStore.below_limit(uow, k, self.limit, lambda: self.throttled(now))

    def failed(self, shopper: Shopper, now: datetime) -> None:
        """Counts one unknown code against each scope; RateLimited when a scope is at its limit already (then
        the shopper gets 429, not the answer)."""
        ttl = (self._window(now) + 2) * self.window
        for k in self.keys(shopper, now):
            try:
                self.store.hit(k, self.limit, ttl)
            except AtLimit:
                raise self.throttled(now) from None
