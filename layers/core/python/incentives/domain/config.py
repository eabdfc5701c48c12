"""Campaign config: the shapes operators write in config/campaigns/<id>.yaml and config/segments/<id>.yaml.

Declared once as frozen dataclasses with their constraints (schema.py). pydantic validates the files at synth
time (a broken file fails the deploy), in `make test` and when `make run` reads them (config_files.py); a
deployed function reads the JSON document from AppConfig with schema.parse, which runs the same constraints and
invariants without importing pydantic (cold start).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


from .clock import UTC, parse_rfc3339
from .codespace import CodeSpace
from .errors import CampaignNotFound, ConfigError
from .money import CURRENCIES, MAX_AMOUNT, Money
from .schema import Dec, FieldInvalid, Int, SchemaError, StrictBool, Tag, Text, dump, model, parse
from .variants import VARIANT_ID_PATTERN

if TYPE_CHECKING:
    from .journeys import Journey, Messaging
    from .programs import LoyaltyProgram, ReferralProgram

# No look-alikes: no 0/O, 1/I/L. 31 characters.
DEFAULT_CHARSET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MIN_CODE_SPACE = 10**9  # random combinations a unique-code pattern must offer, so codes cannot be guessed
# A guess of a code that matches the pattern succeeds with probability issued / combinations. A code space hands
# out at most combinations x p codes (adapters/codespace_store.py refuses more), and config validation refuses a
# pattern too small for the codes the campaign says it issues. Bearer money (gift cards, store credit) is spent
# by whoever types the code, with no customer binding or eligibility rule in the way: 1000x stricter
# (docs/decision-log.md "Guessing").
GUESS_PROBABILITY = 1e-6
BEARER_GUESS_PROBABILITY = 1e-9
MIN_CODES = 500  # every unique-code campaign can issue at least this many within its bound
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
BUILTIN_SEGMENTS = ("new_customers", "returning_customers", "lapsed_customers")

Id = Annotated[str, Text(pattern=ID_PATTERN)]
Count = Annotated[int, Int(ge=1)]
MAX_COUNTER_SHARDS = 32


class _Model:
    """Config objects: immutable, and a field nobody declared is an error (a typo must not pass silently)."""

    __slots__ = ()
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}


@model
class Amount(_Model):
    amount: Annotated[int, Int(ge=0, le=MAX_AMOUNT)]
    currency: str

    def __post_init__(self) -> None:
        if self.currency not in CURRENCIES:
            raise FieldInvalid("currency", f"unknown currency {self.currency!r} (ISO 4217, upper case)")

    def money(self) -> Money:
        return Money(self.amount, self.currency)


@model
class Schedule(_Model):
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise FieldInvalid("timezone", f"unknown IANA time zone {self.timezone!r}") from None
        s, e = self.starts_at_utc, self.ends_at_utc
        if s and e and e <= s:
            raise ValueError("ends_at must be after starts_at")

    def _utc(self, dt: datetime | None) -> datetime | None:
        if dt is None:
            return None
        if dt.tzinfo is None:  # a wall-clock time in the campaign's zone
            dt = dt.replace(tzinfo=ZoneInfo(self.timezone))
        return dt.astimezone(UTC)

    @property
    def starts_at_utc(self) -> datetime | None:
        return self._utc(self.starts_at)

    @property
    def ends_at_utc(self) -> datetime | None:
        return self._utc(self.ends_at)


@model
class Codes(_Model):
    type: Literal["unique", "public"]
    code: str | None = None
    pattern: str = "########"
    prefix: str = ""
    postfix: str = ""
    charset: str = DEFAULT_CHARSET
    expires_in_days: Annotated[int, Int(ge=1, le=3650)] | None = None
    expires_at: datetime | None = None
    bind_to_customer: StrictBool = False
    # how many codes the campaign will issue at most (all runs together): the pattern must be large enough
    max_codes: Count | None = None

    def __post_init__(self) -> None:
        v = self.charset
        if len(v) < 2 or len(set(v)) != len(v):
            raise FieldInvalid("charset", "needs at least 2 distinct characters, each once")
        if v != v.upper() or not all(c.isascii() and c.isalnum() for c in v):
            raise FieldInvalid("charset", "upper-case ASCII letters and digits only (codes are case-insensitive)")
        if self.code is not None and not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{2,63}", self.code):
            raise FieldInvalid("code", "a public code is 3-64 upper-case letters, digits or dashes")
        if self.type == "public" and not self.code:
            raise ValueError("a public campaign needs codes.code")
        if self.type == "unique":
            full = self.full_pattern
            if not re.fullmatch(r"[A-Z0-9#-]{1,64}", full):
                raise ValueError("pattern, prefix and postfix use upper-case letters, digits, '-' and '#'")
            if len(self.charset) ** full.count("#") < MIN_CODE_SPACE:
                raise ValueError(f"pattern offers fewer than {MIN_CODE_SPACE:,} combinations: codes could be guessed")
            CodeSpace(full, self.charset)  # raises for spaces too large to permute
        if self.expires_in_days is not None and self.expires_at is not None:
            raise ValueError("give expires_in_days or expires_at, not both")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs a time zone offset (RFC 3339)")

    @property
    def full_pattern(self) -> str:
        return self.prefix + self.pattern + self.postfix

    @property
    def combinations(self) -> int:
        return len(self.charset) ** self.full_pattern.count("#")

    def capacity(self, probability: float) -> int:
        """The most codes this pattern may hand out so a guess succeeds with at most ``probability``."""
        return int(self.combinations * probability)

    def needed_size(self, codes: int, probability: float) -> str:
        """What a pattern needs for ``codes`` codes: combinations and the number of '#' of this charset."""
        need = codes * round(1 / probability)
        hashes = 1
        while len(self.charset) ** hashes < need:
            hashes += 1
        return f"at least {need:,} combinations ({hashes} '#' with this {len(self.charset)}-character charset)"

    def expiry_for(self, issued_at: datetime) -> datetime | None:
        if self.expires_at is not None:
            return self.expires_at.astimezone(UTC)
        if self.expires_in_days is not None:
            return issued_at + timedelta(days=self.expires_in_days)
        return None


@model
class PercentOff(_Model):
    type: Literal["percent_off"]
    percent: Annotated[Decimal, Dec(gt=0, le=100, max_digits=6, decimal_places=3)]
    max_amount: Amount | None = None


@model
class AmountOff(_Model):
    type: Literal["amount_off"]
    amount: Amount


@model
class FreeShipping(_Model):
    type: Literal["free_shipping"]


@model
class ItemSelector(_Model):
    sku: str | None = None
    category: str | None = None
    quantity: Annotated[int, Int(ge=1, le=1000)] = 1

    def __post_init__(self) -> None:
        if (self.sku is None) == (self.category is None):
            raise ValueError("give sku or category")


@model
class BuyXGetY(_Model):
    type: Literal["buy_x_get_y"]
    buy: ItemSelector
    get: ItemSelector


@model
class GiftCard(_Model):
    type: Literal["gift_card"]
    balance: Amount


@model
class StoreCredit(_Model):
    type: Literal["store_credit"]
    balance: Amount


Reward = Annotated[PercentOff | AmountOff | FreeShipping | BuyXGetY | GiftCard | StoreCredit, Tag("type")]

BALANCE_REWARDS = ("gift_card", "store_credit")


VariantId = Annotated[str, Text(pattern=VARIANT_ID_PATTERN)]
Weight = Annotated[int, Int(ge=1, le=1_000_000)]


@model
class Variant(_Model):
    """One arm of a campaign's experiment: its relative weight and, optionally, its own reward."""

    id: VariantId
    weight: Weight
    reward: Reward | None = None  # None: the campaign's reward


def check_variant_ids(variants: list) -> None:
    """What every experiment needs: at least two arms, each id once (raises FieldInvalid at `variants`)."""
    if len(variants) < 2:
        raise FieldInvalid("variants", "an experiment needs at least 2 variants")
    ids = [v.id for v in variants]
    if len(set(ids)) != len(ids):
        raise FieldInvalid("variants", f"variant ids must be unique, found {ids}")


@model
class PeriodLimit(_Model):
    count: Count
    period: Literal["day", "week", "month"]  # calendar periods in the campaign's time zone (ISO weeks)


@model
class Limits(_Model):
    per_code: Count | None = None
    per_customer: Count | None = None
    per_customer_per_period: PeriodLimit | None = None
    total_redemptions: Count | None = None
    budget: Amount | None = None
    # Hot codes: the public code's count, total_redemptions, budget and the campaign's stats counters spread
    # over this many items (domain/shards.py). Fixed for a campaign's life: set it before the first redemption.
    counter_shards: Annotated[int, Int(ge=1, le=MAX_COUNTER_SHARDS)] = 1


@model
class ItemFilter(_Model):
    skus: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)


@model
class Eligibility(_Model):
    countries: list[str] | None = None
    min_order_amount: Amount | None = None
    first_order_only: StrictBool = False
    segments: list[str] = field(default_factory=list)
    include: ItemFilter | None = None
    exclude: ItemFilter | None = None
    # The customer's locale must match one: exactly ("de-AT"), or by language when the entry is one ("de").
    locales: list[str] | None = None

    def locale_allowed(self, locale: str | None) -> bool:
        if self.locales is None:
            return True
        if not locale:
            return False
        wanted = locale.replace("_", "-").lower()
        return any(entry.lower() in (wanted, wanted.split("-")[0]) for entry in self.locales)

    def __post_init__(self) -> None:
        for loc in self.locales or []:
            if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", loc):
                raise FieldInvalid("locales", f"{loc!r} is not a BCP 47 language tag (de, de-AT)")
        for sid in self.segments:
            if not re.fullmatch(ID_PATTERN, sid.replace("_", "-")):
                raise FieldInvalid("segments", f"segment id {sid!r} is not a valid id")
        # whether a segment exists is checked with all files loaded (ConfigBundle)
        for c in self.countries or []:
            if not re.fullmatch(r"[A-Z]{2}", c):
                raise FieldInvalid("countries", f"{c!r} is not an ISO 3166-1 alpha-2 code")


@model
class ClaimRateLimit(_Model):
    per_client_per_minute: Count = 10
    per_campaign_per_second: Count = 100


@model
class Claims(_Model):
    allowed_origins: list[str] = field(default_factory=list)
    max_claims: Count | None = None
    rate_limit: ClaimRateLimit = field(default_factory=ClaimRateLimit)
    # response: the answer carries the code; email: the code is mailed (with its QR code) to the address that
    # claimed it, and the answer carries none, so codes cannot be harvested without the mailbox.
    delivery: Literal["response", "email"] = "response"

    def __post_init__(self) -> None:
        for o in self.allowed_origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d+)?", o):
                raise FieldInvalid("allowed_origins", f"origin {o!r} must be scheme://host[:port] without a path")


@model
class Campaign(_Model):
    id: Id
    name: str = ""
    enabled: StrictBool = True
    schedule: Schedule | None = None
    codes: Codes
    reward: Reward
    limits: Limits = field(default_factory=Limits)
    eligibility: Eligibility = field(default_factory=Eligibility)
    claims: Claims | None = None
    # A full refund of the order (order.refunded) rolls its redemption back: the code, limits and budget are
    # given back. Off by default: many shops keep a used single-use code used even when the order is refunded.
    rollback_on_refund: StrictBool = False
    # Codes bound to a customer apply to their next order without being typed: POST /v1/qualifications lists
    # them (best first) and the storefront redeems the one it picks.
    auto_apply: StrictBool = False
    # May this campaign's code be redeemed together with codes of other campaigns in one order (stacking)?
    combinable: StrictBool = False
    # A/B variants (domain/variants.py): each customer is assigned one, by a hash; absent = no experiment.
    variants: list[Variant] | None = None

    def __post_init__(self) -> None:
        if self.variants is not None:
            check_variant_ids(self.variants)
            for i, v in enumerate(self.variants):
                if v.reward is not None and (v.reward.type in BALANCE_REWARDS or self.reward.type in BALANCE_REWARDS) \
                        and v.reward.type != self.reward.type:
                    raise FieldInvalid(f"variants.{i}.reward", f"a {self.reward.type} campaign's variant cannot give "
                                       f"{v.reward.type}: cards and discounts are kept differently")
                mine = {a.currency for a in _reward_amounts(v.reward)}
                base = {a.currency for a in self._amounts(with_variants=False)}
                if len(mine | base) > 1:
                    raise FieldInvalid(f"variants.{i}.reward", "all amounts of a campaign use one currency, found "
                                       f"{sorted(mine | base)}")
        currencies = {a.currency for a in self._amounts()}
        if len(currencies) > 1:
            raise ValueError(f"all amounts of a campaign use one currency, found {sorted(currencies)}")
        if self.claims is not None and self.codes.type != "unique":
            raise ValueError("claims hand out unique codes: codes.type must be unique")
        if self.auto_apply and self.codes.type != "unique":
            raise ValueError("auto_apply works on codes bound to customers: codes.type must be unique")
        if self.reward.type in BALANCE_REWARDS and self.codes.type != "unique":
            raise ValueError(f"{self.reward.type}: each card has its own balance, so codes.type must be unique")
        if self.claims is not None and self.reward.type in BALANCE_REWARDS:
            raise ValueError(f"claims hand codes to anyone with an e-mail address: a {self.reward.type} carries "
                             "money, so it cannot be claimed on a landing page (issue it to a customer instead)")
        if self.codes.type == "unique":
            self._check_code_space()

    @property
    def guess_probability(self) -> float:
        return BEARER_GUESS_PROBABILITY if self.reward.type in BALANCE_REWARDS else GUESS_PROBABILITY

    @property
    def code_capacity(self) -> int:
        """The most codes the campaign's code space may hand out (its guess bound)."""
        return self.codes.capacity(self.guess_probability)

    def _check_code_space(self) -> None:
        p = self.guess_probability
        wanted = {"codes.max_codes": self.codes.max_codes,
                  "claims.max_claims": self.claims.max_claims if self.claims is not None else None}
        for name, n in (*((k, v) for k, v in wanted.items() if v is not None), ("the minimum", MIN_CODES)):
            if self.code_capacity < n:
                kind = "bearer money (gift cards, store credit)" if p == BEARER_GUESS_PROBABILITY else "a code"
                raise FieldInvalid(
                    "codes.pattern",
                    f"{self.codes.full_pattern!r} offers {self.codes.combinations:,} combinations: {n:,} codes "
                    f"({name}) with a guess succeeding at most with probability {p:g} ({kind}) need "
                    f"{self.codes.needed_size(n, p)}")

    def _amounts(self, with_variants: bool = True) -> list[Amount]:
        found = [self.limits.budget, self.eligibility.min_order_amount, *_reward_amounts(self.reward)]
        for v in (self.variants or ()) if with_variants else ():
            found += _reward_amounts(v.reward)
        return [a for a in found if isinstance(a, Amount)]

    def variant_ids(self) -> list[str]:
        return [v.id for v in self.variants or ()]

    def for_variant(self, variant_id: str | None) -> Campaign:
        """The campaign as a customer of this variant sees it: the variant's reward in place of the campaign's
        (itself when the variant has none, or is unknown: a code of an arm that was removed keeps the default)."""
        v = next((v for v in self.variants or () if v.id == variant_id), None)
        if v is None or v.reward is None:
            return self
        return dataclasses.replace(self, reward=v.reward)

    @property
    def counts_customer(self) -> bool:
        """Whether redemptions are counted per customer (a lifetime or a per-period limit)."""
        return self.limits.per_customer is not None or self.limits.per_customer_per_period is not None

    @property
    def timezone(self) -> str:
        return self.schedule.timezone if self.schedule is not None else "UTC"

    @property
    def has_balance(self) -> bool:
        return self.reward.type in BALANCE_REWARDS

    @property
    def currency(self) -> str | None:
        """The campaign's currency when any amount fixes one (percent-only campaigns take any currency)."""
        amounts = self._amounts()
        return amounts[0].currency if amounts else None


def _reward_amounts(reward: Reward | None) -> list[Amount]:
    found = [getattr(reward, name, None) for name in ("max_amount", "amount", "balance")]
    return [a for a in found if isinstance(a, Amount)]


@model
class Segment(_Model):
    """A custom segment (config/segments/<id>.yaml): customers whose profile meets every condition given."""

    id: Id
    name: str = ""
    countries: list[str] | None = None
    tags_any: list[str] = field(default_factory=list)
    min_order_count: Annotated[int, Int(ge=0)] | None = None
    max_order_count: Annotated[int, Int(ge=0)] | None = None
    min_total_spent: Amount | None = None
    ordered_within_days: Count | None = None
    no_order_for_days: Count | None = None

    def matches(self, profile: dict | None, now: datetime) -> bool:
        p = profile or {}
        count = p.get("order_count", 0)
        last = p.get("last_order_at")
        if self.countries is not None and p.get("country") not in self.countries:
            return False
        if self.tags_any and not set(self.tags_any) & set(p.get("tags", [])):
            return False
        if self.min_order_count is not None and count < self.min_order_count:
            return False
        if self.max_order_count is not None and count > self.max_order_count:
            return False
        if self.min_total_spent is not None and \
                p.get("total_spent", {}).get(self.min_total_spent.currency, 0) < self.min_total_spent.amount:
            return False
        days_since = (now - parse_rfc3339(last)).days if last else None
        if self.ordered_within_days is not None and (days_since is None or days_since > self.ordered_within_days):
            return False
        if self.no_order_for_days is not None and days_since is not None and days_since < self.no_order_for_days:
            return False
        return True


@dataclass
class ConfigBundle:
    """All campaigns, segments and programs, plus the lookups the hot path needs (public code -> campaign,
    pattern -> campaign)."""

    campaigns: dict[str, Campaign]
    segments: dict[str, Segment] = field(default_factory=dict)
    referral_programs: dict[str, ReferralProgram] = field(default_factory=dict)
    loyalty_programs: dict[str, LoyaltyProgram] = field(default_factory=dict)
    public_codes: dict[str, str] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern, str]] = field(default_factory=list)
    # Journeys and messaging (domain/journeys.py) as deployed: {"journeys": {id: {...}}, "messaging"?: {...}}.
    # Parsed and checked on first use of .journeys / .messaging, so functions that never send (checkout) neither
    # import nor parse them; load_config_dir reads them at once, so a broken journey fails synth and tests.
    journey_document: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        spaces: dict[tuple[str, str], str] = {}
        clash = sorted(set(self.segments) & {b.replace("_", "-") for b in BUILTIN_SEGMENTS} |
                       set(self.segments) & set(BUILTIN_SEGMENTS))
        if clash:
            raise ConfigError(f"segments {clash} would hide the built-in segments of the same name")
        known = set(BUILTIN_SEGMENTS) | set(self.segments)
        for c in self.campaigns.values():
            if c.claims is not None and c.claims.delivery == "email" and "messaging" not in self.journey_document:
                raise ConfigError(f"campaign {c.id}: claims.delivery: email needs config/messaging.yaml (from_email)")
            unknown = sorted(set(c.eligibility.segments) - known)
            if unknown:
                raise ConfigError(f"campaign {c.id}: eligibility.segments: unknown segments {unknown}; "
                                  f"known: {sorted(known)}")
            if c.codes.type == "public":
                code = c.codes.code
                if code is None:  # Codes.__post_init__ already refuses this; narrows the type
                    raise ConfigError(f"campaign {c.id}: a public campaign needs codes.code")
                other = self.public_codes.setdefault(code, c.id)
                if other != c.id:
                    raise ConfigError(f"campaigns {other} and {c.id} use the same public code {code}")
            else:
                self.patterns.append((pattern_regex(c.codes.full_pattern, c.codes.charset), c.id))
                spaces.setdefault((c.codes.full_pattern, c.codes.charset), c.id)
        # Codes are unique by construction within a code space (pattern + charset); two different spaces must
        # not be able to produce the same code, and no public code may look like a unique one.
        items = list(spaces.items())
        for i, (a, ca) in enumerate(items):
            for b, cb in items[i + 1:]:
                if spaces_overlap(a, b):
                    raise ConfigError(f"campaigns {ca} and {cb}: code patterns {a[0]!r} and {b[0]!r} can produce "
                                      "the same code; give them different literal prefixes, or the same pattern "
                                      "and charset to share one code space")
        for code, cid in self.public_codes.items():
            for rx, other in self.patterns:
                if rx.fullmatch(code):
                    raise ConfigError(f"campaign {cid}: public code {code} matches the code pattern of {other}")
        if self.referral_programs or self.loyalty_programs:
            from .programs import check_references  # programs build on this module's shapes

            check_references(self)

    @property
    def journeys(self) -> dict[str, Journey]:
        return self.journey_config()[0]

    @property
    def messaging(self) -> Messaging | None:
        return self.journey_config()[1]

    def journey_config(self) -> tuple[dict[str, Journey], Messaging | None]:
        """Journeys and messaging, parsed and checked against campaigns, segments and programs on first use;
        raises ConfigError naming the journey and field."""
        parsed = self.__dict__.get("_journey_config")
        if parsed is None:
            from .journeys import read_journeys

            parsed = self.__dict__["_journey_config"] = read_journeys(self, self.journey_document)
        return parsed

    def campaign(self, campaign_id: str) -> Campaign:
        """The campaign with this id, or campaign_not_found."""
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            raise CampaignNotFound(details={"campaign_id": campaign_id})
        return campaign

    def campaign_for_code(self, code: str) -> str | None:
        """The campaign a code must belong to, when exactly one campaign could have made it (no I/O)."""
        if code in self.public_codes:
            return self.public_codes[code]
        hits = [cid for rx, cid in self.patterns if rx.fullmatch(code)]
        return hits[0] if len(hits) == 1 else None

    def warnings(self) -> list[str]:
        """What validates but may not be what the operator meant (tools.config prints them before any upload).

        A unique campaign without limits.per_code is valid: a customer's personal "10 % on every order" code is
        meant to be used again. But most unique codes are single-use, and without per_code each one is
        redeemable any number of times, so a leaked one acts like a public code. It warns rather than refuses:
        gift cards and store credit are limited by their balance and are never warned about."""
        out = []
        for c in sorted(self.campaigns.values(), key=lambda c: c.id):
            if c.codes.type == "unique" and c.limits.per_code is None and not c.has_balance:
                who = "its holder" if c.codes.bind_to_customer else "anyone who has it"
                out.append(f"campaign {c.id}: unique codes without limits.per_code: each code may be redeemed any "
                           f"number of times by {who} until per_customer, total_redemptions, budget or its expiry "
                           "stop it. Set limits.per_code: 1 for single-use codes (or the number of uses you mean)")
        return out

    def to_document(self) -> dict:
        """The JSON document deployed to AppConfig (what `from_document` reads)."""
        return {"campaigns": dump(dict(sorted(self.campaigns.items()))),
                "segments": dump(dict(sorted(self.segments.items()))),
                "referral_programs": dump(dict(sorted(self.referral_programs.items()))),
                "loyalty_programs": dump(dict(sorted(self.loyalty_programs.items()))),
                "journeys": dump(dict(sorted(self.journeys.items()))),
                **({"messaging": dump(self.messaging)} if self.messaging is not None else {})}

    @classmethod
    def from_document(cls, doc: dict) -> ConfigBundle:
        """Read the deployed document with the dependency-free validator (see schema.py); raises ConfigError."""
        from .programs import LoyaltyProgram, ReferralProgram

        try:
            return cls(parse(dict[str, Campaign], doc.get("campaigns", {})),
                       parse(dict[str, Segment], doc.get("segments", {})),
                       parse(dict[str, ReferralProgram], doc.get("referral_programs", {})),
                       parse(dict[str, LoyaltyProgram], doc.get("loyalty_programs", {})),
                       journey_document={k: doc[k] for k in ("journeys", "messaging") if k in doc})
        except SchemaError as e:
            raise ConfigError(f"config document: {e}", details={"fields": [x["field"] for x in e.errors]}) from None


def spaces_overlap(a: tuple[str, str], b: tuple[str, str]) -> bool:
    (pa, ca), (pb, cb) = a, b
    if len(pa) != len(pb):
        return False
    for x, y in zip(pa, pb, strict=True):
        sx = set(ca) if x == "#" else {x}
        sy = set(cb) if y == "#" else {y}
        if not sx & sy:
            return False
    return True


def pattern_regex(pattern: str, charset: str) -> re.Pattern:
    cls = "[" + re.escape(charset) + "]"
    return re.compile("".join(cls if ch == "#" else re.escape(ch) for ch in pattern))
