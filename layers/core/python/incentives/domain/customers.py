"""Customer identity helpers. E-mail addresses are stored only as a keyed pseudonym of the normalised mailbox
(domain/pseudonyms.py)."""
from __future__ import annotations

import re

from .orders import Customer
from .pseudonyms import keyed, legacy_sha256

# Pragmatic syntax check (RFC 5322 is far looser): local@domain.tld, no spaces, at most 254 characters.
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")

# Providers whose mailboxes ignore "+tag" (sub-addressing); Gmail also ignores dots in the local part.
_ALIASES = {"googlemail.com": "gmail.com"}
_DOTLESS = frozenset({"gmail.com"})
_PLUS_TAGS = frozenset({
    "gmail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com",
    "protonmail.com", "proton.me", "pm.me", "fastmail.com", "fastmail.fm", "zoho.com", "hey.com", "yandex.com",
    "yandex.ru", "gmx.de", "gmx.net", "web.de", "posteo.de", "mailbox.org",
})


def valid_email(email: str) -> bool:
    return len(email) <= 254 and EMAIL_RE.match(email) is not None and ".." not in email


def normalise_email(email: str) -> str:
    """The mailbox an address delivers to, as far as the common providers tell: lower case, googlemail ->
    gmail, no "+tag" where the provider ignores it, no dots in a Gmail local part. The one normaliser of claims,
    bound codes, referrals and erasure."""
    local, _, domain = email.strip().lower().rpartition("@")
    domain = domain.rstrip(".")
    domain = _ALIASES.get(domain, domain)
    if domain in _PLUS_TAGS:
        local = local.split("+", 1)[0]
    if domain in _DOTLESS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def email_hash(email: str) -> str:
    """The keyed pseudonym of the mailbox (64 hex digits): claims, bound codes and referrals store this."""
    return keyed("email", normalise_email(email))


def legacy_email_hashes(email: str) -> list[str]:
    """The bare SHA-256 values items written before the key hold: claims and bound codes hashed the trimmed,
    lower-cased address, referrals the normalised mailbox."""
    return list(dict.fromkeys([legacy_sha256(email.strip().lower()), legacy_sha256(normalise_email(email))]))


def holder_for_id(customer_id: str) -> str:
    return f"id:{customer_id}"


def holder_for_email(email: str) -> str:
    return f"email:{email_hash(email)}"


def holders(customer: Customer, legacy: bool = True) -> list[str]:
    """The holder keys a customer can prove: their id, and their e-mail when the request carries it (during the
    keyed-pseudonym transition also the bare SHA-256 holder of codes bound before the key existed)."""
    out = [holder_for_id(customer.id)]
    if customer.email:
        out.append(holder_for_email(customer.email))
        if legacy:
            out.append(f"email:{legacy_sha256(customer.email.strip().lower())}")
    return out
