"""Callers waiting for an agent: the rows the desk's live queue shows (desk_queue_entry).

The app's own rows are the queue's source of truth, not the carrier's Queue Members: the
turn that <Enqueue>s a caller says who they are (account, verified, language, the path
taken, why they asked for a person), which the carrier does not know. The lines keep the
rows: `enqueue` when a turn puts the caller in the queue, `seen` on each of the queue's wait
requests (which also enqueues a caller that reached the queue without a turn, through an
apology), `left` on the queue's action. The desk takes them (desk.queue). A caller the
carrier has dropped without telling us is caught when an agent's accept finds the call gone.

The caller's session, never committed here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline.accounts import core
from hotline.models import ContactAttempt, QueueEntry, table_of

WAITING, ACCEPTED, BRIDGED, ENDED, LEFT = "waiting", "accepted", "bridged", "ended", "left"
LINES = ("ivr", "dialer")

_ENTRIES = table_of(QueueEntry)
_ATTEMPT_OF_CALL = select(ContactAttempt.id).where(
    ContactAttempt.provider_call_sid == bindparam("call_sid")
)
_SEEN = (
    update(_ENTRIES)
    .where(_ENTRIES.c.call_sid == bindparam("sid"), _ENTRIES.c.status == WAITING)
    .values(last_seen_at=bindparam("now"))
)
_EXISTS = select(_ENTRIES.c.status).where(_ENTRIES.c.call_sid == bindparam("sid"))
# The queue's action: the caller left the queue (hung up, the queue failed, or redirected
# by someone else). An accepted caller's redirect is the desk's own: that entry stays.
_LEFT = (
    update(_ENTRIES)
    .where(_ENTRIES.c.call_sid == bindparam("sid"), _ENTRIES.c.status == WAITING)
    .values(status=LEFT, ended_at=bindparam("now"), result=bindparam("result"))
)


def enqueue(
    session: Session,
    *,
    call_sid: str,
    line: str,
    account_id: int | None,
    number: str,
    language: str,
    verified: bool,
    intent: str | None,
    path: Sequence[str],
    case_id: int | None,
    now: dt.datetime,
) -> None:
    """The caller is being put in the agent queue: a waiting row, once per call.

    A call that was in the queue before (an agent's phone did not answer, and the caller
    went back) waits again from now, with what it knows now."""
    if not call_sid:
        return
    if line not in LINES:
        raise ValueError(f"unknown line {line!r}")
    connection = core(session)
    attempt_id = connection.scalar(_ATTEMPT_OF_CALL, {"call_sid": call_sid})
    values = {
        "call_sid": call_sid,
        "line": line,
        "attempt_id": attempt_id,
        "account_id": account_id,
        "number": number[:64],
        "language": language[:8] or "en",
        "verified": verified,
        "intent": intent[:32] if intent else None,
        "path": json.dumps(list(path)[-40:]),
        "case_id": case_id,
        "status": WAITING,
        "queued_at": now,
        "last_seen_at": now,
    }
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = module.insert(_ENTRIES).values(values)
    keep = {"queued_at", "call_sid", "line", "attempt_id"}
    again = {name: statement.excluded[name] for name in values if name not in keep}
    # Again from now only if it is not with an agent: a turn replayed while the caller is
    # being bridged changes nothing.
    statement = statement.on_conflict_do_update(
        index_elements=["call_sid"],
        set_={
            **again,
            "queued_at": statement.excluded.queued_at,
            "accepted_by": None,
            "accepted_by_user_id": None,
            "accepted_at": None,
            "agent_number": None,
            "bridged_at": None,
            "ended_at": None,
            "result": None,
        },
        where=_ENTRIES.c.status.in_((LEFT, ENDED)),
    )
    connection.execute(statement)


def seen(session: Session, call_sid: str, now: dt.datetime) -> bool:
    """A wait request for the caller: still there. False if the call has no row (it reached
    the queue without a turn that enqueued it: the line then calls `enqueue`)."""
    connection = core(session)
    connection.execute(_SEEN, {"sid": call_sid, "now": now})
    return connection.scalar(_EXISTS, {"sid": call_sid}) is not None


def left(session: Session, call_sid: str, result: str, now: dt.datetime) -> bool:
    """The queue's action: the caller left the queue without an agent (QueueResult
    `result`); True if a waiting row was ended."""
    done = core(session).execute(_LEFT, {"sid": call_sid, "now": now, "result": result[:32]})
    return bool(done.rowcount)
