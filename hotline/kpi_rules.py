"""Collections KPIs as pure rules over counted rows: which local day a moment falls on,
how counts per (day, tier) add up, what a rate is, roll rates between tiers, blocked
accounts by reason, a case's age against its SLA, and a reporting range.

No database, no clock: the queries (hotline/kpis.py) hand in counts per 15-minute UTC
bucket (every time zone's offset is a whole number of quarter hours, so a bucket never
straddles a local midnight), and these rules put them on the viewer's days.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

BUCKET_SECONDS = 900
# What a row with no tier is shown as: current, or outside every band.
NO_TIER = "current"
# The longest range a report covers (a year and a day: a leap year's worth).
MAX_RANGE_DAYS = 366
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class RangeError(ValueError):
    """A reporting range that cannot be read as asked (said in one line)."""


def bucket_of(moment: dt.datetime) -> int:
    """The 15-minute UTC bucket a moment falls in (what the queries group by)."""
    return int((moment - _EPOCH).total_seconds()) // BUCKET_SECONDS


def local_day(bucket: int, zone: ZoneInfo) -> dt.date:
    """The viewer's calendar day on which a bucket starts."""
    return (_EPOCH + dt.timedelta(seconds=bucket * BUCKET_SECONDS)).astimezone(zone).date()


def utc_window(start: dt.date, end: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[from, to) in UTC covering the local days start..end inclusive."""
    first = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC)
    last = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return first, last


def rate(part: int, whole: int) -> float | None:
    """part / whole, or None where there is nothing to divide (shown as a dash, not 0 %)."""
    if whole <= 0:
        return None
    return part / whole


@dataclass
class Counts:
    """What happened on one local day in one tier."""

    attempts: int = 0  # outbound calls the carrier accepted
    connects: int = 0  # of them, answered by a person (anyone: cardholder or not)
    right_party: int = 0  # of them, a conversation with the cardholder about the debt
    promises: int = 0  # promises to pay made that day (any line, any person)
    promised_minor: dict[str, int] = field(default_factory=dict)
    promises_kept: int = 0  # promises due that day that were kept
    promises_broken: int = 0  # promises due that day that were broken
    collected_minor: dict[str, int] = field(default_factory=dict)  # by currency
    payments: int = 0

    @property
    def connect_rate(self) -> float | None:
        return rate(self.connects, self.attempts)

    @property
    def right_party_rate(self) -> float | None:
        return rate(self.right_party, self.attempts)

    @property
    def promise_kept_rate(self) -> float | None:
        """Of the promises due that day that came to an end, the share kept (pending and
        cancelled ones are left out: they were neither kept nor broken)."""
        return rate(self.promises_kept, self.promises_kept + self.promises_broken)

    def add(self, other: Counts) -> None:
        self.attempts += other.attempts
        self.connects += other.connects
        self.right_party += other.right_party
        self.promises += other.promises
        self.promises_kept += other.promises_kept
        self.promises_broken += other.promises_broken
        self.payments += other.payments
        _add_money(self.promised_minor, other.promised_minor)
        _add_money(self.collected_minor, other.collected_minor)


def _add_money(into: dict[str, int], more: Mapping[str, int]) -> None:
    for currency, amount in more.items():
        into[currency] = into.get(currency, 0) + amount


@dataclass(frozen=True)
class AttemptBucket:
    bucket: int
    tier: str | None
    attempts: int
    connects: int
    right_party: int


@dataclass(frozen=True)
class PromiseBucket:
    bucket: int
    tier: str | None
    currency: str
    promises: int
    amount_minor: int


@dataclass(frozen=True)
class PromiseDue:
    """Promises due on a day (the promise's own date: no zone to convert)."""

    day: dt.date
    tier: str | None
    kept: int
    broken: int


@dataclass(frozen=True)
class PaymentBucket:
    """Payments taken here (a card on a call, an agent), by the moment they posted."""

    bucket: int
    tier: str | None
    currency: str
    payments: int
    amount_minor: int


@dataclass(frozen=True)
class PaymentDay:
    """Payments from the bank's posting file, by the day it says the bank booked them:
    a date, not an instant, so it is that day in every zone (a file imported on the 3rd
    for the 1st counts on the 1st)."""

    day: dt.date
    tier: str | None
    currency: str
    payments: int
    amount_minor: int


def fold(
    zone: ZoneInfo,
    start: dt.date,
    end: dt.date,
    attempts: Iterable[AttemptBucket] = (),
    promises: Iterable[PromiseBucket] = (),
    due: Iterable[PromiseDue] = (),
    payments: Iterable[PaymentBucket | PaymentDay] = (),
) -> dict[tuple[dt.date, str], Counts]:
    """Counts per (local day, tier) for the days start..end (rows outside are dropped)."""
    table: dict[tuple[dt.date, str], Counts] = defaultdict(Counts)

    def cell(day: dt.date, tier: str | None) -> Counts | None:
        return table[(day, tier or NO_TIER)] if start <= day <= end else None

    for a in attempts:
        if (c := cell(local_day(a.bucket, zone), a.tier)) is not None:
            c.attempts += a.attempts
            c.connects += a.connects
            c.right_party += a.right_party
    for p in promises:
        if (c := cell(local_day(p.bucket, zone), p.tier)) is not None:
            c.promises += p.promises
            _add_money(c.promised_minor, {p.currency: p.amount_minor})
    for d in due:
        if (c := cell(d.day, d.tier)) is not None:
            c.promises_kept += d.kept
            c.promises_broken += d.broken
    for m in payments:
        day = m.day if isinstance(m, PaymentDay) else local_day(m.bucket, zone)
        if (c := cell(day, m.tier)) is not None:
            c.payments += m.payments
            _add_money(c.collected_minor, {m.currency: m.amount_minor})
    return dict(table)


def by_day(table: Mapping[tuple[dt.date, str], Counts]) -> dict[dt.date, Counts]:
    """Every tier of a day added up."""
    days: dict[dt.date, Counts] = defaultdict(Counts)
    for (day, _tier), counts in table.items():
        days[day].add(counts)
    return dict(days)


def total(table: Mapping[tuple[dt.date, str], Counts]) -> Counts:
    whole = Counts()
    for counts in table.values():
        whole.add(counts)
    return whole


@dataclass(frozen=True)
class Roll:
    """Accounts in tier `source` on `day - 1` that were in tier `target` on `day`."""

    day: dt.date
    source: str
    target: str
    accounts: int
    out_of: int  # every account in `source` on the day before that has a snapshot on `day`

    @property
    def rate(self) -> float | None:
        return rate(self.accounts, self.out_of)


def roll_rates(moves: Iterable[tuple[dt.date, str | None, str | None, int]]) -> list[Roll]:
    """Roll rates from (day, tier the day before, tier that day, accounts) counts: for each
    day and starting tier, the share of its accounts that went to each tier (staying put
    included, so the rates of a starting tier add up to 1)."""
    counted: dict[tuple[dt.date, str, str], int] = defaultdict(int)
    for day, source, target, accounts in moves:
        counted[(day, source or NO_TIER, target or NO_TIER)] += accounts
    out_of: dict[tuple[dt.date, str], int] = defaultdict(int)
    for (day, source, _target), accounts in counted.items():
        out_of[(day, source)] += accounts
    return [
        Roll(day, source, target, accounts, out_of[(day, source)])
        for (day, source, target), accounts in sorted(counted.items())
    ]


def reason_key(reason: str) -> str:
    """A preview reason without its particulars ("; next eligible ..."), to count by."""
    return reason.split("; ")[0].strip() or "not due"


def blocked_by_reason(lines: Iterable[tuple[str, bool, str]]) -> dict[tuple[str, str], int]:
    """Accounts not called, per (tier, reason), from (tier, called, reason) preview lines;
    most first."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for tier, called, reason in lines:
        if not called:
            counts[(tier or NO_TIER, reason_key(reason))] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class CaseAge:
    age_days: int
    sla_days: int
    due: dt.datetime

    @property
    def days_left(self) -> int:
        return self.sla_days - self.age_days

    @property
    def overdue(self) -> bool:
        return self.age_days > self.sla_days


def case_age(opened_at: dt.datetime, now: dt.datetime, sla_days: int) -> CaseAge:
    """How many whole days a case has been open, and when its SLA runs out."""
    age = max((now - opened_at).days, 0)
    return CaseAge(age, sla_days, opened_at + dt.timedelta(days=sla_days))


# The dates a report, a search or a callback may name: the calendar's ends (0001-01-01,
# 9999-12-31) overflow once moved to another zone, and no collections data is that old or new.
FIRST_YEAR, LAST_YEAR = 2000, 2999


def sane_date(day: dt.date, name: str = "the date") -> dt.date:
    """The day, or RangeError in words when its year is outside FIRST_YEAR..LAST_YEAR."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise RangeError(
            f"{name} {day.isoformat()} is out of range: give a date from "
            f"{FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31"
        )
    return day


def parse_day(raw: str | None, name: str) -> dt.date | None:
    """A YYYY-MM-DD text as a date within the sane years, None when empty; RangeError, in
    words, otherwise (the desk and the CLI say the same)."""
    if raw is None or not raw.strip():
        return None
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise RangeError(f"{name} {raw.strip()!r} is not a date like 2026-12-01") from None
    return sane_date(day, name)


def parse_range(
    raw_from: str | None, raw_to: str | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """A reporting range from YYYY-MM-DD texts: to defaults to today, from to 6 days before
    to (a week). RangeError, in words, for a date that is not one, from after to, or a range
    over MAX_RANGE_DAYS."""

    end = parse_day(raw_to, "--to") or today
    start = parse_day(raw_from, "--from") or end - dt.timedelta(days=6)
    if start > end:
        raise RangeError(f"--from {start.isoformat()} is after --to {end.isoformat()}")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise RangeError(f"the range covers more than {MAX_RANGE_DAYS} days: ask for less")
    return start, end


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
