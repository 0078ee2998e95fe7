"""The desk's live queue and taking a caller from it.

The rows are the lines' (hotline.queueing: who the caller is, verified or not, the path
taken, why they asked for a person); this module reads them for the queue page and moves
them as an agent takes a call:

- `waiting`: the callers an agent may take now (their account within the agent's scope),
  longest wait first, with the account's open case.
- `accept_call`: the agent takes one. One guarded UPDATE (waiting -> accepted) decides
  between agents accepting the same caller at once: exactly one row changes, for one of
  them; the other hears it was taken. The winner's transaction commits before the carrier
  is asked anything; then the queued call is redirected (CallGateway.redirect) to the
  signed bridge URL, which answers <Dial> the agent's phone (desk.calls_web). A carrier
  that cannot redirect it (the caller has hung up) ends the row; one that fails otherwise
  puts the caller back for the next agent.
- `answered`, `dialed`: what the carrier says of the <Dial> to the agent's phone.

Functions that take a session never commit; `accept_call` takes the sessionmaker, as the
dialer's tick does, since it frames two transactions around a carrier request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hotline import audit
from hotline.enums import CaseStatus
from hotline.models import CardAccount, Cardholder, Case, QueueEntry
from hotline.phones import mask_phone
from hotline.queueing import ACCEPTED, BRIDGED, ENDED, LEFT, WAITING
from telephony.gateway import CallGateway, GatewayError

log = logging.getLogger(__name__)

# A waiting caller whose line has not asked for hold music for this long is taken to be
# gone (the carrier asks every ~25 s while a caller waits): not shown, not offered.
STALE_AFTER = dt.timedelta(seconds=120)
# Carrier errors that mean the call cannot be redirected because it is over or unknown.
CALL_GONE_CODES = frozenset({20404, 21220})


class QueueError(Exception):
    """Why an agent could not take a caller; `key` names the desk's message for it."""

    key = "queue_error"


class AlreadyTaken(QueueError):
    key = "queue_taken"


class CallerGone(QueueError):
    key = "queue_caller_gone"


class NoAgentPhone(QueueError):
    key = "queue_no_phone"


class CarrierRefused(QueueError):
    key = "queue_carrier_refused"


class OutOfScope(QueueError):
    key = "queue_out_of_scope"


@dataclass(frozen=True)
class Agent:
    """Who is acting at the desk, as the services need it."""

    user_id: int
    username: str
    role: str = "agent"
    phone: str | None = None
    waiver_limit_minor: int = 0
    agency_id: int | None = None

    @property
    def actor(self) -> str:
        return f"desk:{self.username}"


@dataclass(frozen=True)
class Waiting:
    """A caller in the queue, as the queue page shows them."""

    entry_id: int
    line: str
    account_id: int | None
    account_number: str | None
    name: str | None
    number: str  # masked
    language: str
    verified: bool
    intent: str | None
    path: tuple[str, ...]
    open_case: tuple[int, str] | None  # (id, kind)
    queued_at: dt.datetime
    wait_seconds: int


def _path(text: str) -> tuple[str, ...]:
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(str(step) for step in data) if isinstance(data, list) else ()


def waiting(
    session: Session, now: dt.datetime, *, scope: ColumnElement[bool] | None = None
) -> list[Waiting]:
    """The callers waiting now, longest wait first. `scope`: a condition on CardAccount
    that the caller's account must meet (an agency's placements); with one, callers whose
    account is not known are not shown either."""
    open_case = (
        select(Case.id, Case.kind)
        .where(
            Case.account_id == QueueEntry.account_id,
            Case.status.in_((CaseStatus.OPEN, CaseStatus.IN_PROGRESS)),
        )
        .order_by(Case.opened_at.desc())
        .limit(1)
        .correlate(QueueEntry)
    )
    query = (
        select(
            QueueEntry,
            CardAccount.account_number,
            Cardholder.name,
            open_case.with_only_columns(Case.id).scalar_subquery().label("case_id"),
            open_case.with_only_columns(Case.kind).scalar_subquery().label("case_kind"),
        )
        .outerjoin(CardAccount, CardAccount.id == QueueEntry.account_id)
        .outerjoin(Cardholder, Cardholder.id == CardAccount.cardholder_id)
        .where(QueueEntry.status == WAITING, QueueEntry.last_seen_at >= now - STALE_AFTER)
        .order_by(QueueEntry.queued_at, QueueEntry.id)
        .limit(200)
    )
    if scope is not None:
        query = query.where(scope)
    rows = session.execute(query).all()
    return [
        Waiting(
            entry_id=entry.id,
            line=entry.line,
            account_id=entry.account_id,
            account_number=number,
            name=name,
            number=mask_phone(entry.number) if entry.number else "",
            language=entry.language,
            verified=entry.verified,
            intent=entry.intent,
            path=_path(entry.path),
            open_case=(case_id, str(case_kind)) if case_id is not None else None,
            queued_at=entry.queued_at,
            wait_seconds=max(0, int((now - entry.queued_at).total_seconds())),
        )
        for entry, number, name, case_id, case_kind in rows
    ]


def queue_stats(session: Session, now: dt.datetime) -> tuple[int, int]:
    """How many callers wait, and the longest wait in seconds (for a supervisor's view)."""
    count, oldest = session.execute(
        select(func.count(), func.min(QueueEntry.queued_at)).where(
            QueueEntry.status == WAITING, QueueEntry.last_seen_at >= now - STALE_AFTER
        )
    ).one()
    return int(count), max(0, int((now - oldest).total_seconds())) if oldest else 0


@dataclass(frozen=True)
class Accepted:
    entry_id: int
    call_sid: str
    account_id: int | None


def take(
    session: Session,
    entry_id: int,
    agent: Agent,
    now: dt.datetime,
    *,
    scope: ColumnElement[bool] | None = None,
) -> Accepted:
    """Move the caller from waiting to this agent, if still waiting: the one UPDATE that
    decides between agents accepting at once. Raises AlreadyTaken, CallerGone,
    NoAgentPhone or OutOfScope."""
    if not agent.phone:
        raise NoAgentPhone()
    entry = session.get(QueueEntry, entry_id)
    if entry is None:
        raise CallerGone()
    if scope is not None and not _in_scope(session, entry.account_id, scope):
        raise OutOfScope()
    changed = session.execute(
        update(QueueEntry)
        .where(QueueEntry.id == entry_id, QueueEntry.status == WAITING)
        .values(
            status=ACCEPTED,
            accepted_by=agent.username,
            accepted_by_user_id=agent.user_id,
            accepted_at=now,
            agent_number=agent.phone,
        )
        .execution_options(synchronize_session=False)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        session.refresh(entry)
        raise AlreadyTaken() if entry.status in (ACCEPTED, BRIDGED) else CallerGone()
    session.refresh(entry)
    audit.record(
        session,
        actor=agent.actor,
        action="call.accepted",
        entity_type="call",
        entity_id=entry.call_sid,
        data={
            "entry_id": entry.id,
            "line": entry.line,
            "account_id": entry.account_id,
            "agent_number": mask_phone(agent.phone),
        },
        now=now,
    )
    return Accepted(entry.id, entry.call_sid, entry.account_id)


def _in_scope(session: Session, account_id: int | None, scope: ColumnElement[bool]) -> bool:
    if account_id is None:
        return False
    found = session.scalar(select(CardAccount.id).where(CardAccount.id == account_id, scope))
    return found is not None


def release(session: Session, entry_id: int, *, gone: bool, reason: str, now: dt.datetime) -> None:
    """The carrier would not redirect the call: ended if it is gone, else back in the
    queue for the next agent."""
    values: dict[str, Any] = (
        {"status": LEFT, "ended_at": now, "result": reason[:32]}
        if gone
        else {
            "status": WAITING,
            "accepted_by": None,
            "accepted_by_user_id": None,
            "accepted_at": None,
            "agent_number": None,
        }
    )
    session.execute(
        update(QueueEntry)
        .where(QueueEntry.id == entry_id, QueueEntry.status == ACCEPTED)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def accept_call(
    Session: sessionmaker[Session],
    gateway: CallGateway,
    entry_id: int,
    agent: Agent,
    *,
    bridge_url: Callable[[int], str],
    clock: Callable[[], dt.datetime],
    scope: ColumnElement[bool] | None = None,
) -> Accepted:
    """Take the caller and put them through to the agent's phone (see the module)."""
    with Session.begin() as session:
        accepted = take(session, entry_id, agent, clock(), scope=scope)
    try:
        gateway.redirect(accepted.call_sid, bridge_url(accepted.entry_id))
    except GatewayError as exc:
        gone = exc.code in CALL_GONE_CODES or exc.status == 404
        log.warning(
            "accepted caller %s not redirected to the agent (%s %s)",
            accepted.entry_id,
            exc.code,
            "gone" if gone else "back in the queue",
        )
        with Session.begin() as session:
            release(
                session, accepted.entry_id, gone=gone, reason=f"redirect-{exc.code}", now=clock()
            )
        raise CallerGone() if gone else CarrierRefused() from exc
    return accepted


# --- what the carrier says of the <Dial> to the agent ----------------------------------------


def for_bridge(session: Session, entry_id: int | None, call_sid: str) -> QueueEntry | None:
    """The accepted entry a bridge request is for, if it is this call's."""
    if entry_id is None:
        return None
    entry = session.get(QueueEntry, entry_id, with_for_update=True)
    if entry is None or entry.call_sid != call_sid:
        return None
    return entry


def answered(session: Session, entry_id: int | None, now: dt.datetime) -> bool:
    """The agent's phone answered: the caller is with the agent."""
    if entry_id is None:
        return False
    done = session.execute(
        update(QueueEntry)
        .where(QueueEntry.id == entry_id, QueueEntry.status == ACCEPTED)
        .values(status=BRIDGED, bridged_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def dialed(session: Session, entry: QueueEntry, status: str, now: dt.datetime) -> bool:
    """The <Dial> to the agent is over with DialCallStatus `status`. True: the caller spoke
    with the agent (the call ends); False: the agent's phone did not answer, and the caller
    goes back to the queue for the next agent (the entry waits again)."""
    talked = status == "completed"
    if talked:
        entry.status, entry.ended_at, entry.result = ENDED, now, status[:32]
        if entry.bridged_at is None:
            entry.bridged_at = now
    else:
        audit.record(
            session,
            actor=f"desk:{entry.accepted_by}" if entry.accepted_by else "desk",
            action="call.agent-missed",
            entity_type="call",
            entity_id=entry.call_sid,
            data={"entry_id": entry.id, "dial_status": status[:32]},
            now=now,
        )
        entry.status, entry.result = WAITING, status[:32] or "no-answer"
        entry.accepted_by = entry.accepted_by_user_id = entry.agent_number = None
        entry.accepted_at = None
        entry.last_seen_at = now
    session.flush()
    return talked
