"""What the supervisor pages read, as plain functions of a session (no Flask): the live
figures, the audit log searched and paged, the open complaints and disputes against their
SLA. The KPIs themselves are hotline/kpis.py (shared with `hotline report kpis`).

`scope` is a condition on CardAccount (desk.access.visible_accounts: an agency's placed
accounts; `true()` for the bank's staff).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session

from desk.queue import STALE_AFTER
from hotline.enums import AttemptStatus, CaseKind, CaseStatus, Direction, Step
from hotline.kpi_rules import CaseAge, case_age, utc_window
from hotline.models import AuditEvent, CardAccount, Case, ContactAttempt, IvrCall, QueueEntry
from hotline.queueing import WAITING
from hotline.settings import Settings

# Outbound calls claimed, placed, ringing or answered and not yet ended.
IN_FLIGHT = (
    AttemptStatus.DIALING,
    AttemptStatus.QUEUED,
    AttemptStatus.RINGING,
    AttemptStatus.IN_PROGRESS,
)
# An inbound call whose row has not moved for this long is taken to be over: the line keeps
# no end for inbound calls (no status callback), only each turn's update.
INBOUND_QUIET = dt.timedelta(minutes=5)
AUDIT_PAGE_SIZE = 50


@dataclass(frozen=True)
class Live:
    outbound_in_progress: int
    outbound_ringing: int  # of them, not answered yet (dialing, queued, ringing)
    inbound_in_progress: int
    queue_length: int
    longest_wait_seconds: int | None
    agents_signed_in: int | None  # None: no sign-in to count (the desk has none yet)

    def as_json(self) -> dict[str, Any]:
        return {
            "outbound_in_progress": self.outbound_in_progress,
            "outbound_ringing": self.outbound_ringing,
            "inbound_in_progress": self.inbound_in_progress,
            "calls_in_progress": self.outbound_in_progress + self.inbound_in_progress,
            "queue_length": self.queue_length,
            "longest_wait_seconds": self.longest_wait_seconds,
            "agents_signed_in": self.agents_signed_in,
        }


def _account_in(column: Any, scope: ColumnElement[bool] | None) -> Any:
    """Rows whose account meets `scope` (rows with no account only when there is none:
    the bank's staff see a caller the line has not identified; an agency does not)."""
    if scope is None:
        return true()
    return column.in_(select(CardAccount.id).where(scope))


def queue_now(
    session: Session, now: dt.datetime, scope: ColumnElement[bool] | None = None
) -> tuple[int, int | None]:
    """Callers waiting for an agent and the longest wait in seconds: the agent desk's own
    queue rows (hotline.queueing), read as its queue page reads them (desk.queue: waiting,
    and heard from within STALE_AFTER)."""
    count, first = session.execute(
        select(func.count(), func.min(QueueEntry.queued_at)).where(
            QueueEntry.status == WAITING,
            QueueEntry.last_seen_at >= now - STALE_AFTER,
            _account_in(QueueEntry.account_id, scope),
        )
    ).one()
    if not count or first is None:
        return 0, None
    return int(count), max(int((now - first).total_seconds()), 0)


def live(
    session: Session,
    now: dt.datetime,
    *,
    scope: ColumnElement[bool] | None = None,
    agents_signed_in: int | None = None,
) -> Live:
    """Calls in progress on both lines, the agent queue, agents signed in."""
    rows = session.execute(
        select(ContactAttempt.status, func.count())
        .where(
            ContactAttempt.direction == Direction.OUTBOUND,
            ContactAttempt.status.in_(IN_FLIGHT),
            ContactAttempt.ended_at.is_(None),
            _account_in(ContactAttempt.account_id, scope),
        )
        .group_by(ContactAttempt.status)
    ).all()
    by_status = {AttemptStatus(status): count for status, count in rows}
    inbound = session.scalar(
        select(func.count()).where(
            IvrCall.step.not_in((Step.ENDED, Step.QUEUED)),
            IvrCall.updated_at >= now - INBOUND_QUIET,
            _account_in(IvrCall.account_id, scope),
        )
    )
    length, longest = queue_now(session, now, scope)
    return Live(
        outbound_in_progress=sum(by_status.values()),
        outbound_ringing=sum(n for s, n in by_status.items() if s is not AttemptStatus.IN_PROGRESS),
        inbound_in_progress=int(inbound or 0),
        queue_length=length,
        longest_wait_seconds=longest,
        agents_signed_in=agents_signed_in,
    )


# --- the audit log -----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    actor: str = ""
    action: str = ""
    entity: str = ""  # an entity id (account number, campaign name, attempt id) or a type
    start: dt.date | None = None
    end: dt.date | None = None
    page: int = 1


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    pages: int


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_audit(session: Session, query: AuditQuery, zone: ZoneInfo) -> AuditPage:
    """Audit events matching every filter given, newest first, a page at a time: actor and
    action by any part (case-insensitive), entity by its id or type exactly, days in `zone`."""
    where: list[Any] = []
    if query.actor.strip():
        where.append(AuditEvent.actor.ilike(_like(query.actor.strip()), escape="\\"))
    if query.action.strip():
        where.append(AuditEvent.action.ilike(_like(query.action.strip()), escape="\\"))
    if query.entity.strip():
        entity = query.entity.strip()
        where.append(or_(AuditEvent.entity_id == entity, AuditEvent.entity_type == entity))
    if query.start is not None or query.end is not None:
        start = query.start or query.end
        end = query.end or query.start
        assert start is not None and end is not None
        since, until = utc_window(min(start, end), max(start, end), zone)
        where += [AuditEvent.occurred_at >= since, AuditEvent.occurred_at < until]
    total = int(session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0)
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page = min(max(query.page, 1), pages)
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(*where)
            .order_by(AuditEvent.seq.desc())
            .offset((page - 1) * AUDIT_PAGE_SIZE)
            .limit(AUDIT_PAGE_SIZE)
        )
    )
    return AuditPage(events, total, page, pages)


# --- complaints and disputes against their SLA --------------------------------------------


def sla_days(settings: Settings) -> dict[CaseKind, int]:
    """Days each kind of case may stay open (HOTLINE_DISPUTE_SLA_DAYS, ..._COMPLAINT_...)."""
    return {
        CaseKind.DISPUTE: settings.dispute_sla_days,
        CaseKind.COMPLAINT: settings.complaint_sla_days,
    }


@dataclass(frozen=True)
class OpenCase:
    id: int
    kind: CaseKind
    status: CaseStatus
    account_number: str
    summary: str
    owner: str | None
    opened_at: dt.datetime
    age: CaseAge


def open_cases(
    session: Session,
    now: dt.datetime,
    slas: dict[CaseKind, int],
    *,
    scope: ColumnElement[bool] | None = None,
) -> list[OpenCase]:
    """Open complaints and disputes (the kinds with an SLA), the closest to their limit
    first (overdue ones at the top)."""
    rows = session.execute(
        select(Case, CardAccount.account_number)
        .join(CardAccount, CardAccount.id == Case.account_id)
        .where(
            Case.kind.in_(list(slas)),
            Case.status.in_((CaseStatus.OPEN, CaseStatus.IN_PROGRESS)),
            scope if scope is not None else true(),
        )
        .order_by(Case.opened_at)
    ).all()
    cases = [
        OpenCase(
            id=c.id,
            kind=c.kind,
            status=c.status,
            account_number=number,
            summary=c.summary,
            owner=c.owner,
            opened_at=c.opened_at,
            age=case_age(c.opened_at, now, slas[c.kind]),
        )
        for c, number in rows
    ]
    return sorted(cases, key=lambda c: (c.age.days_left, c.id))
