"""The line's limits in one place, pure, built from settings.

How many verification failures end a call and lock self-service, the smallest payment by
phone, how far ahead a promise may be, which balances are offered which instalment plans:
the call flows (both lines), the services and the README read them here. Per-jurisdiction
wording, windows and caps are the contact-rule profiles' (hotline/profiles.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from hotline.enums import BLOCKING_FLAGS, AccountFlag

# Flags under which no instalment plan is offered by phone: an agent decides instead.
NO_PLAN_FLAGS = BLOCKING_FLAGS | {AccountFlag.FRAUD}


class _LimitSettings(Protocol):
    # Read-only members, so a frozen Settings satisfies the protocol.
    @property
    def min_payment_minor(self) -> int: ...
    @property
    def promise_window_days(self) -> int: ...
    @property
    def plan_min_balance_minor(self) -> int: ...
    @property
    def plan_months(self) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class Limits:
    # Verification: failures in one call before it ends (a transfer, or goodbye).
    verify_failures_per_call: int = 3
    # ... and failures for one account within `failure_window` that lock phone self-service
    # until an agent unlocks it (no guess is checked once they are reached).
    lock_after_failures: int = 5
    failure_window: dt.timedelta = dt.timedelta(hours=24)
    # Asking: after the first ask, ask again this many times, then offer an agent.
    retries: int = 2
    # Speech recognised with less confidence than this is treated as not heard clearly.
    low_confidence: float = 0.5
    # Payments and arrangements (HOTLINE_MIN_PAYMENT_MINOR and the others).
    min_payment_minor: int = 100
    promise_window_days: int = 30
    plan_min_balance_minor: int = 30000
    plan_months: tuple[int, ...] = (3, 6, 12)

    @classmethod
    def from_settings(cls, settings: _LimitSettings) -> Limits:
        return cls(
            min_payment_minor=settings.min_payment_minor,
            promise_window_days=settings.promise_window_days,
            plan_min_balance_minor=settings.plan_min_balance_minor,
            plan_months=settings.plan_months,
        )

    def checkable(self, *, locked: bool, failures: int) -> bool:
        """May verification digits be checked for an account now?"""
        return not locked and failures < self.lock_after_failures

    def locks_after(self, failures: int) -> bool:
        """Does one more failure, after `failures` in the window, lock self-service?"""
        return failures + 1 >= self.lock_after_failures

    def smallest_payment(self, balance_minor: int) -> int:
        """The least a caller may pay by phone (all of it, when less is owed)."""
        return min(self.min_payment_minor, balance_minor)

    def last_promise_day(self, today: dt.date) -> dt.date:
        return today + dt.timedelta(days=self.promise_window_days)

    def plans(self, balance_minor: int, *, excluded: bool) -> tuple[tuple[int, int, int], ...]:
        """(count, instalment, last instalment) of each plan offered by phone, if any;
        `excluded`: a plan is running, or a flag in NO_PLAN_FLAGS is set."""
        if excluded or balance_minor < self.plan_min_balance_minor:
            return ()
        return tuple(
            (count, *split)
            for count in self.plan_months
            if (split := plan_instalments(balance_minor, count)) is not None
        )


def plan_instalments(balance_minor: int, count: int) -> tuple[int, int] | None:
    """(each instalment, the last one) for a plan of `count` over the balance: the others
    rounded up, the last taking what is left; None if nothing would be left for it."""
    instalment = -(-balance_minor // count)  # ceiling, in integers
    last = balance_minor - instalment * (count - 1)
    return (instalment, last) if last > 0 else None


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, kept to the 28th so that every month has it."""
    month_index = day.month - 1 + months
    return dt.date(day.year + month_index // 12, month_index % 12 + 1, min(day.day, 28))
