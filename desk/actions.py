"""What an agent does to an account from the desk: each action a service taking the session
(never committing), each audited in the hash chain, each refusal its own exception with
the key of the desk's message for it (ActionError.key) and the values the message names.

Arrangements, cases, opt-outs and the unlock are the shared services in hotline/ that the
lines use too; this module checks what an agent may do and records it as the agent's
(Origin(Source.AGENT, "agent:<username>", call_sid)).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desk.queue import Agent
from hotline import accounts, arrangements, audit, callbacks, cases, verification
from hotline.enums import (
    AccountFlag,
    CaseKind,
    CaseStatus,
    Direction,
    PlanStatus,
    PromiseStatus,
    Source,
)
from hotline.models import (
    AccountFlagRow,
    CardAccount,
    Case,
    ContactAttempt,
    DeskNote,
    FeeWaiver,
    Phone,
    PromiseToPay,
    RepaymentPlan,
)
from hotline.origin import Origin
from hotline.phones import mask_phone
from hotline.rules import Limits, plan_instalments

# What an agent may record as a call's outcome.
DISPOSITIONS = (
    "right-party",
    "promise",
    "paid",
    "plan",
    "callback",
    "refused-to-pay",
    "hardship",
    "dispute",
    "complaint",
    "wrong-party",
    "third-party",
    "other",
)
# Flags an agent sets and clears on what the cardholder says on the phone.
AGENT_FLAGS = (AccountFlag.DNC, AccountFlag.CEASE, AccountFlag.ATTORNEY, AccountFlag.DISPUTE)
AGENT_CASE_KINDS = (CaseKind.DISPUTE, CaseKind.COMPLAINT, CaseKind.HARDSHIP)
NOTE_LIMIT = 2000
APPLIED, PENDING, REJECTED = "applied", "pending", "rejected"
SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
WAIVER_WINDOW = dt.timedelta(days=30)  # an agent's waiver authority per account is per 30 days


class ActionError(Exception):
    """An action the desk refused; `key` names its message, `values` what it says."""

    key = "action_error"

    def __init__(self, **values: Any) -> None:
        super().__init__(self.key, values)
        self.values: Mapping[str, Any] = values


class UnknownDisposition(ActionError):
    key = "error_disposition"


class NoteTooLong(ActionError):
    key = "error_note_too_long"


class BadAmount(ActionError):
    key = "error_amount"


class NothingOwed(ActionError):
    key = "error_nothing_owed"


class DateOutsideWindow(ActionError):
    key = "error_promise_date"


class PlanRunning(ActionError):
    key = "error_plan_running"


class PlanNotOffered(ActionError):
    key = "error_plan_not_offered"


class ReasonRequired(ActionError):
    key = "error_reason_required"


class WaiverNotPending(ActionError):
    key = "error_waiver_not_pending"


class NotSupervisor(ActionError):
    key = "error_not_supervisor"


class OwnWaiver(ActionError):
    key = "error_own_waiver"


class WaiverAboveLimit(ActionError):
    key = "error_waiver_above_limit"


class UnknownCase(ActionError):
    key = "error_unknown_case"


class CaseClosed(ActionError):
    key = "error_case_closed"


class UnknownKind(ActionError):
    key = "error_case_kind"


class UnknownFlag(ActionError):
    key = "error_flag"


class FlagFromFile(ActionError):
    key = "error_flag_from_file"


class UnknownPhone(ActionError):
    key = "error_unknown_phone"


class BadHours(ActionError):
    key = "error_hours"


class NotLocked(ActionError):
    key = "error_not_locked"


class CallbackInPast(ActionError):
    key = "error_callback_past"


class CallbackNotScheduled(ActionError):
    """The dialer would not take the callback (hotline.callbacks names why)."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(**values)
        self.key = key


def origin(agent: Agent, call_sid: str | None = None) -> Origin:
    return Origin(Source.AGENT, agent.actor, call_sid or None)


def _audit(
    session: Session,
    agent: Agent,
    account: CardAccount,
    action: str,
    data: Mapping[str, Any],
    now: dt.datetime,
) -> None:
    audit.record(
        session,
        actor=agent.actor,
        action=action,
        entity_type="card_account",
        entity_id=account.account_number,
        data=dict(data),
        now=now,
    )


# --- disposition and note --------------------------------------------------------------------


def record_disposition(
    session: Session,
    agent: Agent,
    account: CardAccount,
    *,
    disposition: str,
    note: str,
    call_sid: str | None,
    now: dt.datetime,
) -> DeskNote:
    """The call's outcome as the agent saw it, with their note; kept on the account and,
    when the call is known, on its contact attempt."""
    if disposition not in DISPOSITIONS:
        raise UnknownDisposition(disposition=disposition)
    note = note.strip()
    if len(note) > NOTE_LIMIT:
        raise NoteTooLong(limit=NOTE_LIMIT)
    attempt_id = None
    if call_sid:
        attempt = session.scalars(
            select(ContactAttempt).where(
                ContactAttempt.provider_call_sid == call_sid,
                ContactAttempt.account_id.is_(None) | (ContactAttempt.account_id == account.id),
            )
        ).first()
        if attempt is not None:
            attempt_id = attempt.id
            if attempt.direction == Direction.INBOUND:
                attempt.disposition = disposition
                attempt.account_id = account.id
    row = DeskNote(
        account_id=account.id,
        call_sid=call_sid or None,
        attempt_id=attempt_id,
        author=agent.username,
        disposition=disposition,
        body=note,
        created_at=now,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        agent,
        account,
        "desk.disposition",
        {"note_id": row.id, "disposition": disposition, "call_sid": call_sid, "chars": len(note)},
        now,
    )
    return row


# --- arrangements -----------------------------------------------------------------------------


def promise(
    session: Session,
    agent: Agent,
    account: CardAccount,
    *,
    amount_minor: int,
    date: dt.date,
    today: dt.date,
    limits: Limits,
    call_sid: str | None,
    now: dt.datetime,
) -> str:
    """A promise to pay, as the line takes one (hotline.arrangements); its reference."""
    accounts.lock(session, account)
    if account.balance_minor <= 0:
        raise NothingOwed()
    smallest = limits.smallest_payment(account.balance_minor)
    if not smallest <= amount_minor <= account.balance_minor:
        raise BadAmount(low=smallest, high=account.balance_minor)
    last = limits.last_promise_day(today)
    if not today <= date <= last:
        raise DateOutsideWindow(first=today, last=last)
    # A form sent twice (a double click, a reload) is one promise: an identical pending
    # promise is answered as itself. Under the account lock, so two at once see each other.
    same = session.scalar(
        select(PromiseToPay.id)
        .where(
            PromiseToPay.account_id == account.id,
            PromiseToPay.amount_minor == amount_minor,
            PromiseToPay.promised_date == date,
            PromiseToPay.status == PromiseStatus.PENDING,
        )
        .order_by(PromiseToPay.id)
        .limit(1)
    )
    if same is not None:
        return f"P{same:06d}"
    return arrangements.save_promise(
        session,
        account,
        amount_minor=amount_minor,
        date=date,
        origin=origin(agent, call_sid),
        now=now,
    )


def plan(
    session: Session,
    agent: Agent,
    account: CardAccount,
    *,
    count: int,
    start: dt.date,
    today: dt.date,
    limits: Limits,
    call_sid: str | None,
    now: dt.datetime,
) -> str:
    """An instalment plan over the balance (hotline.arrangements); its reference. An agent
    may agree any count from 2 to 60 months, the first instalment within the promise
    window; not while a plan is running."""
    accounts.lock(session, account)
    running = session.scalar(
        select(func.count(RepaymentPlan.id)).where(
            RepaymentPlan.account_id == account.id, RepaymentPlan.status == PlanStatus.ACTIVE
        )
    )
    if running:
        raise PlanRunning()
    if account.balance_minor <= 0:
        raise NothingOwed()
    split = plan_instalments(account.balance_minor, count) if 2 <= count <= 60 else None
    if split is None:
        raise PlanNotOffered(count=count)
    last = limits.last_promise_day(today)
    if not today <= start <= last:
        raise DateOutsideWindow(first=today, last=last)
    return arrangements.save_plan(
        session,
        account,
        count=count,
        instalment_minor=split[0],
        start=start,
        origin=origin(agent, call_sid),
        now=now,
    )


# --- late-fee waivers -------------------------------------------------------------------------


def request_waiver(
    session: Session,
    agent: Agent,
    account: CardAccount,
    *,
    amount_minor: int,
    reason: str,
    call_sid: str | None,
    now: dt.datetime,
) -> FeeWaiver:
    """Take a late fee off: applied at once within the agent's authority, otherwise it
    waits for a supervisor (pending_waivers / decide_waiver).

    The authority is cumulative per account: what this agent applied on their own
    authority on this account in the last WAIVER_WINDOW, plus this waiver, must stay within
    waiver_limit_minor; so a balance cannot be waived in pieces each within the limit. The
    account row is locked first, so two concurrent requests cannot both count the same
    headroom."""
    accounts.lock(session, account)
    reason = reason.strip()
    if not reason:
        raise ReasonRequired()
    if len(reason) > NOTE_LIMIT:
        raise NoteTooLong(limit=NOTE_LIMIT)
    if not 0 < amount_minor <= account.balance_minor:
        raise BadAmount(low=1, high=account.balance_minor)
    already = _self_applied(session, agent, account, now)
    within = already + amount_minor <= agent.waiver_limit_minor
    waiver = FeeWaiver(
        account_id=account.id,
        amount_minor=amount_minor,
        currency=account.currency,
        reason=reason,
        status=APPLIED if within else PENDING,
        requested_by=agent.username,
        requested_by_user_id=agent.user_id,
        requested_at=now,
        call_sid=call_sid or None,
    )
    if within:
        waiver.decided_by, waiver.decided_at = agent.username, now
    session.add(waiver)
    session.flush()
    _audit(
        session,
        agent,
        account,
        "fee-waiver.requested",
        {
            "waiver_id": waiver.id,
            "amount_minor": amount_minor,
            "limit_minor": agent.waiver_limit_minor,
            "already_applied_minor": already,
            "status": waiver.status,
            "call_sid": call_sid,
        },
        now,
    )
    if within:
        _apply_waiver(session, agent, account, waiver, now)
    return waiver


def _self_applied(session: Session, agent: Agent, account: CardAccount, now: dt.datetime) -> int:
    """What the agent waived on this account on their own authority (requested and decided
    by them) within the rolling WAIVER_WINDOW before now."""
    total = session.scalar(
        select(func.coalesce(func.sum(FeeWaiver.amount_minor), 0)).where(
            FeeWaiver.account_id == account.id,
            FeeWaiver.requested_by_user_id == agent.user_id,
            FeeWaiver.decided_by == agent.username,
            FeeWaiver.status == APPLIED,
            FeeWaiver.requested_at > now - WAIVER_WINDOW,
        )
    )
    return int(total or 0)


def _apply_waiver(
    session: Session, agent: Agent, account: CardAccount, waiver: FeeWaiver, now: dt.datetime
) -> None:
    """Lower the balance (and what is past due) by the fee, never below nothing."""
    before = (account.balance_minor, account.past_due_minor)
    off = min(waiver.amount_minor, account.balance_minor)
    account.balance_minor -= off
    account.past_due_minor = max(0, account.past_due_minor - off)
    account.minimum_due_minor = min(account.minimum_due_minor, account.balance_minor)
    _audit(
        session,
        agent,
        account,
        "fee-waiver.applied",
        {
            "waiver_id": waiver.id,
            "amount_minor": off,
            "balance_before": before[0],
            "past_due_before": before[1],
            "balance_after": account.balance_minor,
            "past_due_after": account.past_due_minor,
        },
        now,
    )


def pending_waivers(session: Session, scope: Any = None) -> list[tuple[FeeWaiver, CardAccount]]:
    """Waivers waiting for a supervisor, oldest first, with their accounts."""
    query = (
        select(FeeWaiver, CardAccount)
        .join(CardAccount, CardAccount.id == FeeWaiver.account_id)
        .where(FeeWaiver.status == PENDING)
        .order_by(FeeWaiver.requested_at, FeeWaiver.id)
        .limit(200)
    )
    if scope is not None:
        query = query.where(scope)
    return [(w, a) for w, a in session.execute(query).all()]


def decide_waiver(
    session: Session,
    supervisor: Agent,
    waiver_id: int,
    *,
    approve: bool,
    note: str,
    now: dt.datetime,
    scope: Any = None,
) -> FeeWaiver:
    """A supervisor approves (the fee comes off now) or rejects a pending waiver.

    Approving needs authority for the amount: a waiver above the approver's own
    waiver_limit_minor is refused (WaiverAboveLimit), admins included, so the limit set on
    a desk user is the most they can take off in one decision. Rejecting needs none."""
    if supervisor.role not in SUPERVISOR_ROLES:
        raise NotSupervisor()
    waiver = session.get(FeeWaiver, waiver_id, with_for_update=True)
    if waiver is None:
        raise WaiverNotPending(waiver_id=waiver_id)
    query = select(CardAccount).where(CardAccount.id == waiver.account_id)
    if scope is not None:
        query = query.where(scope)
    account = session.scalars(query.with_for_update()).one_or_none()
    if account is None or waiver.status != PENDING:
        raise WaiverNotPending(waiver_id=waiver_id)
    if waiver.requested_by_user_id == supervisor.user_id:
        raise OwnWaiver()
    if approve and waiver.amount_minor > supervisor.waiver_limit_minor:
        raise WaiverAboveLimit(waiver_id=waiver_id)
    if len(note) > NOTE_LIMIT:
        raise NoteTooLong(limit=NOTE_LIMIT)
    waiver.decided_by, waiver.decided_at = supervisor.username, now
    waiver.decision_note = note.strip() or None
    waiver.status = APPLIED if approve else REJECTED
    _audit(
        session,
        supervisor,
        account,
        "fee-waiver.approved" if approve else "fee-waiver.rejected",
        {"waiver_id": waiver.id, "amount_minor": waiver.amount_minor, "by": waiver.requested_by},
        now,
    )
    if approve:
        _apply_waiver(session, supervisor, account, waiver, now)
    session.flush()
    return waiver


# --- cases ------------------------------------------------------------------------------------


def open_case(
    session: Session,
    agent: Agent,
    account: CardAccount,
    *,
    kind: str,
    summary: str,
    call_sid: str | None,
    now: dt.datetime,
) -> Case:
    if kind not in {str(k) for k in AGENT_CASE_KINDS}:
        raise UnknownKind(kind=kind)
    summary = summary.strip()
    if not summary:
        raise ReasonRequired()
    if len(summary) > NOTE_LIMIT:
        raise NoteTooLong(limit=NOTE_LIMIT)
    row = cases.open_case(
        session,
        account,
        kind=CaseKind(kind),
        summary=summary,
        origin=origin(agent, call_sid),
        now=now,
    )
    row.owner = agent.username
    return row


def _case_of(session: Session, account: CardAccount, case_id: int) -> Case:
    row = session.get(Case, case_id, with_for_update=True)
    if row is None or row.account_id != account.id:
        raise UnknownCase(case_id=case_id)
    if row.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        raise CaseClosed(case_id=case_id)
    return row


def update_case(
    session: Session,
    agent: Agent,
    account: CardAccount,
    case_id: int,
    *,
    note: str,
    now: dt.datetime,
) -> Case:
    """Add the agent's note to the case and take it in hand (in progress, theirs)."""
    row = _case_of(session, account, case_id)
    note = note.strip()
    if not note:
        raise ReasonRequired()
    if len(note) > NOTE_LIMIT:
        raise NoteTooLong(limit=NOTE_LIMIT)
    stamp = now.strftime("%Y-%m-%d %H:%M UTC")
    row.summary = f"{row.summary}\n[{stamp} {agent.username}] {note}".strip()
    row.status, row.owner = CaseStatus.IN_PROGRESS, agent.username
    _audit(
        session,
        agent,
        account,
        "case.updated",
        {"case_id": row.id, "status": str(row.status), "chars": len(note)},
        now,
    )
    return row


def resolve_case(
    session: Session,
    agent: Agent,
    account: CardAccount,
    case_id: int,
    *,
    resolution: str,
    now: dt.datetime,
) -> Case:
    """Resolve the case (hotline.cases: a resolved dispute lifts the line's dispute flag
    when no other dispute is open)."""
    _case_of(session, account, case_id)
    resolution = resolution.strip()
    if not resolution:
        raise ReasonRequired()
    if len(resolution) > NOTE_LIMIT:
        raise NoteTooLong(limit=NOTE_LIMIT)
    return cases.resolve_case(
        session, account, case_id, resolution=resolution, origin=origin(agent), now=now
    )


# --- flags, calling hours, self-service -------------------------------------------------------


def set_flag(
    session: Session,
    agent: Agent,
    account: CardAccount,
    flag: str,
    *,
    on: bool,
    call_sid: str | None,
    now: dt.datetime,
) -> bool:
    """Set or clear DNC, cease-contact, attorney or dispute; True if anything changed. A
    flag the bank's file set is the file's to clear."""
    if flag not in {str(f) for f in AGENT_FLAGS}:
        raise UnknownFlag(flag=flag)
    accounts.lock(session, account)
    which = AccountFlag(flag)
    existing = next((f for f in account.flags if f.flag == which), None)
    if on and existing is None:
        account.flags.append(AccountFlagRow(flag=which, source=Source.AGENT, set_at=now))
    elif not on and existing is not None:
        if existing.source == Source.IMPORT:
            raise FlagFromFile(flag=flag)
        account.flags.remove(existing)
    else:
        return False
    session.flush()
    _audit(
        session,
        agent,
        account,
        "flag.set" if on else "flag.cleared",
        {"flag": flag, "call_sid": call_sid},
        now,
    )
    return True


def set_allowed_hours(
    session: Session,
    agent: Agent,
    account: CardAccount,
    phone_id: int,
    *,
    start: dt.time | None,
    end: dt.time | None,
    now: dt.datetime,
) -> Phone:
    """The hours the cardholder asked to be called in on this number (its local time;
    the dialer's policy reads them); both None clears them."""
    phone = session.get(Phone, phone_id, with_for_update=True)
    if phone is None or phone.cardholder_id != account.cardholder_id:
        raise UnknownPhone(phone_id=phone_id)
    if (start is None) != (end is None) or (start is not None and end is not None and start >= end):
        raise BadHours()
    phone.allowed_hours_start, phone.allowed_hours_end = start, end
    phone.allowed_hours_source = Source.AGENT if start is not None else None
    phone.allowed_hours_set_at = now
    session.flush()
    _audit(
        session,
        agent,
        account,
        "phone.allowed-hours",
        {
            "phone": mask_phone(phone.e164),
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        },
        now,
    )
    return phone


def unlock(session: Session, agent: Agent, account: CardAccount, *, now: dt.datetime) -> None:
    """Let the cardholder use phone self-service again after a lockout."""
    if account.self_service_locked_at is None:
        raise NotLocked()
    verification.unlock(session, account.account_number, actor=agent.actor, now=now)


# --- callbacks --------------------------------------------------------------------------------


def schedule_callback(
    session: Session,
    agent: Agent,
    account: CardAccount,
    phone_id: int,
    *,
    at: dt.datetime,
    now: dt.datetime,
    scheduler: callbacks.Scheduler,
) -> ContactAttempt:
    """A call back at `at` on one of the cardholder's numbers, which the dialer places
    within the contact rules (`scheduler`: the dialer's, dialer.callbacks.schedule, given
    by the app; the desk does not import the dialer). Its refusals are the desk's."""
    if at <= now:
        raise CallbackInPast()
    phone = session.get(Phone, phone_id)
    if phone is None or phone.cardholder_id != account.cardholder_id:
        raise UnknownPhone(phone_id=phone_id)
    try:
        return scheduler(session, account, phone, at=at, origin=origin(agent), now=now)
    except callbacks.CallbackRefused as refused:
        raise CallbackNotScheduled(refused.key, **refused.values) from refused
