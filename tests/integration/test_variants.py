"""A/B variants of campaigns against DynamoDB Local, over HTTP through the real handlers: every code, claim and
redemption records its variant, the answers carry it, a variant's reward is what its customers get, and the
campaign's stats give the numbers per variant (rollbacks subtracted) with the z-test of their redemption rates."""
from __future__ import annotations

from datetime import datetime, UTC

import pytest

from incentives.adapters import keys
from incentives.domain import variants as ab
from incentives.domain.variants import subject_for_email, subject_for_id
from incentives.services.issuance import Issuance
from tests.integration.test_openapi_responses import check as declared
from tests.support import OPERATOR_KEY_ID, campaign, scan_all

OP = {"key_id": OPERATOR_KEY_ID}
ARMS = [{"id": "ten-pct", "weight": 1},
        {"id": "five-eur", "weight": 1, "reward": {"type": "amount_off", "amount": {"amount": 500, "currency": "EUR"}}}]
ORDER = {"currency": "EUR", "amount": 8_000}  # 10 % = 800, the other arm 500


class Arm:
    def __init__(self, d: dict):
        self.id, self.weight = d["id"], d["weight"]


def arm(campaign_id: str, subject: str) -> str:
    return ab.assign(campaign_id, subject, [Arm(a) for a in ARMS])


DISCOUNT = {"ten-pct": 800, "five-eur": 500}


def spring(**overrides):
    base = {"codes": {"type": "unique", "pattern": "SPRG-####-####", "bind_to_customer": True},
            "claims": {"allowed_origins": ["https://shop.example"]}, "variants": ARMS}
    return campaign("spring", **{**base, **overrides})


def issue(handlers, customer: dict) -> dict:
    status, out, _ = handlers.call("operators", "POST", "/v1/campaigns/{campaign_id}/codes",
                                   path_params={"campaign_id": "spring"}, body={"customer": customer}, **OP)
    assert status == 201, out
    declared("POST", "/v1/campaigns/{campaign_id}/codes", status, out, {})
    return out["codes"][0]


def checkout(handlers, what: str, code: str, customer_id: str, order: dict | None = None) -> tuple[int, dict]:
    status, out, _ = handlers.call("storefront", "POST", f"/v1/{what}",
                                   body={"code": code, "customer": {"id": customer_id}, "order": order or ORDER})
    declared("POST", f"/v1/{what}", status, out, {})  # as the OpenAPI document declares it
    return status, out


def stats(handlers, campaign_id: str = "spring") -> dict:
    status, out, _ = handlers.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                                   path_params={"campaign_id": campaign_id}, **OP)
    assert status == 200, out
    declared("GET", "/v1/campaigns/{campaign_id}", status, out, {})
    return out["stats"]


def test_codes_and_claims_record_the_variant_of_their_customer(handlers, config_dir, table):
    config_dir(spring())
    issued = {f"c{i}": issue(handlers, {"id": f"c{i}"}) for i in range(12)}
    for cid, code in issued.items():
        assert code["variant"] == arm("spring", subject_for_id(cid))
        item = table.get(*keys.code(code["code"]), consistent=True)
        assert item["variant"] == code["variant"]
    status, view, _ = handlers.call("storefront", "GET", "/v1/codes/{code}", path_params={"code": code["code"]})
    declared("GET", "/v1/codes/{code}", status, view, {})
    assert status == 200 and view["variant"] == code["variant"]
    assert {c["variant"] for c in issued.values()} == {"ten-pct", "five-eur"}  # 12 customers: both arms
    by_mail = issue(handlers, {"email": "Mia.Lee+news@gmail.com"})
    assert by_mail["variant"] == arm("spring", subject_for_email("mialee@gmail.com"))

    status, claimed, _ = handlers.call("claims", "POST", "/v1/public/campaigns/{campaign_id}/claims",
                                       path_params={"campaign_id": "spring"}, key_id=None,
                                       body={"email": "Ann@Example.com"}, headers={"Origin": "https://shop.example"})
    assert status == 201, claimed
    expected = arm("spring", subject_for_email("ann@example.com"))
    claim_item = next(i for i in scan_all(table) if i["sk"] == "CLAIM")
    assert claim_item["variant"] == expected
    assert table.get(*keys.code(claimed["code"]), consistent=True)["variant"] == expected

    numbers = {v["id"]: v for v in stats(handlers)["variants"]}
    arms = [c["variant"] for c in issued.values()] + [by_mail["variant"], expected]
    assert {k: v["issued"] for k, v in numbers.items()} == {a: arms.count(a) for a in ("ten-pct", "five-eur")}
    assert sum(v["issued"] for v in numbers.values()) == stats(handlers)["issued"] == 14


def test_validation_and_redemption_carry_the_variant_and_give_its_reward(handlers, config_dir, table):
    config_dir(spring())
    customers = {arm("spring", subject_for_id(f"k{i}")): f"k{i}" for i in range(20)}
    for variant, cid in customers.items():
        code = issue(handlers, {"id": cid})["code"]
        status, valid = checkout(handlers, "validations", code, cid)
        assert status == 200 and valid["valid"] is True and valid["variant"] == variant
        assert valid["discount"]["amount"] == DISCOUNT[variant]
        status, done = checkout(handlers, "redemptions", code, cid)
        assert status == 201 and done["variant"] == variant and done["discount"]["amount"] == DISCOUNT[variant]
        assert table.get(*keys.redemption(done["id"]), consistent=True)["variant"] == variant


def test_a_code_keeps_the_variant_it_was_issued_in_whoever_redeems_it(handlers, config_dir, table):
    """Claimed by e-mail, redeemed by a customer id whose own variant is the other one: the code's wins (the
    redemption's condition on the code's variant fails once, the checkout decides again in the code's)."""
    config_dir(spring(codes={"type": "unique", "pattern": "SPRG-####-####"}))
    email = "zoe@example.com"
    code_arm = arm("spring", subject_for_email(email))
    other = next(f"x{i}" for i in range(100) if arm("spring", subject_for_id(f"x{i}")) != code_arm)
    _, claimed, _ = handlers.call("claims", "POST", "/v1/public/campaigns/{campaign_id}/claims",
                                  path_params={"campaign_id": "spring"}, key_id=None, body={"email": email})
    status, valid = checkout(handlers, "validations", claimed["code"], other)
    assert valid["variant"] == code_arm and valid["discount"]["amount"] == DISCOUNT[code_arm]
    status, done = checkout(handlers, "redemptions", claimed["code"], other)
    assert status == 201 and done["variant"] == code_arm and done["discount"]["amount"] == DISCOUNT[code_arm]
    numbers = {v["id"]: v for v in stats(handlers)["variants"]}
    assert numbers[code_arm]["redeemed"] == 1 and numbers[other_arm(code_arm)]["redeemed"] == 0


def other_arm(a: str) -> str:
    return "five-eur" if a == "ten-pct" else "ten-pct"


@pytest.mark.parametrize("shards", [1, 4])
def test_stats_per_variant_after_redemptions_and_a_rollback(handlers, config_dir, shards):
    # with counter_shards the variant's counters go to the shards each redemption counted on, and back on rollback
    config_dir(spring(limits={"per_code": 1, "total_redemptions": 1000, "budget": {"amount": 1_000_000,
                                                                                   "currency": "EUR"},
                              "counter_shards": shards}))
    seen: dict[str, list[str]] = {"ten-pct": [], "five-eur": []}
    i = 0
    while min(len(v) for v in seen.values()) < 6:
        cid = f"s{i}"
        i += 1
        a = arm("spring", subject_for_id(cid))
        if len(seen[a]) < 6:
            seen[a].append(cid)
    codes = {cid: issue(handlers, {"id": cid})["code"] for cids in seen.values() for cid in cids}
    # ten-pct: 4 of its 6 codes redeemed, then one rolled back -> 3; five-eur: 1 of 6
    redeemed = {"ten-pct": seen["ten-pct"][:4], "five-eur": seen["five-eur"][:1]}
    ids = {}
    for cids in redeemed.values():
        for cid in cids:
            status, out = checkout(handlers, "redemptions", codes[cid], cid, {**ORDER, "id": f"o-{cid}"})
            assert status == 201, out
            ids[cid] = out["id"]
    rolled = redeemed["ten-pct"][0]
    assert handlers.call("storefront", "POST", "/v1/redemptions/{redemption_id}/rollback",
                         {"redemption_id": ids[rolled]}, body={})[0] == 200
    s = stats(handlers)
    assert s["variants"] == [
        {"id": "ten-pct", "weight": 1, "issued": 6, "redeemed": 3, "redemption_rate": 0.5,
         "discount_total": {"amount": 2_400, "currency": "EUR"},
         "discount_by_currency": [{"amount": 2_400, "currency": "EUR"}],
         "revenue": [{"amount": 24_000, "currency": "EUR"}]},
        {"id": "five-eur", "weight": 1, "issued": 6, "redeemed": 1, "redemption_rate": 0.1667,
         "discount_total": {"amount": 500, "currency": "EUR"},
         "discount_by_currency": [{"amount": 500, "currency": "EUR"}],
         "revenue": [{"amount": 8_000, "currency": "EUR"}]}]
    # 3/6 against 1/6: pooled 4/12 = 1/3, se = sqrt(1/3 * 2/3 * (1/6 + 1/6)) = 0.2721655, z = 0.3333 / 0.2721655
    # = 1.2247449, p = 2 * (1 - Phi(1.2247449)) = 0.2206714
    assert s["comparison"]["metric"] == "redemption_rate" and s["comparison"]["variants"] == ["ten-pct", "five-eur"]
    assert s["comparison"]["p_value"] == pytest.approx(0.2206714, abs=1e-6)
    assert s["comparison"]["significant"] is False
    assert s["redeemed"] == 4 and s["discount_total"] == {"amount": 2_900, "currency": "EUR"}


def test_a_public_code_is_assigned_by_customer_id_and_counted_per_variant(handlers, config_dir):
    config_dir(campaign("open", codes={"type": "public", "code": "OPENAB"}, variants=ARMS,
                        limits={"total_redemptions": 100}))
    got = {}
    for i in range(8):
        cid = f"p{i}"
        status, out = checkout(handlers, "redemptions", "OPENAB", cid)
        assert status == 201 and out["variant"] == arm("open", subject_for_id(cid))
        assert out["discount"]["amount"] == DISCOUNT[out["variant"]]
        got[out["variant"]] = got.get(out["variant"], 0) + 1
    s = stats(handlers, "open")
    assert {v["id"]: v["redeemed"] for v in s["variants"]} == {a: got.get(a, 0) for a in ("ten-pct", "five-eur")}
    assert all(v["issued"] == 0 and v["redemption_rate"] is None for v in s["variants"])
    assert s["comparison"]["p_value"] is None and s["comparison"]["significant"] is False


def test_a_campaign_without_variants_answers_as_before(handlers, config_dir, table):
    config_dir(campaign("plain", codes={"type": "public", "code": "PLAIN"}))
    status, valid = checkout(handlers, "validations", "PLAIN", "c1")
    assert "variant" not in valid
    status, done = checkout(handlers, "redemptions", "PLAIN", "c1")
    assert status == 201 and "variant" not in done
    assert "variant" not in table.get(*keys.redemption(done["id"]), consistent=True)
    s = stats(handlers, "plain")
    assert s["variants"] == [] and "comparison" not in s


def test_bulk_codes_are_assigned_by_the_code_and_counted_per_variant(table, config_dir):
    cfg = config_dir(spring(claims=None))
    issuance = Issuance(table, cfg)
    now = datetime.now(UTC)
    job = issuance.issue("spring", 600, None, None, now).body
    assert issuance.run_here(job["job_id"], now, workers=2)["status"] == "succeeded"
    codes = [i for i in scan_all(table) if i["sk"] == "CODE"]
    assert len(codes) == 600
    assert all(i["variant"] == arm("spring", ab.subject_for_code(i["code"])) for i in codes)
    issued = ab.sum_counters([i for i in scan_all(table) if i["pk"] == keys.campaign_prefix("spring")])
    assert {k: v["issued"] for k, v in issued.items()} == {
        a: sum(i["variant"] == a for i in codes) for a in ("ten-pct", "five-eur")}


@pytest.mark.parametrize("with_variants", [False, True])
def test_variants_add_no_request_and_no_item_to_the_checkout(handlers, config_dir, ddb_endpoint, with_variants):
    """Validation stays one BatchGetItem and a redemption one TransactWriteItems of the same items (code,
    campaign counters, customer usage, record, and the shopper's guess-counter check of services/guessing.py):
    the variant's counters ride on the counter update."""
    from bench import RequestRecorder
    from incentives.adapters.dynamo import dynamodb_client

    limits = {"per_code": 1, "per_customer": 1, "total_redemptions": 1000,
              "budget": {"amount": 10**9, "currency": "EUR"}}
    config_dir(spring(limits=limits, **({} if with_variants else {"variants": None})))
    code = issue(handlers, {"id": "k1"})["code"]
    with RequestRecorder(dynamodb_client(ddb_endpoint), consumed=False) as rec:
        status, valid = checkout(handlers, "validations", code, "k1")
        assert valid["valid"] is True and ("variant" in valid) is with_variants
    assert [c["op"] for c in rec.calls] == ["BatchGetItem"]
    with RequestRecorder(dynamodb_client(ddb_endpoint), consumed=False) as rec:
        status, done = checkout(handlers, "redemptions", code, "k1")
        assert status == 201 and ("variant" in done) is with_variants
    assert [c["op"] for c in rec.calls] == ["TransactWriteItems"]
    items = rec.calls[0]["params"]["TransactItems"]
    assert len(items) == 5 and sum("ConditionCheck" in i for i in items) == 1


def test_a_journeys_message_names_the_reward_of_its_codes_variant(table, config_dir, tmp_path, monkeypatch):
    import email
    from email import policy

    from tests.integration import test_journeys as tj

    arms = [{"id": "fifteen", "weight": 1},
            {"id": "five-eur", "weight": 1, "reward": {"type": "amount_off", "amount": {"amount": 500,
                                                                                         "currency": "EUR"}}}]
    monkeypatch.setattr(tj, "CAMPAIGN", {**tj.CAMPAIGN, "variants": arms})
    jx = tj.Journeys(table, config_dir, tmp_path).configure(tj.journey("bday", {"type": "birthday"}))
    pick = {}
    for i in range(50):
        pick.setdefault(ab.assign("gift", subject_for_id(f"b{i}"), [Arm(a) for a in arms]), f"b{i}")
    for cid in pick.values():
        jx.event(cid, "customer.created", "2027-05-01T00:00:00Z", tz="Europe/Berlin", birthday="1990-06-15")
    jx.run("birthdays", "2027-06-15T08:05:00Z")
    subjects = {}
    for path in jx.eml_files():
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        subjects[msg["To"].split("@")[0]] = msg["Subject"]
    assert subjects == {pick["fifteen"]: "For you: 15% off", pick["five-eur"]: "For you: 5.00 EUR off"}
    for variant, cid in pick.items():
        (m,) = jx.messages(cid)
        assert table.get(*keys.code(m["code"]), consistent=True)["variant"] == variant


def test_a_stack_of_codes_gives_each_line_its_variant(handlers, config_dir, table):
    config_dir(campaign("open", combinable=True, codes={"type": "public", "code": "OPENAB"}, variants=ARMS),
               campaign("flat", combinable=True, codes={"type": "public", "code": "FLAT1"},
                        reward={"type": "amount_off", "amount": {"amount": 100, "currency": "EUR"}}))
    status, out, _ = handlers.call("storefront", "POST", "/v1/redemptions",
                                   body={"codes": ["OPENAB", "FLAT1"], "customer": {"id": "st1"}, "order": ORDER})
    assert status == 201, out
    declared("POST", "/v1/redemptions", status, out, {})
    lines = {ln["code"]: ln for ln in out["redemptions"]}
    expected = arm("open", subject_for_id("st1"))
    assert lines["OPENAB"]["variant"] == expected and "variant" not in lines["FLAT1"]
    assert lines["OPENAB"]["discount"]["amount"] == DISCOUNT[expected]
    assert table.get(*keys.redemption(lines["OPENAB"]["id"]), consistent=True)["variant"] == expected
