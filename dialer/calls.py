"""An outbound call's state, kept on its contact attempt (call_state, said).

The attempt is already the call's row: planning created it, the dialer claimed and placed
it, and its status callbacks update it. Keeping the flow's state there too (rather than a
second row per call, as the IVR's ivr_call) means one row to lock per webhook, so Twilio's
retries and replays of one call are handled one after another, and an agent or a report
reads the call's whole story (state, what was said, outcome) from one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.state import CallState
from hotline.enums import Direction
from hotline.models import ContactAttempt

# Bound on what is kept of what the callee heard (a call looping through its menu).
SAID_LIMIT = 20_000


@dataclass
class OutboundCall:
    """The attempt a request works on, with the flow's state read from it."""

    attempt: ContactAttempt
    state: CallState
    last_twiml: str | None
    # The carrier's idempotency token of the request last answered, and of this one.
    last_request: str | None
    request: str | None = None

    def repeats_last_request(self) -> bool:
        return bool(self.request) and self.request == self.last_request and bool(self.last_twiml)


def load(session: Session, attempt_id: int | None, call_sid: str) -> OutboundCall | None:
    """The outbound attempt `attempt_id`, locked until the transaction ends, if it is this
    call's: an attempt whose CallSid is not stored yet (the call was answered before the
    dialer stored it) takes this one. None for an unknown attempt or another call's."""
    if attempt_id is None or not call_sid:
        return None
    attempt = session.get(ContactAttempt, attempt_id, with_for_update=True, populate_existing=True)
    if attempt is None or attempt.direction != Direction.OUTBOUND:
        return None
    if attempt.provider_call_sid is None:
        taken = session.scalar(
            select(ContactAttempt.id).where(ContactAttempt.provider_call_sid == call_sid)
        )
        if taken is not None:
            return None
        attempt.provider_call_sid = call_sid
        session.flush()
    elif attempt.provider_call_sid != call_sid:
        return None
    data = state_data(attempt.call_state)
    return OutboundCall(
        attempt=attempt,
        state=CallState.from_dict(data),
        last_twiml=data.get("last_twiml"),
        last_request=data.get("last_request"),
    )


def started(call: OutboundCall) -> bool:
    """Whether the call has been answered before (its first answer is on the row)."""
    return call.last_twiml is not None


def remember(call: OutboundCall, state: CallState, twiml: str, said: str) -> None:
    """Keep the new state and the TwiML answered (for replays), and what was said."""
    call.attempt.call_state = json.dumps(
        {**state.as_dict(), "last_twiml": twiml, "last_request": call.request},
        ensure_ascii=False,
    )
    if said:
        kept = f"{call.attempt.said}\n{said}" if call.attempt.said else said
        call.attempt.said = kept[-SAID_LIMIT:]
    call.state, call.last_twiml = state, twiml


def state_data(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
