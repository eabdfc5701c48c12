"""Auto-applied incentives: POST /v1/qualifications lists the customer's bound codes that the order qualifies
for, best first, without writing; redemption accepts the one the storefront picks."""
from __future__ import annotations

from tests.support import OPERATOR_KEY_ID, campaign, scan_all

QUALIFY = ("storefront", "POST", "/v1/qualifications")


def issue(handlers, cid, customer):
    status, out, _ = handlers.call("operators", "POST", "/v1/campaigns/{campaign_id}/codes",
                                   path_params={"campaign_id": cid}, body={"customer": customer},
                                   key_id=OPERATOR_KEY_ID)
    assert status == 201
    return out["codes"][0]["code"]


def test_qualifications_list_the_customers_auto_applied_codes_best_first(handlers, config_dir, table):
    eur = lambda a: {"amount": a, "currency": "EUR"}  # noqa: E731
    config_dir(
        campaign("next", auto_apply=True, reward={"type": "amount_off", "amount": eur(500)}, limits={"per_code": 1},
                 codes={"type": "unique", "pattern": "NEXT-####-####", "bind_to_customer": True}),
        campaign("twenty", auto_apply=True, reward={"type": "percent_off", "percent": 20}, limits={"per_code": 1},
                 codes={"type": "unique", "pattern": "TWEN-####-####", "bind_to_customer": True},
                 eligibility={"min_order_amount": eur(3_000)}),
        campaign("typed", reward={"type": "amount_off", "amount": eur(900)},
                 codes={"type": "unique", "pattern": "TYPE-####-####", "bind_to_customer": True}))
    five = issue(handlers, "next", {"id": "c1"})
    twenty = issue(handlers, "twenty", {"email": "Ann@example.com"})
    issue(handlers, "typed", {"id": "c1"})  # bound, but not auto-applied
    issue(handlers, "next", {"id": "someone-else"})
    customer = {"id": "c1", "email": "ann@example.com"}

    before = sorted(map(repr, scan_all(table)))
    status, out, _ = handlers.call(*QUALIFY, body={"customer": customer, "order": {"currency": "EUR", "amount": 4_000}})
    assert status == 200
    assert [(q["code"], q["discount"]["amount"]) for q in out["qualifications"]] == [(twenty, 800), (five, 500)]
    assert sorted(map(repr, scan_all(table))) == before  # a query: nothing written

    small = handlers.call(*QUALIFY, body={"customer": customer, "order": {"currency": "EUR", "amount": 2_000}})[1]
    assert [q["code"] for q in small["qualifications"]] == [five]  # below the 20 % campaign's minimum

    status, _, _ = handlers.call("storefront", "POST", "/v1/redemptions", body={
        "code": twenty, "customer": customer, "order": {"currency": "EUR", "amount": 4_000}})
    assert status == 201
    after = handlers.call(*QUALIFY, body={"customer": customer, "order": {"currency": "EUR", "amount": 4_000}})[1]
    assert [q["code"] for q in after["qualifications"]] == [five]
    nobody = handlers.call(*QUALIFY, body={"customer": {"id": "c2"}, "order": {"currency": "EUR", "amount": 4_000}})
    assert nobody[1] == {"qualifications": [], "order_amount": 4_000}
