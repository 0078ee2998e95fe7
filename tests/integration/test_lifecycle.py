"""The lifecycle job on a real database: promises kept or broken, instalments paid or
missed, each payment counted once, audited; and the account back in its campaign."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import threading

import pytest
from sqlalchemy import func, select

from dialer.clock import SystemClock
from dialer.lifecycle import (
    BROKEN_EVENT,
    DEFAULT_ZONE,
    LifecycleReport,
    run_lifecycle,
    settle_account,
)
from dialer.planner import plan
from hotline import arrangements, audit, payments
from hotline.enums import (
    AttemptStatus,
    Direction,
    InstalmentStatus,
    PhoneType,
    PlanStatus,
    PromiseStatus,
    Source,
)
from hotline.models import (
    AuditEvent,
    CallEvent,
    CardAccount,
    ContactAttempt,
    Payment,
    PaymentAllocation,
    PlanInstalment,
    PromiseToPay,
    RepaymentPlan,
)
from hotline.origin import Origin
from hotline.payment_import import import_payments
from hotline.paymentrows import PAYMENT_COLUMNS
from tests.conftest import backend
from tests.integration.dialer_fixtures import (
    NOW,
    add_account,
    attempts,
    load_campaigns,
    open_attempts,
)

# NOW is Wednesday 2 December 2026, 10:00 in Los Angeles: the test accounts live in CA.
DAY = dt.timedelta(days=1)
AGENT = Origin(Source.AGENT, "test")
CALL_SID = "CA" + "1" * 32


def account(Session, number: str = "L1", **kwargs) -> int:
    with Session.begin() as session:
        return add_account(session, number, **kwargs).id


def promise(Session, account_id: int, amount: int, date: dt.date, *, origin=AGENT, now=NOW):
    with Session.begin() as session:
        reference = arrangements.save_promise(
            session,
            session.get_one(CardAccount, account_id),
            amount_minor=amount,
            date=date,
            origin=origin,
            now=now,
        )
    return int(reference[1:])


def plan_of(Session, account_id: int, count: int, instalment: int, start: dt.date) -> int:
    with Session.begin() as session:
        reference = arrangements.save_plan(
            session,
            session.get_one(CardAccount, account_id),
            count=count,
            instalment_minor=instalment,
            start=start,
            origin=AGENT,
            now=NOW,
        )
    return int(reference[1:])


def pay(Session, account_id: int, amount: int, at: dt.datetime, key: str, source=Source.IVR):
    with Session.begin() as session:
        assert payments.post_card_payment(
            session,
            session.get_one(CardAccount, account_id),
            amount_minor=amount,
            key=key,
            confirmation=key,
            brand=None,
            masked=None,
            origin=Origin(source, "test"),
            now=at,
        )


def bank_file(Session, *lines: str, now: dt.datetime) -> None:
    text = "\n".join([",".join(PAYMENT_COLUMNS), *lines]) + "\n"
    with Session.begin() as session:
        report = import_payments(
            session, io.StringIO(text, newline=""), now=now, actor="test", source={}
        )
    assert report.posted == len(lines), report.rejected


def get(Session, model, id_):
    with Session() as session:
        return session.get_one(model, id_)


def actions(Session) -> list[str]:
    with Session() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def allocations(Session) -> list[tuple[int, int | None, int | None, int]]:
    with Session() as session:
        return [
            (a.payment_id, a.promise_id, a.instalment_id, a.amount_minor)
            for a in session.scalars(select(PaymentAllocation).order_by(PaymentAllocation.id))
        ]


def test_a_promise_paid_by_card_and_at_the_bank_by_its_date_is_kept_once(Session):
    account_id = account(Session)
    promise_id = promise(Session, account_id, 80_00, NOW.date() + 3 * DAY)
    pay(Session, account_id, 30_00, NOW + dt.timedelta(hours=2), "ivr:1")
    bank_file(Session, "L1,50.00,USD,2026-12-04,B-1", now=NOW + 2 * DAY)
    report = run_lifecycle(Session, NOW + 2 * DAY)
    assert (report.accounts, report.promises_kept, report.promises_broken) == (1, 1, 0)
    kept = get(Session, PromiseToPay, promise_id)
    assert kept.status is PromiseStatus.KEPT and kept.resolved_at == NOW + 2 * DAY
    assert [(p, a) for p, _, _, a in allocations(Session)] == [(1, 30_00), (2, 50_00)]
    assert actions(Session).count("promise.kept") == 1
    again = run_lifecycle(Session, NOW + 3 * DAY)
    assert again.accounts == 0 and len(allocations(Session)) == 2
    with Session() as session:
        assert audit.verify_chain(session).ok


def test_a_payment_before_the_promise_or_after_its_date_does_not_keep_it(Session):
    account_id = account(Session)
    pay(Session, account_id, 80_00, NOW - dt.timedelta(hours=1), "ivr:before")
    promise_id = promise(Session, account_id, 80_00, NOW.date() + DAY)
    pay(Session, account_id, 80_00, NOW + 2 * DAY, "ivr:late")
    # Thursday 3 December has not ended in Los Angeles at 07:59 UTC on the 4th.
    assert run_lifecycle(Session, dt.datetime(2026, 12, 4, 7, 59, tzinfo=dt.UTC)).accounts == 1
    assert get(Session, PromiseToPay, promise_id).status is PromiseStatus.PENDING
    report = run_lifecycle(Session, dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC))
    assert report.promises_broken == 1
    broken = get(Session, PromiseToPay, promise_id)
    assert broken.status is PromiseStatus.BROKEN and broken.resolved_at is not None
    assert allocations(Session) == []
    with Session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "promise.broken")
        ).one()
    assert json.loads(event.data)["paid_toward_minor"] == 0


def test_a_promise_broken_on_a_call_shows_on_that_calls_attempt(Session):
    account_id = account(Session)
    with Session.begin() as session:
        session.add(
            ContactAttempt(
                direction=Direction.OUTBOUND,
                account_id=account_id,
                number="+14155550100",
                provider_call_sid=CALL_SID,
                status=AttemptStatus.COMPLETED,
                disposition="promise",
                started_at=NOW,
            )
        )
    promise_id = promise(
        Session, account_id, 50_00, NOW.date() + DAY, origin=Origin.dialer(CALL_SID)
    )
    run_lifecycle(Session, NOW + 3 * DAY)
    run_lifecycle(Session, NOW + 4 * DAY)  # once only
    [attempt] = attempts(Session)
    with Session() as session:
        [event] = session.scalars(select(CallEvent).where(CallEvent.kind == BROKEN_EVENT))
    assert event.attempt_id == attempt.id and event.call_sid == CALL_SID
    payload = json.loads(event.payload)
    assert payload["promise_id"] == str(promise_id) and payload["amount_minor"] == "5000"


def test_a_plan_is_paid_instalment_by_instalment_and_completed(Session):
    account_id = account(Session)
    with Session.begin() as session:
        session.get_one(CardAccount, account_id).balance_minor = 300_00
    plan_id = plan_of(Session, account_id, 3, 100_00, NOW.date() + 10 * DAY)
    pay(Session, account_id, 150_00, NOW + DAY, "ivr:a")  # the first and half the second
    report = run_lifecycle(Session, NOW + 2 * DAY)
    assert (report.instalments_paid, report.instalments_missed) == (1, 0)
    pay(Session, account_id, 150_00, NOW + 20 * DAY, "ivr:b")
    report = run_lifecycle(Session, NOW + 20 * DAY)
    assert report.instalments_paid == 2 and report.plans_completed == 1
    with Session() as session:
        statuses = session.scalars(
            select(PlanInstalment.status).where(PlanInstalment.plan_id == plan_id)
        ).all()
        assert statuses == [InstalmentStatus.PAID] * 3
        assert session.get_one(RepaymentPlan, plan_id).status is PlanStatus.COMPLETED
    # 150 + 150 = 300 drawn over three instalments, the first payment split in two.
    drawn = [(p, a) for p, _, _, a in allocations(Session)]
    assert drawn == [(1, 100_00), (1, 50_00), (2, 50_00), (2, 100_00)]


def test_one_payment_counts_toward_a_promise_or_an_instalment_never_both(Session):
    account_id = account(Session)
    promise_id = promise(Session, account_id, 100_00, NOW.date() + 3 * DAY)
    plan_id = plan_of(Session, account_id, 10, 100_00, NOW.date() + 4 * DAY)
    pay(Session, account_id, 100_00, NOW + DAY, "ivr:once")
    report = run_lifecycle(Session, NOW + 6 * DAY)
    assert report.promises_kept == 1 and report.instalments_missed == 1
    assert report.plans_broken == 1
    assert get(Session, PromiseToPay, promise_id).status is PromiseStatus.KEPT
    assert get(Session, RepaymentPlan, plan_id).status is PlanStatus.BROKEN
    with Session() as session:
        total = session.scalar(select(func.sum(PaymentAllocation.amount_minor)))
    assert total == 100_00


def test_a_missed_instalment_ends_the_pause_and_the_planner_queues_the_account_again(Session):
    load_campaigns(Session)
    account_id = account(Session, dpd=45)
    plan_of(Session, account_id, 3, 100_00, NOW.date() + DAY)
    with Session.begin() as session:
        first = plan(session, NOW)
    assert first.planned == 0 and first.not_due == {"reminders-paused": 1}
    later = NOW + 3 * DAY  # the first instalment was due yesterday, unpaid
    with Session.begin() as session:
        assert plan(session, later).planned == 0  # still paused for the plan's months
    report = run_lifecycle(Session, later)
    assert report.instalments_missed == 1 and report.plans_broken == 1
    assert get(Session, CardAccount, account_id).reminders_paused_until is None
    with Session.begin() as session:
        assert plan(session, later).planned == 1
    [queued] = open_attempts(Session)
    assert queued.account_id == account_id


def test_promise_made_planner_skips_date_passes_lifecycle_breaks_planner_queues(Session):
    """The round trip: out of the campaign while the promise is kept, back once broken."""
    load_campaigns(Session)
    account_id = account(Session, dpd=45)
    with Session.begin() as session:
        assert plan(session, NOW).planned == 1
    # The cardholder promises (through an agent, say): the queued call is dropped.
    promise_id = promise(Session, account_id, 60_00, NOW.date() + 2 * DAY)
    with Session.begin() as session:
        skipped = plan(session, NOW + dt.timedelta(minutes=5))
    assert skipped.planned == 0 and skipped.not_due == {"reminders-paused": 1}
    assert open_attempts(Session) == []
    # Friday 4 December passes unpaid in Los Angeles.
    after = dt.datetime(2026, 12, 5, 17, 0, tzinfo=dt.UTC)
    assert run_lifecycle(Session, after).promises_broken == 1
    assert get(Session, PromiseToPay, promise_id).status is PromiseStatus.BROKEN
    with Session.begin() as session:
        assert plan(session, after).planned == 1
    [queued] = open_attempts(Session)
    assert queued.account_id == account_id and queued.due_at >= after


def test_a_promise_kept_keeps_the_account_out_and_paying_up_cancels_its_call_at_once(Session):
    load_campaigns(Session)
    account_id = account(Session, dpd=45, past_due=60_00)
    with Session.begin() as session:
        assert plan(session, NOW).planned == 1
    pay(Session, account_id, 60_00, NOW + dt.timedelta(minutes=1), "ivr:all")
    [cancelled] = attempts(Session, ContactAttempt.status == AttemptStatus.CANCELED)
    assert cancelled.disposition == "not-due"
    with Session.begin() as session:
        report = plan(session, NOW + dt.timedelta(minutes=2))
    assert report.planned == 0 and report.not_due == {"nothing-due": 1}


@pytest.mark.skipif(backend() != "postgresql", reason="SQLite serialises writers")
def test_lifecycle_runs_at_once_settle_each_promise_once(Session):
    ids = [
        account(Session, f"C{i}", phones=((f"+1415555{i:04d}", PhoneType.MOBILE, True),))
        for i in range(12)
    ]
    for i, account_id in enumerate(ids):
        promise(Session, account_id, 10_00, NOW.date() + DAY)
        if i % 2:
            pay(Session, account_id, 10_00, NOW + dt.timedelta(hours=1), f"ivr:c{i}")
    barrier = threading.Barrier(4)
    reports, errors = [], []

    def one() -> None:
        try:
            barrier.wait()
            reports.append(run_lifecycle(Session, NOW + 3 * DAY))
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.promises_kept for r in reports) == 6
    assert sum(r.promises_broken for r in reports) == 6
    done = actions(Session)
    assert done.count("promise.kept") == 6 and done.count("promise.broken") == 6
    assert len(allocations(Session)) == 6
    with Session() as session:
        assert audit.verify_chain(session).ok


def test_a_reconciled_payment_from_a_reminder_call_is_the_dialers(Session):
    account_id = account(Session)
    with Session.begin() as session:
        session.add(
            ContactAttempt(
                direction=Direction.OUTBOUND,
                account_id=account_id,
                number="+14155550100",
                provider_call_sid=CALL_SID,
                status=AttemptStatus.IN_PROGRESS,
            )
        )
    result = payments.CardResult(
        call_sid=CALL_SID,
        pay_token="1",
        account_id=account_id,
        amount_minor=25_00,
        result="success",
        confirmation="CONF1",
        brand="visa",
        masked="xxxx-4242",
    )
    with Session.begin() as session:
        payments.keep_result(session, result, now=NOW)
    with Session.begin() as session:
        assert payments.reconcile(session, since=NOW - DAY, now=NOW) == (1, 0)
    with Session() as session:
        [payment] = session.scalars(select(Payment))
    assert payment.source is Source.DIALER and payment.call_sid == CALL_SID


@pytest.mark.parametrize("plan_every", [300, 0])
def test_the_dialer_runs_the_lifecycle_daily_and_at_start_whatever_its_planning(
    Session, plan_every
):
    import dataclasses
    from types import SimpleNamespace

    from dialer.process import LIFECYCLE_JOB_ID, PLANNING_JOB_ID, planning_and_lifecycle_jobs
    from hotline.settings import Settings

    account_id = account(Session)
    promise_id = promise(Session, account_id, 10_00, dt.date(2020, 1, 1), now=NOW - 3000 * DAY)
    settings = dataclasses.replace(
        Settings(), dialer_plan_every_s=plan_every, default_timezone="UTC"
    )
    runtime = SimpleNamespace(settings=settings, Session=Session, gateway=None)
    jobs = {job.job_id: job for job in planning_and_lifecycle_jobs(runtime, SystemClock())}
    assert (PLANNING_JOB_ID in jobs) == (plan_every != 0)
    assert jobs[LIFECYCLE_JOB_ID].every == DAY
    jobs[LIFECYCLE_JOB_ID].func()
    assert get(Session, PromiseToPay, promise_id).status is PromiseStatus.BROKEN


def test_an_active_plan_with_nothing_left_due_is_completed(Session):
    account_id = account(Session)
    plan_id = plan_of(Session, account_id, 3, 100_00, NOW.date() + DAY)
    with Session.begin() as session:
        for instalment in session.get_one(RepaymentPlan, plan_id).instalments:
            instalment.status = InstalmentStatus.PAID
    assert run_lifecycle(Session, NOW).plans_completed == 1
    assert get(Session, RepaymentPlan, plan_id).status is PlanStatus.COMPLETED


# Los Angeles, New York, Honolulu (the latest date to turn) and Beijing (ahead of UTC).
PLACES = (
    ("US", "CA", "+1415555{:04d}"),
    ("US", "NY", "+1212555{:04d}"),
    ("US", "HI", "+1808555{:04d}"),
    ("CN", "BJ", "+86138{:08d}"),
)


def test_the_accounts_a_run_leaves_alone_are_ones_the_rules_would_leave_open(Session):
    """A run settles only the accounts that may move (accounts_to_settle). Settling every
    account with an open arrangement after it, as each run did before, must find nothing
    more to move: seeded promises, plans, card payments and bank-file postings over
    cardholders in four zones (PLACES), at five hours a day for ten days."""
    rng = random.Random(11)
    events: list[tuple[dt.datetime, int, int, bool]] = []  # (at, account, amount, from file)
    for n in range(48):
        country, region, phone = PLACES[n % len(PLACES)]
        account_id = account(
            Session,
            f"R{n}",
            country=country,
            region=region,
            phones=((phone.format(n), PhoneType.MOBILE, True),),
        )
        owed = rng.randint(1, 8) * 10_00
        if rng.random() < 0.6:
            promise(Session, account_id, owed, NOW.date() + rng.randint(0, 6) * DAY)
        else:
            plan_of(Session, account_id, 2, owed, NOW.date() + rng.randint(0, 5) * DAY)
        # Enough to keep it about half the time, or a part; some before it was made.
        amounts = [owed] if rng.random() < 0.5 else []
        amounts += [rng.randint(1, 6) * 10_00 for _ in range(rng.randint(0, 2))]
        for amount in amounts:
            at = NOW + dt.timedelta(hours=rng.randint(-2 * 24, 8 * 24))
            events.append((at, account_id, amount, rng.random() < 0.3))
    events.sort()
    moved = LifecycleReport()
    posted = 0
    for day in range(10):
        for hours in (0, 5, 9, 14, 20):
            now = NOW + day * DAY + dt.timedelta(hours=hours)
            while posted < len(events) and events[posted][0] <= now:
                at, account_id, amount, from_file = events[posted]
                if from_file:
                    number = get(Session, CardAccount, account_id).account_number
                    line = f"{number},{amount / 100:.2f},USD,{at.date().isoformat()},F-{posted}"
                    bank_file(Session, line, now=at)
                else:
                    pay(Session, account_id, amount, at, f"card-{posted}")
                posted += 1
            report = run_lifecycle(Session, now)
            for name in (
                "promises_kept",
                "promises_broken",
                "instalments_paid",
                "instalments_missed",
            ):
                setattr(moved, name, getattr(moved, name) + getattr(report, name))
            every = LifecycleReport()
            with Session() as session:
                for account_id in _every_open_account(session):
                    settle_account(session, account_id, now, DEFAULT_ZONE, every)
                session.rollback()
            assert (
                every.promises_kept,
                every.promises_broken,
                every.instalments_paid,
                every.instalments_missed,
                every.plans_completed,
                every.plans_broken,
            ) == (0, 0, 0, 0, 0, 0), (now, vars(every))
    # Not vacuous: the runs did move arrangements of every kind.
    assert (
        min(
            moved.promises_kept,
            moved.promises_broken,
            moved.instalments_paid,
            moved.instalments_missed,
        )
        > 0
    ), vars(moved)


def _every_open_account(session) -> list[int]:
    promised = select(PromiseToPay.account_id).where(PromiseToPay.status == PromiseStatus.PENDING)
    planned = select(RepaymentPlan.account_id).where(RepaymentPlan.status == PlanStatus.ACTIVE)
    return sorted(set(session.scalars(promised)) | set(session.scalars(planned)))


def test_a_run_given_the_moment_in_another_offset_settles_as_in_utc(Session):
    """The moment counts, not the offset it is written in: 06:30 on the 10th at UTC-10 is
    16:30 UTC, 00:30 on the 11th in Beijing, so a Beijing promise of the 10th is broken
    (read on the offset's own clock, the bound on dates was ten hours short)."""
    holder_phone = (("+8613800000001", PhoneType.MOBILE, True),)
    account_id = account(Session, "K1", country="CN", region="BJ", phones=holder_phone)
    promise(Session, account_id, 50_00, dt.date(2026, 12, 10))
    moment = dt.datetime(2026, 12, 10, 6, 30, tzinfo=dt.timezone(dt.timedelta(hours=-10)))
    report = run_lifecycle(Session, moment)
    assert (report.accounts, report.promises_broken) == (1, 1)
