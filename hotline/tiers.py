"""Delinquency tiers: bands of days past due. Pure rules over plain values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class TierBand:
    code: str
    name: str
    min_days_past_due: int
    max_days_past_due: int | None  # None: no upper bound

    def contains(self, days_past_due: int) -> bool:
        upper = self.max_days_past_due
        return days_past_due >= self.min_days_past_due and (upper is None or days_past_due <= upper)


# The industry's usual cycles; a bank edits the table, these are what a new install gets.
DEFAULT_TIERS: tuple[TierBand, ...] = (
    TierBand("early", "Early (1-29 days)", 1, 29),
    TierBand("mid", "Mid (30-59 days)", 30, 59),
    TierBand("late", "Late (60-89 days)", 60, 89),
    TierBand("severe", "Severe (90-179 days)", 90, 179),
    TierBand("charge-off", "Pre-charge-off (180+ days)", 180, None),
)


class TierOverlap(ValueError):
    """Two tiers claim the same day count; an account would belong to both."""


def check_no_overlap(tiers: Sequence[TierBand]) -> None:
    ordered = sorted(tiers, key=lambda t: t.min_days_past_due)
    for lower, upper in pairwise(ordered):
        if lower.max_days_past_due is None or lower.max_days_past_due >= upper.min_days_past_due:
            raise TierOverlap(f"tiers {lower.code!r} and {upper.code!r} overlap")


def tier_for(days_past_due: int, tiers: Sequence[TierBand]) -> TierBand | None:
    """The tier an account with this many days past due falls in, or None (current)."""
    for tier in tiers:
        if tier.contains(days_past_due):
            return tier
    return None
