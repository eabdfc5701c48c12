"""The referral repository against DynamoDB Local: each failed condition reaches the use case as its typed error,
and a refused unit of work leaves every item as it was (nothing half-written)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, UTC

import pytest

from incentives.adapters.dynamo import from_item
from incentives.adapters.referral_store import ReferralStore
from incentives.domain import errors
from incentives.domain import referrals as rules
from incentives.domain.referral_errors import (AlreadyEnrolled, DueRewardGone, PayoutNotOwed, ReferralChanged,
                                               ReferrerChanged, ReferrerGone, WriteConflict)
from incentives.domain.referrals import (Conversion, ConvertingOrder, DueReward, Payout, Referral, ReferralCode,
                                         Referrer, Reward)

P = "friends"
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
AT = "2026-12-01T10:00:00Z"
ORDER = ConvertingOrder("o-1", 5000, "EUR", "2026-12-02T09:00:00Z")


@pytest.fixture
def store(table) -> ReferralStore:
    return ReferralStore(table)


def snapshot(table) -> dict:
    items = table.client.scan(TableName=table.name, ConsistentRead=True)["Items"]
    return {(i["pk"]["S"], i["sk"]["S"]): from_item(i) for i in items}


def enrol(store: ReferralStore, customer_id: str = "ann", code: str = "REF-1") -> Referrer:
    referrer = Referrer(P, customer_id, code, AT, email_hash=f"mail-{customer_id}")
    uow = store.unit()
    store.enrol(uow, referrer, ReferralCode(P, code, customer_id, "active", AT, f"mail-{customer_id}"))
    uow.commit()
    return referrer


def attribute(store: ReferralStore, referee_id: str = "bob", rid: str = "rfl_1", mailbox: str | None = None,
              referrer_id: str = "ann") -> Referral:
    referral = Referral(rid, P, referrer_id, referee_id, "REF-1", AT, mailbox_hash=mailbox)
    uow = store.unit()
    store.lock_referee(uow, referral)
    store.count_attribution(uow, referral)
    store.add_referral(uow, referral)
    uow.commit()
    return referral


def test_enrolment_and_attribution_read_back_as_objects(store):
    ann = enrol(store)
    attribute(store, mailbox="mbx")
    referrer, profile = store.enrolment(P, "ann")
    assert referrer == Referrer(P, "ann", "REF-1", AT, referrals=1, pending=1, email_hash="mail-ann")
    assert profile is None
    code, _, referred = store.attribution(P, "REF-1", "bob")
    assert code == ReferralCode(P, "REF-1", "ann", "active", AT, "mail-ann") and referred
    assert store.referee([P, "other"], "bob") == ({P: "rfl_1"}, None)
    assert store.referral("rfl_1") == Referral("rfl_1", P, "ann", "bob", "REF-1", AT, mailbox_hash="mbx")
    assert [r.id for r in store.referrals_of(P, "ann")] == ["rfl_1"]
    assert store.counters(P) == {"referrers": 1, "referrals": 1, "pending": 1}
    assert ann.version == 0


def test_a_second_enrolment_is_already_enrolled_with_the_first_record_and_writes_nothing(store, table):
    first = enrol(store)
    before = snapshot(table)
    with pytest.raises(AlreadyEnrolled) as e:
        enrol(store, code="REF-2")  # a concurrent first call drew another code
    assert e.value.referrer == first
    assert snapshot(table) == before  # no second code, the referrer counted once


def test_a_taken_referee_or_mailbox_is_already_referred_and_writes_nothing(store, table):
    enrol(store)
    attribute(store, mailbox="mbx")
    before = snapshot(table)
    with pytest.raises(errors.AlreadyReferred):
        attribute(store, rid="rfl_2")  # the same referee
    with pytest.raises(errors.AlreadyReferred) as e:
        attribute(store, referee_id="carl", rid="rfl_3", mailbox="mbx")  # another id, the same mailbox
    assert e.value.details == {"program_id": P, "matched": "email"}
    assert snapshot(table) == before


def test_an_attribution_to_an_erased_referrer_is_referral_code_not_found_and_writes_nothing(store, table):
    enrol(store)
    before = snapshot(table)
    with pytest.raises(errors.ReferralCodeNotFound):
        attribute(store, referrer_id="gone")
    assert snapshot(table) == before


def conversion(referrer: Referrer, at: str = "2026-12-02T10:00:00Z") -> Conversion:
    return Conversion(referrer.converted + 1, Reward("cash", 1, value=2500, currency="EUR"),
                      "2026-12-16T09:00:00Z", ORDER.at, 1, at)


def test_a_conversion_over_a_stale_referrer_is_referrer_changed_and_writes_nothing(store, table):
    enrol(store)
    referral = attribute(store)
    stale = store.referrer(P, "ann")
    fresh_referral = attribute(store, referee_id="carl", rid="rfl_2")
    uow = store.unit()
    store.convert(uow, fresh_referral, stale, ORDER, conversion(stale), NOW)  # the first conversion: version 0 -> 1
    uow.commit()
    before = snapshot(table)
    uow = store.unit()
    store.convert(uow, referral, stale, ORDER, conversion(stale), NOW)  # decided on version 0 again
    store.schedule(uow, DueReward(P, referral.id, "2026-12-16T09:00:00Z", "2026-12-16T09:00:00Z"))
    with pytest.raises(ReferrerChanged):
        uow.commit()
    assert snapshot(table) == before
    assert store.referral(referral.id).status == rules.PENDING and store.due(P, "2027-01-01T00:00:00Z") == []
    leader, = store.leaderboard(P, 10)
    assert (leader.customer_id, leader.converted) == ("ann", 1)


def test_a_decision_on_a_referral_that_changed_is_referral_changed_and_writes_nothing(store, table):
    enrol(store)
    referral = attribute(store)
    uow = store.unit()
    store.close(uow, referral, rules.DISQUALIFIED, "order_below_minimum", "2026-12-02T10:00:00Z", ORDER)
    uow.commit()
    before = snapshot(table)
    uow = store.unit()
    store.close(uow, referral, rules.EXPIRED, "after_within_days", "2026-12-02T10:00:00Z", ORDER)  # read as pending
    with pytest.raises(ReferralChanged):
        uow.commit()
    assert snapshot(table) == before
    assert store.referral(referral.id).status == rules.DISQUALIFIED
    assert store.counters(P)["disqualified"] == 1 and store.counters(P)["pending"] == 0


def test_a_decision_for_an_erased_referrer_is_referrer_gone_and_makes_no_stub(store, table):
    enrol(store)
    referral = replace(attribute(store), referrer_id="gone")  # erased meanwhile: its record moved
    before = snapshot(table)
    uow = store.unit()
    store.close(uow, referral, rules.DISQUALIFIED, "order_below_minimum", "2026-12-02T10:00:00Z", ORDER)
    with pytest.raises(ReferrerGone):
        uow.commit()
    assert snapshot(table) == before


def test_a_release_of_a_due_item_another_run_took_is_due_reward_gone(store, table):
    enrol(store)
    referral = attribute(store)
    referrer = store.referrer(P, "ann")
    uow = store.unit()
    store.convert(uow, referral, referrer, ORDER, conversion(referrer), NOW)
    store.schedule(uow, DueReward(P, referral.id, "2026-12-16T09:00:00Z", "2026-12-16T09:00:00Z"))
    uow.commit()
    due, = store.due(P, "2026-12-16T09:00:00Z")
    converted = store.referral(referral.id)
    assert converted.payout_scheduled and due.referral_id == referral.id
    store.drop_due(due)  # another run
    before = snapshot(table)
    uow = store.unit()
    store.release(uow, due, converted)
    store.paid_out(uow, converted, "2026-12-16T09:00:00Z")
    with pytest.raises(DueRewardGone):
        uow.commit()
    assert snapshot(table) == before and store.referral(referral.id).payout_status == rules.SCHEDULED


def test_a_cancellation_no_condition_explains_is_a_write_conflict(store, table):
    enrol(store)
    uow = store.unit()
    uow.op(table.put_op({"pk": "EVENT#x", "sk": "EVENT"}))
    uow.commit()
    before = snapshot(table)
    uow = store.unit()
    uow.op(table.put_op({"pk": "EVENT#x", "sk": "EVENT"}))  # an item outside the referrals, put twice
    store.count(uow, P, {"referrer_rewards": 1})
    with pytest.raises(WriteConflict) as e:
        uow.commit()
    assert e.value.condition_failed
    assert snapshot(table) == before


def test_a_payout_is_marked_paid_once(store):
    enrol(store)
    referral = attribute(store)
    uow = store.unit()
    store.owe(uow, Payout(referral.id, referral.id, P, "ann", 2500, "EUR", "owed", AT))
    uow.commit()
    paid = store.mark_paid(P, referral.id, "TR-1", "2026-12-20T10:00:00Z")
    assert (paid.status, paid.paid_at, paid.reference) == ("paid", "2026-12-20T10:00:00Z", "TR-1")
    assert [p.id for p in store.payouts(P, "paid")] == [referral.id] and store.payouts(P, "owed") == []
    with pytest.raises(PayoutNotOwed) as again:
        store.mark_paid(P, referral.id, "TR-2", "2026-12-21T10:00:00Z")
    assert again.value.payout == paid  # the repeat finds it paid, as it was
    with pytest.raises(PayoutNotOwed) as other:
        store.mark_paid("other", referral.id, None, "2026-12-21T10:00:00Z")
    assert other.value.payout == paid
    with pytest.raises(PayoutNotOwed) as none:
        store.mark_paid(P, "rfl_none", None, "2026-12-21T10:00:00Z")
    assert none.value.payout is None
