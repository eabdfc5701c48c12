"""What a referral write can be refused for, as the referral repository (adapters/referral_store.py) explains a
failed condition. The services decide on them: read again and decide again, defer, or answer the caller.

These are not contract errors (domain/errors.py, mapped to HTTP statuses): a use case turns them into one of
those, or handles them, before anything reaches the HTTP layer.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .referrals import Payout, Referrer


class ReferralWriteError(Exception):
    """A referral write whose condition failed: what was decided on is no longer so."""


class AlreadyEnrolled(ReferralWriteError):
    """A concurrent first call enrolled this customer; ``referrer`` is their record (its code is the code)."""

    def __init__(self, referrer: Referrer):
        super().__init__("enrolled already")
        self.referrer = referrer


class ReferralCodeTaken(ReferralWriteError):
    """A new referral code exists already (the code space's counter was reset): never written over."""


class ReferralChanged(ReferralWriteError):
    """The referral's status (or its payout's) is no longer the one it was read in."""


class ReferrerChanged(ReferralWriteError):
    """The referrer's record changed since it was read (its version: the count, tier and period depend on it)."""


class ReferrerGone(ReferralWriteError):
    """The referrer's record is gone (erased and moved to an anonymised id meanwhile)."""


class HeldGone(ReferralWriteError):
    """The held conversion's review item is gone (another decision took it)."""


class DueRewardGone(ReferralWriteError):
    """The due reward's item is gone (another run paid it, or a refund reversed the conversion)."""


class PayoutNotOwed(ReferralWriteError):
    """The payout is not owed in this program; ``payout`` is what is stored (None: there is none)."""

    def __init__(self, payout: Payout | None):
        super().__init__("payout not owed")
        self.payout = payout


class WriteConflict(ReferralWriteError):
    """A cancelled write that no rule explains: a conflict with a concurrent transaction (``condition_failed``
    False), or a condition of an item outside the referral items (e.g. an event id taken)."""

    def __init__(self, reasons: list[str], condition_failed: bool):
        super().__init__(",".join(reasons))
        self.reasons = reasons
        self.condition_failed = condition_failed
