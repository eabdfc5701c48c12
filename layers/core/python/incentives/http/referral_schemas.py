"""Request bodies of the referral routes (strict like http/schemas.py; unknown fields ignored)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ..domain.schema import Text
from .schemas import CodeText, CustomerIn, Id, ShortText

_In = dataclass(frozen=True, slots=True, kw_only=True)
# The referee's IP address (v4 or v6) and the storefront's device id: only their hashes are stored.
Ip = Annotated[str, Text(min_length=2, max_length=45, pattern=r"^[0-9A-Fa-f:.]+$")]


@_In
class ReferrerIn:
    customer: CustomerIn
    ip: Ip | None = None
    device_id: Id | None = None


@_In
class ReferralIn:
    referral_code: CodeText
    referee: CustomerIn
    ip: Ip | None = None
    device_id: Id | None = None


@_In
class PayoutPaidIn:
    reference: ShortText | None = None  # the shop's bank or PayPal transfer reference
