"""What an outbound attempt came to: its status from the carrier (status callbacks, or a
fetch by reconcile), and its disposition from the call, each change kept once and in the
audit chain.

The caller's session, never committed here. Status callbacks are kept once per (CallSid,
SequenceNumber) in call_event (the unique key decides, so a replay or a concurrent
duplicate changes nothing), and a status only moves forward: a late `ringing` after
`completed` is kept as an event but does not move the attempt back.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hotline import audit, contacts
from hotline.enums import DISPOSITION_RANK, AttemptStatus, Direction, Disposition
from hotline.models import ContactAttempt
from hotline.origin import Origin
from telephony.gateway import CallInfo

log = logging.getLogger(__name__)

# Twilio's CallStatus, as the attempt's status.
STATUSES: dict[str, AttemptStatus] = {
    "queued": AttemptStatus.QUEUED,
    "initiated": AttemptStatus.QUEUED,
    "ringing": AttemptStatus.RINGING,
    "in-progress": AttemptStatus.IN_PROGRESS,
    "completed": AttemptStatus.COMPLETED,
    "busy": AttemptStatus.BUSY,
    "no-answer": AttemptStatus.NO_ANSWER,
    "failed": AttemptStatus.FAILED,
    "canceled": AttemptStatus.CANCELED,
}
TERMINAL = frozenset(
    {
        AttemptStatus.COMPLETED,
        AttemptStatus.BUSY,
        AttemptStatus.NO_ANSWER,
        AttemptStatus.FAILED,
        AttemptStatus.CANCELED,
        AttemptStatus.SKIPPED,
    }
)
# The carrier's final statuses: what a placed call ends in.
FINAL = TERMINAL - {AttemptStatus.SKIPPED}
# Claimed or placed and not yet over: what pacing counts against max_concurrent.
IN_FLIGHT = (
    AttemptStatus.DIALING,
    AttemptStatus.QUEUED,
    AttemptStatus.RINGING,
    AttemptStatus.IN_PROGRESS,
)
PLACED_NOT_FINAL = (AttemptStatus.QUEUED, AttemptStatus.RINGING, AttemptStatus.IN_PROGRESS)
_ORDER = {
    AttemptStatus.PLANNED: 0,
    AttemptStatus.DIALING: 1,
    AttemptStatus.QUEUED: 2,
    AttemptStatus.RINGING: 3,
    AttemptStatus.IN_PROGRESS: 4,
}
# The number is not in service (SIP 404 Not Found, 410 Gone, 484 Address Incomplete, 604
# Does Not Exist Anywhere), or Twilio's own codes for an invalid To.
INVALID_SIP = frozenset({"404", "410", "484", "604"})
INVALID_ERRORS = frozenset({"13224", "13225", "21211", "21214", "21217", "21401"})
# What a terminal status comes to when the call itself earned no disposition.
_UNANSWERED: dict[AttemptStatus, Disposition] = {
    AttemptStatus.BUSY: Disposition.BUSY,
    AttemptStatus.NO_ANSWER: Disposition.NO_ANSWER,
    AttemptStatus.CANCELED: Disposition.NO_ANSWER,
    AttemptStatus.FAILED: Disposition.FAILED,
}
# What a status callback's form is kept as (every value already checked by the webhook).
KEPT = (
    "CallStatus",
    "SequenceNumber",
    "Timestamp",
    "CallDuration",
    "AnsweredBy",
    "SipResponseCode",
    "ErrorCode",
    "CallbackSource",
)


@dataclass(frozen=True)
class Status:
    """One status callback, as read from the request."""

    call_sid: str
    status: str  # Twilio's CallStatus
    sequence: str  # SequenceNumber ("" when not sent: the status then names the event)
    answered_by: str = ""
    duration: int | None = None
    sip: str = ""
    error_code: str = ""

    @classmethod
    def of(cls, form: Mapping[str, str]) -> Status:
        duration = form.get("CallDuration", "")
        return cls(
            call_sid=form.get("CallSid", ""),
            status=form.get("CallStatus", ""),
            sequence=form.get("SequenceNumber", ""),
            answered_by=form.get("AnsweredBy", ""),
            duration=int(duration) if duration.isascii() and duration.isdigit() else None,
            sip=form.get("SipResponseCode", ""),
            error_code=form.get("ErrorCode", ""),
        )


def record_status(
    session: Session,
    status: Status,
    *,
    attempt_id: int | None,
    form: Mapping[str, str],
    now: dt.datetime,
) -> bool:
    """Apply one status callback to its attempt; True if it was new and for a known call.

    The attempt is the one whose CallSid this is; one with no CallSid yet whose id the
    callback URL names takes it (the callback beat the dialer storing the CallSid)."""
    attempt = _attempt_for(session, status.call_sid, attempt_id)
    if attempt is None:
        log.warning("status callback for an unknown call %s ignored", status.call_sid)
        return False
    sequence = status.sequence or f"status:{status.status}"
    if not contacts.record_call_event(
        session,
        call_sid=status.call_sid,
        kind="status",
        sequence=sequence,
        payload={name: form.get(name, "") for name in KEPT if form.get(name)},
        now=now,
    ):
        return False  # a replay: kept once already
    if status.answered_by and not attempt.answered_by:
        attempt.answered_by = status.answered_by[:32]
    new = STATUSES.get(status.status)
    if new is None:
        return True
    if new == AttemptStatus.IN_PROGRESS and attempt.answered_at is None:
        attempt.answered_at = now
    move_status(attempt, new)
    if new in TERMINAL and attempt.ended_at is None:
        _ended(session, attempt, status, now)
    return True


def status_of(carrier_status: str) -> AttemptStatus | None:
    """The attempt status for a Twilio CallStatus; None for one Hotline does not know."""
    return STATUSES.get(carrier_status)


def apply_carrier_status(
    session: Session, attempt: ContactAttempt, call: CallInfo, now: dt.datetime
) -> bool:
    """What reconcile fetched of a call whose callbacks are overdue, applied as a callback
    would be (forward only; an ended call gets its disposition and audit). True if the
    status moved."""
    new = status_of(call.status)
    if new is None or attempt.status in TERMINAL:
        return False
    before = attempt.status
    move_status(attempt, new)
    if attempt.status == before:
        return False
    if call.answered_by and not attempt.answered_by:
        attempt.answered_by = call.answered_by[:32]
    if (
        call.start_time is not None
        and attempt.answered_at is None
        and (call.duration_seconds or new is AttemptStatus.IN_PROGRESS)
    ):
        attempt.answered_at = call.start_time
    if new in TERMINAL:
        attempt.lease_until = None
        fetched = Status(
            call_sid=call.sid, status=call.status, sequence="", duration=call.duration_seconds
        )
        _ended(session, attempt, fetched, call.end_time or now)
    return True


def move_status(attempt: ContactAttempt, new: AttemptStatus) -> None:
    """Move the attempt's status forward only; an ended attempt stays as it ended."""
    if attempt.status in TERMINAL:
        return
    if new in TERMINAL or _ORDER.get(new, 0) > _ORDER.get(attempt.status, 0):
        attempt.status = new


def dispose(
    session: Session,
    attempt: ContactAttempt,
    disposition: Disposition,
    *,
    call_sid: str,
    now: dt.datetime,
) -> bool:
    """Give the attempt this disposition unless it already has one that ranks higher (a
    right party who then promises is a promise); each change is audited. True if changed."""
    current = _disposition(attempt.disposition)
    if current is not None and DISPOSITION_RANK[current] > DISPOSITION_RANK[disposition]:
        return False
    if current == disposition:
        return False
    attempt.disposition = disposition
    audit.record(
        session,
        actor=Origin.dialer(call_sid).actor,
        action="dialer.outcome",
        entity_type="contact_attempt",
        entity_id=attempt.id,
        data={"disposition": disposition, "was": current, "call_sid": call_sid},
        now=now,
    )
    return True


def _ended(session: Session, attempt: ContactAttempt, status: Status, now: dt.datetime) -> None:
    attempt.ended_at = now
    if status.duration is not None:
        attempt.duration_seconds = status.duration
    error = status.error_code or (status.sip if attempt.status == AttemptStatus.FAILED else "")
    if error:
        attempt.error_code = error[:16]
    origin = Origin.dialer(status.call_sid)
    invalid = attempt.status == AttemptStatus.FAILED and (
        status.sip in INVALID_SIP or status.error_code in INVALID_ERRORS
    )
    if invalid:
        dispose(session, attempt, Disposition.INVALID_NUMBER, call_sid=status.call_sid, now=now)
        contacts.mark_bad_number(session, attempt.number, origin=origin, now=now)
    elif attempt.disposition is None and attempt.status in _UNANSWERED:
        dispose(session, attempt, _UNANSWERED[attempt.status], call_sid=status.call_sid, now=now)
    elif attempt.disposition is None and attempt.status == AttemptStatus.COMPLETED:
        # Answered, yet the call earned nothing (a person who hung up at once, a machine
        # that hung up before the beep): nobody was told anything.
        dispose(session, attempt, Disposition.UNCONFIRMED, call_sid=status.call_sid, now=now)
    audit.record(
        session,
        actor=origin.actor,
        action="dialer.attempt-ended",
        entity_type="contact_attempt",
        entity_id=attempt.id,
        data={
            "call_sid": status.call_sid,
            "status": attempt.status,
            "answered_by": attempt.answered_by,
            "duration_seconds": attempt.duration_seconds,
            "error_code": attempt.error_code,
            "disposition": attempt.disposition,
        },
        now=now,
    )


# Built once: every callback runs it (building it cost more than running it).
_BY_CALL_SID = (
    select(ContactAttempt)
    .where(ContactAttempt.provider_call_sid == bindparam("sid"))
    .with_for_update()
)


def _attempt_for(session: Session, call_sid: str, attempt_id: int | None) -> ContactAttempt | None:
    if not call_sid:
        return None
    attempt = session.scalars(_BY_CALL_SID, {"sid": call_sid}).first()
    if attempt is not None or attempt_id is None:
        return attempt
    named = session.get(ContactAttempt, attempt_id, with_for_update=True, populate_existing=True)
    if named is None or named.direction != Direction.OUTBOUND:
        return None
    if named.provider_call_sid is None:
        named.provider_call_sid = call_sid
        session.flush()
    # The dialer may have stored this very CallSid since the lookup above (the row is read
    # again under its lock): still this call's. Another CallSid: another call's attempt.
    return named if named.provider_call_sid == call_sid else None


def _disposition(value: str | None) -> Disposition | None:
    if value is None or value not in Disposition._value2member_map_:
        return None
    return Disposition(value)
