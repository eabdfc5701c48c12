"""The loyalty repository's items <-> domain objects (adapters/loyalty_store.py): items as they are stored today
read as the objects the rules use, and objects are written back in exactly that shape (keys, gsi1 placement,
attribute names), so data written before and after the repository stays one data set."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from incentives.adapters import loyalty_store as S
from incentives.adapters.loyalty_store import EXPIRE, WARN, shard_of
from incentives.domain.loyalty import LedgerEntry, LoyaltyOrder, Member, MemberState, PointLot

NOW = "2026-06-01T10:00:00Z"
MEMBER_ID = "mbr_01J0000000000000000000000"
SHARD = shard_of(MEMBER_ID)

STORED_MEMBER = {
    "pk": "LOYALTY#club#CUSTOMER#c1", "sk": "MEMBER", "member_id": MEMBER_ID, "program_id": "club",
    "customer_id": "c1", "joined_at": "2026-01-02T03:04:05Z", "tier": "gold", "lifetime_points": 1500,
    "window": {"2026-05-30": 1200}, "caps": {"1:D:2026-05-30": 1}, "milestones": [1000], "debt": 20,
    "shortfall": 5, "version": 7, "updated_at": "2026-05-30T08:00:00Z",
    "gsi1pk": f"LOYALTY#club#TIERREVIEW#{SHARD:02d}", "gsi1sk": f"2026-06-29T22:00:00Z#{MEMBER_ID}",
    "review_at": "2026-06-29T22:00:00Z"}


def stored_lot(**overrides) -> dict:
    item = {"pk": f"LOYALTY#MEMBER#{MEMBER_ID}", "sk": "LOT#2027-06-01T21:59:59Z#lot_A", "lot_id": "lot_A",
            "member_id": MEMBER_ID, "program_id": "club", "points": 300, "remaining": 120,
            "earned_at": "2026-06-01T09:00:00Z", "expires_at": "2027-06-01T21:59:59Z",
            "available_at": "2026-06-15T09:00:00Z", "source": "order.paid", "warn_at": "2027-05-25T21:59:59Z",
            "event_id": "ev-1", "order_id": "o-1",
            "gsi1pk": f"LOYALTY#club#WARN#{SHARD:02d}", "gsi1sk": f"2027-05-25T21:59:59Z#{MEMBER_ID}#lot_A"}
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def test_a_stored_member_reads_as_its_state_and_version_and_writes_back_the_same_item():
    member = S.member_from_item(STORED_MEMBER)
    assert member == Member("club", "c1", MEMBER_ID, MemberState(
        tier="gold", lifetime_points=1500, window={"2026-05-30": 1200}, caps={"1:D:2026-05-30": 1},
        milestones=[1000], debt=20, shortfall=5), 7, "2026-01-02T03:04:05Z", "2026-06-29T22:00:00Z")
    assert member.stored and member.debt == 20
    assert S.member_to_item(member, "2026-05-30T08:00:00Z") == STORED_MEMBER


def test_a_member_of_the_lowest_tier_is_not_in_the_review_index_and_a_new_one_is_written_once():
    item = S.member_to_item(replace(S.member_from_item(STORED_MEMBER), review_at=None), NOW)
    assert not {"gsi1pk", "gsi1sk", "review_at"} & set(item)
    joined = Member.join("club", "c2", NOW)
    assert not joined.stored and joined.member_id.startswith("mbr_") and joined.joined_at == NOW
    # (a legacy item without the optional state reads with the defaults)
    bare = S.member_from_item({"program_id": "club", "customer_id": "c3", "member_id": "m3", "version": 1})
    assert bare.state == MemberState() and bare.version == 1


def test_a_lot_reads_with_the_index_phase_it_waits_in_and_writes_back_the_same_item():
    lot = S.lot_from_item(stored_lot())
    assert (lot.lot_id, lot.points, lot.remaining, lot.waiting) == ("lot_A", 300, 120, WARN)
    assert not lot.available(NOW) and lot.available("2026-06-15T09:00:00Z") and lot.live(NOW)
    assert S.lot_to_item(lot) == stored_lot()
    warned = stored_lot(gsi1pk=f"LOYALTY#club#EXPIRE#{SHARD:02d}",
                        gsi1sk=f"2027-06-01T21:59:59Z#{MEMBER_ID}#lot_A", warned_at=NOW)
    assert S.lot_from_item(warned).waiting == EXPIRE and S.lot_to_item(S.lot_from_item(warned)) == warned
    spent = stored_lot(remaining=0, gsi1pk=None, gsi1sk=None)
    assert S.lot_from_item(spent).waiting is None and S.lot_to_item(S.lot_from_item(spent)) == spent
    # another program's partition is not this lot's phase
    assert S.lot_from_item(stored_lot(gsi1pk=f"LOYALTY#other#WARN#{SHARD:02d}")).waiting is None


def test_a_new_lot_waits_for_its_warning_unless_that_moment_has_passed():
    lot = PointLot("lot_B", MEMBER_ID, "club", 50, 50, NOW, "2026-06-30T21:59:59Z", NOW, "review.submitted",
                   warn_at="2026-06-23T21:59:59Z")
    item = S.lot_to_item(replace(lot, waiting=S.first_phase(lot, NOW)))
    assert (item["sk"], item["gsi1pk"], item["gsi1sk"]) == (
        "LOT#2026-06-30T21:59:59Z#lot_B", f"LOYALTY#club#WARN#{SHARD:02d}", f"2026-06-23T21:59:59Z#{MEMBER_ID}#lot_B")
    assert S.first_phase(replace(lot, warn_at=None), NOW) == EXPIRE
    bench = S.LoyaltyStore.lot_item("club", MEMBER_ID, 50, NOW, "2026-06-30T21:59:59Z", NOW, "review.submitted",
                                    "2026-06-23T21:59:59Z", NOW)
    assert {k: v for k, v in bench.items() if k not in ("sk", "gsi1sk", "lot_id")} == \
        {k: v for k, v in item.items() if k not in ("sk", "gsi1sk", "lot_id")}


def test_a_ledger_entry_keeps_its_details_and_the_api_view_names_no_keys():
    entry = LedgerEntry.new(MEMBER_ID, "club", "reward", -500, datetime(2026, 6, 1, 10, 0, 0, 123_000, tzinfo=UTC),
                            reward_id="five-off", code="CLUB-1", lots=[{"lot_id": "lot_A", "points": 500}],
                            debt_paid=None)
    item = S.entry_to_item(entry)
    assert item["pk"] == f"LOYALTY#MEMBER#{MEMBER_ID}" and item["sk"] == f"TX#2026-06-01T10:00:00.123Z#{entry.id}"
    assert "debt_paid" not in item and S.entry_from_item(item) == entry
    assert entry.view() == {"id": entry.id, "type": "reward", "points": -500, "created_at": "2026-06-01T10:00:00.123Z",
                            "reward_id": "five-off", "code": "CLUB-1", "lots": [{"lot_id": "lot_A", "points": 500}]}


def test_an_order_names_the_lot_it_earned_and_a_refund_before_payment_reads_as_not_earned():
    lot = S.lot_from_item(stored_lot())
    order = LoyaltyOrder("club", "o-1", 300, MEMBER_ID, "lot_A", 30_000, "EUR", "2026-06-01", "2026-06-01T09:00:00Z",
                         "ev-1", 1_000, 0)
    item = S.order_to_item(order, lot)
    assert (item["pk"], item["sk"], item["lot_sk"]) == ("LOYALTY#club#ORDER#o-1", "ORDER", stored_lot()["sk"])
    assert S.order_from_item(item) == order and order.earned
    early = S.order_from_item({"pk": "LOYALTY#club#ORDER#o-2", "sk": "ORDER", "program_id": "club",
                               "order_id": "o-2", "refunded_amount": 4_000, "created_at": NOW})
    assert not early.earned and (early.refunded_amount, early.lot_id, early.reversed_points) == (4_000, None, 0)
