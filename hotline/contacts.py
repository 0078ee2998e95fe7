"""Contacts with a cardholder: opting a number out, callbacks asked for, call events.

The caller's session, never committed here.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline import audit
from hotline.accounts import core
from hotline.enums import AttemptStatus, Direction
from hotline.models import CallEvent, CardAccount, ContactAttempt, Phone, table_of
from hotline.origin import Origin

# The disposition a planned callback carries until it is dialled: the planner leaves the
# account to it (dialer.facts), and the dialer clears it once the call is placed.
CALLBACK_REQUESTED = "callback-requested"

_ATTEMPT_FOR_CALL = select(ContactAttempt.id).where(
    ContactAttempt.provider_call_sid == bindparam("call_sid")
)
_EVENTS = table_of(CallEvent)


def opt_out(session: Session, number: str, *, origin: Origin, now: dt.datetime) -> int:
    """Stop calls to this number at once, whoever has it on file; how many rows changed.

    Consent to autodial it is withdrawn too, with its source, so the nightly file cannot
    grant it again.
    """
    phones = session.scalars(select(Phone).where(Phone.e164 == number)).all()
    for phone in phones:
        if phone.opted_out_at is None:
            phone.opted_out_at, phone.opted_out_source = now, origin.source
        phone.autodial_consent = False
        phone.consent_source, phone.consent_changed_at = origin.source, now
    audit.record(
        session,
        actor=origin.actor,
        action="phone.opted-out",
        entity_type="phone",
        entity_id=number[-4:],
        data={"call_sid": origin.call_sid, "rows": len(phones)},
        now=now,
    )
    return len(phones)


def mark_for_review(
    session: Session, cardholder_id: int, number: str, *, origin: Origin, now: dt.datetime
) -> int:
    """Someone other than the cardholder answered this number of theirs: it is not dialled
    again until a person reviews it (the policy reads `under_review_at`). Rows changed."""
    phones = session.scalars(
        select(Phone).where(Phone.e164 == number, Phone.cardholder_id == cardholder_id)
    ).all()
    for phone in phones:
        if phone.under_review_at is None:
            phone.under_review_at, phone.review_source = now, origin.source
    audit.record(
        session,
        actor=origin.actor,
        action="phone.review-needed",
        entity_type="phone",
        entity_id=number[-4:],
        data={"call_sid": origin.call_sid, "rows": len(phones), "reason": "wrong party"},
        now=now,
    )
    return len(phones)


def mark_bad_number(session: Session, number: str, *, origin: Origin, now: dt.datetime) -> int:
    """The carrier says the number is not in service: never dialled again until the bank's
    file or an agent says otherwise. Rows changed."""
    phones = session.scalars(select(Phone).where(Phone.e164 == number)).all()
    for phone in phones:
        if not phone.bad_number:
            phone.bad_number, phone.bad_number_at = True, now
    audit.record(
        session,
        actor=origin.actor,
        action="phone.bad-number",
        entity_type="phone",
        entity_id=number[-4:],
        data={"call_sid": origin.call_sid, "rows": len(phones)},
        now=now,
    )
    return len(phones)


def request_callback(
    session: Session,
    account: CardAccount,
    number: str,
    *,
    due: dt.datetime,
    origin: Origin,
    now: dt.datetime,
) -> ContactAttempt:
    """A callback the cardholder asked for: a planned outbound attempt, due at `due`, to
    the number they called from if it is theirs on file."""
    phone = session.scalars(
        select(Phone).where(Phone.e164 == number, Phone.cardholder_id == account.cardholder_id)
    ).first()
    attempt = ContactAttempt(
        direction=Direction.OUTBOUND,
        account_id=account.id,
        phone_id=phone.id if phone else None,
        number=number[:64],
        status=AttemptStatus.PLANNED,
        due_at=due,
        disposition=CALLBACK_REQUESTED,
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    audit.record(
        session,
        actor=origin.actor,
        action="callback.requested",
        entity_type="card_account",
        entity_id=account.account_number,
        data={"attempt_id": attempt.id, "due_at": due.isoformat(), "call_sid": origin.call_sid},
        now=now,
    )
    return attempt


def record_call_event(
    session: Session,
    *,
    call_sid: str,
    kind: str,
    sequence: str,
    payload: Mapping[str, str],
    now: dt.datetime,
) -> bool:
    """Keep a callback once per (call, kind, sequence); True if it is new, False for a
    replay (the unique key decides, so concurrent duplicates are safe too).

    One statement: INSERT ... ON CONFLICT DO NOTHING, with the call's attempt found inside
    it (a savepoint, the insert and its release, after a lookup of the attempt, were four
    round trips on every callback)."""
    connection = core(session)
    values = {
        "call_sid": call_sid,
        "kind": kind,
        "sequence": sequence,
        "payload": json.dumps(dict(payload)),
        "received_at": now,
    }
    inserted = connection.execute(_insert_event(connection.dialect.name), values).first()
    return inserted is not None


@functools.cache  # built once per dialect: every callback runs it
def _insert_event(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(_EVENTS)
        .values(
            call_sid=bindparam("call_sid"),
            kind=bindparam("kind"),
            sequence=bindparam("sequence"),
            attempt_id=_ATTEMPT_FOR_CALL.scalar_subquery(),
            payload=bindparam("payload"),
            received_at=bindparam("received_at"),
        )
        .on_conflict_do_nothing(index_elements=["call_sid", "kind", "sequence"])
        .returning(_EVENTS.c.id)
    )


# A planned call cancelled because the account owes nothing past due any more: the
# planner's own word for an account that is not due.
NOT_DUE = "not-due"


def cancel_planned_calls(
    session: Session, account_id: int, *, now: dt.datetime, disposition: str = NOT_DUE
) -> int:
    """Cancel the account's campaign calls still PLANNED, as the planner would on its next
    run; how many. For a change that takes the account out of every campaign at once (paid
    up). A row a dialer is claiming this moment (locked) is skipped, not waited for: the
    caller may hold the audit chain's lock, which the claim takes next; and the policy,
    asked again at the call's slot, refuses it anyway."""
    planned = (
        select(ContactAttempt.id)
        .where(
            ContactAttempt.account_id == account_id,
            ContactAttempt.campaign_id.is_not(None),
            ContactAttempt.status == AttemptStatus.PLANNED,
        )
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(planned))
    if not ids:
        return 0
    result = session.execute(
        update(ContactAttempt)
        .where(ContactAttempt.id.in_(ids), ContactAttempt.status == AttemptStatus.PLANNED)
        .values(status=AttemptStatus.CANCELED, disposition=disposition, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def direction_of_call(session: Session, call_sid: str) -> Direction | None:
    """Whether the call of `call_sid` was the cardholder's (inbound) or the dialer's."""
    return session.scalar(
        select(ContactAttempt.direction).where(ContactAttempt.provider_call_sid == call_sid)
    )
