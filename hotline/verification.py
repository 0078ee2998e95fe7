"""Phone self-service verification: each attempt recorded, the lock and the unlock.

The limits (how many failures lock, in what window) are hotline.rules'; the lines record
attempts and lock here, and an agent's action or `hotline accounts unlock` unlocks. The
caller's session, never committed here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select
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


def lock(session: Session, account: CardAccount, *, origin: Origin, now: dt.datetime) -> bool:
    """Lock phone self-service after too many failures; True if it was not locked yet."""
    if account.self_service_locked_at is not None:
        return False
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
