"""Customer identity helpers. E-mail addresses are stored only as a SHA-256 of the normalised address."""
from __future__ import annotations

import hashlib
import re

from .orders import Customer

# Pragmatic syntax check (RFC 5322 is far looser): local@domain.tld, no spaces, at most 254 characters.
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def valid_email(email: str) -> bool:
    return len(email) <= 254 and EMAIL_RE.match(email) is not None and ".." not in email


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def holder_for_id(customer_id: str) -> str:
    return f"id:{customer_id}"


def holder_for_email(email: str) -> str:
    return f"email:{email_hash(email)}"


def holders(customer: Customer) -> list[str]:
    """The holder keys a customer can prove: their id, and their e-mail when the request carries it."""
    out = [holder_for_id(customer.id)]
    if customer.email:
        out.append(holder_for_email(customer.email))
    return out
