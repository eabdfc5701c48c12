"""Claim abuse: one code per mailbox (normalised like referrals), a per-client limit by IPv4 address or IPv6 /64
spent before the campaign's shared budget, keyed pseudonyms only, claims made before the key still found."""
from __future__ import annotations

import hashlib

import pytest

from tests.support import campaign, scan_all

CLAIM = ("claims", "POST", "/v1/public/campaigns/{campaign_id}/claims")


@pytest.fixture
def api(handlers, config_dir):
    config_dir(campaign("land", codes={"type": "unique", "pattern": "LAND-####-####", "bind_to_customer": True},
                        claims={"rate_limit": {"per_client_per_minute": 3, "per_campaign_per_second": 1000}}))
    return handlers


def claim(api, email, ip="198.51.100.7"):
    return api.call(*CLAIM, path_params={"campaign_id": "land"}, key_id=None, source_ip=ip, body={"email": email})


def test_one_code_per_mailbox_after_normalising_like_referrals(api, table):
    status, first, _ = claim(api, "Jane.Doe+promo@gmail.com")
    assert status == 201
    for alias in ("janedoe@googlemail.com", "j.a.n.e.d.o.e+again@GMAIL.com"):
        status, again, _ = claim(api, alias, ip="192.0.2.1")
        assert (status, again["code"]) == (200, first["code"])
    # a provider that delivers +tags elsewhere keeps them apart
    assert claim(api, "jane+a@example.org", ip="192.0.2.2")[0] == 201
    assert claim(api, "jane@example.org", ip="192.0.2.3")[0] == 201
    assert len([i for i in scan_all(table) if i["sk"] == "CLAIM"]) == 3


def test_stored_hashes_are_keyed(api, table):
    claim(api, "ann@example.com", ip="2001:db8:1:2::7")
    stored = repr(scan_all(table))
    for bare in (hashlib.sha256(b"ann@example.com").hexdigest(), hashlib.sha256(b"2001:db8:1:2::7").hexdigest()[:32]):
        assert bare not in stored
    assert "ann@example.com" not in stored and "2001:db8" not in stored


def test_a_claim_made_before_the_key_is_found_again(api, table):
    legacy = hashlib.sha256(b"old@example.com").hexdigest()
    table.put({"pk": f"CLAIM#land#{legacy}", "sk": "CLAIM", "campaign_id": "land", "email_hash": legacy,
               "code": "LAND-OLD0-OLD0", "created_at": "2026-11-01T00:00:00Z", "expires_at": None})
    status, out, _ = claim(api, "Old@Example.com")
    assert (status, out["code"]) == (200, "LAND-OLD0-OLD0")
    assert len([i for i in scan_all(table) if i["sk"] == "CLAIM"]) == 1


def test_the_per_client_limit_counts_an_ipv6_64_as_one_client_before_the_shared_budget(api, table):
    answers = [claim(api, f"user{i}@example.com", ip=f"2001:db8:1:2::{i + 1:x}")[0] for i in range(5)]
    assert answers == [201, 201, 201, 429, 429]
    assert claim(api, "user9@example.com", ip="2001:db8:1:3::1")[0] == 201  # another line
    # the refused attempts spent nothing of the campaign's shared per-second budget
    campaign_hits = sum(i["hits"] for i in scan_all(table) if i["pk"].startswith("RATE#claims#land#")
                        and "#client#" not in i["pk"])
    assert campaign_hits == 4
