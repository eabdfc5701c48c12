"""Journeys: config/journeys/<id>.yaml and config/messaging.yaml, and the pure rules the send jobs apply.

Declared like campaigns (schema.py): pydantic validates the files at synth, in tests and in `make run`;
schema.parse reads the deployed document. Nothing here does I/O: given a profile (a dict as stored), a journey
and `now` (UTC), the functions say which occurrence is due, when it may be sent, which due-date bucket it
belongs to and whether the frequency cap allows it.

Times of day are local wall-clock times in the customer's zone (the profile's `timezone`, else the journey's).
A wall time that does not exist that day (spring-forward gap) means the first instant after the gap; one that
happens twice (fall-back) means the first of the two.

Profile fields read (domain/profiles.py keeps most of them; `last_purchases` arrives with the journeys' profile
work): timezone, locale, first_name, birthday (YYYY-MM-DD), signed_up_at, first_order_at, last_order_at (RFC
3339 UTC), last_purchases {skus: {sku: at}, categories: {category: at}}.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from email.utils import parseaddr
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .clock import UTC, iso, parse_rfc3339
from .config import ID_PATTERN, Count, Id, StrictBool, _Model, model
from .customers import valid_email
from .errors import ConfigError
from .money import minor_unit_exponent
from .schema import FieldInvalid, Int, Len, SchemaError, Tag, Text, keyword_alias, parse

if TYPE_CHECKING:
    from .config import Campaign, ConfigBundle

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
LOCALE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
Clock = Annotated[str, Text(pattern=HHMM)]
Days = Annotated[int, Int(ge=1, le=3650)]
CHANNELS = ("email", "sms", "event")
Channel = Literal["email", "sms", "event"]
# Why a due send is skipped (a message record's `reason`; the journeys function's MessagesSkipped_<reason> metric,
# one line each on the CloudWatch dashboard): choose_channel's two, then the frequency cap and an ended offer.
SKIP_REASONS = ("no_consent", "no_address", "frequency_capped", "offer_unavailable")
PLACEHOLDERS = ("code", "discount", "expires_on", "first_name", "points")
OFFER_PLACEHOLDERS = ("code", "discount", "expires_on")
# points_expiring journeys: {points} expiring and {expires_on} = when they expire (no offer needed for either)
POINTS_PLACEHOLDERS = ("points", "expires_on")


def _zone(name: str, field_name: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldInvalid(field_name, f"unknown IANA time zone {name!r}") from None


# ---- triggers ----------------------------------------------------------------------------------------------

@model
class WinBack(_Model):
    type: Literal["win_back"]
    days_since_last_order: Days


@model
class Birthday(_Model):
    type: Literal["birthday"]
    days_before: Annotated[int, Int(ge=0, le=60)] = 0


@model
class SignupAnniversary(_Model):
    type: Literal["signup_anniversary"]
    years: list[Annotated[int, Int(ge=1, le=100)]] | None = None  # None: every year

    def __post_init__(self) -> None:
        if self.years is not None and (not self.years or len(set(self.years)) != len(self.years)):
            raise FieldInvalid("years", "list each anniversary once (leave years out for every year)")


@model
class Lifespans(_Model):
    skus: dict[str, Days] = field(default_factory=dict)
    categories: dict[str, Days] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.skus and not self.categories:
            raise ValueError("give skus or categories with their lifespan in days")


@model
class Replenishment(_Model):
    type: Literal["replenishment"]
    lifespan_days: Lifespans


@model
class PostPurchase(_Model):
    type: Literal["post_purchase"]
    days_after_first_order: Days


@model
class PointsExpiring(_Model):
    """Sent for loyalty's points.expiring warnings (event-driven, no due date of its own)."""

    type: Literal["points_expiring"]
    program: Id | None = None  # a loyalty program; None: every program


Trigger = Annotated[WinBack | Birthday | SignupAnniversary | Replenishment | PostPurchase | PointsExpiring,
                    Tag("type")]


# ---- the journey -------------------------------------------------------------------------------------------

@model
class Audience(_Model):
    countries: list[str] | None = None
    segments: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for c in self.countries or []:
            if not re.fullmatch(r"[A-Z]{2}", c):
                raise FieldInvalid("countries", f"{c!r} is not an ISO 3166-1 alpha-2 code")
        for sid in self.segments:
            if not re.fullmatch(ID_PATTERN, sid.replace("_", "-")):
                raise FieldInvalid("segments", f"segment id {sid!r} is not a valid id")


@model
class Offer(_Model):
    campaign: Id


@model
class QuietHours(_Model):
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid", "alias_generator": keyword_alias}
    from_: Clock
    to: Clock

    def __post_init__(self) -> None:
        if self.from_ == self.to:
            raise FieldInvalid("to", "quiet hours from and to must differ")

    def contains(self, t: time) -> bool:
        start, end = _clock(self.from_), _clock(self.to)
        if start < end:
            return start <= t < end
        return t >= start or t < end  # wraps midnight


def _check_placeholders(text: LocalizedText | MessageTemplate) -> None:
    """Subject and text use only known placeholders (a message's own text and each locale's)."""
    for name in ("subject", "text"):
        try:
            placeholders(getattr(text, name))
        except ValueError as e:
            raise FieldInvalid(name, str(e)) from None


@model
class LocalizedText(_Model):
    subject: Annotated[str, Text(min_length=1, max_length=500)]
    text: Annotated[str, Text(min_length=1, max_length=10_000)]

    def __post_init__(self) -> None:
        _check_placeholders(self)


@model
class MessageTemplate(_Model):
    subject: Annotated[str, Text(min_length=1, max_length=500)]
    text: Annotated[str, Text(min_length=1, max_length=10_000)]
    locales: dict[str, LocalizedText] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_placeholders(self)
        for loc in self.locales:
            if not re.fullmatch(LOCALE, loc):
                raise FieldInvalid("locales", f"{loc!r} is not a locale (e.g. de or de-AT)")

    def used(self) -> set[str]:
        """Every placeholder any variant uses."""
        texts = [self.subject, self.text, *(t for v in self.locales.values() for t in (v.subject, v.text))]
        return set().union(*(placeholders(t) for t in texts))


@model
class Journey(_Model):
    id: Id
    name: str = ""
    enabled: StrictBool = True
    trigger: Trigger
    audience: Audience = field(default_factory=Audience)
    offer: Offer | None = None
    channels: Annotated[list[Channel], Len(min_length=1, max_length=3)] = field(default_factory=lambda: ["email"])
    send_at: Clock = "10:00"
    timezone: str = "UTC"
    quiet_hours: QuietHours | None = None
    message: MessageTemplate

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if len(set(self.channels)) != len(self.channels):
            raise FieldInvalid("channels", "list each channel once, in order of preference")
        used = self.message.used()
        points = isinstance(self.trigger, PointsExpiring)
        if "points" in used and not points:
            raise FieldInvalid("message", "{points} is only known to a journey with trigger points_expiring")
        needs_offer = sorted(used & set(OFFER_PLACEHOLDERS) - (set(POINTS_PLACEHOLDERS) if points else set()))
        if needs_offer and self.offer is None:
            raise FieldInvalid("message", f"placeholders {needs_offer} need an offer (offer.campaign)")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def send_time(self) -> time:
        return _clock(self.send_at)


# ---- config/messaging.yaml ---------------------------------------------------------------------------------

@model
class FrequencyCap(_Model):
    max_messages: Count
    per_days: Annotated[int, Int(ge=1, le=365)]


@model
class Messaging(_Model):
    from_email: Annotated[str, Text(min_length=3, max_length=320)]
    frequency_cap: FrequencyCap | None = None
    public_base_url: Annotated[str, Text(max_length=500, pattern=r"^https?://[A-Za-z0-9.-]+(:\d+)?(/[^\s?#]*)?$")] \
        | None = None

    def __post_init__(self) -> None:
        _, address = parseaddr(self.from_email)  # "Shop <shop@example.com>" or a bare address
        if not valid_email(address):
            raise FieldInvalid("from_email", f"{self.from_email!r} is not an e-mail address")


def read_journeys(bundle: ConfigBundle, document: dict) -> tuple[dict[str, Journey], Messaging | None]:
    """The deployed document's journeys and messaging (ConfigBundle.journey_document), validated by schema.parse
    and checked against the bundle; raises ConfigError."""
    try:
        journeys = parse(dict[str, Journey], document.get("journeys") or {})
        messaging = parse(Messaging, document["messaging"]) if document.get("messaging") is not None else None
    except SchemaError as e:
        raise ConfigError(f"config document: journeys: {e}") from None
    check_journeys(bundle, journeys)
    return journeys, messaging


def check_journeys(bundle: ConfigBundle, journeys: dict[str, Journey]) -> None:
    """What journeys name exists: offer campaigns (of unique codes), segments, loyalty programs. Raises ConfigError
    naming the file and field."""
    from .config import BUILTIN_SEGMENTS

    known_segments = set(BUILTIN_SEGMENTS) | set(bundle.segments)
    for j in journeys.values():
        where = f"journeys/{j.id}.yaml"
        if j.offer is not None:
            c = bundle.campaigns.get(j.offer.campaign)
            if c is None:
                raise ConfigError(f"{where}: offer.campaign: campaign {j.offer.campaign!r} does not exist "
                                  "(config/campaigns)")
            if c.codes.type != "unique":
                raise ConfigError(f"{where}: offer.campaign: campaign {c.id!r} has one public code; each send "
                                  "issues its own code, so the campaign needs unique codes")
            if "expires_on" in j.message.used() and not isinstance(j.trigger, PointsExpiring) \
                    and c.codes.expires_at is None and c.codes.expires_in_days is None:
                raise ConfigError(f"{where}: message: {{expires_on}} is used but the codes of campaign {c.id!r} "
                                  "never expire (codes.expires_in_days or codes.expires_at)")
        unknown = sorted(set(j.audience.segments) - known_segments)
        if unknown:
            raise ConfigError(f"{where}: audience.segments: unknown segments {unknown}; known: "
                              f"{sorted(known_segments)}")
        if isinstance(j.trigger, PointsExpiring) and j.trigger.program is not None \
                and j.trigger.program not in bundle.loyalty_programs:
            raise ConfigError(f"{where}: trigger.program: loyalty program {j.trigger.program!r} does not exist "
                              "(config/loyalty-programs)")


# ---- message text ------------------------------------------------------------------------------------------

_FORMATTER = string.Formatter()


def placeholders(template: str) -> set[str]:
    """The placeholders a template uses; ValueError for unknown ones or broken braces ({{ and }} are literal)."""
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as e:
        raise ValueError(f"{e} (write {{{{ or }}}} for a literal brace)") from None
    used = set()
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            shown = "{" + name + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}"
            raise ValueError(f"unknown placeholder {shown}; known: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS))
        used.add(name)
    return used


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    locale: str | None  # the variant used (None: the default text)


def pick_locale(template: MessageTemplate, locale: str | None) -> str | None:
    """The variant for a customer's locale: exact (de-AT), then the language (de), then None (the default)."""
    if not locale or not template.locales:
        return None
    wanted = locale.replace("_", "-").lower()
    by_lower = {k.lower(): k for k in template.locales}
    if wanted in by_lower:
        return by_lower[wanted]
    return by_lower.get(wanted.split("-")[0])


def render(template: MessageTemplate, locale: str | None, *, code: str | None = None, discount: str | None = None,
           expires_on: str | None = None, first_name: str | None = None, points: int | None = None) -> Rendered:
    """Subject and text for a customer's locale. `first_name` may be missing (it then disappears with the space
    before it, and a comma before that); a message with a code always carries it in its text, even when the
    template forgot {code}."""
    chosen = pick_locale(template, locale)
    variant = template.locales[chosen] if chosen else template
    values = {"code": code, "discount": discount, "expires_on": expires_on, "first_name": first_name,
              "points": None if points is None else str(points)}

    def fill(t: str) -> str:
        missing = sorted(n for n in placeholders(t) if n != "first_name" and values[n] is None)
        if missing:
            raise ValueError(f"no value for {missing}")
        if not first_name:
            t = re.sub(r"(?:[ \t]*,)?[ \t]*(?<!\{)\{first_name\}(?!\})", "", t)
        return t.format_map({k: v or "" for k, v in values.items()})

    subject, text = fill(variant.subject), fill(variant.text)
    if code and code not in text:
        text = f"{text}\n\n{code}"
    return Rendered(subject, text, chosen)


def discount_text(campaign: Campaign) -> str:
    """The campaign's reward in a few words for {discount}: "15%", "10.00 EUR", "free shipping"."""
    r = campaign.reward
    if r.type == "percent_off":
        return f"{_plain(r.percent)}%"
    if r.type == "amount_off":
        return format_amount(r.amount.amount, r.amount.currency)
    if r.type in ("gift_card", "store_credit"):
        return format_amount(r.balance.amount, r.balance.currency)
    if r.type == "free_shipping":
        return "free shipping"
    return "a free item"  # buy_x_get_y


def format_amount(amount: int, currency: str) -> str:
    exp = minor_unit_exponent(currency)
    return f"{Decimal(amount).scaleb(-exp):.{exp}f} {currency}"


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")


def expires_on(expires_at: datetime | str | None, zone: ZoneInfo) -> str | None:
    """{expires_on}: the local date (YYYY-MM-DD, customer's zone) on which the code expires."""
    if expires_at is None:
        return None
    return local_date(expires_at, zone).isoformat()


# ---- who gets it, and how ----------------------------------------------------------------------------------

def in_audience(journey: Journey, profile: dict, now: datetime, custom_segments: dict | None = None) -> bool:
    """Every audience condition given holds: the profile's country, and each listed segment (built-in or
    config/segments) as of `now`."""
    a = journey.audience
    if a.countries is not None and profile.get("country") not in a.countries:
        return False
    if a.segments:
        from .profiles import segments_of

        if not set(a.segments) <= segments_of(profile, now, custom_segments):
            return False
    return True


# Which consent a channel needs: the event channel hands the message to an external ESP that e-mails it.
CONSENT_FOR = {"email": "email", "sms": "sms", "event": "email"}


@dataclass(frozen=True)
class ChannelChoice:
    channel: str | None  # None: skipped, for `reason`
    address: str | None = None
    reason: str | None = None  # no_consent | no_address


def choose_channel(journey: Journey, profile: dict, consented: set[str]) -> ChannelChoice:
    """The first channel of the journey's preference order with recorded consent and an address. Skipped:
    `no_consent` when no channel has consent, `no_address` when those that have lack an address."""
    any_consent = False
    for channel in journey.channels:
        if CONSENT_FOR[channel] not in consented:
            continue
        any_consent = True
        address = profile.get("phone") if channel == "sms" else profile.get("email")
        if channel == "event":
            address = profile.get("email") or profile.get("customer_id")
        if address:
            return ChannelChoice(channel, address)
    return ChannelChoice(None, reason="no_address" if any_consent else "no_consent")


# ---- time --------------------------------------------------------------------------------------------------

def _clock(value: str) -> time:
    h, m = value.split(":")
    return time(int(h), int(m))


def customer_zone(profile: dict | None, journey: Journey) -> ZoneInfo:
    """The profile's time zone when it names a real one, else the journey's."""
    name = (profile or {}).get("timezone")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return journey.zone


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `at` on `day` in `zone`. A wall time skipped by a spring-forward gap means the
    first instant after the gap; a repeated one (fall-back) the first of the two."""
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=1 gives a UTC instant before the jump, fold=0 one after it. The jump is the first instant
    # whose local wall time has reached `wall`; offsets change on whole seconds, so search between the two.
    lo, hi = wall.replace(tzinfo=zone, fold=1).astimezone(UTC), first
    lo, hi = min(lo, hi), max(lo, hi)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def local_date(at: datetime | str, zone: ZoneInfo) -> date:
    if isinstance(at, str):
        at = parse_rfc3339(at)
    return at.astimezone(zone).date()


def in_year(month: int, day: int, year: int) -> date:
    """The date of a yearly event in `year`: 29 February falls on 28 February in other years."""
    if month == 2 and day == 29 and not _leap(year):
        return date(year, 2, 28)
    return date(year, month, day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# ---- occurrences -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Occurrence:
    """One send a journey owes a customer: `key` is unique per customer and journey (the send is made once per
    key), `due_on` the local date it is due."""

    key: str
    due_on: date


def occurrences_due(journey: Journey, profile: dict, zone: ZoneInfo, today: date) -> list[Occurrence]:
    """The occurrences of a date-driven journey due on the customer's local date `today` (points_expiring: none;
    it is driven by loyalty's events)."""
    t = journey.trigger
    if isinstance(t, Birthday):
        o = birthday_occurrence(profile, t, today)
    elif isinstance(t, SignupAnniversary):
        o = anniversary_occurrence(profile, t, zone, today)
    elif isinstance(t, WinBack):
        o = win_back_occurrence(profile, t, zone, today)
    elif isinstance(t, PostPurchase):
        o = post_purchase_occurrence(profile, t, zone, today)
    elif isinstance(t, Replenishment):
        return replenishment_occurrences(profile, t, zone, today)
    else:
        return []
    return [o] if o is not None and o.due_on == today else []


def birthday_occurrence(profile: dict, t: Birthday, today: date) -> Occurrence | None:
    """The birthday whose send date (days_before it) is today or next: key birthday-<year of the birthday>."""
    raw = profile.get("birthday")
    if not raw:
        return None
    try:
        born = date.fromisoformat(raw)
    except ValueError:
        return None
    # days_before may reach into the previous year (a 2 January birthday, 5 days before); look one year ahead.
    for year in (today.year, today.year + 1):
        day = in_year(born.month, born.day, year)
        due = day - timedelta(days=t.days_before)
        if due >= today and year > born.year:
            return Occurrence(f"birthday-{year}", due)
    return None


def anniversary_occurrence(profile: dict, t: SignupAnniversary, zone: ZoneInfo, today: date) -> Occurrence | None:
    """The sign-up anniversary this year (the n-th, when `years` lists n or is absent): key anniversary-<n>."""
    raw = profile.get("signed_up_at")
    if not raw:
        return None
    signed = local_date(raw, zone)
    n = today.year - signed.year
    if n < 1 or (t.years is not None and n not in t.years):
        return None
    return Occurrence(f"anniversary-{n}", in_year(signed.month, signed.day, today.year))


def win_back_occurrence(profile: dict, t: WinBack, zone: ZoneInfo, today: date) -> Occurrence | None:
    """N days after the local date of the last paid order: key win-back-<that date>. A newer order moves
    last_order_at and with it the due date, so the old occurrence is never sent."""
    raw = profile.get("last_order_at")
    if not raw:
        return None
    last = local_date(raw, zone)
    if last > today:  # judged as of an earlier moment: that order is in the future
        return None
    return Occurrence(f"win-back-{last.isoformat()}", last + timedelta(days=t.days_since_last_order))


def post_purchase_occurrence(profile: dict, t: PostPurchase, zone: ZoneInfo, today: date) -> Occurrence | None:
    raw = profile.get("first_order_at")
    if not raw:
        return None
    first = local_date(raw, zone)
    if first > today:
        return None
    return Occurrence(f"post-purchase-{first.isoformat()}", first + timedelta(days=t.days_after_first_order))


def replenishment_occurrences(profile: dict, t: Replenishment, zone: ZoneInfo, today: date) -> list[Occurrence]:
    """For each configured sku and category: its lifespan after the local date of its last purchase (a purchase
    since moves that date). Key replenishment-sku-<sku>-<date> or replenishment-category-<category>-<date>."""
    bought = profile.get("last_purchases") or {}
    out = []
    for kind, lifespans, last_of in (("sku", t.lifespan_days.skus, bought.get("skus") or {}),
                                     ("category", t.lifespan_days.categories, bought.get("categories") or {})):
        for item, days in sorted(lifespans.items()):
            raw = last_of.get(item)
            if not raw:
                continue
            last = local_date(raw, zone)
            due = last + timedelta(days=days)
            if last <= today and due == today:
                out.append(Occurrence(f"replenishment-{kind}-{item}-{last.isoformat()}", due))
    return out


def points_expiring_values(detail: dict, zone: ZoneInfo) -> dict:
    """{points} and {expires_on} of a points.expiring warning (its detail: points, expires_at)."""
    return {"points": detail["points"], "expires_on": local_date(detail["expires_at"], zone).isoformat()}


def points_expiring_occurrence(program_id: str, warning_id: str, warned_at: datetime, zone: ZoneInfo) -> Occurrence:
    """A points.expiring warning: due the local day it was raised; one per warning (a redelivered warning is the
    same occurrence, so it is sent once)."""
    return Occurrence(f"points-expiring-{program_id}-{warning_id}", local_date(warned_at, zone))


def points_expiring_start(journey: Journey, zone: ZoneInfo, warned_at: datetime) -> datetime:
    """The earliest a warning's message may go out: send_at local time on the day of the warning, or the warning
    itself when it came later that day. From then on it is sent by the first run outside quiet hours (never
    `missed`: the points still expire)."""
    return max(warned_at, send_instant(journey, zone, local_date(warned_at, zone)))


# ---- when to send ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Timing:
    """What a run as of `now` does with an occurrence: `send` now, `wait` (before send_at, or not due yet: a
    later run sends it), `defer` until `at` (quiet hours; record it and send at the first run at or after `at`),
    or `missed` (its local day has passed without a send or a deferral)."""

    action: Literal["send", "wait", "defer", "missed"]
    at: datetime | None = None  # defer: the next allowed instant (UTC); wait: the earliest send (UTC)


def send_instant(journey: Journey, zone: ZoneInfo, due_on: date) -> datetime:
    """The UTC instant of send_at, local time, on the due date."""
    return local_instant(due_on, journey.send_time, zone)


def timing(journey: Journey, zone: ZoneInfo, due_on: date, now: datetime) -> Timing:
    """Due on the local date `due_on`: sendable from send_at local time to the end of that local day, outside
    quiet hours; inside them it is deferred to the next allowed instant (which may be the next day)."""
    start = send_instant(journey, zone, due_on)
    if now < start:
        return Timing("wait", start)
    if now.astimezone(zone).date() > due_on:
        return Timing("missed")
    return deferred_timing(journey, zone, now)


def deferred_timing(journey: Journey, zone: ZoneInfo, now: datetime, not_before: datetime | None = None) -> Timing:
    """A send that may go out at `not_before` or later (a deferral): send now unless quiet hours forbid it."""
    if not_before is not None and now < not_before:
        return Timing("wait", not_before)
    nxt = next_allowed(journey.quiet_hours, zone, now)
    return Timing("send") if nxt == now else Timing("defer", nxt)


def next_allowed(quiet: QuietHours | None, zone: ZoneInfo, now: datetime) -> datetime:
    """`now` when it is outside quiet hours (local), else the instant they end."""
    if quiet is None:
        return now
    local = now.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if not quiet.contains(wall):
        return now
    end = _clock(quiet.to)
    day = local.date()
    if wall >= end:  # quiet hours wrap midnight and began today: they end tomorrow
        day += timedelta(days=1)
    return local_instant(day, end, zone)


# ---- due-date index buckets --------------------------------------------------------------------------------

def due_hour(journey: Journey, zone: ZoneInfo, due_on: date) -> datetime:
    """The UTC hour (truncated) in which the customer's local send_at occurs on the due date.

    The future due-date index keys an item by this hour (bucket_key): the customer becomes sendable during it,
    whatever their zone, so the hourly job run at UTC hour H reads the buckets of hours up to H that can still be
    sendable (buckets_for_run) instead of scanning profiles."""
    return send_instant(journey, zone, due_on).replace(minute=0, second=0, microsecond=0)


def bucket_key(hour: datetime) -> str:
    """2027-06-15T01 (UTC)."""
    return iso(hour)[:13]


# A local day lasts at most 25 hours (fall-back), so an occurrence whose send_at hour is more than 25 hours
# before `now` can no longer be sendable on its due day (deferrals are recorded separately).
MAX_SENDABLE_HOURS = 25


def buckets_for_run(now: datetime, hours: int = MAX_SENDABLE_HOURS) -> list[str]:
    """The bucket keys a run as of `now` reads: the current UTC hour and the `hours` before it, oldest first."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [bucket_key(top - timedelta(hours=h)) for h in range(hours, -1, -1)]


# ---- frequency cap -----------------------------------------------------------------------------------------

def frequency_capped(cap: FrequencyCap | None, sent_at: list[datetime], now: datetime) -> bool:
    """Whether one more message at `now` would exceed the cap: messages sent in the `per_days` days up to `now`
    (now - per_days < t <= now; sends after `now`, by runs as of later moments, do not count)."""
    if cap is None:
        return False
    since = now - timedelta(days=cap.per_days)
    return sum(1 for t in sent_at if since < t <= now) >= cap.max_messages
