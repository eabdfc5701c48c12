"""The customers' repository: the profile (one item per customer, replaced under a version), its consent ledger
(statement items under the profile's partition), the customer's events as stored for the fan-out, and the
one-click unsubscribe tokens. The services (events.py, consents.py, unsubscribe.py, journey_index.py) speak in
profiles (plain dicts of domain/profiles.py's shape, without keys), Statements and Versioned reads; the keys and the
conditions live here.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import keys
from .dynamo import Table, values
from .unit_of_work import UnitOfWork, always


class ProfileChanged(Exception):
    """The profile changed after it was read (another event or a withdrawal): read again and decide again."""


class EventSeen(Exception):
    """The event's id was stored before."""


@dataclass(frozen=True)
class Versioned:
    """A profile as read: its fields (no keys) and the version it was read at (None: no profile yet)."""
    customer_id: str
    profile: dict | None
    version: int | None

    @property
    def exists(self) -> bool:
        return self.version is not None


class ProfileStore:
    def __init__(self, table: Table):
        self.table = table

    # --- reads ----------------------------------------------------------------------------------------------

    def get(self, customer_id: str) -> dict | None:
        """The profile item as stored (consistent read)."""
        return self.table.get(*keys.customer_profile(customer_id), consistent=True)

    def read(self, customer_id: str) -> Versioned:
        item = self.get(customer_id)
        if item is None:
            return Versioned(customer_id, None, None)
        return Versioned(customer_id, {k: v for k, v in item.items() if k not in ("pk", "sk")},
                         int(item.get("version", 0)))

    def ledger(self, customer_id: str) -> list[dict]:
        """The consent statements as stored, oldest first (one Query of the profile's partition)."""
        return self.table.query(keys.customer_profile(customer_id)[0], keys.CONSENT_PREFIX)

    def unsubscribe_target(self, token_hash: str) -> dict | None:
        return self.table.get(*keys.unsubscribe(token_hash))

    # --- writes, into the caller's unit of work --------------------------------------------------------------

    @staticmethod
    def replace(uow: UnitOfWork, read: Versioned, profile: dict, now_iso: str) -> None:
        """The whole profile, over the version that was read (a new one: only if there is none); a changed
        profile is ProfileChanged."""
        pk, sk = keys.customer_profile(read.customer_id)
        version = read.version or 0
        item = {**profile, "pk": pk, "sk": sk, "version": version + 1, "updated_at": now_iso}
        if read.exists:
            uow.put(item, "version = :v", vals=values(v=version), explain=always(ProfileChanged))
        else:
            uow.put(item, explain=always(ProfileChanged))

    @staticmethod
    def add_statement(uow: UnitOfWork, customer_id: str, statement: dict, at: str, channel: str,
                      statement_id: str) -> None:
        """One statement of the consent ledger (``statement_id``: the event id that made it, or a withdrawal's);
        an event delivered twice writes the same item."""
        pk, sk = keys.consent_statement(customer_id, at, channel, statement_id)
        uow.put({"pk": pk, "sk": sk, **statement, "statement_id": statement_id}, condition=None)

    @staticmethod
    def store_event(uow: UnitOfWork, record: dict, customer_id: str, sort_key: str) -> None:
        """The customer's event as published (no PII), once per id (EventSeen), on the customer's gsi1
        partition for erasure and consumers that replay history."""
        pk, sk = keys.event(record["id"])
        uow.put({"pk": pk, "sk": sk, **record, "gsi1pk": keys.customer_gsi(customer_id), "gsi1sk": sort_key},
                explain=always(EventSeen))

    @staticmethod
    def unsubscribe_item(token_hash: str, customer_id: str, channel: str, journey_id: str, created_at: str) -> dict:
        """The item behind a one-click unsubscribe link: only the token's hash is stored; erasure finds it on the
        customer's gsi1 partition. Put it with the default condition (attribute_not_exists)."""
        pk, sk = keys.unsubscribe(token_hash)
        return {"pk": pk, "sk": sk, "customer_id": customer_id, "channel": channel, "journey_id": journey_id,
                "created_at": created_at, "gsi1pk": keys.customer_gsi(customer_id), "gsi1sk": f"UNSUB#{created_at}"}
