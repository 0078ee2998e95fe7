"""Promises and instalments kept or broken: which payments count toward which. Pure: no
database, no clock (`today` is an argument).

The rules:
- A payment counts toward a promise or an instalment if it was posted after the promise
  (or plan) was made and by its date: on or before the promised or due date, the
  cardholder's local date. A payment known only by its day (the bank's posting file)
  counts if that day is from the day it was made to its date.
- A promise is KEPT (an instalment PAID) once the payments counting toward it reach its
  amount; BROKEN (MISSED) once its date has passed without; OPEN until then.
- A payment counts once: each payment has an amount free to draw on (what no kept promise
  or paid instalment has drawn already), and every draw comes out of it. What a payment
  brings beyond what it is drawn for stays free for the next arrangement.
- Explicit order, earliest date first (then the earliest made, promise before instalment,
  instalments in sequence, then by id); within one, the earliest payments first. An OPEN
  arrangement holds what it drew until its date (so a later one cannot take money an
  earlier one still needs), a BROKEN one gives it back (it will never be kept), a KEPT one
  keeps it for good: the caller stores those draws, and the next run sees only what is
  left free. Running the rules again over what is left changes nothing already decided.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


class Kind(enum.StrEnum):
    PROMISE = "promise"
    INSTALMENT = "instalment"


class Outcome(enum.StrEnum):
    KEPT = "kept"  # a promise kept, an instalment paid
    BROKEN = "broken"  # a promise broken, an instalment missed
    OPEN = "open"  # its date has not passed yet, and it is not covered yet


@dataclass(frozen=True)
class Paid:
    """A posted payment as the rules see it."""

    payment_id: int
    free_minor: int  # its amount less what kept arrangements have drawn on it already
    day: dt.date  # its local day (payments taken here), or the bank's booking day
    at: dt.datetime | None = None  # when it was posted; None when only the day is known


@dataclass(frozen=True)
class Owed:
    """An open promise, or an instalment still due of an active plan."""

    kind: Kind
    target_id: int
    amount_minor: int
    due: dt.date  # the promised or due date, the cardholder's local date
    made_at: dt.datetime  # when the promise or plan was made
    made_day: dt.date  # its local day
    plan_id: int | None = None
    sequence: int = 0


@dataclass(frozen=True)
class Draw:
    """`amount_minor` of payment `payment_id` counted toward one arrangement."""

    payment_id: int
    kind: Kind
    target_id: int
    amount_minor: int


@dataclass(frozen=True)
class Verdict:
    owed: Owed
    outcome: Outcome
    covered_minor: int  # what counts toward it (all of it when kept)
    draws: tuple[Draw, ...]  # what it keeps: only a KEPT verdict's draws are for good


def counts_toward(paid: Paid, owed: Owed) -> bool:
    """Whether the payment was made since the arrangement was, and by its date."""
    if paid.day > owed.due:
        return False
    if paid.at is not None:
        return paid.at >= owed.made_at
    return paid.day >= owed.made_day


def order(owed: Owed) -> tuple[dt.date, dt.datetime, bool, int, int]:
    return (owed.due, owed.made_at, owed.kind is not Kind.PROMISE, owed.sequence, owed.target_id)


def settle(owed: Sequence[Owed], paid: Sequence[Paid], *, today: dt.date) -> list[Verdict]:
    """Each arrangement's verdict on `today` (the cardholder's local date), in the order
    they were considered (see the module's docstring)."""
    free = {p.payment_id: p.free_minor for p in paid}
    payments = sorted(paid, key=lambda p: (p.day, p.at or _EARLIEST, p.payment_id))
    verdicts: list[Verdict] = []
    for item in sorted(owed, key=order):
        draws: list[Draw] = []
        need = item.amount_minor
        for payment in payments:
            if need == 0:
                break
            available = free[payment.payment_id]
            if available <= 0 or not counts_toward(payment, item):
                continue
            take = min(need, available)
            draws.append(Draw(payment.payment_id, item.kind, item.target_id, take))
            free[payment.payment_id] = available - take
            need -= take
        covered = item.amount_minor - need
        if need == 0:
            outcome = Outcome.KEPT
        elif today > item.due:
            outcome = Outcome.BROKEN
            for draw in draws:  # never to be kept: its money counts toward the next
                free[draw.payment_id] += draw.amount_minor
        else:
            outcome = Outcome.OPEN
        verdicts.append(Verdict(item, outcome, covered, tuple(draws)))
    return verdicts


def earliest_local_day(moment: dt.datetime, zones: Sequence[str]) -> dt.date:
    """The day `moment` falls on where it is earliest among the person's zones: a date has
    passed only once it has passed in every zone they may be in, and a payment made on a
    date in any of them is made by it."""
    return min(moment.astimezone(ZoneInfo(zone)).date() for zone in zones)
