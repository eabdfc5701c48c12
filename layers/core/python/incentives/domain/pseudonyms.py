"""Keyed pseudonyms of e-mail addresses and IP addresses: what the table stores instead of them.

An HMAC-SHA-256 with the deployment's secret (Secrets Manager, read once per process: incentives/hash_key.py;
locally a fixed dev secret installed by local/wiring.py), so a copy of the table alone cannot be reversed by
hashing candidate addresses (a bare SHA-256 of an e-mail or an IPv4 address is a dictionary lookup away).

E-mail addresses are normalised first (domain.customers.normalise_email: case, googlemail, "+tags" and Gmail
dots), so every mailbox has one pseudonym wherever it is used (claims, bound codes, referrals, erasure). IPs are
reduced to the client's network: an IPv4 address, or the /64 of an IPv6 address (one subscriber's line gets a
whole /64, so counting single IPv6 addresses would let one client rotate through 2^64 of them).

Items written before the key existed hold bare SHA-256 values; the ``legacy_*`` functions give those, and the
lookups that matter (claims, bound codes, referrals, erasure) try both while settings.legacy_hash_lookups is on
(docs/decision-log.md "Keyed pseudonyms").
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress

_key: bytes | None = None
MIN_KEY_BYTES = 16


class NoHashKey(RuntimeError):
    """No key was installed and none could be loaded: refusing to store a bare hash."""


def use_key(key: bytes | None) -> None:
    """Installs the deployment's key (None: forget it; the next use loads it again)."""
    global _key
    if key is not None and len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the pseudonym key needs at least {MIN_KEY_BYTES} bytes")
    _key = key


def has_key() -> bool:
    return _key is not None


def key() -> bytes:
    if _key is None:
        from ..hash_key import load  # the loader reads the environment (and Secrets Manager when deployed)

        use_key(load())
    assert _key is not None  # noqa: S101 - use_key set it or raised  # nosec B101
    return _key


def keyed(kind: str, value: str) -> str:
    """The pseudonym of ``value`` in namespace ``kind`` (64 hex digits)."""
    return hmac.new(key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def client_network(ip: str) -> str | None:
    """The address a client is counted by: an IPv4 address, or an IPv6 /64 (``2001:db8:1:2::/64``); an
    IPv4-mapped IPv6 address counts as its IPv4 address. None when ``ip`` is not an IP address."""
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def ip_pseudonym(ip: str) -> str | None:
    """The keyed pseudonym of a client's network (32 hex digits), or None for something that is no IP."""
    network = client_network(ip)
    return keyed("ip", network)[:32] if network is not None else None


def legacy_sha256(value: str) -> str:
    """What items written before the key hold: a bare SHA-256 (64 hex digits)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
