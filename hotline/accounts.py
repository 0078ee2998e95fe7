"""The account as a call reads it: one statement for the row, its cardholder and the
counts a turn needs (last payment, verification failures in the window, whether a plan is
ruled out). Shared by the lines; the statements are built once at import, since building
one costs more than running it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, or_, select
from sqlalchemy.orm import Session

from hotline.enums import PaymentStatus, PlanStatus
from hotline.models import (
    AccountFlagRow,
    CardAccount,
    Cardholder,
    DelinquencyTier,
    Payment,
    Phone,
    RepaymentPlan,
    UTCDateTime,
    VerificationAttempt,
)
from hotline.rules import NO_PLAN_FLAGS, Limits
from hotline.tiers import TierBand, tier_for


@dataclass(frozen=True)
class AccountRow:
    """An account as one turn reads it: the row, its cardholder and counts, in one query."""

    id: int
    account_number: str
    cardholder_id: int
    currency: str
    balance_minor: int
    minimum_due_minor: int
    past_due_minor: int
    due_date: dt.date
    locked: bool
    language: str
    country: str
    address_region: str | None
    verify_salt: str
    verify_hash: str
    last_payment_minor: int | None
    last_payment_at: dt.datetime | None
    failures_last_24h: int
    ever_verified: bool
    plan_excluded: bool  # a plan is running, or a flag rules plans out


def account_columns() -> list[Any]:
    """The account, its cardholder and the counts a turn needs, labelled as AccountRow's
    fields; correlated to CardAccount, so a line can join them to its own rows (the IVR
    reads them with the call's row in one statement)."""
    last_payment = (
        select(Payment.amount_minor, Payment.posted_at)
        .where(Payment.account_id == CardAccount.id, Payment.status == PaymentStatus.POSTED)
        .order_by(Payment.posted_at.desc())
        .limit(1)
    )
    return [
        CardAccount.id,
        CardAccount.account_number,
        CardAccount.cardholder_id,
        CardAccount.currency,
        CardAccount.balance_minor,
        CardAccount.minimum_due_minor,
        CardAccount.past_due_minor,
        CardAccount.due_date,
        CardAccount.self_service_locked_at.is_not(None).label("locked"),
        Cardholder.language,
        Cardholder.country,
        Cardholder.address_region,
        Cardholder.verify_salt,
        Cardholder.verify_hash,
        last_payment.with_only_columns(Payment.amount_minor)
        .scalar_subquery()
        .label("last_payment_minor"),
        last_payment.with_only_columns(Payment.posted_at)
        .scalar_subquery()
        .label("last_payment_at"),
        select(func.count())
        .where(
            VerificationAttempt.account_id == CardAccount.id,
            VerificationAttempt.succeeded.is_(False),
            VerificationAttempt.attempted_at > bindparam("since", type_=UTCDateTime()),
            # An unlock starts the count afresh.
            or_(
                CardAccount.verification_reset_at.is_(None),
                VerificationAttempt.attempted_at > CardAccount.verification_reset_at,
            ),
        )
        .scalar_subquery()
        .label("failures_last_24h"),
        select(VerificationAttempt.id)
        .where(
            VerificationAttempt.account_id == CardAccount.id,
            VerificationAttempt.succeeded.is_(True),
        )
        .exists()
        .label("ever_verified"),
        or_(
            select(RepaymentPlan.id)
            .where(
                RepaymentPlan.account_id == CardAccount.id,
                RepaymentPlan.status == PlanStatus.ACTIVE,
            )
            .exists(),
            select(AccountFlagRow.flag)
            .where(
                AccountFlagRow.account_id == CardAccount.id,
                # OR of equalities, not IN: an IN list is re-rendered on every execution.
                or_(*(AccountFlagRow.flag == flag for flag in sorted(NO_PLAN_FLAGS))),
            )
            .exists(),
        ).label("plan_excluded"),
    ]


ACCOUNT_ROW = (
    select(*account_columns())
    .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
    .where(CardAccount.id == bindparam("account_id"))
)
# The accounts of whoever has this number on file (two are enough to know it is not one).
ACCOUNTS_FOR_NUMBER = (
    select(*account_columns())
    .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
    .where(
        CardAccount.cardholder_id.in_(
            select(Phone.cardholder_id).where(
                Phone.e164 == bindparam("number"), Phone.removed_at.is_(None)
            )
        )
    )
    .limit(2)
)
# Verification attempts on one account queue up behind this lock, so however many calls
# key digits at once, each counts the failures committed before it.
LOCK_ACCOUNT = (
    select(CardAccount.id)
    .where(CardAccount.id == bindparam("account_id"))
    # FOR NO KEY UPDATE: a new call's row referencing the account (a key share) need not
    # wait for it, as it would for FOR UPDATE.
    .with_for_update(key_share=True)
)
HOLDER_NUMBERS = (
    select(Phone.e164).where(Phone.cardholder_id == bindparam("cardholder_id")).order_by(Phone.id)
)


def core(session: Session) -> Connection:
    """The session's connection, for the hot path's Core statements: executing them
    through the session adds ORM bookkeeping they do not need. The ORM's pending changes
    are flushed first, so what they read and what the ORM wrote agree."""
    session.flush()
    return session.connection()


def window_start(now: dt.datetime, limits: Limits) -> dt.datetime:
    """Where the window for counting verification failures starts."""
    return now - limits.failure_window


def by_id(
    session: Session, account_id: int | None, now: dt.datetime, limits: Limits
) -> AccountRow | None:
    if account_id is None:
        return None
    row = (
        core(session)
        .execute(ACCOUNT_ROW, {"account_id": account_id, "since": window_start(now, limits)})
        .one_or_none()
    )
    return account_row(row._mapping) if row is not None else None


def for_number(
    session: Session, number: str, now: dt.datetime, limits: Limits
) -> AccountRow | None:
    """The one account whose cardholder has this number on file, or None (none or several)."""
    rows = (
        core(session)
        .execute(ACCOUNTS_FOR_NUMBER, {"number": number, "since": window_start(now, limits)})
        .all()
    )
    return account_row(rows[0]._mapping) if len(rows) == 1 else None


def locked_fresh(
    session: Session, account_id: int, now: dt.datetime, limits: Limits
) -> AccountRow | None:
    """The account read afresh under its row lock: for a turn whose decision must hold
    until it commits (counting verification failures, confirming a plan or a promise
    against the balance)."""
    core(session).execute(LOCK_ACCOUNT, {"account_id": account_id})
    return by_id(session, account_id, now, limits)


def numbers_on_file(session: Session, cardholder_id: int) -> list[str]:
    return list(core(session).scalars(HOLDER_NUMBERS, {"cardholder_id": cardholder_id}))


def account_row(row: RowMapping) -> AccountRow:
    """An AccountRow from a row of account_columns()."""
    last_payment_at = row["last_payment_at"]
    if isinstance(last_payment_at, str):  # SQLite returns a subquery's timestamp as text
        last_payment_at = dt.datetime.fromisoformat(last_payment_at)
    return AccountRow(
        id=row["id"],
        account_number=row["account_number"],
        cardholder_id=row["cardholder_id"],
        currency=row["currency"],
        balance_minor=row["balance_minor"],
        minimum_due_minor=row["minimum_due_minor"],
        past_due_minor=row["past_due_minor"],
        due_date=row["due_date"],
        locked=bool(row["locked"]),
        language=str(row["language"]),
        country=row["country"],
        address_region=row["address_region"],
        verify_salt=row["verify_salt"],
        verify_hash=row["verify_hash"],
        last_payment_minor=row["last_payment_minor"],
        last_payment_at=last_payment_at,
        failures_last_24h=int(row["failures_last_24h"] or 0),
        ever_verified=bool(row["ever_verified"]),
        plan_excluded=bool(row["plan_excluded"]),
    )


def lock(session: Session, account: CardAccount) -> None:
    """Lock the account's row and read it afresh, before a change that depends on it (the
    balance a payment lowers, the flags a case sets, the plan already running): two calls
    acting on one account at once then act one after the other."""
    locked = session.get(
        CardAccount, account.id, with_for_update={"key_share": True}, populate_existing=True
    )
    assert locked is account, "the account was loaded in this same session"


def entity(session: Session, account: AccountRow) -> CardAccount:
    """The ORM object, for the effects that change an account (rare next to reading one)."""
    found = session.get(CardAccount, account.id)
    assert found is not None, "the account was read in this same transaction"
    return found


def tier_id_for(session: Session) -> Callable[[int], int | None]:
    """The tier (its id) that a count of days past due falls in under the tiers stored
    now (hotline.tiers.tier_for), None for none: the importer writes it with the days past
    due, the preview asks it of each account."""
    by_band = {
        TierBand(t.code, t.name, t.min_days_past_due, t.max_days_past_due): t.id
        for t in session.scalars(select(DelinquencyTier))
    }
    bands = list(by_band)

    def of(days_past_due: int) -> int | None:
        band = tier_for(days_past_due, bands)
        return None if band is None else by_band[band]

    return of
