"""Referral and loyalty programs: config/referral-programs/<id>.yaml and config/loyalty-programs/<id>.yaml.

Declared like campaigns (schema.py): pydantic validates the files, schema.parse reads the deployed document.
References to campaigns and between programs are checked with everything loaded (ConfigBundle).
"""
from __future__ import annotations

import re
from dataclasses import field
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .codespace import CodeSpace
from .config import DEFAULT_CHARSET, Amount, Count, Id, StrictBool, VariantId, Weight, _Model, check_variant_ids, \
    model
from .profiles import EVENT_TYPES
from .schema import Dec, FieldInvalid, Int, Text, keyword_alias

# Events a loyalty earning rule may name: the customer events of the contract plus the engine's own.
REFERRAL_CONVERTED = "referral.converted"
EARNING_EVENTS = (*EVENT_TYPES, REFERRAL_CONVERTED)
Points = Annotated[int, Int(ge=1, le=100_000_000)]


# ---- referral programs -------------------------------------------------------------------------------------

@model
class CampaignRef(_Model):
    campaign: Id


@model
class PointsRef(_Model):
    program: Id  # a loyalty program
    points: Points


@model
class ReferrerReward(_Model):
    """A tier: from the `from`-th converted referral on, each conversion pays this (one of campaign, points, cash)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid", "alias_generator": keyword_alias}
    from_: Annotated[int, Int(ge=1)]
    campaign: Id | None = None  # a code of this campaign (a gift_card campaign pays a gift card)
    points: PointsRef | None = None  # loyalty points
    cash: Amount | None = None  # cash credit owed to an affiliate (recorded, exportable)

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.campaign, self.points, self.cash)) != 1:
            raise ValueError("a referrer reward gives exactly one of campaign, points, cash")


@model
class Conversion(_Model):
    event: Literal["order.paid"] = "order.paid"
    min_order_amount: Amount | None = None
    within_days: Count | None = None  # of attribution
    first_order_only: StrictBool = True
    return_window_days: Annotated[int, Int(ge=0, le=365)] = 14  # a refund within it reverses an unpaid conversion


@model
class ReferralLimits(_Model):
    max_conversions_per_referrer: Count | None = None
    period_days: Count = 30
    max_referrals_per_ip_per_day: Count | None = None  # when the storefront sends the referee's ip
    max_referrals_per_device_per_day: Count | None = None
    # A conversion over max_conversions_per_referrer: held for an operator's review (hold) or refused (reject).
    over_limit: Literal["hold", "reject"] = "hold"


def _check_tiers(tiers: list[ReferrerReward], where: str) -> None:
    froms = [t.from_ for t in tiers]
    if froms != sorted(set(froms)):
        raise FieldInvalid(where, "tiers must be in ascending order of `from`, each once")


@model
class ReferralVariant(_Model):
    """One arm of a program's experiment; a reward left out is the program's."""

    id: VariantId
    weight: Weight
    referee_reward: CampaignRef | None = None
    referrer_rewards: list[ReferrerReward] | None = None


@model
class ReferralProgram(_Model):
    id: Id
    name: str = ""
    enabled: StrictBool = True
    link_template: Annotated[str, Text(max_length=500, pattern=r"^https?://\S*\{code\}\S*$")]
    code_pattern: str = "REF-####-####"
    referee_reward: CampaignRef | None = None
    referrer_rewards: list[ReferrerReward] = field(default_factory=list)
    conversion: Conversion = field(default_factory=Conversion)
    limits: ReferralLimits = field(default_factory=ReferralLimits)
    average_order_value: Amount | None = None  # for ROI when the engine's own order data is too thin
    # A/B variants (domain/variants.py): a referrer is assigned one by a hash; their referrals follow it.
    variants: list[ReferralVariant] | None = None

    def __post_init__(self) -> None:
        _check_tiers(self.referrer_rewards, "referrer_rewards")
        if self.variants is not None:
            check_variant_ids(self.variants)
            for i, v in enumerate(self.variants):
                if v.referrer_rewards is not None:
                    _check_tiers(v.referrer_rewards, f"variants.{i}.referrer_rewards")
        if not re.fullmatch(r"[A-Z0-9-]*#[A-Z0-9#-]*", self.code_pattern):
            raise FieldInvalid("code_pattern", "upper-case letters, digits, '-' and at least one '#'")
        try:  # referral codes come from a code space like campaign codes (domain/codespace.py)
            CodeSpace(self.code_pattern, DEFAULT_CHARSET)
        except ValueError as e:
            raise FieldInvalid("code_pattern", str(e)) from None

    def _variant(self, variant_id: str | None) -> ReferralVariant | None:
        return next((v for v in self.variants or () if v.id == variant_id), None)

    def referee_reward_for(self, variant_id: str | None) -> CampaignRef | None:
        """What a referee of this variant gets: the variant's referee_reward, else the program's."""
        v = self._variant(variant_id)
        return v.referee_reward if v is not None and v.referee_reward is not None else self.referee_reward

    def referrer_rewards_for(self, variant_id: str | None) -> list[ReferrerReward]:
        v = self._variant(variant_id)
        return v.referrer_rewards if v is not None and v.referrer_rewards is not None else self.referrer_rewards

    def tier_for(self, converted: int, variant_id: str | None = None) -> ReferrerReward | None:
        """The tier that pays the `converted`-th conversion (None below the first tier)."""
        tier = None
        for t in self.referrer_rewards_for(variant_id):
            if converted >= t.from_:
                tier = t
        return tier


# ---- loyalty programs --------------------------------------------------------------------------------------

@model
class EarningRule(_Model):
    event: str
    points: Points | None = None  # fixed points per event
    points_per_unit: Points | None = None  # order events: points per unit_amount of the order (floor)
    unit_amount: Amount | None = None
    max_per_day: Count | None = None  # events that earn, per member and day (program time zone)
    max_per_month: Count | None = None

    def __post_init__(self) -> None:
        if self.event not in EARNING_EVENTS:
            raise FieldInvalid("event", f"unknown event {self.event!r}; one of {', '.join(EARNING_EVENTS)}")
        per_unit = self.points_per_unit is not None
        if per_unit != (self.unit_amount is not None):
            raise ValueError("points_per_unit and unit_amount go together")
        if per_unit == (self.points is not None):
            raise ValueError("give points, or points_per_unit with unit_amount")
        if per_unit and self.event not in ("order.paid",):
            raise FieldInvalid("points_per_unit", "only order.paid has an amount to earn on")


@model
class Expiry(_Model):
    after_days: Annotated[int, Int(ge=1, le=3650)] = 365


@model
class Tier(_Model):
    id: Id
    min_points: Annotated[int, Int(ge=0)]
    multiplier: Annotated[Decimal, Dec(gt=0, le=10, max_digits=5, decimal_places=2)] = Decimal(1)


@model
class CatalogReward(_Model):
    id: Id
    points: Points
    campaign: Id  # a code (or gift card / store credit) of this campaign, bound to the member


@model
class Milestone(_Model):
    points: Points  # lifetime points that cross the threshold
    reward: Id | None = None  # a catalog reward granted without spending points; None = notify only


@model
class LoyaltyProgram(_Model):
    id: Id
    name: str = ""
    enabled: StrictBool = True
    timezone: str = "UTC"
    earning: list[EarningRule] = field(default_factory=list)
    pending_days: Annotated[int, Int(ge=0, le=365)] = 0
    expiry: Expiry = field(default_factory=Expiry)
    expiry_warning_days: Annotated[int, Int(ge=0, le=365)] = 7
    tier_window_days: Annotated[int, Int(ge=1, le=3650)] = 365
    tiers: list[Tier] = field(default_factory=list)
    rewards: list[CatalogReward] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    allow_negative_balance: StrictBool = False  # may a refund take back points already spent?

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise FieldInvalid("timezone", f"unknown IANA time zone {self.timezone!r}") from None
        mins = [t.min_points for t in self.tiers]
        if mins and (mins[0] != 0 or mins != sorted(set(mins))):
            raise FieldInvalid("tiers", "ascending min_points, each once, the first 0 (every member has a tier)")
        ids = [r.id for r in self.rewards]
        if len(ids) != len(set(ids)):
            raise FieldInvalid("rewards", "reward ids must be unique")
        for m in self.milestones:
            if m.reward is not None and m.reward not in ids:
                raise FieldInvalid("milestones", f"reward {m.reward!r} is not in rewards")
        thresholds = [m.points for m in self.milestones]
        repeated = sorted({t for t in thresholds if thresholds.count(t) > 1})
        if repeated:  # one member crossing it would record one milestone twice in one write: the earning fails
            raise FieldInvalid("milestones", f"each points threshold once; repeated: {repeated} (give one "
                                             "milestone per threshold, with the reward it grants)")
        if self.pending_days >= self.expiry.after_days:
            raise FieldInvalid("pending_days", f"{self.pending_days} days pending is not below expiry.after_days "
                                               f"({self.expiry.after_days}): a lot expires (counted from the "
                                               "earning) before its points could ever be spent")

    def reward(self, reward_id: str) -> CatalogReward | None:
        return next((r for r in self.rewards if r.id == reward_id), None)


def check_references(bundle) -> None:
    """Everything a program names exists: campaigns, loyalty programs, catalog rewards. Raises ConfigError."""
    from .errors import ConfigError

    def need_campaign(owner: str, cid: str) -> None:
        if cid not in bundle.campaigns:
            raise ConfigError(f"{owner}: campaign {cid!r} does not exist (config/campaigns)")

    def need_unique(owner: str, cid: str) -> None:  # referral rewards are codes bound to one customer
        need_campaign(owner, cid)
        if bundle.campaigns[cid].codes.type != "unique":
            raise ConfigError(f"{owner}: campaign {cid!r} has one public code; a reward needs unique codes")

    for p in bundle.referral_programs.values():
        arms = [("", p.referee_reward, p.referrer_rewards)] + [
            (f"variants.{i}.", v.referee_reward, v.referrer_rewards or []) for i, v in enumerate(p.variants or ())]
        for where, referee_reward, referrer_rewards in arms:
            if referee_reward is not None:
                need_unique(f"referral program {p.id}: {where}referee_reward", referee_reward.campaign)
            for t in referrer_rewards:
                if t.campaign is not None:
                    need_unique(f"referral program {p.id}: {where}referrer_rewards from {t.from_}", t.campaign)
                if t.points is not None and t.points.program not in bundle.loyalty_programs:
                    raise ConfigError(f"referral program {p.id}: {where}referrer_rewards from {t.from_}: loyalty "
                                      f"program {t.points.program!r} does not exist (config/loyalty-programs)")
    for lp in bundle.loyalty_programs.values():
        for r in lp.rewards:
            need_campaign(f"loyalty program {lp.id}: reward {r.id}", r.campaign)
            if bundle.campaigns[r.campaign].codes.type != "unique":  # each reward is a code bound to the member
                raise ConfigError(f"loyalty program {lp.id}: reward {r.id}: campaign {r.campaign!r} has one public "
                                  "code; a reward needs a campaign of unique codes")
