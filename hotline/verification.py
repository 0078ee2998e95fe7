"""Phone self-service verification: each attempt recorded, the lock and the unlock.

The limits (how many failures lock, in what window) are hotline.rules'; the lines record
attempts and lock here, and an agent's action or `hotline accounts unlock` unlocks. The
caller's session, never committed here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from hotline import audit
from hotline.accounts import core
from hotline.models import CardAccount, VerificationAttempt, table_of
from hotline.origin import Origin

_INSERT_ATTEMPT = insert(table_of(VerificationAttempt))


class UnknownAccount(LookupError):
    """No account has that number."""


def record_attempt(
    session: Session, account_id: int, *, call_sid: str, succeeded: bool, now: dt.datetime
) -> None:
    """One keying of verification digits for an account (it counts toward a lock)."""
    core(session).execute(
        _INSERT_ATTEMPT,
        {
            "account_id": account_id,
            "call_sid": call_sid,
            "succeeded": succeeded,
            "attempted_at": now,
        },
    )


@dataclass(frozen=True)
class Reservation:
    """A keying of digits, recorded as a failure before they are checked."""

    attempt_id: int
    prior_failures: int  # failures in the window before this one (since the last unlock)
    locked: bool


def reserve(
    session: Session, account_id: int, *, call_sid: str, since: dt.datetime, now: dt.datetime
) -> Reservation | None:
    """Record an attempt as failed before its digits are checked, counting the failures
    before it under the account's row lock; the entry point commits it at once.

    So however a burst of calls arrives, and whatever happens to the turn that checks the
    digits afterwards (a lock it cannot get, a database that hangs), every guess is counted
    and its place in the count is exact: at most the limit are ever checked. None if the
    account is gone.
    """
    row = (
        core(session)
        .execute(
            select(CardAccount.self_service_locked_at, CardAccount.verification_reset_at)
            .where(CardAccount.id == account_id)
            .with_for_update(key_share=True)
        )
        .one_or_none()
    )
    if row is None:
        return None
    start = max(since, row.verification_reset_at) if row.verification_reset_at else since
    prior = core(session).scalar(
        select(func.count()).where(
            VerificationAttempt.account_id == account_id,
            VerificationAttempt.succeeded.is_(False),
            VerificationAttempt.attempted_at > start,
        )
    )
    attempt_id = core(session).scalar(
        insert(VerificationAttempt)
        .values(account_id=account_id, call_sid=call_sid, succeeded=False, attempted_at=now)
        .returning(VerificationAttempt.id)
    )
    assert attempt_id is not None
    return Reservation(attempt_id, int(prior or 0), row.self_service_locked_at is not None)


def settle(session: Session, attempt_id: int, *, succeeded: bool) -> None:
    """The reserved attempt's digits matched: it is no failure after all."""
    if succeeded:
        core(session).execute(
            update(VerificationAttempt)
            .where(VerificationAttempt.id == attempt_id)
            .values(succeeded=True)
        )


def lock(session: Session, account: CardAccount, *, origin: Origin, now: dt.datetime) -> bool:
    """Lock phone self-service after too many failures; True if it was not locked yet."""
    if account.self_service_locked_at is not None:
        return False
    # The chain first (audit.lock_chain): the account's row, once written, is held to the
    # commit, and every verify turn of a burst of guesses waits on that row to count its
    # own (reserve). Written first, a wait here for the chain (another appender holding
    # it) held them all, and a guess whose count timed out went uncounted.
    audit.lock_chain(session)
    account.self_service_locked_at = now
    audit.record(
        session,
        actor=origin.actor,
        action="self-service.locked",
        entity_type="card_account",
        entity_id=account.account_number,
        data={"call_sid": origin.call_sid, "reason": "verification failures"},
        now=now,
    )
    return True


def unlock(session: Session, account_number: str, *, actor: str, now: dt.datetime) -> bool:
    """Let the cardholder verify by phone again; True if the account was locked.

    The failures counted so far are set aside too (verification_reset_at), so the next
    wrong guess does not lock the account again at once. Audited either way.
    """
    account = session.scalars(
        select(CardAccount).where(CardAccount.account_number == account_number).with_for_update()
    ).one_or_none()
    if account is None:
        raise UnknownAccount(account_number)
    was_locked = account.self_service_locked_at is not None
    account.self_service_locked_at = None
    account.verification_reset_at = now
    audit.record(
        session,
        actor=actor,
        action="self-service.unlocked",
        entity_type="card_account",
        entity_id=account.account_number,
        data={"was_locked": was_locked},
        now=now,
    )
    return was_locked
