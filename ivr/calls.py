"""The IVR's call state, a row per CallSid (ivr_call), read and written with Core.

A call's row is locked for the length of a request, so Twilio's retries and replays of the
same call are handled one after another. The row holds the flow's state and the TwiML last
answered, for replays; it is also what an agent's screen shows on transfer. The statements
are built once at import (building one costs more than running it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from flows.state import CallState
from hotline.accounts import AccountRow, account_columns, account_row, core, window_start
from hotline.enums import AttemptStatus, Direction
from hotline.models import CardAccount, Cardholder, ContactAttempt, IvrCall, table_of
from hotline.rules import Limits

_CALLS = table_of(IvrCall)
# Core UPDATE with no .values(): the SET clause is the parameters' column names.
_UPDATE_CALL = update(_CALLS).where(_CALLS.c.call_sid == bindparam("where_call_sid"))
_INSERT_ATTEMPT = insert(table_of(ContactAttempt))


@dataclass
class CallRecord:
    """The ivr_call row a request works on, read and written with Core statements.

    `exists` is False for a call this request began: remember() inserts it then.
    """

    call_sid: str
    from_number: str
    state: CallState
    last_twiml: str | None
    case_id: int | None
    started_at: dt.datetime
    exists: bool
    account: AccountRow | None = None  # the account the call is about, read with the call
    # The carrier's idempotency token of the request last answered, and of this one: a
    # request delivered twice (a retry) is answered as before and changes nothing.
    last_request: str | None = None
    request: str | None = None

    def repeats_last_request(self) -> bool:
        return bool(self.request) and self.request == self.last_request and bool(self.last_twiml)


# The call's row, locked for the request, with the account it is about: one round trip for
# the usual turn. Only the call's row is locked (FOR UPDATE OF ivr_call); account rows come
# from the statement's snapshot, and what changes money re-reads the account (accounts.entity).
CALL_FOR_UPDATE = (
    select(
        _CALLS.c.from_number,
        _CALLS.c.state,
        _CALLS.c.case_id,
        _CALLS.c.started_at,
        *account_columns(),
    )
    .select_from(_CALLS)
    .outerjoin(CardAccount, CardAccount.id == _CALLS.c.account_id)
    .outerjoin(Cardholder, Cardholder.id == CardAccount.cardholder_id)
    .where(_CALLS.c.call_sid == bindparam("call_sid"))
    .with_for_update(of=_CALLS)
)


_CALL_VALUES = (
    "call_sid",
    "from_number",
    "started_at",
    "step",
    "language",
    "account_id",
    "verified",
    "intent",
    "case_id",
    "state",
    "updated_at",
)
_ATTEMPT_VALUES = ("direction", "number", "status", "started_at", "answered_at", "created_at")


def _claim_statements(dialect: str) -> tuple[Any, Any | None]:
    """INSERT a new call's row unless another request for the same CallSid already has
    (the loser waits for the winner's commit, then answers what it answered), and its
    contact attempt. On PostgreSQL the two are one statement: the attempt is inserted from
    the call's RETURNING, so a lost claim inserts neither, in one round trip."""
    module = postgresql if dialect == "postgresql" else sqlite
    claim = (
        module.insert(_CALLS)
        .values({name: bindparam(name, type_=_CALLS.c[name].type) for name in _CALL_VALUES})
        .on_conflict_do_nothing(index_elements=["call_sid"])
        .returning(_CALLS.c.id)
    )
    if dialect != "postgresql":
        return claim, None
    attempts = table_of(ContactAttempt)
    claimed = claim.cte("claimed")
    columns = [attempts.c[name] for name in _ATTEMPT_VALUES]
    both = (
        insert(attempts)
        .from_select(
            [*(c.name for c in columns), "provider_call_sid"],
            select(
                *(bindparam(f"attempt_{c.name}", type_=c.type) for c in columns),
                bindparam("call_sid", type_=attempts.c.provider_call_sid.type),
            ).select_from(claimed),
        )
        .returning(attempts.c.id)
    )
    return claim, both


CLAIM = {name: _claim_statements(name) for name in ("postgresql", "sqlite")}


def load(session: Session, call_sid: str, now: dt.datetime, limits: Limits) -> CallRecord | None:
    """The call's row, locked until the transaction ends, or None for a call not begun."""
    row = (
        core(session)
        .execute(CALL_FOR_UPDATE, {"call_sid": call_sid, "since": window_start(now, limits)})
        .one_or_none()
    )
    if row is None:
        return None
    return _record(call_sid, row, account_row(row._mapping) if row.id is not None else None)


_PEEK = select(_CALLS.c.from_number, _CALLS.c.state, _CALLS.c.case_id, _CALLS.c.started_at).where(
    _CALLS.c.call_sid == bindparam("call_sid")
)


def peek(session: Session, call_sid: str) -> CallRecord | None:
    """The call's state as last committed, read without a lock and without its account
    (for keeping a callback before the turn that acts on it takes the row)."""
    row = core(session).execute(_PEEK, {"call_sid": call_sid}).one_or_none()
    return _record(call_sid, row, None) if row is not None else None


def _record(call_sid: str, row: Any, account: AccountRow | None) -> CallRecord:
    """A CallRecord from a row of the call's columns (from_number, state, case, start)."""
    data = _state_of(row.state)
    return CallRecord(
        call_sid=call_sid,
        from_number=row.from_number,
        state=CallState.from_dict(data),
        last_twiml=data.get("last_twiml"),
        last_request=data.get("last_request"),
        case_id=row.case_id,
        started_at=row.started_at,
        exists=True,
        account=account,
    )


def _state_of(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def remember(
    session: Session,
    call: CallRecord,
    state: CallState,
    twiml: str,
    now: dt.datetime,
    limits: Limits,
) -> str:
    """Keep the new state and the TwiML answered, for replays of this same request; return
    the TwiML to answer (for a new call another request claimed first: what it answered)."""
    values = {
        "step": state.step,
        "language": state.language,
        "account_id": state.account_id,
        "verified": state.verified,
        "intent": state.intent,
        "case_id": call.case_id,
        "state": json.dumps(
            {**state.as_dict(), "last_twiml": twiml, "last_request": call.request},
            ensure_ascii=False,
        ),
        "updated_at": now,
    }
    if call.exists:
        core(session).execute(_UPDATE_CALL, {"where_call_sid": call.call_sid, **values})
    elif not _claim(session, call, values, now):
        # Another request for this CallSid was first (a retry racing the original): its
        # row was locked until it committed, so its answer is there to give again.
        first = load(session, call.call_sid, now, limits)
        if first is None or first.last_twiml is None:
            raise LookupError(f"call {call.call_sid} was claimed but is not there")
        return first.last_twiml
    call.state, call.last_twiml = state, twiml
    return twiml


def _claim(session: Session, call: CallRecord, values: Mapping[str, Any], now: dt.datetime) -> bool:
    """Insert a new call's row and its inbound contact attempt; False if another request
    for the same CallSid inserted the row first (then neither is inserted)."""
    connection = core(session)
    claim, with_attempt = CLAIM[connection.dialect.name]
    row = {
        "call_sid": call.call_sid,
        "from_number": call.from_number,
        "started_at": call.started_at,
        **values,
    }
    attempt = {
        "direction": Direction.INBOUND,
        "number": call.from_number,
        "status": AttemptStatus.IN_PROGRESS,
        "started_at": now,
        "answered_at": now,
        "created_at": now,
    }
    if with_attempt is not None:
        claimed = connection.execute(
            with_attempt, {**row, **{f"attempt_{k}": v for k, v in attempt.items()}}
        ).first()
    else:
        claimed = connection.execute(claim, row).first()
        if claimed is not None:
            connection.execute(_INSERT_ATTEMPT, {**attempt, "provider_call_sid": call.call_sid})
    call.exists = claimed is not None
    return call.exists
