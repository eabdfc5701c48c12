"""Referral rules, pure: who may be referred, when a referee's order converts a referral, what a tier pays, the
per-referrer period cap and the program's numbers (k, LTV, ROI), and the objects they decide on (Referrer,
Referral, ...). No I/O; services/referrals.py and services/referral_conversions.py pass the objects around and
adapters/referral_store.py maps them to and from the table's items.

Lifecycle of a referral (one item per referee and program):

    pending --order.paid qualifies------------> converted --return window closes (job)--> paid out (final)
       |  \\--order.paid qualifies, suspicious--> held --approve--> converted / --reject--> rejected
       |   \\-over the period cap, over_limit=reject--> rejected
       \\--the first order fails the conditions--> disqualified | expired
    converted / held --order.refunded within the window, before payout--> reversed
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .clock import iso, parse_rfc3339
from .config import ConfigBundle
from .customers import email_hash, normalise_email
from .money import Money
from .programs import ReferralProgram, ReferrerReward
from .pseudonyms import ip_pseudonym, keyed, legacy_sha256
from .variants import comparison, counter, rate, sum_counters

PENDING, CONVERTED, HELD, REJECTED, REVERSED, DISQUALIFIED, EXPIRED = (
    "pending", "converted", "held", "rejected", "reversed", "disqualified", "expired")
# payout_status of a converted referral: the reward waits for the return window, then is paid out (final)
SCHEDULED, PAID, CANCELLED = "scheduled", "paid", "cancelled"

# Signals that hold a conversion for review instead of paying it out automatically.
SAME_IP_AS_REFERRER, SAME_DEVICE_AS_REFERRER = "same_ip_as_referrer", "same_device_as_referrer"
IP_LIMIT, DEVICE_LIMIT, PERIOD_LIMIT = "ip_limit", "device_limit", "max_conversions_per_referrer"


# ---- the objects the services pass around (adapters/referral_store.py maps them to and from items) -----------

@dataclass(frozen=True)
class Reward:
    """What a referrer reward tier pays for one conversion, at face value where it has one."""
    type: str  # code | gift_card | store_credit (a campaign's code), points, cash
    tier_from: int
    campaign_id: str | None = None
    program_id: str | None = None  # points: the loyalty program
    points: int | None = None
    value: int | None = None  # minor units
    currency: str | None = None

    def view(self) -> dict[str, Any]:
        """The reward as the API shows it (without the tier)."""
        out: dict[str, Any] = {"type": self.type}
        if self.type == "points":
            out.update(program_id=self.program_id, points=self.points)
        elif self.type == "cash":
            out.update(value=self.value, currency=self.currency)
        else:
            out["campaign_id"] = self.campaign_id
            if self.value is not None:
                out.update(value=self.value, currency=self.currency)
        return out


@dataclass(frozen=True)
class ReferralCode:
    """A referral code of a program and whose it is, with the referrer's hashes for the self-referral check."""
    program_id: str
    code: str
    referrer_id: str
    status: str = "active"  # active | erased
    created_at: str | None = None
    email_hash: str | None = None
    ip_hash: str | None = None
    device_hash: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def signal_hash(self, kind: str) -> str | None:
        return self.ip_hash if kind == "ip" else self.device_hash if kind == "device" else None


@dataclass(frozen=True)
class Referrer:
    """An enrolled referrer of a program: their code, their counts, the version the counts were read at, and the
    current period of the per-referrer cap."""
    program_id: str
    customer_id: str
    referral_code: str
    created_at: str | None = None
    referrals: int = 0
    pending: int = 0
    converted: int = 0
    held: int = 0
    rewards_paid: int = 0
    version: int = 0
    period_start: str | None = None
    period_conversions: int = 0
    email_hash: str | None = None
    ip_hash: str | None = None
    device_hash: str | None = None
    extra: dict = field(default_factory=dict)  # what the rules do not read (other counts, the leaderboard entry)

    def signal_hash(self, kind: str) -> str | None:
        return self.ip_hash if kind == "ip" else self.device_hash if kind == "device" else None


@dataclass(frozen=True)
class ConvertingOrder:
    """The referee's paid order that decides a referral (as recorded on the referral and its held item)."""
    order_id: str | None
    amount: int
    currency: str | None
    at: str
    refunded_amount: int | None = None  # refunds counted against it (before or after it converted)

    @property
    def revenue(self) -> int:
        return self.amount - (self.refunded_amount or 0)


@dataclass(frozen=True)
class Referral:
    """One referee's referral in one program, through its lifecycle (module docstring)."""
    id: str
    program_id: str
    referrer_id: str
    referee_id: str
    referral_code: str
    attributed_at: str
    status: str = PENDING
    signals: tuple[str, ...] = ()
    mailbox_hash: str | None = None
    variant: str | None = None  # the referrer's A/B variant, recorded at attribution
    referee_reward: dict | None = None  # the referee's reward code as issued with the referral (its API view)
    order: ConvertingOrder | None = None
    early_refunds: dict[str, int] = field(default_factory=dict)  # order id -> refunds before its order.paid
    reason: str | None = None
    decided_at: str | None = None
    hold_reasons: tuple[str, ...] = ()
    held_at: str | None = None
    converted_at: str | None = None
    conversion_number: int | None = None
    reward: Reward | None = None
    reward_code: str | None = None
    payout_status: str | None = None  # scheduled | paid | cancelled
    release_at: str | None = None
    due_at: str | None = None  # where its due item is after a failed payout moved it
    paid_at: str | None = None
    period_start: str | None = None
    reversed_at: str | None = None
    payout_error: str | None = None
    payout_attempts: int = 0

    def early_refund(self, order_id: str | None) -> int:
        return self.early_refunds.get(order_id, 0) if order_id else 0

    @property
    def payout_final(self) -> bool:
        return self.status == CONVERTED and self.payout_status == PAID

    @property
    def payout_scheduled(self) -> bool:
        return self.status == CONVERTED and self.payout_status == SCHEDULED


@dataclass(frozen=True)
class HeldConversion:
    """A conversion waiting for an operator's review."""
    program_id: str
    referral_id: str
    referrer_id: str
    held_at: str
    reasons: tuple[str, ...]
    order: ConvertingOrder | None = None

    def view(self) -> dict:
        o = self.order
        return {"referral_id": self.referral_id, "referrer_id": self.referrer_id, "held_at": self.held_at,
                "reasons": list(self.reasons), "order_id": o.order_id if o else None,
                "order_amount": o.amount if o else None, "currency": o.currency if o else None}


@dataclass(frozen=True)
class DueReward:
    """A converted referral whose reward waits for its return window (``due_at``: when it is due now; later than
    ``release_at`` after failed payouts)."""
    program_id: str
    referral_id: str
    release_at: str
    due_at: str
    attempts: int = 0
    last_error: str | None = None
    failed_at: str | None = None
    retry_at: str | None = None
    parked: bool = False


@dataclass(frozen=True)
class Payout:
    """Cash a referrer is owed (the affiliates' ledger): owed, then paid once the shop has transferred it."""
    id: str
    referral_id: str
    program_id: str
    customer_id: str
    amount: int
    currency: str
    status: str
    created_at: str
    paid_at: str | None = None
    reference: str | None = None

    def view(self) -> dict:
        return {"id": self.id, "referral_id": self.referral_id, "customer_id": self.customer_id,
                "amount": self.amount, "currency": self.currency, "status": self.status,
                "created_at": self.created_at, "paid_at": self.paid_at, "reference": self.reference}


@dataclass(frozen=True)
class Conversion:
    """What converting a referral records: its number among the referrer's conversions (their tier), the reward
    that tier pays, when it is released, and the referrer's period of the cap after it."""
    number: int
    reward: Reward | None
    release_at: str
    period_start: str
    period_conversions: int
    converted_at: str

    def due(self, now: str) -> bool:
        """Whether the return window has closed already (the reward is paid out at once)."""
        return self.release_at <= now


def mailbox_hash(email: str) -> str:
    """What referrals store of an e-mail address: the keyed pseudonym of its mailbox (never the address)."""
    return email_hash(email)


def legacy_mailbox_hash(email: str) -> str:
    """What referrals written before the key hold: the bare SHA-256 of the normalised mailbox."""
    return legacy_sha256(normalise_email(email))


def signal_hash(kind: str, value: str) -> str:
    """An IP address (its client network: IPv4 or IPv6 /64) or device id as stored: a keyed pseudonym, so a
    leaked table does not list addresses."""
    if kind == "ip":
        pseudonym = ip_pseudonym(value)
        if pseudonym is not None:
            return pseudonym
    return keyed(kind, value.strip().lower())[:32]


def legacy_signal_hash(kind: str, value: str) -> str:
    return legacy_sha256(f"{kind}:{value.strip().lower()}")[:32]


def self_referral(code: ReferralCode, referee_id: str, referee_mailbox: str | None,
                  also: tuple[str, ...] = ()) -> str | None:
    """Why this is a self-referral (``id`` or ``email``), or None. ``code``: the referral code used; ``also``:
    the referee's legacy mailbox hashes (a referrer enrolled before the key holds one of those)."""
    if code.referrer_id == referee_id:
        return "id"
    if referee_mailbox and code.email_hash is not None and code.email_hash in (referee_mailbox, *also):
        return "email"
    return None


# ---- conversion ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    action: str  # "convert" | "ignore" | "disqualify" | "expire"
    reason: str | None = None


def decide(program: ReferralProgram, referral: Referral, order_at: str, amount: int, currency: str | None,
           first_order_at: str | None) -> Decision:
    """What a paid order of the referee does to a pending referral. ``first_order_at``: the referee's first
    paid order as the profile knows it (None: unknown, this order counts as the first).

    With first_order_only (the default) only the referee's first paid order decides, whatever order the events
    arrive in: a later order is ignored, and the first one converts or closes the referral for good."""
    rule = program.conversion
    attributed = referral.attributed_at
    deadline = iso(parse_rfc3339(attributed) + timedelta(days=rule.within_days)) if rule.within_days else None
    minimum = rule.min_order_amount
    below = minimum is not None and (currency != minimum.currency or amount < minimum.amount)
    if rule.first_order_only:
        first = min(first_order_at or order_at, order_at)
        if first < attributed:
            return Decision("disqualify", "not_first_order")  # the referee had ordered before the referral
        if order_at != first:
            return Decision("ignore", "not_first_order")  # the first order's own event decides
        if deadline and order_at > deadline:
            return Decision("expire", "after_within_days")
        if below:
            return Decision("disqualify", "order_below_minimum")
        return Decision("convert")
    if order_at < attributed:
        return Decision("ignore", "before_attribution")
    if deadline and order_at > deadline:
        return Decision("ignore", "after_within_days")
    if below:
        return Decision("ignore", "order_below_minimum")
    return Decision("convert")


def release_at(program: ReferralProgram, order_at: str) -> str:
    """When a conversion's reward is paid out: once the order's return window has closed."""
    return iso(parse_rfc3339(order_at) + timedelta(days=program.conversion.return_window_days))


def refund_in_window(program: ReferralProgram, order_at: str, refunded_at: str) -> bool:
    return refunded_at <= release_at(program, order_at)


def period_after(referrer: Referrer, at: str, period_days: int) -> tuple[str, int]:
    """(period start, conversions in it before this one) for a conversion at ``at``. A period starts with the
    first conversion after the previous period ended and lasts period_days."""
    start = referrer.period_start
    if start and at < iso(parse_rfc3339(start) + timedelta(days=period_days)):
        return start, referrer.period_conversions
    return at, 0


def over_cap(program: ReferralProgram, conversions_in_period: int) -> bool:
    cap = program.limits.max_conversions_per_referrer
    return cap is not None and conversions_in_period >= cap


def conversion_of(program: ReferralProgram, referral: Referral, referrer: Referrer, order: ConvertingOrder,
                  now: str, bundle: ConfigBundle) -> Conversion:
    """What converting ``referral`` on ``order`` records, for the referrer as read: the next count (their tier
    in the referral's variant), its reward, the release time and the period of the cap."""
    n = referrer.converted + 1
    period_start, in_period = period_after(referrer, order.at, program.limits.period_days)
    return Conversion(n, reward_of(program.tier_for(n, referral.variant), bundle), release_at(program, order.at),
                      period_start, in_period + 1, now)


def reversal_period(referrer: Referrer, referral: Referral) -> int | None:
    """The referrer's conversions in their period after ``referral``'s conversion is reversed (None: it was
    counted in an earlier period, which is over)."""
    if referrer.period_start == referral.period_start:
        return max(0, referrer.period_conversions - 1)
    return None


# ---- rewards ------------------------------------------------------------------------------------------------

def reward_of(tier: ReferrerReward | None, bundle: ConfigBundle) -> Reward | None:
    """What a tier pays for one conversion (None below the first tier)."""
    return None if tier is None else _reward(tier, bundle)


def _reward(tier: ReferrerReward, bundle: ConfigBundle) -> Reward:
    if tier.campaign is not None:
        campaign = bundle.campaign(tier.campaign)
        value = campaign_value(campaign)
        kind = "gift_card" if campaign.reward.type == "gift_card" else \
            "store_credit" if campaign.reward.type == "store_credit" else "code"
        return Reward(kind, tier.from_, campaign_id=campaign.id, value=value.amount if value else None,
                      currency=value.currency if value else None)
    if tier.points is not None:
        return Reward("points", tier.from_, program_id=tier.points.program, points=tier.points.points)
    if tier.cash is not None:
        return Reward("cash", tier.from_, value=tier.cash.amount, currency=tier.cash.currency)
    raise ValueError("a referrer reward gives exactly one of campaign, points, cash")  # ReferrerReward checks it


def reward_view(referral: Referral) -> dict:
    """A referral's referrer reward as the referrer's page lists it."""
    reward = referral.reward.view() if referral.reward is not None else {}
    value = reward.pop("value", None)
    currency = reward.pop("currency", None)
    if value is not None:
        reward["value"] = {"amount": value, "currency": currency}
    return {"referral_id": referral.id, "status": referral.status, **reward, "code": referral.reward_code,
            "payout_status": referral.payout_status, "release_at": referral.release_at, "paid_at": referral.paid_at}


# ---- what the program's counters count (metrics below read them) ---------------------------------------------

def reward_counters(reward: Reward | None, sign: int, variant: str | None = None) -> dict[str, int]:
    """The referrer reward a conversion commits (sign 1) or a reversal takes back (-1), at face value where it
    has one (metrics: rewards cost, also per A/B variant)."""
    if reward is None:
        return {}
    out = {"referrer_rewards": sign}
    if reward.type == "points":
        out["referrer_points"] = sign * (reward.points or 0)
    elif reward.value is not None:
        out[f"referrer_cost_{reward.currency}"] = sign * reward.value
        if variant is not None:
            out[counter(variant, f"referrer_cost_{reward.currency}")] = sign * reward.value
    else:
        out["referrer_unpriced"] = sign
    return out


def referee_reward_counters(value: Money | None, variant: str | None) -> dict[str, int]:
    """The referee's reward issued with an attribution: counted at face value (or as unpriced)."""
    if value is None:
        return {"referee_rewards": 1, "referee_unpriced": 1}
    out = {"referee_rewards": 1, f"referee_cost_{value.currency}": value.amount}
    if variant is not None:
        out[counter(variant, f"referee_cost_{value.currency}")] = value.amount
    return out


def campaign_value(campaign) -> Money | None:
    """A code's face value where the campaign fixes one (amount off, a card's balance, a capped percentage)."""
    r = campaign.reward
    if r.type == "amount_off":
        return r.amount.money()
    if r.type in ("gift_card", "store_credit"):
        return r.balance.money()
    if r.type == "percent_off" and r.max_amount is not None:
        return r.max_amount.money()
    return None


def tier_view(tier: ReferrerReward | None, bundle: ConfigBundle) -> dict | None:
    if tier is None:
        return None
    return {"from": tier.from_, "reward": _reward(tier, bundle).view()}


def next_tier(program: ReferralProgram, converted: int, variant: str | None = None) -> dict | None:
    later = [t for t in program.referrer_rewards_for(variant) if t.from_ > converted]
    return {"from": later[0].from_, "conversions_needed": later[0].from_ - converted} if later else None


# ---- numbers ------------------------------------------------------------------------------------------------

def program_currency(program: ReferralProgram, bundle: ConfigBundle) -> str | None:
    """The currency the program's ROI is computed in: its minimum order, its average order value, or its first
    priced reward."""
    if program.conversion.min_order_amount is not None:
        return program.conversion.min_order_amount.currency
    if program.average_order_value is not None:
        return program.average_order_value.currency
    for tier in program.referrer_rewards:
        reward = _reward(tier, bundle)
        if reward.currency:
            return reward.currency
    return None


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def metrics(program: ReferralProgram, counters: dict, currency: str | None) -> dict:
    """The program's numbers from its counters item (every count kept in the transactions that change it).

    invites per user = referrals / referrers (attributed sign-ups per enrolled referrer); conversion rate =
    conversions / referrals; k = invites per user x conversion rate; LTV = the referees' paid revenue since
    conversion per converted referee (the engine's own order data), or the program's average_order_value when
    no converted referee has revenue yet; reward = (referrer rewards committed + referee rewards issued) per
    conversion, at face value; ROI = ((LTV x (1 + k)) - reward) / reward."""
    c = {k: int(v) for k, v in counters.items() if isinstance(v, int)}
    referrers, referrals, conversions = c.get("referrers", 0), c.get("referrals", 0), c.get("conversions", 0)
    invites = _ratio(referrals, referrers)
    rate = _ratio(conversions, referrals)
    k = round(invites * rate, 4) if invites is not None and rate is not None else None

    def by_currency(prefix: str) -> list[dict]:
        return [{"amount": v, "currency": name.removeprefix(prefix)} for name, v in sorted(c.items())
                if name.startswith(prefix) and v]

    referrer_cost = c.get(f"referrer_cost_{currency}", 0) if currency else 0
    referee_cost = c.get(f"referee_cost_{currency}", 0) if currency else 0
    revenue = c.get(f"revenue_{currency}", 0) if currency else 0
    if conversions and revenue:
        ltv, source = revenue / conversions, "orders"
    elif program.average_order_value is not None and program.average_order_value.currency == currency:
        ltv, source = float(program.average_order_value.amount), "config"
    else:
        ltv, source = None, None
    reward = (referrer_cost + referee_cost) / conversions if conversions else None
    roi = None
    if ltv is not None and reward and k is not None:
        roi = round((ltv * (1 + k) - reward) / reward, 4)
    return {
        "program_id": program.id, "enabled": program.enabled, "currency": currency,
        "referrers": referrers, "referrals": referrals, "pending": c.get("pending", 0), "conversions": conversions,
        "held": c.get("held", 0), "rejected": c.get("rejected", 0), "reversed": c.get("reversed", 0),
        "disqualified": c.get("disqualified", 0), "expired": c.get("expired", 0),
        "conversion_rate": rate, "invites_per_user": invites, "k": k,
        "rewards": {
            "referrer": {"committed": c.get("referrer_rewards", 0), "paid_out": c.get("rewards_paid", 0),
                         "cost": by_currency("referrer_cost_"), "points": c.get("referrer_points", 0),
                         "unpriced": c.get("referrer_unpriced", 0)},
            "referee": {"issued": c.get("referee_rewards", 0), "cost": by_currency("referee_cost_"),
                        "unpriced": c.get("referee_unpriced", 0)},
        },
        "revenue": by_currency("revenue_"),
        "reward_per_conversion": {"amount": round(reward), "currency": currency} if reward is not None else None,
        "ltv": {"amount": round(ltv), "currency": currency, "source": source} if ltv is not None else None,
        "roi": roi,
        **variant_metrics(program, counters),
    }


def variant_metrics(program: ReferralProgram, counters: dict) -> dict:
    """Per A/B variant: referrals, conversions, their rate and the rewards' cost (referrer and referee, at face
    value, per currency), and the z-test of the conversion rates. Empty `variants` without an experiment."""
    if not program.variants:
        return {"variants": []}
    totals = sum_counters([counters])
    rows: list[dict] = []
    trials: list[tuple[str, int, int]] = []
    for v in program.variants:
        mine = totals.get(v.id, {})
        cost: dict[str, int] = {}
        for name, n in mine.items():
            for prefix in ("referrer_cost_", "referee_cost_"):
                if name.startswith(prefix):
                    cost[name[len(prefix):]] = cost.get(name[len(prefix):], 0) + n
        referrals, converted = mine.get("referrals", 0), mine.get("conversions", 0)
        trials.append((v.id, converted, referrals))
        rows.append({"id": v.id, "weight": v.weight, "referrals": referrals, "converted": converted,
                     "conversion_rate": rate(converted, referrals),
                     "rewards_cost": [{"amount": n, "currency": c} for c, n in sorted(cost.items())]})
    return {"variants": rows,
            "comparison": comparison("conversion_rate", trials)}

