"""The one code issuer: reserve counters of a campaign's code space, format them as codes, build each code's
item and count it as issued, inside the caller's unit of work. Claims, operator issuance, bulk runs, loyalty
rewards and referral rewards issue through it (and next the journeys, which issue a code and record a send in one
unit of work: ``issue(uow, ...)`` then the send's own writes, one commit).

Every unique code is the permuted value of a counter of its code space (domain/codespace.py); counters are
reserved with one atomic ADD (adapters/codespace_store.py), so codes are unique by construction and a unit of
work that does not commit only leaves its counters unused. The code's put is still conditional
(attribute_not_exists): a collision means the code space's counter was reset (e.g. a restored table), and
overwriting would hand out someone else's code, so it fails with CodeSpaceCollision.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from collections.abc import Iterator

from ..adapters import code_store
from ..adapters.code_store import code_item
from ..adapters.codespace_store import CodeSpaceStore, Reservation
from ..adapters.dynamo import Table
from ..adapters.unit_of_work import UnitOfWork
from ..domain import errors
from ..domain.clock import iso
from ..domain.codespace import CodeSpace
from ..domain.config import Campaign, GiftCard, StoreCredit
from ..domain.variants import assign, subject_for_code

_spaces: dict[tuple[str, str], CodeSpace] = {}
_DEFAULT = object()


def space_for(campaign: Campaign) -> CodeSpace:
    sig = (campaign.codes.full_pattern, campaign.codes.charset)
    space = _spaces.get(sig)
    if space is None:
        space = _spaces[sig] = CodeSpace(*sig)
    return space


def card_fields(campaign: Campaign) -> dict:
    """A gift card or store credit code starts with the campaign's balance."""
    reward = campaign.reward
    if not isinstance(reward, GiftCard | StoreCredit):  # campaign.has_balance, narrowed for the type checker
        return {}
    return {"balance": reward.balance.amount, "currency": reward.balance.currency}


def variant_of(campaign: Campaign, subject: str) -> str | None:
    """The subject's variant of the campaign (None without an experiment)."""
    return assign(campaign.id, subject, campaign.variants) if campaign.variants else None


class CodeSpaceCollision(RuntimeError):
    """A new code exists already: impossible unless the code space's counter was reset (e.g. a restored
    table). Refusing is right: overwriting would hand out someone else's code."""


@dataclass(frozen=True)
class IssuedCode:
    code: str
    campaign_id: str
    expires_at: str | None
    holder: str | None = None
    balance: int | None = None  # gift cards and store credit
    currency: str | None = None
    variant: str | None = None  # the A/B variant of the campaign this code belongs to

    def view(self) -> dict:
        """The code as the API shows it."""
        out: dict[str, Any] = {"code": self.code, "campaign_id": self.campaign_id, "expires_at": self.expires_at}
        if self.balance is not None:
            out["balance"] = {"amount": self.balance, "currency": self.currency}
        return out


class CodeIssuer:
    def __init__(self, table: Table):
        self.table = table
        self.spaces = CodeSpaceStore(table)

    @staticmethod
    def expiry(campaign: Campaign, now: datetime) -> str | None:
        at = campaign.codes.expiry_for(now)
        return iso(at) if at else None

    def draw(self, campaign: Campaign, now: datetime, count: int = 1, holder: str | None = None,
             expires_at: str | object | None = _DEFAULT, subject: str | None = None) -> list[IssuedCode]:
        """``count`` new codes of the campaign (one UpdateItem reserves their counters). Nothing is written yet.
        With variants, each code gets the variant of ``subject`` (domain/variants.py), else of its holder, else
        of the code itself, and that variant's card balance."""
        if campaign.codes.type != "unique":
            raise errors.CodesNotIssuable(details={"campaign_id": campaign.id})
        space = space_for(campaign)
        r = self.spaces.reserve(space, count, campaign.code_capacity)
        expiry = self.expiry(campaign, now) if expires_at is _DEFAULT else expires_at
        out = []
        for c in space.codes(r.key, r.start, count):
            variant = variant_of(campaign, subject or holder or subject_for_code(c))
            card = card_fields(campaign.for_variant(variant))
            out.append(IssuedCode(c, campaign.id, expiry, holder, card.get("balance"), card.get("currency"),  # type: ignore[arg-type]
                                  variant))
        return out

    def write(self, uow: UnitOfWork, codes: list[IssuedCode], now: datetime) -> None:
        """Each code's item (conditional: the code is new) and one issued count per campaign (shard 0)."""
        created = iso(now)
        for c in codes:
            uow.put(code_item(c.code, c.campaign_id, created, c.expires_at, c.holder, balance=c.balance,
                              currency=c.currency, variant=c.variant), explain=_collision(c.code))
            self.count_issued(uow, c.campaign_id, 1, by_variant={c.variant: 1} if c.variant else None)

    @staticmethod
    def count_issued(uow: UnitOfWork, campaign_id: str, n: int, shard: int = 0,
                     by_variant: dict[str, int] | None = None) -> None:
        """Issued counts are sharded (adapters/code_store.py count_issued)."""
        code_store.count_issued(uow, campaign_id, n, shard, by_variant)

    def issue(self, uow: UnitOfWork, campaign: Campaign, now: datetime, count: int = 1, holder: str | None = None,
              expires_at: str | object | None = _DEFAULT, subject: str | None = None) -> list[IssuedCode]:
        """draw + write: the codes exist exactly when ``uow`` commits."""
        codes = self.draw(campaign, now, count, holder, expires_at, subject)
        self.write(uow, codes, now)
        return codes

    # --- bulk runs: whole chunks of a reservation, written with BatchWriteItem (services/issuance.py) ---------

    def reserve(self, campaign: Campaign, count: int) -> Reservation:
        return self.spaces.reserve(space_for(campaign), count, campaign.code_capacity)

    def space_key(self, campaign: Campaign) -> bytes:
        return self.spaces.key(space_for(campaign))

    @staticmethod
    def chunk_items(campaign: Campaign, key: bytes, first: int, size: int, created: str, expires_at: str | None,
                    job_id: str) -> Iterator[dict]:
        """The items of counters first..first+size-1 of a bulk job's reservation (counted by the caller)."""
        for c in space_for(campaign).codes(key, first, size):
            variant = variant_of(campaign, subject_for_code(c))
            yield code_item(c, campaign.id, created, expires_at, job_id=job_id, variant=variant,
                            **card_fields(campaign.for_variant(variant)))

    def put_chunk(self, items: list[dict], skip_existing: bool) -> None:
        """A bulk chunk's code items, none over a code that exists when ``skip_existing``."""
        code_store.put_chunk(self.table, items, skip_existing)

def _collision(code: str):
    def explain(_old):
        return CodeSpaceCollision(f"code {code} exists already: was the code space's counter reset?")
    return explain
