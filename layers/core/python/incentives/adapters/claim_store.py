"""The landing-page claims' repository: the claim record (one per e-mail pseudonym and campaign: the
one-code-per-e-mail lock), the campaign's claim counter and the claim rate-limit windows.

services/claims.py speaks in Claim objects; the keys and the conditions live here. A failed condition reaches the
service as a typed error: ClaimedBefore (the e-mail claimed before: its Claim when the old image came with the
cancellation) or errors.ClaimsExhausted (max_claims reached).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from collections.abc import Sequence

from ..domain import errors
from . import keys
from .dynamo import Table
from .rate_limit import RateLimiter
from .unit_of_work import UnitOfWork, always

Key = tuple[str, str]


@dataclass(frozen=True)
class Claim:
    """One landing-page claim: the code handed to an e-mail pseudonym (never the address itself)."""
    campaign_id: str
    email_hash: str
    code: str
    created_at: str
    country: str | None = None
    expires_at: str | None = None
    consent: dict | None = None  # {"email": {"given", "at", "source"}} when the form asked
    variant: str | None = None

    @property
    def key(self) -> Key:
        return keys.claim(self.campaign_id, self.email_hash)

    def item(self) -> dict:
        pk, sk = self.key
        return {"pk": pk, "sk": sk, "campaign_id": self.campaign_id, "email_hash": self.email_hash,
                "code": self.code, "country": self.country, "created_at": self.created_at,
                "expires_at": self.expires_at, "consent": self.consent, "variant": self.variant}

    @classmethod
    def from_item(cls, item: dict) -> Claim:
        campaign_id, email_hash = item["pk"].split("#", 1)[1].rsplit("#", 1)
        return cls(item.get("campaign_id", campaign_id), item.get("email_hash", email_hash), item["code"],
                   item.get("created_at", ""),
                   item.get("country"), item.get("expires_at"), item.get("consent"), item.get("variant"))


class ClaimedBefore(Exception):
    """A claim of this e-mail exists in the campaign (under ``email_hash``: the keyed pseudonym or a legacy one).
    ``claim`` is it when the cancellation carried its old image, else None (read it with ClaimStore.get)."""

    def __init__(self, claim: Claim | None, campaign_id: str, email_hash: str):
        super().__init__("claimed before")
        self.claim = claim
        self.campaign_id = campaign_id
        self.email_hash = email_hash


class ClaimStore:
    def __init__(self, table: Table):
        self.table = table
        self.limiter = RateLimiter(table)

    # --- reads ----------------------------------------------------------------------------------------------

    def get(self, campaign_id: str, email_hash: str) -> Claim | None:
        item = self.table.get(*keys.claim(campaign_id, email_hash), consistent=True)
        return Claim.from_item(item) if item else None

    # --- the rate-limit windows (one conditional ADD each, before the transaction) -------------------------

    def throttle(self, campaign_id: str, client_id: str, per_client_per_minute: int, per_campaign_per_second: int,
                 now: datetime) -> None:
        """errors.RateLimited when this client's minute or the campaign's second is used up."""
        self.limiter.hit(f"claims#{campaign_id}#client#{client_id}", per_client_per_minute, 60, now)
        self.limiter.hit(f"claims#{campaign_id}", per_campaign_per_second, 1, now)

    # --- writes, into the caller's unit of work --------------------------------------------------------------

    @staticmethod
    def record(uow: UnitOfWork, claim: Claim, legacy_hashes: Sequence[str] = ()) -> None:
        """The claim, on condition that this e-mail has none in the campaign yet, neither under its keyed
        pseudonym nor under a legacy one (claims made before the key existed): else ClaimedBefore."""
        uow.put(claim.item(), explain=_claimed(claim.campaign_id, claim.email_hash))
        for h in legacy_hashes:
            uow.check(keys.claim(claim.campaign_id, h), "attribute_not_exists(pk)",
                      explain=_claimed(claim.campaign_id, h))

    @staticmethod
    def count(uow: UnitOfWork, campaign_id: str, max_claims: int | None, now_iso: str) -> None:
        """One more claim on the campaign's counters, within ``max_claims`` (errors.ClaimsExhausted)."""
        counters = keys.campaign_counters(campaign_id)
        uow.add(counters, claims=1).set(counters, updated_at=now_iso)
        if max_claims is not None:
            uow.cond(counters, "attribute_not_exists(claims) OR claims < :c_max",
                     explain=always(lambda: errors.ClaimsExhausted(details={"max_claims": max_claims})),
                     c_max=max_claims)


def _claimed(campaign_id: str, email_hash: str):
    def explain(old: Any) -> Exception:
        return ClaimedBefore(Claim.from_item(old) if old else None, campaign_id, email_hash)
    return explain
