"""Phone self-service verification: unlocking an account that failed too often.

The rules (how many failures lock, in what window) live with the call flow; this is the
service an agent's action or `hotline accounts unlock` calls. It takes the caller's
session and never commits.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline import audit
from hotline.models import CardAccount


class UnknownAccount(LookupError):
    """No account has that number."""


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
