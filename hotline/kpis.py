"""Collections KPIs read from the rows the lines write: attempts and their outcomes,
promises, payments, tier snapshots. Plain functions of a session, shared by the desk and
`hotline report kpis`; the arithmetic is hotline/kpi_rules.py.

What is counted (the README's *Supervisor dashboard* says the same for the people who read
the figures):
- attempts: outbound calls the carrier accepted (`placed_at` set), on the day placed, in
  the tier the planner queued them for;
- connects: of those, the ones a person answered (every disposition the contact rules count
  as connected: dialer/history.py POLICY_OUTCOME);
- right-party contacts: of those, a conversation with the cardholder (dialer/history.py
  CONVERSATIONS);
- promises: made that day, by any line or person; kept rate: of the promises due that day
  that came to an end (kept or broken), the share kept;
- collected: posted payments, per currency, on the day posted: a payment from the bank's
  file on the day the file says the bank booked it (`posted_on`, a date, the same in every
  zone), not the day the file was imported; any other on its own moment (`posted_at`) in
  the reporting zone;
- promises and payments are put in the tier the account was in that day (its snapshot),
  else the tier it is in now;
- roll rates: tier_snapshot day over day.

`scope` narrows every figure to some accounts (a select of card_account ids: an agency's
placed accounts); None is every account.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from hotline.accounts import core
from hotline.enums import Direction, Disposition, PaymentStatus, PromiseStatus
from hotline.kpi_rules import (
    BUCKET_SECONDS,
    NO_TIER,
    AttemptBucket,
    Counts,
    PaymentBucket,
    PaymentDay,
    PromiseBucket,
    PromiseDue,
    Roll,
    fold,
    roll_rates,
    utc_window,
)
from hotline.models import (
    Campaign,
    CardAccount,
    ContactAttempt,
    DelinquencyTier,
    Payment,
    PromiseToPay,
    TierSnapshot,
    table_of,
)
from hotline.phones import mask_phone

# A person answered (the contact rules' CONNECTED) and, of those, the cardholder heard the
# call (a conversation). tests/unit/test_kpi_rules.py holds them to dialer/history.py.
CONNECTED = frozenset(
    {
        Disposition.RIGHT_PARTY,
        Disposition.WRONG_PARTY,
        Disposition.UNCONFIRMED,
        Disposition.PROMISE,
        Disposition.PAID,
        Disposition.OPTED_OUT,
        Disposition.TRANSFERRED,
    }
)
RIGHT_PARTY = frozenset(
    {
        Disposition.RIGHT_PARTY,
        Disposition.PROMISE,
        Disposition.PAID,
        Disposition.OPTED_OUT,
        Disposition.TRANSFERRED,
    }
)


@dataclass(frozen=True)
class KpiReport:
    start: dt.date
    end: dt.date
    zone: str
    table: dict[tuple[dt.date, str], Counts]  # (local day, tier code) -> counts
    rolls: list[Roll]
    tiers: list[str]  # tier codes in band order, then "current"


def _bucket(column: Any, dialect: str) -> Any:
    """The 15-minute UTC bucket of a timestamp column, in SQL."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / BUCKET_SECONDS), BigInteger)
    return cast(func.strftime("%s", column), BigInteger) / BUCKET_SECONDS


def _utc_date(column: Any, dialect: str) -> Any:
    """The UTC calendar date of a timestamp column, in SQL (what tier_snapshot.day is)."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _in_scope(column: Any, scope: Select[Any] | None) -> Any:
    return literal(True) if scope is None else column.in_(scope)


def _tier_on_day(account_id: Any, day: Any) -> tuple[Any, Any]:
    """The tier code an account was in on `day` (a date expression): its snapshot, else its
    tier now. Returns (expression, the outer joins it needs as (target, on) pairs)."""
    snap = aliased(TierSnapshot)
    then = aliased(DelinquencyTier)
    now = aliased(DelinquencyTier)
    account = aliased(CardAccount)
    joins = [
        (account, account.id == account_id),
        (snap, and_(snap.account_id == account_id, snap.day == day)),
        (then, then.id == snap.tier_id),
        (now, now.id == account.tier_id),
    ]
    # A snapshot that says "no tier" stands: the account was current that day.
    code = case((snap.account_id.is_not(None), then.code), else_=now.code)
    return code, joins


def kpis(
    session: Session,
    start: dt.date,
    end: dt.date,
    zone: ZoneInfo,
    *,
    scope: Select[Any] | None = None,
) -> KpiReport:
    """Every KPI per local day (in `zone`) and tier for the days start..end inclusive."""
    dialect = session.get_bind().dialect.name
    since, until = utc_window(start, end, zone)
    tier = aliased(DelinquencyTier)
    placed = ContactAttempt.placed_at
    disposition = ContactAttempt.disposition
    attempt_rows = session.execute(
        select(
            _bucket(placed, dialect).label("bucket"),
            tier.code,
            func.count(),
            func.sum(case((disposition.in_(list(CONNECTED)), 1), else_=0)),
            func.sum(case((disposition.in_(list(RIGHT_PARTY)), 1), else_=0)),
        )
        .select_from(ContactAttempt)
        .outerjoin(tier, tier.id == ContactAttempt.tier_id)
        .where(
            ContactAttempt.direction == Direction.OUTBOUND,
            placed >= since,
            placed < until,
            _in_scope(ContactAttempt.account_id, scope),
        )
        .group_by("bucket", tier.code)
    ).all()
    attempts = [
        AttemptBucket(int(b), code, n, int(c or 0), int(r or 0))
        for b, code, n, c, r in attempt_rows
    ]

    made = PromiseToPay.created_at
    code, joins = _tier_on_day(PromiseToPay.account_id, _utc_date(made, dialect))
    query = select(
        _bucket(made, dialect).label("bucket"),
        code.label("tier"),
        PromiseToPay.currency,
        func.count(),
        func.sum(PromiseToPay.amount_minor),
    ).select_from(PromiseToPay)
    for target, on in joins:
        query = query.outerjoin(target, on)
    promise_rows = session.execute(
        query.where(
            made >= since, made < until, _in_scope(PromiseToPay.account_id, scope)
        ).group_by("bucket", "tier", PromiseToPay.currency)
    ).all()
    promises = [PromiseBucket(int(b), t, cur, n, int(s or 0)) for b, t, cur, n, s in promise_rows]

    # Due promises: their own date, and the tier the account is in now (a promise's date
    # is the cardholder's day; no snapshot is taken "on" it in the future).
    now_tier = aliased(DelinquencyTier)
    due_rows = session.execute(
        select(
            PromiseToPay.promised_date,
            now_tier.code,
            func.sum(case((PromiseToPay.status == PromiseStatus.KEPT, 1), else_=0)),
            func.sum(case((PromiseToPay.status == PromiseStatus.BROKEN, 1), else_=0)),
        )
        .select_from(PromiseToPay)
        .join(CardAccount, CardAccount.id == PromiseToPay.account_id)
        .outerjoin(now_tier, now_tier.id == CardAccount.tier_id)
        .where(
            PromiseToPay.promised_date >= start,
            PromiseToPay.promised_date <= end,
            _in_scope(PromiseToPay.account_id, scope),
        )
        .group_by(PromiseToPay.promised_date, now_tier.code)
    ).all()
    due = [PromiseDue(d, t, int(k or 0), int(b or 0)) for d, t, k, b in due_rows]

    payments = _payments(session, since, until, dialect, scope) + _booked(
        session, start, end, scope
    )

    return KpiReport(
        start=start,
        end=end,
        zone=zone.key,
        table=fold(zone, start, end, attempts, promises, due, payments),
        rolls=rolls(session, start, end, scope=scope),
        tiers=tier_codes(session),
    )


def _payments(
    session: Session,
    since: dt.datetime,
    until: dt.datetime,
    dialect: str,
    scope: Select[Any] | None,
) -> list[PaymentBucket | PaymentDay]:
    """Payments taken here (no bank posting day), per bucket of the moment they posted."""
    posted = Payment.posted_at
    rows = _posted_by(
        session,
        _bucket(posted, dialect),
        _utc_date(posted, dialect),
        scope,
        Payment.posted_on.is_(None),
        posted >= since,
        posted < until,
    )
    return [PaymentBucket(int(b), t, cur, n, int(s or 0)) for b, t, cur, n, s in rows]


def _booked(
    session: Session, start: dt.date, end: dt.date, scope: Select[Any] | None
) -> list[PaymentBucket | PaymentDay]:
    """Payments from the bank's file, per day the bank booked them (start..end), in the
    tier the account was in that day."""
    day = Payment.posted_on
    rows = _posted_by(session, day, day, scope, day >= start, day <= end)
    return [PaymentDay(d, t, cur, n, int(s or 0)) for d, t, cur, n, s in rows]


def _posted_by(
    session: Session, bucket: Any, day: Any, scope: Select[Any] | None, *where: Any
) -> list[Any]:
    """Posted payments (count, sum) per `bucket`, tier (the account's on `day`) and
    currency, among those `where` says."""
    code, joins = _tier_on_day(Payment.account_id, day)
    query = select(
        bucket.label("bucket"),
        code.label("tier"),
        Payment.currency,
        func.count(),
        func.sum(Payment.amount_minor),
    ).select_from(Payment)
    for target, on in joins:
        query = query.outerjoin(target, on)
    return list(
        session.execute(
            query.where(
                Payment.status == PaymentStatus.POSTED,
                _in_scope(Payment.account_id, scope),
                *where,
            ).group_by("bucket", "tier", Payment.currency)
        ).all()
    )


def tier_codes(session: Session) -> list[str]:
    """Tier codes in band order, then "current" (no tier)."""
    codes = session.scalars(
        select(DelinquencyTier.code).order_by(DelinquencyTier.min_days_past_due)
    )
    return [*codes, NO_TIER]


def rolls(
    session: Session, start: dt.date, end: dt.date, *, scope: Select[Any] | None = None
) -> list[Roll]:
    """Roll rates for each day start..end that has a snapshot and a snapshot the day before:
    accounts from their tier the day before to their tier that day."""
    before, after = aliased(TierSnapshot), aliased(TierSnapshot)
    source, target = aliased(DelinquencyTier), aliased(DelinquencyTier)
    moves: list[tuple[dt.date, str | None, str | None, int]] = []
    day = start
    while day <= end:
        rows = session.execute(
            select(source.code, target.code, func.count())
            .select_from(before)
            .join(
                after,
                and_(after.account_id == before.account_id, after.day == day),
            )
            .outerjoin(source, source.id == before.tier_id)
            .outerjoin(target, target.id == after.tier_id)
            .where(
                before.day == day - dt.timedelta(days=1),
                _in_scope(before.account_id, scope),
            )
            .group_by(source.code, target.code)
        ).all()
        moves.extend((day, s, t, n) for s, t, n in rows)
        day += dt.timedelta(days=1)
    return roll_rates(moves)


def snapshot_tiers(session: Session, day: dt.date) -> int:
    """Keep every account's tier for `day` (the dialer's daily lifecycle job and `hotline
    campaign plan` call it; a later run the same day overwrites the day's rows). How many
    accounts.

    One INSERT ... SELECT with ON CONFLICT DO UPDATE, in account order: two planners at
    once (PostgreSQL) meet on the primary key and the second one's rows update the first's,
    where a delete-then-insert would fail on the duplicate key."""
    connection = core(session)
    module: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
    snapshots = table_of(TierSnapshot)
    statement = module.insert(snapshots).from_select(
        ("day", "account_id", "tier_id", "days_past_due"),
        select(
            literal(day, type_=snapshots.c.day.type),
            CardAccount.id,
            CardAccount.tier_id,
            CardAccount.days_past_due,
        )
        # A WHERE, so SQLite reads the ON CONFLICT as the INSERT's (its parser's rule).
        .where(CardAccount.id.is_not(None))
        .order_by(CardAccount.id),
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "account_id"],
            set_={
                "tier_id": statement.excluded.tier_id,
                "days_past_due": statement.excluded.days_past_due,
            },
        )
    )
    # Counted afresh: psycopg gives no rowcount for an INSERT ... SELECT here.
    return int(connection.scalar(select(func.count()).where(TierSnapshot.day == day)) or 0)


# --- CSV export of attempts and their outcomes -------------------------------------------

EXPORT_COLUMNS = (
    "attempt_id",
    "direction",
    "account_number",
    "campaign",
    "tier",
    "number",
    "status",
    "disposition",
    "answered_by",
    "placed_at_local",
    "answered_at_local",
    "ended_at_local",
    "duration_seconds",
    "error_code",
)


EXPORT_CHUNK = 2000


def export_chunk(
    session: Session,
    start: dt.date,
    end: dt.date,
    zone: ZoneInfo,
    *,
    scope: Select[Any] | None = None,
    after_id: int = 0,
    limit: int = EXPORT_CHUNK,
) -> tuple[list[str], int | None]:
    """CSV lines (no header) of the next `limit` attempts with an id above `after_id` placed
    or started in the local days start..end, and the last id given (None: no more). A
    caller streaming a large export takes one chunk per short transaction (on SQLite every
    transaction holds the write lock)."""
    since, until = utc_window(start, end, zone)
    tier = aliased(DelinquencyTier)
    rows = session.execute(
        select(
            ContactAttempt.id,
            ContactAttempt.direction,
            CardAccount.account_number,
            Campaign.name,
            tier.code,
            ContactAttempt.number,
            ContactAttempt.status,
            ContactAttempt.disposition,
            ContactAttempt.answered_by,
            ContactAttempt.placed_at,
            ContactAttempt.started_at,
            ContactAttempt.answered_at,
            ContactAttempt.ended_at,
            ContactAttempt.duration_seconds,
            ContactAttempt.error_code,
        )
        .select_from(ContactAttempt)
        .outerjoin(CardAccount, CardAccount.id == ContactAttempt.account_id)
        .outerjoin(Campaign, Campaign.id == ContactAttempt.campaign_id)
        .outerjoin(tier, tier.id == ContactAttempt.tier_id)
        .where(
            ContactAttempt.id > after_id,
            or_(
                and_(ContactAttempt.placed_at >= since, ContactAttempt.placed_at < until),
                and_(
                    ContactAttempt.placed_at.is_(None),
                    ContactAttempt.started_at >= since,
                    ContactAttempt.started_at < until,
                ),
            ),
            _in_scope(ContactAttempt.account_id, scope),
        )
        .order_by(ContactAttempt.id)
        .limit(limit)
    ).all()

    def local(moment: dt.datetime | None) -> str:
        return moment.astimezone(zone).isoformat(timespec="seconds") if moment else ""

    lines = [
        csv_line(
            (
                r[0],
                r[1].value,
                r[2] or "",
                r[3] or "",
                r[4] or "",
                mask_phone(r[5]) if r[5] else "",
                r[6].value,
                r[7] or "",
                r[8] or "",
                local(r[9] or r[10]),
                local(r[11]),
                local(r[12]),
                "" if r[13] is None else r[13],
                r[14] or "",
            )
        )
        for r in rows
    ]
    return lines, (rows[-1][0] if len(rows) == limit else None)


# A cell a spreadsheet would run as a formula (CSV injection, OWASP): one starting so.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def csv_cell(value: Any) -> Any:
    """The value as a CSV cell that no spreadsheet runs: text starting with = + - @, a tab
    or a CR gets a leading single quote (OWASP's advice); a plain negative number stays."""
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_STARTS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def csv_line(values: Iterable[Any]) -> str:
    """One CSV line, every cell through csv_cell: what every export writes with (the
    desk's attempts and KPI files, `hotline report kpis --format csv`)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([csv_cell(v) for v in values])
    return buffer.getvalue()


def export_attempts(
    session: Session,
    start: dt.date,
    end: dt.date,
    zone: ZoneInfo,
    *,
    scope: Select[Any] | None = None,
) -> Iterator[str]:
    """CSV lines (header first) of every attempt placed or started in the local days
    start..end, in id order: what was dialled and what came of it. Numbers are masked;
    times are in `zone`, ISO 8601 with their offset. One session throughout."""
    yield csv_line(EXPORT_COLUMNS)
    after: int | None = 0
    while after is not None:
        lines, after = export_chunk(session, start, end, zone, scope=scope, after_id=after)
        yield from lines
