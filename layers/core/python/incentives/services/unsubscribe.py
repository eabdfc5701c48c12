"""One-click unsubscribe (RFC 8058): the token a message's List-Unsubscribe link carries, and what its POST does.

A token is 192 random bits (domain/consent.py) naming no customer or address; the table keeps only its SHA-256
hash (keys.unsubscribe), so a leaked table holds no working links. The sender creates the token item in the
transaction that records the send (``unsubscribe_token_item``); POST withdraws that channel's consent
(services/consents.py: profile and ledger in one transaction, source ``one_click_unsubscribe``); GET only shows a
page with a button, since mail scanners follow links.
"""
from __future__ import annotations

import html
from datetime import datetime

from ..adapters.dynamo import Table
from ..adapters.profile_store import ProfileStore
from ..domain import errors
from ..domain.clock import iso
from ..domain.consent import new_unsubscribe_token, token_key, well_formed_token
from .consents import Consents

ONE_CLICK_BODY = ("List-Unsubscribe", "One-Click")  # RFC 8058: the POST's form body


def unsubscribe_token_item(customer_id: str, channel: str, journey_id: str, now: datetime) -> tuple[str, dict]:
    """A new token and the item to store for it: ``token, item = unsubscribe_token_item(...)``, then
    ``uow.put(item)`` in the send's unit of work (the put's default condition, attribute_not_exists, refuses a
    collision that 192 random bits make impossible in practice), and put
    ``consent.unsubscribe_url(base_url, token)`` in the message. The token itself is stored nowhere."""
    token = new_unsubscribe_token()
    return token, ProfileStore.unsubscribe_item(token_key(token), customer_id, channel, journey_id, iso(now))


class Unsubscribe:
    def __init__(self, table: Table):
        self.table = table
        self.consents = Consents(table)

    def _target(self, token: str) -> dict:
        item = ProfileStore(self.table).unsubscribe_target(token_key(token)) if well_formed_token(token) else None
        if item is None:
            raise errors.NotFound("no such unsubscribe link")
        return item

    def page(self, token: str) -> str:
        """The GET page: what the button does, and a form that POSTs the one-click body to the same URL (no
        action attribute: whatever stage or domain served the page). Changes nothing; names no one (the channel
        only)."""
        target = self._target(token)
        channel = html.escape(target["channel"])
        name, value = ONE_CLICK_BODY
        return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                "<title>Unsubscribe</title></head><body>"
                f"<h1>Unsubscribe</h1><p>Stop receiving these messages by {channel}?</p>"
                '<form method="post">'
                f'<input type="hidden" name="{name}" value="{value}">'
                '<button type="submit">Unsubscribe</button></form></body></html>')

    def unsubscribe(self, token: str, now: datetime) -> dict:
        """Withdraws the token's channel. A repeat (or a withdrawal since) changes nothing and answers the same.
        Any POST body is accepted: RFC 8058 clients send List-Unsubscribe=One-Click form-encoded or as
        multipart/form-data, and a POST to the unguessable URL is the intent itself (GET never withdraws)."""
        target = self._target(token)
        self.consents.withdraw(target["customer_id"], target["channel"], now)
        return {"status": "unsubscribed", "channel": target["channel"]}
