"""The lifecycle job: promises kept or broken, instalments paid or missed, daily.

`run_lifecycle(Session, now)` is a plain function of a sessionmaker and the moment (the
dialer's scheduler runs it daily and once at start, `lifecycle(Session, clock)`; a
simulation calls it with a virtual clock). Safe to run any number of times, by several
dialers at once: each account is settled under its row lock, and only what is still open
moves.

For each account with a pending promise or an active plan that may move today (a date
that may have passed, a payment that may count: `accounts_to_settle`): its payments since (any
source: the line, the dialer, an agent, the bank's file), the arrangements still open and
the person's zones go to the pure rules (dialer/lifecycle_rules.py); what they decide is
stored, each in the audit chain, one account per transaction:
- kept promise / paid instalment: status, `resolved_at` / `paid_at`, and the payments
  drawn on in `payment_allocation` (a payment counts once);
- broken promise: status and `resolved_at`, and, for a promise made on a call, a
  `call_event` on that call (kind `promise-broken`) so the attempt's history shows it;
- missed instalment: the plan is broken;
- a plan all paid: completed.
Then the day's tiers are kept for the desk's roll rates (hotline.kpis.snapshot_tiers): a
daily job's work, where the planning job (every few minutes) would rewrite every
account's row each run.
When a promise or plan breaks, reminders are paused only as long as what is still open
asks: the account is back in its tier's campaign, and the next planning run queues it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from dialer.clock import Clock
from dialer.lifecycle_rules import Kind, Outcome, Owed, Paid, Verdict, earliest_local_day, settle
from dialer.policy import address_zones, phone_zones
from hotline import audit, contacts
from hotline.enums import InstalmentStatus, PaymentStatus, PlanStatus, PromiseStatus
from hotline.kpis import snapshot_tiers
from hotline.models import (
    CardAccount,
    Cardholder,
    ContactAttempt,
    Payment,
    PaymentAllocation,
    PlanInstalment,
    PromiseToPay,
    RepaymentPlan,
)

log = logging.getLogger(__name__)

ACTOR = "dialer:lifecycle"
DEFAULT_ZONE = "America/New_York"
BROKEN_EVENT = "promise-broken"
KEPT_EVENT = "promise-kept"


@dataclass
class LifecycleReport:
    accounts: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    instalments_paid: int = 0
    instalments_missed: int = 0
    plans_completed: int = 0
    plans_broken: int = 0
    tiers_kept: int = 0


def lifecycle(
    Session: sessionmaker[Session], clock: Clock, *, default_zone: str = DEFAULT_ZONE
) -> LifecycleReport:
    """The scheduler's job: run_lifecycle at the clock's now."""
    report = run_lifecycle(Session, clock.now(), default_zone=default_zone)
    log.info(
        "lifecycle: %s account(s) that may move settled: promises %s kept, %s broken; "
        "instalments %s paid, "
        "%s missed; plans %s completed, %s broken",
        report.accounts,
        report.promises_kept,
        report.promises_broken,
        report.instalments_paid,
        report.instalments_missed,
        report.plans_completed,
        report.plans_broken,
    )
    return report


def run_lifecycle(
    Session: sessionmaker[Session],
    now: dt.datetime,
    *,
    default_zone: str = DEFAULT_ZONE,
    actor: str = ACTOR,
) -> LifecycleReport:
    """Settle every account with a pending promise or an active plan as of `now` (UTC).
    `default_zone`: a person's zone when neither their address nor their numbers tell
    (HOTLINE_DEFAULT_TIMEZONE).

    One transaction per account: its row lock first, then the audit chain's, then the
    commit. Holding the chain's lock while waiting for the next account's row would
    deadlock with a call posting a payment there (which holds the row and waits for the
    chain)."""
    report = LifecycleReport()
    with Session() as session:
        ids = accounts_to_settle(session, now)
        session.rollback()
        for account_id in ids:
            settle_account(session, account_id, now, default_zone, report, actor=actor)
            session.commit()
            session.expunge_all()  # a long run holds no account's objects after it
    with Session.begin() as session:
        # The tiers as the planning job last set them from days past due.
        report.tiers_kept = snapshot_tiers(session, now.date())
    return report


# The zone furthest ahead of UTC (Pacific/Kiritimati): no cardholder's date is later.
LATEST_ZONE_AHEAD = dt.timedelta(hours=14)
# Payments this long before an arrangement was made are read for it (_payments; a bank
# posting is known by its day only).
PAYMENT_MARGIN = dt.timedelta(days=2)


def accounts_to_settle(session: Session, now: dt.datetime) -> list[int]:
    """The accounts with a pending promise or an active plan that may move at `now`: one
    whose date may have passed in some zone of the person, one with a posted payment
    that may count toward it, a plan with nothing left due or an instalment missed.

    Every other account's arrangements all stay open (the rules find nothing paid toward
    them and no date passed), so it is not locked, read and settled for nothing: most
    open arrangements on most days (at 10,000 accounts a daily run settled about a
    thousand accounts, 3 ms each, to move a few dozen). The bound is loose on purpose
    (the date in the zone furthest ahead, any currency, a payment already drawn on):
    settle_account decides, under the account's lock, with the rules."""
    latest_today = (now.astimezone(dt.UTC) + LATEST_ZONE_AHEAD).date()  # whatever now's offset
    made: dict[int, dt.datetime] = {}  # account -> when its earliest open arrangement was
    moving: set[int] = set()
    for account_id, created_at, due in session.execute(_PENDING_PROMISES):
        made[account_id] = min(created_at, made.get(account_id, created_at))
        if due < latest_today:
            moving.add(account_id)
    plans: dict[int, tuple[int, set[InstalmentStatus | None]]] = {}
    for plan_id, account_id, created_at, status, due in session.execute(_ACTIVE_PLANS):
        plans.setdefault(plan_id, (account_id, set()))[1].add(status)
        if status is InstalmentStatus.DUE:
            made[account_id] = min(created_at, made.get(account_id, created_at))
            if due < latest_today:
                moving.add(account_id)
    for account_id, statuses in plans.values():
        if InstalmentStatus.DUE not in statuses or InstalmentStatus.MISSED in statuses:
            moving.add(account_id)  # settle_account closes it
    for account_id, posted_at, posted_on in session.execute(_LATEST_PAYMENTS):
        since = made.get(account_id)
        if since is None or account_id in moving:
            continue
        if (posted_at is not None and posted_at >= since - PAYMENT_MARGIN) or (
            posted_on is not None and posted_on >= (since - PAYMENT_MARGIN).date()
        ):
            moving.add(account_id)
    return sorted(moving)


_PENDING_PROMISES = select(
    PromiseToPay.account_id, PromiseToPay.created_at, PromiseToPay.promised_date
).where(PromiseToPay.status == PromiseStatus.PENDING)
# Each active plan's instalments (a plan without any is still settled: it has none due).
_ACTIVE_PLANS = (
    select(
        RepaymentPlan.id,
        RepaymentPlan.account_id,
        RepaymentPlan.created_at,
        PlanInstalment.status,
        PlanInstalment.due_date,
    )
    .outerjoin(PlanInstalment, PlanInstalment.plan_id == RepaymentPlan.id)
    .where(RepaymentPlan.status == PlanStatus.ACTIVE)
)
_LATEST_PAYMENTS = (
    select(Payment.account_id, func.max(Payment.posted_at), func.max(Payment.posted_on))
    .where(Payment.status == PaymentStatus.POSTED)
    .group_by(Payment.account_id)
)


def person_zones(holder: Cardholder, default_zone: str) -> tuple[str, ...]:
    """Every zone the cardholder may be in (as the contact policy reads them: the
    address's, then each number's on file), or the default when none tells."""
    zones = list(address_zones(holder.country, holder.address_region))
    for phone in holder.phones:
        if phone.removed_at is not None:
            continue
        if phone.time_zones is not None:
            zones.extend(phone.time_zones.split())
        else:
            zones.extend(phone_zones(phone.e164))
    return tuple(dict.fromkeys(zones)) or (default_zone,)


def settle_account(
    session: Session,
    account_id: int,
    now: dt.datetime,
    default_zone: str,
    report: LifecycleReport,
    *,
    actor: str = ACTOR,
) -> None:
    """Settle one account's open promises and plans, under its row lock."""
    account = session.get(
        CardAccount, account_id, with_for_update={"key_share": True}, populate_existing=True
    )
    if account is None:
        return
    promises = list(
        session.scalars(
            select(PromiseToPay)
            .where(
                PromiseToPay.account_id == account_id,
                PromiseToPay.status == PromiseStatus.PENDING,
            )
            .execution_options(populate_existing=True)
        )
    )
    plans = list(
        session.scalars(
            select(RepaymentPlan)
            .where(
                RepaymentPlan.account_id == account_id,
                RepaymentPlan.status == PlanStatus.ACTIVE,
            )
            .options(selectinload(RepaymentPlan.instalments))
            .execution_options(populate_existing=True)
        )
    )
    if not promises and not plans:
        return
    report.accounts += 1
    holder = session.get(
        Cardholder, account.cardholder_id, options=[selectinload(Cardholder.phones)]
    )
    assert holder is not None
    zones = person_zones(holder, default_zone)
    owed = [_promise(p, zones) for p in promises] + [
        _instalment(plan, i, zones)
        for plan in plans
        for i in plan.instalments
        if i.status is InstalmentStatus.DUE
    ]
    # (A plan with nothing left due, yet still active, is only closed below.)
    paid = _payments(session, account, min(o.made_at for o in owed), zones) if owed else []
    verdicts = settle(owed, paid, today=earliest_local_day(now, zones))
    promise_by_id = {p.id: p for p in promises}
    instalment_by_id = {i.id: (plan, i) for plan in plans for i in plan.instalments}
    broke = False
    for verdict in verdicts:
        if verdict.outcome is Outcome.OPEN:
            continue
        if verdict.outcome is Outcome.KEPT:
            _store_draws(session, verdict, now)
        if verdict.owed.kind is Kind.PROMISE:
            broke |= _resolve_promise(
                session, account, promise_by_id[verdict.owed.target_id], verdict, now, report, actor
            )
        else:
            plan, instalment = instalment_by_id[verdict.owed.target_id]
            _resolve_instalment(session, account, plan, instalment, verdict, now, report, actor)
    for plan in plans:
        broke |= _close_plan(session, account, plan, now, report, actor)
    if broke:
        _repause(session, account, earliest_local_day(now, zones))
    session.flush()


def _promise(promise: PromiseToPay, zones: Sequence[str]) -> Owed:
    return Owed(
        kind=Kind.PROMISE,
        target_id=promise.id,
        amount_minor=promise.amount_minor,
        due=promise.promised_date,
        made_at=promise.created_at,
        made_day=earliest_local_day(promise.created_at, zones),
    )


def _instalment(plan: RepaymentPlan, instalment: PlanInstalment, zones: Sequence[str]) -> Owed:
    return Owed(
        kind=Kind.INSTALMENT,
        target_id=instalment.id,
        amount_minor=instalment.amount_minor,
        due=instalment.due_date,
        made_at=plan.created_at,
        made_day=earliest_local_day(plan.created_at, zones),
        plan_id=plan.id,
        sequence=instalment.sequence,
    )


def _payments(
    session: Session, account: CardAccount, since: dt.datetime, zones: Sequence[str]
) -> list[Paid]:
    """The account's posted payments that may count (a day's margin before the earliest
    arrangement: a bank posting is known by its day only), each with what is left free."""
    drawn = (
        select(PaymentAllocation.payment_id, func.sum(PaymentAllocation.amount_minor).label("sum"))
        .group_by(PaymentAllocation.payment_id)
        .subquery()
    )
    rows = session.execute(
        select(Payment, func.coalesce(drawn.c.sum, 0))
        .outerjoin(drawn, drawn.c.payment_id == Payment.id)
        .where(
            Payment.account_id == account.id,
            Payment.status == PaymentStatus.POSTED,
            Payment.currency == account.currency,
            or_(
                Payment.posted_at >= since - PAYMENT_MARGIN,
                Payment.posted_on >= (since - PAYMENT_MARGIN).date(),
            ),
        )
    ).all()
    paid = []
    for payment, already in rows:
        free = payment.amount_minor - int(already)
        if free <= 0:
            continue
        if payment.posted_on is not None:
            paid.append(Paid(payment.id, free, payment.posted_on))
        else:
            at = payment.posted_at or payment.created_at
            paid.append(Paid(payment.id, free, earliest_local_day(at, zones), at))
    return paid


def _store_draws(session: Session, verdict: Verdict, now: dt.datetime) -> None:
    for draw in verdict.draws:
        session.add(
            PaymentAllocation(
                payment_id=draw.payment_id,
                promise_id=draw.target_id if draw.kind is Kind.PROMISE else None,
                instalment_id=draw.target_id if draw.kind is Kind.INSTALMENT else None,
                amount_minor=draw.amount_minor,
                allocated_at=now,
            )
        )


def _draws_data(verdict: Verdict) -> list[list[int]]:
    return [[d.payment_id, d.amount_minor] for d in verdict.draws]


def _resolve_promise(
    session: Session,
    account: CardAccount,
    promise: PromiseToPay,
    verdict: Verdict,
    now: dt.datetime,
    report: LifecycleReport,
    actor: str,
) -> bool:
    """Store a promise kept or broken; True if broken."""
    kept = verdict.outcome is Outcome.KEPT
    promise.status = PromiseStatus.KEPT if kept else PromiseStatus.BROKEN
    promise.resolved_at = now
    attempt_id = (
        session.scalar(
            select(ContactAttempt.id).where(ContactAttempt.provider_call_sid == promise.call_sid)
        )
        if promise.call_sid
        else None
    )
    data: dict[str, Any] = {
        "promise_id": promise.id,
        "amount_minor": promise.amount_minor,
        "date": promise.promised_date.isoformat(),
        "paid_toward_minor": verdict.covered_minor,
        "call_sid": promise.call_sid,
        "attempt_id": attempt_id,
    }
    if kept:
        data["payments"] = _draws_data(verdict)
        report.promises_kept += 1
    else:
        report.promises_broken += 1
    _audit(session, account, actor, "promise.kept" if kept else "promise.broken", data, now)
    if promise.call_sid:
        # On the call it was made on, so the attempt's history says what became of it.
        contacts.record_call_event(
            session,
            call_sid=promise.call_sid,
            kind=KEPT_EVENT if kept else BROKEN_EVENT,
            sequence=f"promise:{promise.id}",
            payload={k: str(v) for k, v in data.items() if k != "payments"},
            now=now,
        )
    return not kept


def _resolve_instalment(
    session: Session,
    account: CardAccount,
    plan: RepaymentPlan,
    instalment: PlanInstalment,
    verdict: Verdict,
    now: dt.datetime,
    report: LifecycleReport,
    actor: str,
) -> None:
    paid = verdict.outcome is Outcome.KEPT
    instalment.status = InstalmentStatus.PAID if paid else InstalmentStatus.MISSED
    if paid:
        instalment.paid_at = now
        report.instalments_paid += 1
    else:
        report.instalments_missed += 1
    data: dict[str, Any] = {
        "plan_id": plan.id,
        "instalment_id": instalment.id,
        "sequence": instalment.sequence,
        "amount_minor": instalment.amount_minor,
        "due_date": instalment.due_date.isoformat(),
        "paid_toward_minor": verdict.covered_minor,
    }
    if paid:
        data["payments"] = _draws_data(verdict)
    _audit(session, account, actor, "instalment.paid" if paid else "instalment.missed", data, now)


def _close_plan(
    session: Session,
    account: CardAccount,
    plan: RepaymentPlan,
    now: dt.datetime,
    report: LifecycleReport,
    actor: str,
) -> bool:
    """A plan with a missed instalment is broken, one all paid completed; True if broken."""
    statuses = {i.status for i in plan.instalments}
    if InstalmentStatus.MISSED in statuses:
        plan.status = PlanStatus.BROKEN
        report.plans_broken += 1
        missed = [i.sequence for i in plan.instalments if i.status is InstalmentStatus.MISSED]
        _audit(session, account, actor, "plan.broken", {"plan_id": plan.id, "missed": missed}, now)
        return True
    if statuses == {InstalmentStatus.PAID}:
        plan.status = PlanStatus.COMPLETED
        report.plans_completed += 1
        _audit(session, account, actor, "plan.completed", {"plan_id": plan.id}, now)
    return False


def _repause(session: Session, account: CardAccount, today: dt.date) -> None:
    """After a break, reminders stay paused only as long as what is still being kept asks
    (a pending or kept promise's date, an active plan's last instalment): the account is
    back in its campaign otherwise."""
    session.flush()
    promised = session.scalar(
        select(func.max(PromiseToPay.promised_date)).where(
            PromiseToPay.account_id == account.id,
            PromiseToPay.status.in_((PromiseStatus.PENDING, PromiseStatus.KEPT)),
        )
    )
    planned = session.scalar(
        select(func.max(PlanInstalment.due_date))
        .join(RepaymentPlan, RepaymentPlan.id == PlanInstalment.plan_id)
        .where(RepaymentPlan.account_id == account.id, RepaymentPlan.status == PlanStatus.ACTIVE)
    )
    until = max((d for d in (promised, planned) if d is not None and d >= today), default=None)
    account.reminders_paused_until = until


def _audit(
    session: Session,
    account: CardAccount,
    actor: str,
    action: str,
    data: dict[str, Any],
    now: dt.datetime,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        entity_type="card_account",
        entity_id=account.account_number,
        data=data,
        now=now,
    )
