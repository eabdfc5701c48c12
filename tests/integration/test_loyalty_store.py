"""The loyalty repository against DynamoDB Local: its conditions refuse what a stale read would break, with the
domain's typed errors, and a refused unit of work writes nothing of itself (the balance, the lots, the ledger and
the member stay as they were)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from incentives.adapters import keys
from incentives.adapters.loyalty_store import LoyaltyStore
from incentives.adapters.unit_of_work import UnitOfWork
from incentives.domain.clock import iso
from incentives.domain.loyalty import (BalanceShort, LedgerEntry, LotChanged, Member, MemberChanged, MemberState,
                                       PointLot, plan_spend)

NOW = datetime.now(UTC).replace(microsecond=0)
NOW_ISO = iso(NOW)


@pytest.fixture
def store(table) -> LoyaltyStore:
    return LoyaltyStore(table)


def join(store: LoyaltyStore, customer_id: str, *lots: int, debt: int = 0) -> Member:
    """A member with one lot per amount (spendable now, expiring in a year), committed through the store."""
    member = Member.join("club", customer_id, NOW_ISO)
    uow = UnitOfWork(store.table)
    written = store.save_member(uow, member, MemberState(debt=debt), None, NOW_ISO)
    store.open_balance(uow, member, sum(lots))
    for i, points in enumerate(lots):
        store.add_lot(uow, PointLot(f"lot_{customer_id}_{i}", member.member_id, "club", points, points, NOW_ISO,
                                    iso(NOW + timedelta(days=365 - i)), NOW_ISO, "adjustment"), NOW_ISO)
    uow.commit()
    return written


def balance(store: LoyaltyStore, member: Member) -> int:
    return store.table.get(*keys.loyalty_balance(member.member_id), consistent=True)["lots_total"]


def spend(store: LoyaltyStore, member: Member, points: int, plan: list) -> None:
    uow = UnitOfWork(store.table)
    store.spend(uow, member, points, plan, LedgerEntry.new(member.member_id, "club", "reward", -points, NOW))
    uow.commit()


def test_a_spend_over_the_balance_is_refused_by_its_condition_and_writes_nothing(store):
    member = join(store, "c1", 300)
    (lot,) = store.lots(member.member_id, NOW)
    with pytest.raises(BalanceShort):  # the lot gives what it has, but the balance does not cover 500
        spend(store, member, 500, [(lot, 300)])
    assert balance(store, member) == 300
    assert [x.remaining for x in store.lots(member.member_id, NOW)] == [300]
    assert store.entries(member.member_id, 10, None)[0] == []


def test_two_spends_decided_on_one_read_the_second_is_refused_whole(store):
    member = join(store, "c2", 400, 300)  # 700: points for one reward of 500, not two
    lots = store.lots(member.member_id, NOW)
    plan = plan_spend(lots, 500, NOW_ISO)
    assert plan is not None and [take for _, take in plan] == [300, 200]
    spend(store, member, 500, plan)
    with pytest.raises(BalanceShort):  # the same read again: the balance (200) is checked before the lots
        spend(store, member, 500, plan)
    assert balance(store, member) == 200
    assert sorted(x.remaining for x in store.lots(member.member_id, NOW)) == [200]
    assert [e.points for e in store.entries(member.member_id, 10, None)[0]] == [-500]
    # a spend the balance covers, from a lot read before the first spend took it: that lot refuses it
    stale = next(x for x in lots if x.points == 300)
    with pytest.raises(LotChanged) as refused:
        spend(store, member, 100, [(stale, 100)])
    assert refused.value.lot is not None and refused.value.lot.remaining == 0  # the lot as it is now
    assert balance(store, member) == 200 and len(store.entries(member.member_id, 10, None)[0]) == 1


def test_a_member_that_owes_points_cannot_spend(store):
    member = join(store, "c3", 600, debt=100)
    (lot,) = store.lots(member.member_id, NOW)
    with pytest.raises(MemberChanged):
        spend(store, member, 500, [(lot, 500)])
    assert balance(store, member) == 600 and store.lots(member.member_id, NOW)[0].remaining == 600


def test_a_stale_member_version_is_refused_and_the_newer_state_stays(store):
    join(store, "c4", 100)
    read = store.member("club", "c4")
    assert read is not None and read.version == 1
    uow = UnitOfWork(store.table)
    written = store.save_member(uow, read, MemberState(tier="gold", lifetime_points=1200), None, NOW_ISO)
    store.add_to_balance(uow, read.member_id, 50)
    uow.commit()
    assert written.version == 2
    uow = UnitOfWork(store.table)
    store.save_member(uow, read, MemberState(tier="silver", lifetime_points=1), None, NOW_ISO)  # from version 1
    store.add_to_balance(uow, read.member_id, 7)
    with pytest.raises(MemberChanged):
        uow.commit()
    now = store.member("club", "c4")
    assert now is not None and (now.version, now.state.tier, now.state.lifetime_points) == (2, "gold", 1200)
    assert balance(store, now) == 150  # the refused write's ADD did not happen either
    # a second join of the same customer is refused the same way
    with pytest.raises(MemberChanged):
        join(store, "c4", 10)
    assert store.member("club", "c4") == now
