"""Keyed pseudonyms: the client network an IP counts as, and HMACs that a bare SHA-256 cannot reproduce."""
from __future__ import annotations

import hashlib

import pytest

from incentives.domain import pseudonyms
from incentives.domain.customers import email_hash, holders, normalise_email
from incentives.domain.orders import Customer


@pytest.mark.parametrize("ip,network", [
    ("203.0.113.9", "203.0.113.9"),
    (" 2001:db8:1:2:aaaa::1 ", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.7", "198.51.100.7"),
    ("not-an-ip", None),
    ("203.0.113.999", None),
])
def test_client_network(ip, network):
    assert pseudonyms.client_network(ip) == network


def test_pseudonyms_are_keyed_and_follow_the_mailbox():
    assert normalise_email(" Jane.Doe+x@GoogleMail.com") == "janedoe@gmail.com"
    h = email_hash("Jane.Doe+x@googlemail.com")
    assert h == email_hash("janedoe@gmail.com") != hashlib.sha256(b"janedoe@gmail.com").hexdigest()
    saved = pseudonyms.key()
    try:
        pseudonyms.use_key(b"another-deployment-key-32-bytes!")
        assert email_hash("janedoe@gmail.com") != h  # another deployment, another pseudonym
    finally:
        pseudonyms.use_key(saved)
    assert pseudonyms.ip_pseudonym("2001:db8:1:2::1") == pseudonyms.ip_pseudonym("2001:db8:1:2::2")
    with pytest.raises(ValueError):
        pseudonyms.use_key(b"short")


def test_holders_include_the_legacy_email_holder_during_the_transition():
    c = Customer("c1", email="Bob@Example.com")
    assert holders(c) == ["id:c1", f"email:{email_hash('bob@example.com')}",
                          f"email:{hashlib.sha256(b'bob@example.com').hexdigest()}"]
    assert holders(c, legacy=False) == holders(c)[:2]
