"""The points-expiry job against DynamoDB Local, run as of later moments through POST /v1/jobs/points-expiry/run:
lots expire at the end of their day in the program's zone and lose exactly their unspent points, warnings go
out once per lot, tiers come down when the window's points no longer hold them, and only due items are read."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from incentives.adapters import keys
from incentives.adapters.loyalty_store import EXPIRE, SHARDS, WARN
from incentives.domain.clock import iso, parse_rfc3339
from tests.integration.loyalty_support import PROGRAM_ID, UTC, days, make_loyalty


@pytest.fixture
def loyalty(handlers, table, config_dir):
    return make_loyalty(handlers, table, config_dir)


def berlin_end_of_day(d: date) -> datetime:
    """Independent of the engine: the last second of day d in Berlin, in UTC."""
    return (datetime.combine(d + timedelta(days=1), time(0), tzinfo=ZoneInfo("Europe/Berlin"))
            - timedelta(seconds=1)).astimezone(UTC)


def test_a_lot_expires_at_the_end_of_its_day_in_the_programs_zone(loyalty):
    loyalty.configure(expiry={"after_days": 30}, expiry_warning_days=0)
    now = datetime.now(UTC)
    earned = datetime.combine(now.date() - timedelta(days=1), time(23, 30), tzinfo=UTC)  # already "today" in Berlin
    loyalty.send("review.submitted", "t1", occurred_at=earned)
    (lot,) = loyalty.lots("t1")
    berlin_day = earned.astimezone(ZoneInfo("Europe/Berlin")).date()
    assert berlin_day == earned.date() + timedelta(days=1)
    expires = berlin_end_of_day(berlin_day + timedelta(days=30))
    assert lot["expires_at"] == iso(expires) and lot["expires_at"][11:] in ("22:59:59Z", "21:59:59Z")
    assert loyalty.run_job(expires)["programs"][PROGRAM_ID]["expired_lots"] == 0  # its last second: still valid
    assert loyalty.run_job(expires + timedelta(seconds=1))["programs"][PROGRAM_ID]["expired_points"] == 50


def test_expiry_removes_exactly_the_unspent_part_of_due_lots_once(loyalty):
    loyalty.configure(pending_days=0, expiry_warning_days=0)
    now = datetime.now(UTC)
    loyalty.points("t2", 40_000, occurred_at=now - days(300))  # 400, expires in ~65 days
    loyalty.points("t2", 30_000, occurred_at=now - days(200))  # 300, expires in ~165 days
    loyalty.points("t2", 20_000, occurred_at=now - days(1))  # 200, expires in ~364 days
    assert loyalty.redeem("t2")[0] == 201  # 400 of the first lot and 100 of the second
    later = now + days(170)
    out = loyalty.run_job(later)["programs"][PROGRAM_ID]
    assert (out["expired_lots"], out["expired_points"]) == (1, 200)  # the first was empty: never read again
    expiries = [e for e in loyalty.ledger("t2") if e["type"] == "expiry"]
    assert [(e["points"], e["lot_points"]) for e in expiries] == [(-200, 300)]
    assert [lot["remaining"] for lot in loyalty.lots("t2")] == [0, 0, 200]
    assert loyalty.lots_total("t2") == 200
    again = loyalty.run_job(later)["programs"][PROGRAM_ID]  # a repeated run changes nothing
    assert (again["expired_lots"], again["expired_points"]) == (0, 0)
    assert len([e for e in loyalty.ledger("t2") if e["type"] == "expiry"]) == 1


def test_expired_points_cannot_be_spent_even_before_the_job_ran(loyalty):
    loyalty.configure(pending_days=0, expiry={"after_days": 1})
    loyalty.points("t3", 60_000, occurred_at=datetime.now(UTC) - days(3))  # expires at the end of today
    assert loyalty.view("t3")["points"]["balance"] == 600
    (lot,) = loyalty.lots("t3")
    # rewrite the lot as if it had expired yesterday (the job has not run): the key range leaves it out
    loyalty.table.delete(lot["pk"], lot["sk"])
    old = iso(datetime.now(UTC) - days(1))
    loyalty.table.put({**lot, "sk": f"LOT#{old}#{lot['lot_id']}", "expires_at": old})
    assert loyalty.view("t3")["points"]["balance"] == 0
    assert loyalty.redeem("t3")[1]["error"]["code"] == "insufficient_points"


def test_a_warning_goes_out_once_per_lot_expiry_warning_days_before(loyalty, fan_out):
    loyalty.configure(pending_days=0, expiry={"after_days": 30}, expiry_warning_days=7)
    now = datetime.now(UTC)
    loyalty.send("review.submitted", "t4", occurred_at=now)
    loyalty.send("customer.created", "t4", occurred_at=now)
    lots = loyalty.lots("t4")
    assert all(lot["gsi1pk"].startswith(f"LOYALTY#{PROGRAM_ID}#WARN#") for lot in lots)
    expires = parse_rfc3339(lots[0]["expires_at"])
    assert loyalty.run_job(expires - days(8))["programs"][PROGRAM_ID]["warned"] == 0
    assert loyalty.run_job(expires - days(6))["programs"][PROGRAM_ID]["warned"] == 2
    assert loyalty.run_job(expires - days(5))["programs"][PROGRAM_ID]["warned"] == 0  # once per lot
    fan_out()  # the warnings are outbox items: the table's stream -> the fan-out -> the bus
    warnings = loyalty.outbox("points.expiring")
    assert sorted(w["detail"]["data"]["points"] for w in warnings) == [50, 100]
    assert {w["detail"]["customer_id"] for w in warnings} == {"t4"}
    assert {w["detail"]["data"]["expires_at"] for w in warnings} == {lots[0]["expires_at"]}
    assert {w["source"] for w in warnings} == {"incentives.engine"}
    assert sorted(w["detail"]["data"]["lot_id"] for w in warnings) == sorted(lot["lot_id"] for lot in lots)
    out = loyalty.run_job(expires + timedelta(seconds=1))["programs"][PROGRAM_ID]
    assert (out["expired_lots"], out["expired_points"]) == (2, 150)


def test_tiers_go_up_on_earning_and_down_on_the_scheduled_review(loyalty):
    loyalty.configure(tier_window_days=30)
    now = datetime.now(UTC)
    loyalty.points("t5", 120_000, occurred_at=now - days(20))  # 1200 earned 20 days ago: gold at once
    member = loyalty.member("t5")
    assert member["tier"] == "gold"
    review = parse_rfc3339(member["review_at"])  # when that day leaves the 30-day window
    assert now + days(9) < review < now + days(11.5)
    assert member["gsi1pk"].startswith(f"LOYALTY#{PROGRAM_ID}#TIERREVIEW#")
    early = loyalty.run_job(review - timedelta(seconds=1))["programs"][PROGRAM_ID]
    assert (early["tiers_reviewed"], loyalty.view("t5")["tier"]) == (0, "gold")
    out = loyalty.run_job(review + timedelta(seconds=1))["programs"][PROGRAM_ID]
    assert (out["tiers_reviewed"], out["downgraded"]) == (1, 1)
    member = loyalty.member("t5")
    assert member["tier"] == "silver" and "gsi1pk" not in member  # the lowest tier is not reviewed
    down = [e for e in loyalty.engine_events("loyalty.tier_changed") if e["data"]["direction"] == "down"]
    assert [(e["data"]["from"], e["data"]["to"]) for e in down] == [("gold", "silver")]
    assert loyalty.run_job(review + days(1))["programs"][PROGRAM_ID]["tiers_reviewed"] == 0


def test_earning_more_moves_the_review_so_the_tier_is_kept(loyalty):
    loyalty.configure(tier_window_days=30)
    now = datetime.now(UTC)
    loyalty.points("t6", 120_000, occurred_at=now - days(20))
    first = parse_rfc3339(loyalty.member("t6")["review_at"])
    loyalty.points("t6", 80_000, occurred_at=now)  # 1200 (x1.5) more today: the window holds gold longer
    moved = parse_rfc3339(loyalty.member("t6")["review_at"])
    assert moved > first + days(15)
    assert loyalty.run_job(first + timedelta(seconds=1))["programs"][PROGRAM_ID]["tiers_reviewed"] == 0
    assert loyalty.view("t6")["tier"] == "gold"


def test_the_job_reads_only_the_due_partitions(loyalty):
    """Lots and members far from due sit in key ranges the job's queries never reach: with 30 members (30 lots
    waiting for their warning, one gold member waiting for review) the run reads no item."""
    from incentives.adapters.dynamo import dynamodb_client

    for i in range(30):
        loyalty.send("customer.created", f"t7-{i}")
    loyalty.points("t7-0", 200_000)
    calls: list[tuple[str, int]] = []

    def after(http_response, parsed, model, **_):
        calls.append((model.name, parsed.get("Count", 0)))

    client = dynamodb_client()
    client.meta.events.register("after-call.dynamodb", after, unique_id="loyalty-reads")
    try:
        result = loyalty.run_job(datetime.now(UTC) + days(1))
    finally:
        client.meta.events.unregister("after-call.dynamodb", after, unique_id="loyalty-reads")
    assert result["programs"][PROGRAM_ID] == {"warned": 0, "expired_lots": 0, "expired_points": 0,
                                              "tiers_reviewed": 0, "downgraded": 0}
    assert [op for op, _ in calls] == ["Query"] * (3 * SHARDS)  # warn, expire, review partitions; nothing else
    assert sum(n for _, n in calls) == 0
    assert keys.loyalty_lots_due(WARN, PROGRAM_ID, 0) != keys.loyalty_lots_due(EXPIRE, PROGRAM_ID, 0)
