"""Request bodies of the referral routes (strict like http/schemas.py; unknown fields ignored)."""
from __future__ import annotations

from typing import Annotated

from ..domain.schema import Text, model
from .schemas import CodeText, CustomerIn, Id, ShortText

# The referee's IP address (v4 or v6) and the storefront's device id: only their hashes are stored.
Ip = Annotated[str, Text(min_length=2, max_length=45, pattern=r"^[0-9A-Fa-f:.]+$")]


@model
class ReferrerIn:
    customer: CustomerIn
    ip: Ip | None = None
    device_id: Id | None = None


@model
class ReferralIn:
    referral_code: CodeText
    referee: CustomerIn
    ip: Ip | None = None
    device_id: Id | None = None


@model
class PayoutPaidIn:
    reference: ShortText | None = None  # the shop's bank or PayPal transfer reference
