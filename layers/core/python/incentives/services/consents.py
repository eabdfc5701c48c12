"""The consent ledger: every statement a customer made per channel (domain/consent.py), as items under the
customer's profile partition (keys.consent_statement), and the profile's current state per channel.

Statements are written in the transaction of the profile update they cause: the event ingest
(services/events.py) and the one-click unsubscribe (services/unsubscribe.py, ``withdraw`` below). Reading the
ledger is one Query of the profile's partition (sk begins_with CONSENT#), never a scan.
"""
from __future__ import annotations

from datetime import datetime

from ..adapters import keys
from ..adapters.dynamo import Table, values
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork, always
from ..domain import errors
from ..domain.clock import iso
from ..domain.consent import ONE_CLICK_UNSUBSCRIBE, Statement, consents_view
from ..domain.ids import new_id
from ..domain.profiles import apply_consent, new_profile


def ledger_item(customer_id: str, statement: Statement, statement_id: str) -> dict:
    """The ledger item of one statement; ``statement_id``: the event id that made it (or the withdrawal's id)."""
    pk, sk = keys.consent_statement(customer_id, statement.at, statement.channel, statement_id)
    return {"pk": pk, "sk": sk, **statement.to_dict(), "statement_id": statement_id}


class Consents:
    def __init__(self, table: Table):
        self.table = table

    def ledger(self, customer_id: str) -> list[Statement]:
        pk = keys.customer_profile(customer_id)[0]
        return [Statement.from_dict(i) for i in self.table.query(pk, keys.CONSENT_PREFIX)]

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
        ppk, psk = keys.customer_profile(customer_id)
        for _ in CONFLICTS.attempts():
            old = self.table.get(ppk, psk, consistent=True)
            profile = {k: v for k, v in (old or {}).items() if k not in ("pk", "sk")} or new_profile(customer_id)
            current = (profile.get("consents") or {}).get(channel)
            if current is not None and not current["given"]:
                return False
            at = max(iso(now), current["at"]) if current else iso(now)
            statement = Statement(channel, False, at, source)
            profile = apply_consent(profile, channel, False, at, source)
            version = (old or {}).get("version", 0)
            profile.update(pk=ppk, sk=psk, version=version + 1, updated_at=iso(now))
            uow = UnitOfWork(self.table)
            if old is None:
                uow.put(profile, explain=always(_ProfileChanged))
            else:
                uow.put(profile, "version = :v", vals=values(v=version), explain=always(_ProfileChanged))
            uow.put(ledger_item(customer_id, statement, new_id("wdr")), condition=None)
            try:
                uow.commit(otherwise=lambda e: errors.Contention(details={"reasons": e.reasons}))
                return True
            except _ProfileChanged:
                continue
        raise errors.Contention("the customer's profile kept changing; retry")


class _ProfileChanged(Exception):
    """An event of the customer changed the profile after it was read."""
