"""Loyalty's points.expiring warnings as messages of a journey with `trigger: {type: points_expiring}` against
DynamoDB Local: the journey_events consumer indexes each warning (services/journey_index.py), the
`points-expiring` job sends it through the journeys' one send path (services/journeys.py), delivered through the
local outbox of .eml files. Fixtures and helpers: tests/integration/test_journeys.py."""
from __future__ import annotations

import email
from email import policy

import pytest

from incentives.domain.clock import iso
from incentives.services.points_expiry import POINTS_EXPIRING, warning_id
from tests.integration.test_journeys import Journeys, at, journey

TEXT = {"subject": "Your points expire", "text": "{points} points expire on {expires_on}. Spend them!",
        "locales": {"de": {"subject": "Deine Punkte", "text": "{points} Punkte verfallen am {expires_on}."}}}


@pytest.fixture
def jx(table, config_dir, tmp_path):
    return Journeys(table, config_dir, tmp_path)


def points_journey(trigger: dict | None = None, **over) -> dict:
    j = journey("points-warning", trigger or {"type": "points_expiring"}, message=TEXT, send_at="10:00", **over)
    j.pop("offer")  # no offer: no code
    return j


def warn(jx, cid: str, warned: str, *, lot: str = "lot-1", points: int = 1200,
         expires_at: str = "2027-07-01T03:00:00Z", program: str = "rewards") -> dict:
    """The warning as the fan-out delivers it: the outbox event services/points_expiry.py writes."""
    lot_item = {"member_id": f"m-{cid}", "lot_id": lot}
    detail = {"id": warning_id(lot_item), "type": POINTS_EXPIRING, "customer_id": cid, "occurred_at": iso(at(warned)),
              "received_at": iso(at(warned)),
              "data": {"program_id": program, "member_id": lot_item["member_id"], "lot_id": lot, "warning_id": lot,
                       "points": points, "expires_at": expires_at}}
    return jx.index.handle(detail, at(warned))


def body(path) -> str:
    return email.message_from_bytes(path.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()


def test_a_warning_with_email_consent_sends_one_message_with_the_points_and_the_date(jx):
    jx.configure(points_journey())
    jx.event("c1", "customer.created", "2027-05-01T00:00:00Z", tz="America/New_York")
    assert warn(jx, "c1", "2027-06-24T15:05:00Z") == {"status": "indexed", "indexed": 1}  # 11:05 New York
    out = jx.run("points-expiring", "2027-06-24T15:08:00Z")
    assert out["sent"] == {"email": 1} and out["journeys"] == ["points-warning"]
    (m,) = jx.messages("c1")
    assert m["status"] == "sent" and m["journey_id"] == "points-warning" and "code" not in m
    (path,) = jx.eml_files()
    # the points' expiry as a local date in the customer's zone: 03:00 UTC on 1 July is 30 June in New York
    assert "1200 points expire on 2027-06-30." in body(path)
    assert jx.issued() == 0
    assert jx.run("points-expiring", "2027-06-24T16:08:00Z")["sent"] == {}


def test_a_warning_before_send_at_waits_for_it_in_the_customers_zone(jx):
    jx.configure(points_journey())
    jx.event("c1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin")
    warn(jx, "c1", "2027-06-24T03:05:00Z")  # 05:05 Berlin
    assert jx.run("points-expiring", "2027-06-24T03:08:00Z")["sent"] == {}
    assert jx.messages("c1") == []
    assert jx.run("points-expiring", "2027-06-24T08:08:00Z")["sent"] == {"email": 1}  # 10:08 Berlin
    (path,) = jx.eml_files()
    assert "1200 points expire on 2027-07-01." in body(path)


def test_a_redelivered_warning_sends_nothing_twice_and_two_warnings_send_two(jx):
    jx.configure(points_journey())
    jx.event("c1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin")
    warn(jx, "c1", "2027-06-24T09:05:00Z")
    assert warn(jx, "c1", "2027-06-24T09:05:00Z")["status"] == "duplicate"  # redelivered before the run
    assert jx.run("points-expiring", "2027-06-24T09:08:00Z")["sent"] == {"email": 1}
    assert warn(jx, "c1", "2027-06-24T09:05:00Z")["status"] == "duplicate"  # and after it
    assert jx.run("points-expiring", "2027-06-24T10:08:00Z")["sent"] == {}
    assert len(jx.messages("c1")) == 1 and len(jx.eml_files()) == 1
    # another lot's warning in the same hour is another message (not overwritten in the index)
    warn(jx, "c1", "2027-06-24T10:20:00Z", lot="lot-2", points=300)
    warn(jx, "c1", "2027-06-24T10:21:00Z", lot="lot-3", points=400)
    assert jx.run("points-expiring", "2027-06-24T10:30:00Z")["sent"] == {"email": 2}
    assert sorted(body(p).split()[0] for p in jx.eml_files()) == ["1200", "300", "400"]


def test_without_consent_the_warning_is_skipped_no_consent(jx):
    jx.configure(points_journey())
    jx.event("c1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", email_consent=False)
    warn(jx, "c1", "2027-06-24T09:05:00Z")
    out = jx.run("points-expiring", "2027-06-24T09:08:00Z")
    assert out["skipped"] == {"no_consent": 1} and out["sent"] == {}
    (m,) = jx.messages("c1")
    assert m["status"] == "skipped" and m["reason"] == "no_consent"
    assert jx.eml_files() == []
    assert jx.run("points-expiring", "2027-06-24T10:08:00Z")["skipped"] == {}  # recorded once


def test_quiet_hours_defer_the_warning_and_a_later_run_sends_it(jx):
    jx.configure(points_journey(quiet_hours={"from": "21:00", "to": "08:00"}))
    jx.event("c1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin")
    warn(jx, "c1", "2027-06-24T20:05:00Z")  # 22:05 Berlin
    out = jx.run("points-expiring", "2027-06-24T20:08:00Z")
    assert out["deferred"] == 1 and out["sent"] == {}
    assert [m["status"] for m in jx.messages("c1")] == ["deferred"]
    assert jx.run("points-expiring", "2027-06-25T05:08:00Z")["sent"] == {}  # 07:08 Berlin: still quiet
    assert jx.run("points-expiring", "2027-06-25T06:08:00Z")["sent"] == {"email": 1}  # 08:08 Berlin
    (m,) = jx.messages("c1")
    assert m["status"] == "sent"
    (path,) = jx.eml_files()
    assert "1200 points expire on 2027-07-01." in body(path)
    assert jx.run("points-expiring", "2027-06-25T07:08:00Z")["sent"] == {}


def test_a_journey_for_another_program_ignores_the_warning(jx):
    programs = jx.config_dir.path / "loyalty-programs"
    programs.mkdir()
    (programs / "vip.yaml").write_text("id: vip\n", encoding="utf-8")  # a program with the defaults
    jx.configure(points_journey(trigger={"type": "points_expiring", "program": "vip"}))
    jx.event("c1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin")
    assert warn(jx, "c1", "2027-06-24T09:05:00Z", program="rewards")["status"] == "no_journeys"
    assert warn(jx, "c1", "2027-06-24T09:06:00Z", lot="lot-9", program="vip")["status"] == "indexed"
    assert jx.run("points-expiring", "2027-06-24T09:08:00Z")["sent"] == {"email": 1}


def test_over_http_the_points_expiring_job_runs_as_of_now_and_the_message_is_listed(jx, handlers):
    from tests.integration.test_journeys import OP

    jx.configure(points_journey())
    jx.event("h1", "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin")
    warn(jx, "h1", "2027-06-24T09:05:00Z")
    status, out, _ = handlers.call("operators", "POST", "/v1/jobs/{job}/run", path_params={"job": "points-expiring"},
                                   body={"now": "2027-06-24T09:08:00Z"}, **OP)
    assert status == 200 and out["result"]["sent"] == {"email": 1}, out
    status, out, _ = handlers.call("operators", "GET", "/v1/customers/{customer_id}/messages",
                                   path_params={"customer_id": "h1"}, **OP)
    (m,) = out["messages"]
    assert (m["journey_id"], m["status"]) == ("points-warning", "sent") and "code" not in m


def test_end_to_end_loyaltys_expiry_job_warns_and_the_points_expiring_job_mails_it(jx, handlers, fan_out, tmp_path):
    """points-expiry's warning (an outbox item) -> the stream -> the fan-out -> the journey_events consumer (its
    subscription) -> the points-expiring job over HTTP -> an .eml with the lot's points and expiry date."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from incentives.domain.journeys import local_instant
    from tests.integration.loyalty_support import PROGRAM_ID, make_loyalty
    from tests.integration.test_journeys import OP

    jx.configure(points_journey())
    loyalty = make_loyalty(handlers, jx.table, jx.config_dir)
    loyalty.configure(pending_days=0, expiry={"after_days": 30}, expiry_warning_days=7)
    now = datetime.now(UTC).replace(microsecond=0)
    jx.event("w1", "customer.created", iso(now - timedelta(days=25)), iso(now), tz="Europe/Berlin")
    loyalty.points("w1", 40_000, occurred_at=now - timedelta(days=25))  # 400 points, expiring in ~5 days
    fan_out()  # the profile's events reach their consumers (loyalty_events: the sign-up's 100 points, too)
    assert loyalty.run_job(now)["programs"][PROGRAM_ID]["warned"] == 2  # both lots expire within 7 days
    fan_out()  # the warnings -> the bus -> journey_events
    lots = loyalty.lots("w1")
    berlin = ZoneInfo("Europe/Berlin")
    start = max(now, local_instant(now.astimezone(berlin).date(), datetime.strptime("10:00", "%H:%M").time(), berlin))
    status, out, _ = handlers.call("operators", "POST", "/v1/jobs/{job}/run", path_params={"job": "points-expiring"},
                                   body={"now": iso(start + timedelta(minutes=1))}, **OP)
    assert status == 200 and out["result"]["sent"] == {"email": 2}, out  # one message per warning
    assert {(m["journey_id"], m["status"]) for m in jx.messages("w1")} == {("points-warning", "sent")}
    texts = sorted(body(p) for p in tmp_path.rglob("*.eml"))
    expected = sorted(f"{lot['remaining']} points expire on "
                      f"{datetime.fromisoformat(lot['expires_at'].replace('Z', '+00:00')).astimezone(berlin).date()}."
                      for lot in lots)
    assert [t.split(" Spend")[0] for t in texts] == expected and sorted(lot["remaining"] for lot in lots) == [100, 400]
    fan_out()  # nothing new; a run again sends nothing
    again = handlers.call("operators", "POST", "/v1/jobs/{job}/run", path_params={"job": "points-expiring"},
                          body={"now": iso(start + timedelta(minutes=2))}, **OP)[1]
    assert again["result"]["sent"] == {}
