"""Claim <-> item: what a claim stores (no address, only its pseudonym), and a stored claim read back, also one
written before the record carried its own campaign id and hash (legacy items: the key names them)."""
from __future__ import annotations

from incentives.adapters.claim_store import Claim


def test_a_claim_round_trips_through_its_item():
    claim = Claim("welcome", "h" * 64, "WELC-1234-5678", "2026-12-04T10:00:00Z", "DE", "2027-01-03T10:00:00Z",
                  {"email": {"given": True, "at": "2026-12-04T10:00:00Z", "source": "landing_page"}}, "b")
    item = claim.item()
    assert (item["pk"], item["sk"]) == (f"CLAIM#welcome#{'h' * 64}", "CLAIM")
    assert item["email_hash"] == "h" * 64 and "email" not in item
    assert Claim.from_item(item) == claim


def test_a_legacy_claim_item_is_read_by_its_key():
    item = {"pk": "CLAIM#land#abc123", "sk": "CLAIM", "code": "LAND-0000-0001"}
    claim = Claim.from_item(item)
    assert (claim.campaign_id, claim.email_hash, claim.code) == ("land", "abc123", "LAND-0000-0001")
    assert claim.expires_at is None and claim.consent is None
