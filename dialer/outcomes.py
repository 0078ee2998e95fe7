"""What the carrier says of a placed call, applied to its attempt (reconcile, callbacks).

A status only moves forward (queued -> ringing -> in-progress -> a final one); a final
status is never replaced, so a late or repeated report, or one that crosses a callback,
changes nothing.
"""

from __future__ import annotations

import datetime as dt

from hotline.enums import AttemptStatus
from hotline.models import ContactAttempt
from telephony.gateway import CallInfo

# Claimed or placed and not yet over: what pacing counts against max_concurrent.
IN_FLIGHT = (
    AttemptStatus.DIALING,
    AttemptStatus.QUEUED,
    AttemptStatus.RINGING,
    AttemptStatus.IN_PROGRESS,
)
PLACED_NOT_FINAL = (AttemptStatus.QUEUED, AttemptStatus.RINGING, AttemptStatus.IN_PROGRESS)
FINAL = frozenset(
    {
        AttemptStatus.COMPLETED,
        AttemptStatus.BUSY,
        AttemptStatus.NO_ANSWER,
        AttemptStatus.FAILED,
        AttemptStatus.CANCELED,
    }
)
_CARRIER_STATUS = {
    "queued": AttemptStatus.QUEUED,
    "initiated": AttemptStatus.QUEUED,
    "ringing": AttemptStatus.RINGING,
    "in-progress": AttemptStatus.IN_PROGRESS,
    "answered": AttemptStatus.IN_PROGRESS,
    "completed": AttemptStatus.COMPLETED,
    "busy": AttemptStatus.BUSY,
    "no-answer": AttemptStatus.NO_ANSWER,
    "failed": AttemptStatus.FAILED,
    "canceled": AttemptStatus.CANCELED,
}
_RANK = {
    AttemptStatus.DIALING: 0,
    AttemptStatus.QUEUED: 1,
    AttemptStatus.RINGING: 2,
    AttemptStatus.IN_PROGRESS: 3,
}
# The disposition a final status implies when the call flow recorded none (an answered
# call's disposition, right party or voicemail, is the call flow's to set).
_DISPOSITION = {
    AttemptStatus.BUSY: "busy",
    AttemptStatus.NO_ANSWER: "no-answer",
    AttemptStatus.FAILED: "failed",
    AttemptStatus.CANCELED: "failed",
}


def status_of(carrier_status: str) -> AttemptStatus | None:
    """The attempt status for a Twilio CallStatus; None for one Hotline does not know."""
    return _CARRIER_STATUS.get(carrier_status)


def apply_carrier_status(attempt: ContactAttempt, call: CallInfo, now: dt.datetime) -> bool:
    """Move the attempt to what the carrier reports, forward only; True if it changed."""
    new = status_of(call.status)
    if new is None or attempt.status in FINAL:
        return False
    if new not in FINAL and _RANK.get(new, 0) <= _RANK.get(attempt.status, 0):
        return False
    attempt.status = new
    if call.answered_by:
        attempt.answered_by = call.answered_by[:32]
    if call.start_time is not None and new in (AttemptStatus.IN_PROGRESS, *FINAL):
        attempt.answered_at = attempt.answered_at or (
            call.start_time if call.duration_seconds or new is AttemptStatus.IN_PROGRESS else None
        )
    if new in FINAL:
        attempt.ended_at = call.end_time or now
        attempt.duration_seconds = call.duration_seconds
        attempt.lease_until = None
        if attempt.disposition is None and new in _DISPOSITION:
            attempt.disposition = _DISPOSITION[new]
    return True
