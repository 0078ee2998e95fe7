"""Pacing, pure: when the next call may go, given the limits and when each scope is free.

A token bucket with a burst of one, kept as GCRA's "theoretical arrival time": each scope
(the whole dialer, a campaign) remembers the earliest moment its next call may go. A call
takes the latest of now and every scope it draws on, and moves each of them on by that
scope's interval. So any two calls through one scope are at least its interval apart, and
over any stretch of time that scope's average rate never exceeds its limit, however many
processes share it (they share the state: dialer_pacing rows, dialer/claims.py). A call
that cannot go now is deferred to its slot, never refused.

Intervals are whole microseconds rounded up: rounding down would let a long run creep a
hair above the limit.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """A scope's limits: calls started per second, and calls in flight at once."""

    calls_per_second: float
    max_concurrent: int

    def __post_init__(self) -> None:
        if not self.calls_per_second > 0:
            raise ValueError("calls_per_second must be above zero")
        if self.max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")

    @property
    def interval(self) -> dt.timedelta:
        return interval(self.calls_per_second)


def interval(calls_per_second: float) -> dt.timedelta:
    """The least time between two calls through a scope at this rate."""
    return dt.timedelta(microseconds=math.ceil(1_000_000 / calls_per_second))


def slot(now: dt.datetime, free_at: Iterable[dt.datetime | None]) -> dt.datetime:
    """The earliest moment a call may go: now, or later if a scope it draws on is busy."""
    return max([now, *(moment for moment in free_at if moment is not None)])


def next_free(slot_taken: dt.datetime, calls_per_second: float) -> dt.datetime:
    """When a scope is free again after a call took `slot_taken`."""
    return slot_taken + interval(calls_per_second)


def has_room(in_flight: int, limits: Limits) -> bool:
    """Whether one more call may be in flight in the scope."""
    return in_flight < limits.max_concurrent
