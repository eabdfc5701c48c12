"""Request bodies of the loyalty endpoints, validated at the edge by schema.parse (as http/schemas.py)."""
from __future__ import annotations

from typing import Annotated

from ..domain.schema import FieldInvalid, Int, Text, model
from .schemas import Id

MAX_POINTS = 100_000_000


@model
class RewardRedemptionIn:
    reward_id: Id


@model
class AdjustmentIn:
    points: Annotated[int, Int(ge=-MAX_POINTS, le=MAX_POINTS)]  # positive adds, negative removes
    reason: Annotated[str, Text(min_length=1, max_length=500)]
    expires_on: Annotated[str, Text(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None  # a local date of the program

    def __post_init__(self) -> None:
        if self.points == 0:
            raise FieldInvalid("points", "must not be 0")
        if self.expires_on is not None and self.points < 0:
            raise FieldInvalid("expires_on", "only added points get an expiry date")
