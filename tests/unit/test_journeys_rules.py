"""The pure rules of journeys: which occurrence is due on a customer's local date, when it may be sent (send_at,
the rest of that local day, quiet hours, DST), the due-date bucket, the frequency cap and the message text."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incentives.domain.config_files import load_config_dir, validate
from incentives.domain.journeys import (
    FrequencyCap, Journey, Occurrence, QuietHours, bucket_key, buckets_for_run, customer_zone, discount_text,
    due_hour, frequency_capped, local_instant, next_allowed, occurrences_due, points_expiring_occurrence, render,
    timing,
)
from tests.support import ROOT

UTC = UTC
TOKYO, NEW_YORK, BERLIN = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def make(trigger: dict, **kw) -> Journey:
    data = {"id": "j", "trigger": trigger, "send_at": "10:00", "timezone": "Europe/Berlin",
            "message": {"subject": "Hello", "text": "Hi"}, **kw}
    return validate(Journey, data)


BIRTHDAY = make({"type": "birthday"})


def due_now(journey: Journey, profile: dict, now: datetime) -> tuple[list[Occurrence], str | None]:
    """What a run as of `now` would do for this profile: its due occurrences and the timing of the first."""
    zone = customer_zone(profile, journey)
    occ = occurrences_due(journey, profile, zone, now.astimezone(zone).date())
    return occ, (timing(journey, zone, occ[0].due_on, now).action if occ else None)


# ---- one instant, two zones --------------------------------------------------------------------------------

def test_at_one_utc_instant_a_birthday_is_due_in_tokyo_and_not_yet_in_new_york():
    tokyo = {"birthday": "1990-06-15", "timezone": "Asia/Tokyo"}
    new_york = {"birthday": "1990-06-15", "timezone": "America/New_York"}
    now = at("2027-06-15T01:30:00Z")  # 10:30 on the 15th in Tokyo, 21:30 on the 14th in New York
    occ, action = due_now(BIRTHDAY, tokyo, now)
    assert occ == [Occurrence("birthday-2027", date(2027, 6, 15))] and action == "send"
    assert due_now(BIRTHDAY, new_york, now) == ([], None)
    # New York's 15th begins, but 10:00 local has not come yet: a run now sends nothing to them
    occ, action = due_now(BIRTHDAY, new_york, at("2027-06-15T13:59:00Z"))
    assert occ == [Occurrence("birthday-2027", date(2027, 6, 15))] and action == "wait"
    assert timing(BIRTHDAY, NEW_YORK, date(2027, 6, 15), at("2027-06-15T13:59:00Z")).at == at("2027-06-15T14:00:00Z")
    assert due_now(BIRTHDAY, new_york, at("2027-06-15T14:00:00Z"))[1] == "send"
    # the rest of the local day counts (23:59 in New York), the next local day does not
    assert due_now(BIRTHDAY, new_york, at("2027-06-16T03:59:00Z"))[1] == "send"
    assert due_now(BIRTHDAY, new_york, at("2027-06-16T04:00:00Z")) == ([], None)
    assert timing(BIRTHDAY, NEW_YORK, date(2027, 6, 15), at("2027-06-16T04:00:00Z")).action == "missed"


def test_the_journeys_zone_applies_when_the_profile_has_none_or_an_unknown_one():
    assert customer_zone({}, BIRTHDAY) == BERLIN
    assert customer_zone({"timezone": "Mars/Olympus"}, BIRTHDAY) == BERLIN
    assert customer_zone({"timezone": "Asia/Tokyo"}, BIRTHDAY) == TOKYO
    occ, action = due_now(BIRTHDAY, {"birthday": "1990-06-15"}, at("2027-06-15T08:00:00Z"))  # 10:00 in Berlin
    assert occ and action == "send"
    assert due_now(BIRTHDAY, {"birthday": "1990-06-15"}, at("2027-06-15T07:59:59Z"))[1] == "wait"


# ---- birthdays and anniversaries ---------------------------------------------------------------------------

def test_a_leap_day_birthday_falls_on_28_february_in_other_years():
    leapling = {"birthday": "2000-02-29", "timezone": "Europe/Berlin"}
    assert due_now(BIRTHDAY, leapling, at("2027-02-28T12:00:00Z"))[0] == [Occurrence("birthday-2027",
                                                                                     date(2027, 2, 28))]
    assert due_now(BIRTHDAY, leapling, at("2027-03-01T12:00:00Z"))[0] == []
    assert due_now(BIRTHDAY, leapling, at("2028-02-28T12:00:00Z"))[0] == []
    assert due_now(BIRTHDAY, leapling, at("2028-02-29T12:00:00Z"))[0] == [Occurrence("birthday-2028",
                                                                                     date(2028, 2, 29))]


def test_days_before_a_birthday_may_reach_into_the_previous_year():
    early = make({"type": "birthday", "days_before": 5})
    profile = {"birthday": "1990-01-02"}
    assert due_now(early, profile, at("2026-12-28T12:00:00Z"))[0] == [Occurrence("birthday-2027",
                                                                                 date(2026, 12, 28))]
    assert due_now(early, profile, at("2027-01-02T12:00:00Z"))[0] == []
    assert due_now(BIRTHDAY, {"birthday": "not a date"}, at("2027-01-02T12:00:00Z"))[0] == []


def test_signup_anniversaries_on_the_listed_years_or_every_year():
    listed = make({"type": "signup_anniversary", "years": [1, 5]})
    every = make({"type": "signup_anniversary"})
    # signed up 23:30 UTC on 9 March = 10 March in Berlin: the local date counts
    profile = {"signed_up_at": "2026-03-09T23:30:00Z"}
    assert due_now(listed, profile, at("2027-03-10T12:00:00Z"))[0] == [Occurrence("anniversary-1", date(2027, 3, 10))]
    assert due_now(listed, profile, at("2027-03-09T12:00:00Z"))[0] == []
    assert due_now(listed, profile, at("2028-03-10T12:00:00Z"))[0] == []
    assert due_now(every, profile, at("2028-03-10T12:00:00Z"))[0] == [Occurrence("anniversary-2", date(2028, 3, 10))]
    assert due_now(every, profile, at("2026-03-10T12:00:00Z"))[0] == []  # the sign-up day itself is no anniversary
    leap = {"signed_up_at": "2024-02-29T12:00:00Z"}
    assert due_now(every, leap, at("2025-02-28T12:00:00Z"))[0] == [Occurrence("anniversary-1", date(2025, 2, 28))]


# ---- orders ------------------------------------------------------------------------------------------------

WIN_BACK = make({"type": "win_back", "days_since_last_order": 60})


def test_win_back_is_due_n_days_after_the_last_orders_local_date_and_not_after_a_newer_order():
    # 23:30 UTC on 10 January is 11 January in Berlin and still 10 January in UTC
    berlin = {"last_order_at": "2027-01-10T23:30:00Z", "timezone": "Europe/Berlin"}
    utc = {"last_order_at": "2027-01-10T23:30:00Z", "timezone": "UTC"}
    assert due_now(WIN_BACK, berlin, at("2027-03-12T10:00:00Z"))[0] == [Occurrence("win-back-2027-01-11",
                                                                                   date(2027, 3, 12))]
    assert due_now(WIN_BACK, berlin, at("2027-03-11T10:00:00Z"))[0] == []
    assert due_now(WIN_BACK, utc, at("2027-03-11T10:00:00Z"))[0] == [Occurrence("win-back-2027-01-10",
                                                                                date(2027, 3, 11))]
    newer = {**berlin, "last_order_at": "2027-02-01T09:00:00Z"}
    assert due_now(WIN_BACK, newer, at("2027-03-12T10:00:00Z"))[0] == []
    assert due_now(WIN_BACK, newer, at("2027-04-02T10:00:00Z"))[0] == [Occurrence("win-back-2027-02-01",
                                                                                  date(2027, 4, 2))]
    assert due_now(WIN_BACK, {}, at("2027-04-02T10:00:00Z"))[0] == []


def test_replenishment_after_the_lifespan_unless_bought_again():
    j = make({"type": "replenishment", "lifespan_days": {"skus": {"COFFEE-1KG": 30}, "categories": {"tea": 20}}})
    profile = {"timezone": "Europe/Berlin", "last_purchases": {"skus": {"COFFEE-1KG": "2027-05-01T09:00:00Z"},
                                                               "categories": {"tea": "2027-05-11T09:00:00Z"}}}
    assert due_now(j, profile, at("2027-05-31T09:00:00Z"))[0] == [
        Occurrence("replenishment-sku-COFFEE-1KG-2027-05-01", date(2027, 5, 31)),
        Occurrence("replenishment-category-tea-2027-05-11", date(2027, 5, 31))]
    again = {**profile, "last_purchases": {"skus": {"COFFEE-1KG": "2027-05-20T09:00:00Z"}, "categories": {}}}
    assert due_now(j, again, at("2027-05-31T09:00:00Z"))[0] == []
    assert due_now(j, again, at("2027-06-19T09:00:00Z"))[0] == [
        Occurrence("replenishment-sku-COFFEE-1KG-2027-05-20", date(2027, 6, 19))]


def test_post_purchase_days_after_the_first_order():
    j = make({"type": "post_purchase", "days_after_first_order": 14})
    profile = {"first_order_at": "2027-05-01T22:30:00Z", "timezone": "Asia/Tokyo"}  # 2 May in Tokyo
    assert due_now(j, profile, at("2027-05-16T03:00:00Z"))[0] == [Occurrence("post-purchase-2027-05-02",
                                                                             date(2027, 5, 16))]
    assert due_now(j, profile, at("2027-05-15T03:00:00Z"))[0] == []


def test_points_expiring_is_due_the_local_day_of_the_warning_once_per_warning():
    occ = points_expiring_occurrence("rewards", "lot-1", at("2027-06-23T20:00:00Z"), TOKYO)
    assert occ == Occurrence("points-expiring-rewards-lot-1", date(2027, 6, 24))
    assert points_expiring_occurrence("rewards", "lot-2", at("2027-06-23T20:00:00Z"), TOKYO).key != occ.key


def test_points_expiring_waits_for_send_at_on_the_day_of_the_warning_or_goes_out_when_it_came_later():
    from incentives.domain.journeys import points_expiring_start

    j = make({"type": "points_expiring"})  # send_at 10:00
    assert points_expiring_start(j, TOKYO, at("2027-06-23T20:00:00Z")) == at("2027-06-24T01:00:00Z")  # 05:00 -> 10:00
    assert points_expiring_start(j, TOKYO, at("2027-06-24T05:00:00Z")) == at("2027-06-24T05:00:00Z")  # 14:00


# ---- quiet hours -------------------------------------------------------------------------------------------

QUIET = make({"type": "birthday"}, quiet_hours={"from": "21:00", "to": "08:00"})


def test_quiet_hours_that_wrap_midnight_defer_to_the_morning_never_drop():
    due = date(2027, 6, 15)
    # 22:30 in Berlin on the due day: deferred to 08:00 the next morning (the next local day)
    t = timing(QUIET, BERLIN, due, at("2027-06-15T20:30:00Z"))
    assert (t.action, t.at) == ("defer", at("2027-06-16T06:00:00Z"))
    assert timing(QUIET, BERLIN, due, at("2027-06-15T18:59:00Z")).action == "send"  # 20:59
    assert timing(QUIET, BERLIN, due, at("2027-06-15T19:00:00Z")).action == "defer"  # 21:00
    # after midnight, before 08:00: the same morning
    assert next_allowed(QUIET.quiet_hours, BERLIN, at("2027-06-16T03:00:00Z")) == at("2027-06-16T06:00:00Z")
    assert next_allowed(QUIET.quiet_hours, BERLIN, at("2027-06-16T06:00:00Z")) == at("2027-06-16T06:00:00Z")


def test_quiet_hours_within_one_day_and_a_send_at_inside_them():
    j = make({"type": "birthday"}, send_at="12:30", quiet_hours={"from": "12:00", "to": "14:00"})
    due = date(2027, 6, 15)
    t = timing(j, BERLIN, due, at("2027-06-15T10:30:00Z"))  # 12:30 Berlin
    assert (t.action, t.at) == ("defer", at("2027-06-15T12:00:00Z"))
    assert timing(j, BERLIN, due, at("2027-06-15T12:00:00Z")).action == "send"
    assert timing(j, BERLIN, due, at("2027-06-15T10:29:00Z")).action == "wait"


def test_a_deferred_send_goes_out_at_the_first_run_at_or_after_its_time():
    from incentives.domain.journeys import deferred_timing

    until = at("2027-06-16T06:00:00Z")
    assert deferred_timing(QUIET, BERLIN, at("2027-06-16T05:00:00Z"), until).action == "wait"
    assert deferred_timing(QUIET, BERLIN, at("2027-06-16T07:00:00Z"), until).action == "send"
    # a run the next evening, inside quiet hours again: deferred again, still not dropped
    t = deferred_timing(QUIET, BERLIN, at("2027-06-16T20:00:00Z"), until)
    assert (t.action, t.at) == ("defer", at("2027-06-17T06:00:00Z"))


# ---- DST ---------------------------------------------------------------------------------------------------

def test_a_send_at_inside_a_spring_forward_gap_means_the_first_instant_after_it():
    # New York, 14 March 2027: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:30 does not exist that day
    assert local_instant(date(2027, 3, 14), time(2, 30), NEW_YORK) == at("2027-03-14T07:00:00Z")
    assert local_instant(date(2027, 3, 13), time(2, 30), NEW_YORK) == at("2027-03-13T07:30:00Z")  # EST
    assert local_instant(date(2027, 3, 15), time(2, 30), NEW_YORK) == at("2027-03-15T06:30:00Z")  # EDT
    j = make({"type": "birthday"}, send_at="02:30", timezone="America/New_York")
    due = date(2027, 3, 14)
    assert timing(j, NEW_YORK, due, at("2027-03-14T06:59:59Z")).action == "wait"
    assert timing(j, NEW_YORK, due, at("2027-03-14T07:00:00Z")).action == "send"
    assert due_hour(j, NEW_YORK, due) == at("2027-03-14T07:00:00Z")
    # Berlin's gap (28 March 2027, 02:00 CET -> 03:00 CEST at 01:00 UTC)
    assert local_instant(date(2027, 3, 28), time(2, 15), BERLIN) == at("2027-03-28T01:00:00Z")


def test_a_repeated_wall_time_at_fall_back_means_the_first_of_the_two():
    # New York, 7 November 2027: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST)
    assert local_instant(date(2027, 11, 7), time(1, 30), NEW_YORK) == at("2027-11-07T05:30:00Z")


def test_quiet_hours_ending_inside_a_gap_end_when_the_gap_does():
    quiet = QuietHours(from_="23:00", to="02:30")
    assert next_allowed(quiet, NEW_YORK, at("2027-03-14T05:00:00Z")) == at("2027-03-14T07:00:00Z")  # 00:00 EST


# ---- due-date buckets --------------------------------------------------------------------------------------

def test_the_due_bucket_is_the_utc_hour_of_the_local_send_at_and_a_run_reads_it():
    j = make({"type": "birthday"}, send_at="10:30")
    due = date(2027, 6, 15)
    assert due_hour(j, TOKYO, due) == at("2027-06-15T01:00:00Z")  # 10:30 JST = 01:30 UTC
    assert due_hour(j, NEW_YORK, due) == at("2027-06-15T14:00:00Z")  # 10:30 EDT = 14:30 UTC
    assert bucket_key(due_hour(j, TOKYO, due)) == "2027-06-15T01"
    run = buckets_for_run(at("2027-06-15T14:45:00Z"))
    assert run[-1] == "2027-06-15T14" and "2027-06-15T01" in run and len(run) == 26
    # the last moment New York's customer is sendable (23:59 local) still reads their bucket
    assert "2027-06-15T14" in buckets_for_run(at("2027-06-16T03:59:00Z"))


# ---- frequency cap -----------------------------------------------------------------------------------------

def test_the_frequency_cap_counts_sends_in_the_days_up_to_now_only():
    cap = FrequencyCap(max_messages=2, per_days=7)
    now = at("2027-06-15T10:00:00Z")
    assert not frequency_capped(cap, [now - timedelta(days=1)], now)
    assert frequency_capped(cap, [now - timedelta(days=1), now - timedelta(days=6, hours=23)], now)
    assert not frequency_capped(cap, [now - timedelta(days=1), now - timedelta(days=7)], now)  # out of the window
    assert not frequency_capped(cap, [now - timedelta(days=1), now + timedelta(hours=1)], now)  # a later run's send
    assert frequency_capped(cap, [now, now], now)
    assert not frequency_capped(None, [now] * 10, now)


# ---- message text ------------------------------------------------------------------------------------------

def test_message_text_by_locale_exact_then_language_then_default():
    j = make({"type": "birthday"}, offer={"campaign": "birthday-gift"}, message={
        "subject": "Happy birthday {first_name}: {discount} off", "text": "Use {code} before {expires_on}.",
        "locales": {"de": {"subject": "Alles Gute: {discount}", "text": "Mit {code} bis {expires_on}."},
                    "de-AT": {"subject": "Alles Gute, {first_name}!", "text": "Servus, {code} bis {expires_on}."}}})
    values = {"code": "BDAY-2345-6789", "discount": "15%", "expires_on": "2027-07-15"}
    assert render(j.message, "de-AT", first_name="Anna", **values).text == "Servus, BDAY-2345-6789 bis 2027-07-15."
    assert render(j.message, "de_at", **values).subject == "Alles Gute!"
    de = render(j.message, "de-CH", **values)
    assert (de.subject, de.text, de.locale) == ("Alles Gute: 15%", "Mit BDAY-2345-6789 bis 2027-07-15.", "de")
    en = render(j.message, "fr-FR", **values)
    assert (en.subject, en.locale) == ("Happy birthday: 15% off", None)
    assert render(j.message, None, first_name="Ann", **values).subject == "Happy birthday Ann: 15% off"


def test_a_message_with_a_code_always_carries_it_and_a_missing_value_is_an_error():
    j = make({"type": "birthday"}, offer={"campaign": "birthday-gift"},
             message={"subject": "Hi {{friend}}", "text": "A present for you: {discount} off."})
    r = render(j.message, None, code="BDAY-2345-6789", discount="15%")
    assert r.subject == "Hi {friend}" and r.text == "A present for you: 15% off.\n\nBDAY-2345-6789"
    with pytest.raises(ValueError, match="discount"):
        render(j.message, None, code="BDAY-2345-6789")


def test_discount_text_of_the_shipped_offer_and_of_amounts():
    bundle = load_config_dir(ROOT / "config")
    assert discount_text(bundle.campaign("birthday-gift")) == "15%"
    assert discount_text(bundle.campaign("referrer-10")) == "10.00 EUR"


# ---- audience and channel ----------------------------------------------------------------------------------

def test_the_audience_needs_every_condition_given():
    from incentives.domain.journeys import in_audience

    j = make({"type": "birthday"}, audience={"countries": ["DE", "AT"], "segments": ["returning_customers"]})
    now = at("2027-06-15T10:00:00Z")
    assert in_audience(j, {"country": "AT", "order_count": 2}, now)
    assert not in_audience(j, {"country": "FR", "order_count": 2}, now)
    assert not in_audience(j, {"country": "DE", "order_count": 1}, now)
    assert in_audience(BIRTHDAY, {}, now)


def test_the_first_channel_with_consent_and_an_address_is_used():
    from incentives.domain.journeys import ChannelChoice, choose_channel

    j = make({"type": "birthday"}, channels=["email", "sms"])
    both = {"email": "anna@example.com", "phone": "+4915112345678"}
    assert choose_channel(j, both, {"email", "sms"}) == ChannelChoice("email", "anna@example.com")
    assert choose_channel(j, both, {"sms"}) == ChannelChoice("sms", "+4915112345678")
    assert choose_channel(j, {"phone": "+4915112345678"}, {"email", "sms"}).channel == "sms"
    assert choose_channel(j, both, set()) == ChannelChoice(None, reason="no_consent")
    assert choose_channel(j, both, {"push"}) == ChannelChoice(None, reason="no_consent")
    assert choose_channel(j, {}, {"email"}) == ChannelChoice(None, reason="no_address")


def test_expires_on_is_the_local_date_of_the_codes_expiry():
    from incentives.domain.journeys import expires_on

    assert expires_on("2027-07-15T22:30:00Z", TOKYO) == "2027-07-16"
    assert expires_on("2027-07-15T22:30:00Z", NEW_YORK) == "2027-07-15"
    assert expires_on(None, TOKYO) is None


@settings(max_examples=300, deadline=None)
@given(day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
       hour=st.integers(0, 23), minute=st.sampled_from([0, 15, 30, 45, 59]),
       zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago",
                             "Asia/Tokyo", "Pacific/Chatham", "America/St_Johns"]))
def test_local_instant_is_the_first_instant_whose_wall_time_has_reached_the_send_time(day, hour, minute, zone):
    z, wall = ZoneInfo(zone), datetime.combine(day, time(hour, minute))
    t = local_instant(day, time(hour, minute), z)
    assert t.astimezone(z).replace(tzinfo=None) >= wall
    assert (t - timedelta(seconds=1)).astimezone(z).replace(tzinfo=None) < wall


def test_a_points_expiring_warning_renders_its_points_and_local_expiry_date():
    from incentives.domain.journeys import points_expiring_values

    j = make({"type": "points_expiring"}, message={"subject": "{points} points expire on {expires_on}",
                                                    "text": "Hi {first_name}, spend them before {expires_on}."})
    values = points_expiring_values({"points": 1200, "expires_at": "2027-07-01T03:00:00Z"}, NEW_YORK)
    r = render(j.message, None, **values)
    assert (r.subject, r.text) == ("1200 points expire on 2027-06-30", "Hi, spend them before 2027-06-30.")
