"""Promises to pay and instalment plans, by whichever line or person takes them.

Each pauses reminder calls while it is kept. The caller's session, never committed here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline import accounts, audit
from hotline.enums import InstalmentStatus, PlanStatus, PromiseStatus
from hotline.models import CardAccount, PlanInstalment, PromiseToPay, RepaymentPlan
from hotline.origin import Origin
from hotline.rules import add_months


def save_promise(
    session: Session,
    account: CardAccount,
    *,
    amount_minor: int,
    date: dt.date,
    origin: Origin,
    now: dt.datetime,
) -> str:
    """Record a promise to pay `amount_minor` by `date`; its reference, e.g. P000042."""
    promise = PromiseToPay(
        account_id=account.id,
        amount_minor=amount_minor,
        currency=account.currency,
        promised_date=date,
        status=PromiseStatus.PENDING,
        source=origin.source,
        call_sid=origin.call_sid,
        created_at=now,
    )
    session.add(promise)
    session.flush()
    pause_reminders(account, date)
    _audit(
        session,
        account,
        origin,
        "promise.created",
        {
            "promise_id": promise.id,
            "amount_minor": amount_minor,
            "date": date.isoformat(),
            "call_sid": origin.call_sid,
        },
        now,
    )
    return f"P{promise.id:06d}"


def save_plan(
    session: Session,
    account: CardAccount,
    *,
    count: int,
    instalment_minor: int,
    start: dt.date,
    origin: Origin,
    now: dt.datetime,
) -> str:
    """Record a plan of `count` monthly instalments over the balance; its reference.

    Each instalment is `instalment_minor` but the last, which takes what is left; the first
    is due on `start`, the others monthly (kept to the 28th). If a plan is already running
    (two calls agreeing one at once), that plan stands and its reference is returned.
    """
    accounts.lock(session, account)
    running = session.scalar(
        select(RepaymentPlan.id).where(
            RepaymentPlan.account_id == account.id, RepaymentPlan.status == PlanStatus.ACTIVE
        )
    )
    if running is not None:
        return f"L{running:06d}"
    plan = RepaymentPlan(
        account_id=account.id,
        instalment_count=count,
        total_minor=account.balance_minor,
        currency=account.currency,
        start_date=start,
        status=PlanStatus.ACTIVE,
        source=origin.source,
        call_sid=origin.call_sid,
        created_at=now,
    )
    remaining = account.balance_minor
    for sequence in range(1, count + 1):
        amount = min(instalment_minor, remaining) if sequence < count else remaining
        remaining -= amount
        plan.instalments.append(
            PlanInstalment(
                sequence=sequence,
                due_date=start if sequence == 1 else add_months(start, sequence - 1),
                amount_minor=amount,
                status=InstalmentStatus.DUE,
            )
        )
    session.add(plan)
    session.flush()
    pause_reminders(account, plan.instalments[-1].due_date)
    _audit(
        session,
        account,
        origin,
        "plan.created",
        {
            "plan_id": plan.id,
            "count": count,
            "instalment_minor": instalment_minor,
            "start": start.isoformat(),
            "call_sid": origin.call_sid,
        },
        now,
    )
    return f"L{plan.id:06d}"


def pause_reminders(account: CardAccount, until: dt.date) -> None:
    """No reminder calls until `until` (inclusive), unless already paused for longer."""
    if account.reminders_paused_until is None or account.reminders_paused_until < until:
        account.reminders_paused_until = until


def _audit(
    session: Session,
    account: CardAccount,
    origin: Origin,
    action: str,
    data: dict[str, object],
    now: dt.datetime,
) -> None:
    audit.record(
        session,
        actor=origin.actor,
        action=action,
        entity_type="card_account",
        entity_id=account.account_number,
        data=data,
        now=now,
    )
