"""The consent ledger: every statement a customer made per channel (domain/consent.py), as items under the
customer's profile partition (adapters/profile_store.py), and the profile's current state per channel.

Statements are written in the transaction of the profile update they cause: the event ingest
(services/events.py) and the one-click unsubscribe (services/unsubscribe.py, ``withdraw`` below). Reading the
ledger is one Query of the profile's partition (sk begins_with CONSENT#), never a scan.
"""
from __future__ import annotations

from datetime import datetime

from ..adapters.dynamo import Table
from ..adapters.profile_store import ProfileChanged, ProfileStore
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork, contended
from ..domain import errors
from ..domain.clock import iso
from ..domain.consent import ONE_CLICK_UNSUBSCRIBE, Statement, consents_view
from ..domain.ids import new_id
from ..domain.profiles import apply_consent, new_profile


def add_statement(uow: UnitOfWork, customer_id: str, statement: Statement, statement_id: str) -> None:
    """One statement of the ledger, in the caller's unit of work; ``statement_id``: the event id that made it (or
    the withdrawal's id)."""
    ProfileStore.add_statement(uow, customer_id, statement.to_dict(), statement.at, statement.channel, statement_id)


class Consents:
    def __init__(self, table: Table):
        self.table = table
        self.profiles = ProfileStore(table)

    def ledger(self, customer_id: str) -> list[Statement]:
        return [Statement.from_dict(i) for i in self.profiles.ledger(customer_id)]

    def view(self, customer_id: str) -> dict:
        """GET /v1/customers/{id}/consents: the current state per stated channel, the history oldest first. A
        customer who never stated anything (or is unknown) has no channel and no history."""
        return consents_view(customer_id, self.ledger(customer_id))

    def withdraw(self, customer_id: str, channel: str, now: datetime,
                 source: str = ONE_CLICK_UNSUBSCRIBE) -> bool:
        """Withdraws the channel's consent: a ledger statement and the profile's current state, in one
        transaction. False (and nothing written) when the channel is withdrawn already, so a repeat is harmless.
        The withdrawal is dated now, or at the current statement's time when that is later (a clock-skewed
        grant), so it always becomes the current state."""
        for _ in CONFLICTS.attempts():
            read = self.profiles.read(customer_id)
            profile = read.profile or new_profile(customer_id)
            current = (profile.get("consents") or {}).get(channel)
            if current is not None and not current["given"]:
                return False
            at = max(iso(now), current["at"]) if current else iso(now)
            uow = UnitOfWork(self.table)
            self.profiles.replace(uow, read, apply_consent(profile, channel, False, at, source), iso(now))
            add_statement(uow, customer_id, Statement(channel, False, at, source), new_id("wdr"))
            try:
                uow.commit(otherwise=contended)
                return True
            except ProfileChanged:
                continue
        raise errors.Contention("the customer's profile kept changing; retry")
