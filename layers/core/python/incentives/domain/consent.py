"""Consent: the ledger of what each customer agreed to per channel, and one-click unsubscribe tokens. Pure data.

The ledger keeps every statement (channel, granted, at, source, text) so consent can be proven (GDPR Art. 7(1):
when, through what, to which wording) and withdrawn as easily as given. The current state of a channel is its
newest statement by `at`, whatever order events arrive in; two statements at the same instant resolve to the
withdrawal (when in doubt, do not send).
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Iterable

from .clock import iso, parse_rfc3339
from .profiles import CHANNELS

ONE_CLICK_UNSUBSCRIBE = "one_click_unsubscribe"
UNSUBSCRIBE_PATH = "/v1/public/unsubscribe/"
TOKEN_BYTES = 24  # 192 random bits (at least 128 are needed so tokens cannot be guessed)
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")  # token_urlsafe(24): 32 characters, no padding


@dataclass(frozen=True, order=False)
class Statement:
    channel: str
    granted: bool
    at: str  # RFC 3339 UTC, second precision (clock.iso): sorts as a string
    source: str
    text: str | None = None  # the wording the customer agreed to

    def to_dict(self) -> dict:
        out = {"channel": self.channel, "granted": self.granted, "at": self.at, "source": self.source}
        if self.text is not None:
            out["text"] = self.text
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Statement:
        return cls(d["channel"], d["granted"], d["at"], d["source"], d.get("text"))


def statements_from_event(data: dict, occurred_at: datetime, event_type: str) -> list[Statement]:
    """The statements an event's data makes: `consents: {email?, sms?, push?}` (booleans), with
    `consent_source` (default: the event type) and `consent_text`. Unknown channels and non-booleans are
    ignored."""
    at = iso(occurred_at)
    source = data.get("consent_source") or event_type
    text = data.get("consent_text")
    return [Statement(channel, given, at, source, text)
            for channel, given in sorted((data.get("consents") or {}).items())
            if channel in CHANNELS and isinstance(given, bool)]


def withdrawal(channel: str, at: datetime, source: str = ONE_CLICK_UNSUBSCRIBE) -> Statement:
    return Statement(channel, False, iso(at), source)


def _rank(s: Statement) -> tuple:
    return (parse_rfc3339(s.at), not s.granted)  # at the same instant the withdrawal ranks newer


def current(statements: Iterable[Statement]) -> dict[str, Statement]:
    """Each stated channel's newest statement (channels never stated are absent)."""
    out: dict[str, Statement] = {}
    for s in statements:
        prev = out.get(s.channel)
        if prev is None or _rank(s) >= _rank(prev):
            out[s.channel] = s
    return out


def has_consent(statements: Iterable[Statement], channel: str) -> bool:
    """Recorded consent for the channel: its newest statement grants it. No statement is no consent."""
    s = current(statements).get(channel)
    return s is not None and s.granted


def consents_view(customer_id: str, statements: Iterable[Statement]) -> dict:
    """GET /v1/customers/{id}/consents: the current state per stated channel and the history, oldest first."""
    history = sorted(statements, key=_rank)
    return {"customer_id": customer_id,
            "consents": {ch: {"granted": s.granted, "at": s.at, "source": s.source}
                         for ch, s in sorted(current(history).items())},
            "history": [s.to_dict() for s in history]}


# ---- one-click unsubscribe tokens --------------------------------------------------------------------------

def new_unsubscribe_token() -> str:
    """A random token naming no customer or address; the store maps its hash (token_key) to customer and
    channel."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_key(token: str) -> str:
    """What the store keeps instead of the token: a leaked table then holds no working unsubscribe links."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed_token(token: str) -> bool:
    """Cheap shape check before any read: anything else is simply not_found."""
    return TOKEN_RE.fullmatch(token) is not None


def unsubscribe_url(base_url: str, token: str) -> str:
    """https://api.example/v1/public/unsubscribe/<token> under the public base URL (messaging.public_base_url,
    else the API's own origin)."""
    if not well_formed_token(token):
        raise ValueError("not an unsubscribe token")
    return base_url.rstrip("/") + UNSUBSCRIBE_PATH + token
