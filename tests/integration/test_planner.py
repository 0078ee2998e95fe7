"""The planning job on a real database: who gets a queued call, when, why, and only once."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from dialer.campaign_store import tier_settings
from dialer.planner import plan, refresh_tiers
from dialer.preview import preview
from hotline import arrangements
from hotline.enums import (
    AccountFlag,
    AttemptStatus,
    CampaignStatus,
    CaseKind,
    CaseStatus,
    Direction,
    PhoneType,
    Source,
)
from hotline.models import (
    AuditEvent,
    Campaign,
    CardAccount,
    Case,
    ContactAttempt,
    DelinquencyTier,
    IvrCall,
    Phone,
)
from hotline.origin import Origin
from tests.conftest import backend
from tests.integration.dialer_fixtures import (
    NOW,
    add_account,
    attempts,
    decision,
    load_campaigns,
    open_attempts,
    past_call,
)


def run_plan(Session, now=NOW):
    with Session.begin() as session:
        return plan(session, now)


def tier_code(Session, tier_id):
    with Session() as session:
        return session.get(DelinquencyTier, tier_id).code


def test_an_eligible_account_gets_one_planned_call_now_with_its_decision(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        account_id = add_account(session, "A1", dpd=45).id
    report = run_plan(Session)
    [attempt] = open_attempts(Session)
    assert report.planned == 1
    assert attempt.account_id == account_id
    assert attempt.number == "+14155550100" and attempt.phone_id is not None
    assert attempt.due_at == NOW and attempt.direction is Direction.OUTBOUND
    assert tier_code(Session, attempt.tier_id) == "mid"
    stored = decision(attempt)
    assert stored["allowed"] is True and stored["profile"] == "us-regf"
    assert stored["campaign"] == "us" and stored["tier"] == "mid"
    assert stored["explanation"] == "may be called now on +1******0100"
    assert stored["held_back"] is None
    # What the dialer reads for the call: the tier's settings, by campaign and tier.
    with Session() as session:
        settings = tier_settings(session, attempt.campaign_id, attempt.tier_id)
    assert settings is not None and settings.script == ("reminder_mid",)
    assert settings.offer_agent and settings.attempts_per_day == 2


def test_planning_again_creates_nothing_new(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        for i in range(5):
            add_account(session, f"A{i}", phones=((f"+1415555010{i}", PhoneType.HOME, False),))
    first = run_plan(Session)
    again = run_plan(Session)
    later = run_plan(Session, NOW + dt.timedelta(hours=1))
    assert first.planned == 5 and again.planned == 0 and later.planned == 0
    assert again.already_open == 5
    assert len(attempts(Session)) == 5


def test_the_database_refuses_a_second_open_campaign_attempt_for_an_account(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        add_account(session, "A1")
    run_plan(Session)
    [attempt] = open_attempts(Session)
    with pytest.raises(IntegrityError), Session.begin() as session:
        session.add(
            ContactAttempt(
                direction=Direction.OUTBOUND,
                account_id=attempt.account_id,
                number=attempt.number,
                campaign_id=attempt.campaign_id,
                status=AttemptStatus.DIALING,
            )
        )
    # A finished one, or a callback (no campaign), may sit beside it.
    with Session.begin() as session:
        for status, campaign in (
            (AttemptStatus.COMPLETED, attempt.campaign_id),
            (AttemptStatus.PLANNED, None),
        ):
            session.add(
                ContactAttempt(
                    direction=Direction.OUTBOUND,
                    account_id=attempt.account_id,
                    number=attempt.number,
                    campaign_id=campaign,
                    status=status,
                )
            )
    assert len(attempts(Session)) == 3


@pytest.mark.parametrize(
    "blocked",
    [
        "bankruptcy",
        "opted-out",
        "open-dispute",
        "no-consent",
        "nothing-due",
        "promise",
        "bad-number",
    ],
)
def test_a_blocked_account_gets_no_attempt(Session, blocked):
    load_campaigns(Session)
    with Session.begin() as session:
        account = add_account(
            session,
            "B1",
            flags=(AccountFlag.BANKRUPTCY,) if blocked == "bankruptcy" else (),
            phones=(("+14155550100", PhoneType.MOBILE, blocked != "no-consent"),),
            past_due=0 if blocked == "nothing-due" else 100_00,
        )
        phone = account.cardholder.phones[0]
        if blocked == "opted-out":
            phone.opted_out_at, phone.opted_out_source = NOW, Source.IVR
        if blocked == "bad-number":
            phone.bad_number = True
        if blocked == "open-dispute":
            session.add(
                Case(
                    account_id=account.id,
                    kind=CaseKind.DISPUTE,
                    status=CaseStatus.OPEN,
                    source=Source.IVR,
                )
            )
        if blocked == "promise":
            arrangements.save_promise(
                session,
                account,
                amount_minor=50_00,
                date=NOW.date() + dt.timedelta(days=5),
                origin=Origin(Source.IVR, "test"),
                now=NOW,
            )
    report = run_plan(Session)
    assert report.planned == 0
    assert open_attempts(Session) == []
    # The run's audit says why, in sum: this one account, under the reason it was held by.
    with Session() as session:
        data = json.loads(
            session.scalars(
                select(AuditEvent.data)
                .where(AuditEvent.action == "dialer.planned")
                .order_by(AuditEvent.seq.desc())
            ).first()
        )
    assert (data["considered"], data["planned"]) == (1, 0)
    assert data["not_queued"] == report.not_due and sum(report.not_due.values()) == 1


def test_an_account_that_pays_or_promises_leaves_the_campaign_at_once(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        paid = add_account(session, "P1").id
        promised = add_account(session, "P2", phones=(("+12125550101", PhoneType.HOME, False),)).id
    run_plan(Session)
    assert len(open_attempts(Session)) == 2
    with Session.begin() as session:
        session.execute(
            update(CardAccount)
            .where(CardAccount.id == paid)
            .values(past_due_minor=0, days_past_due=0)
        )
        arrangements.save_promise(
            session,
            session.get(CardAccount, promised),
            amount_minor=50_00,
            date=NOW.date() + dt.timedelta(days=3),
            origin=Origin(Source.AGENT, "test"),
            now=NOW,
        )
    report = run_plan(Session, NOW + dt.timedelta(minutes=5))
    assert report.cancelled == 2 and report.planned == 0
    cancelled = {
        a.account_id: a.disposition
        for a in attempts(Session, ContactAttempt.status == AttemptStatus.CANCELED)
    }
    assert cancelled == {paid: "left-campaign", promised: "not-due"}


def test_an_account_moves_to_its_new_tier_as_days_past_due_change(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        account_id = add_account(session, "T1", dpd=25).id
    run_plan(Session)
    [early] = open_attempts(Session)
    assert tier_code(Session, early.tier_id) == "early"
    with Session.begin() as session:
        session.execute(
            update(CardAccount).where(CardAccount.id == account_id).values(days_past_due=31)
        )
    report = run_plan(Session, NOW + dt.timedelta(minutes=1))
    assert report.tiers_changed == 1
    [mid] = open_attempts(Session)
    assert tier_code(Session, mid.tier_id) == "mid" and decision(mid)["tier"] == "mid"
    [old] = attempts(Session, ContactAttempt.status == AttemptStatus.CANCELED)
    assert old.id == early.id and old.disposition == "tier-changed"
    with Session() as session:
        assert session.get(CardAccount, account_id).tier_id == mid.tier_id


def test_a_paused_campaign_has_its_queued_calls_cancelled_and_queues_no_more(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        add_account(session, "C1")
    run_plan(Session)
    with Session.begin() as session:
        session.execute(update(Campaign).values(status=CampaignStatus.PAUSED))
    report = run_plan(Session, NOW + dt.timedelta(minutes=1))
    assert report.cancelled == 1 and report.planned == 0 and open_attempts(Session) == []


def test_before_the_window_opens_the_call_is_due_when_it_opens_in_every_zone(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        # A New York number at a California address: 08:00 in Los Angeles is 11:00 in NY.
        add_account(session, "W1", phones=(("+12125550100", PhoneType.HOME, False),))
    early_morning = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)  # 04:00 LA, 07:00 NY
    run_plan(Session, early_morning)
    [attempt] = open_attempts(Session)
    assert attempt.due_at == dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC)  # 08:00 LA
    held = decision(attempt)["held_back"]
    assert held["reason"] == "outside-window"
    assert held["explanation"] == (
        "outside the calling window; next eligible 2026-12-02 08:00 America/Los_Angeles"
    )


def test_the_hours_a_cardholder_asked_for_are_kept(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        account = add_account(session, "H1")
        phone = account.cardholder.phones[0]
        phone.allowed_hours_start, phone.allowed_hours_end = dt.time(18, 0), dt.time(20, 0)
        phone.allowed_hours_source, phone.allowed_hours_set_at = Source.AGENT, NOW
    run_plan(Session)
    [attempt] = open_attempts(Session)
    assert attempt.due_at == dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)  # 18:00 in LA
    assert decision(attempt)["held_back"]["reason"] == "outside-preferred-hours"


def test_the_database_refuses_allowed_hours_that_end_before_they_start(Session):
    with Session.begin() as session:
        phone_id = add_account(session, "H2").cardholder.phones[0].id
    with pytest.raises(IntegrityError), Session.begin() as session:
        session.execute(
            update(Phone)
            .where(Phone.id == phone_id)
            .values(allowed_hours_start=dt.time(20, 0), allowed_hours_end=dt.time(18, 0))
        )


@pytest.mark.parametrize(
    ("dpd", "due", "why"),
    [
        # early: one call a day, so tomorrow when the window opens (08:00 in Los Angeles)
        (10, dt.datetime(2026, 12, 3, 16, 0, tzinfo=dt.UTC), "1 call(s) a day already placed"),
        # mid: two a day, 3 h after no answer (09:00 + 3 h = 12:00 in Los Angeles)
        (45, dt.datetime(2026, 12, 2, 20, 0, tzinfo=dt.UTC), "retry delay after no-answer"),
    ],
)
def test_the_tier_s_attempts_per_day_and_retry_delay_push_the_next_call_back(
    Session, dpd, due, why
):
    load_campaigns(Session)
    with Session.begin() as session:
        account = add_account(session, "R1", dpd=dpd)
        campaign_id = session.scalar(select(Campaign.id))
        past_call(
            session,
            account,
            at=NOW - dt.timedelta(hours=1),
            status=AttemptStatus.NO_ANSWER,
            campaign_id=campaign_id,
        )
    run_plan(Session)
    [attempt] = open_attempts(Session)
    assert attempt.due_at == due
    assert decision(attempt)["campaign_reason"] == why


def test_a_conversation_pauses_calls_and_the_preview_says_until_when(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        account = add_account(session, "V1")
        session.add(
            IvrCall(
                call_sid="CA" + "0" * 32,
                from_number="+14155550100",
                account_id=account.id,
                step="ended",
                verified=True,
                started_at=NOW - dt.timedelta(days=1),
            )
        )
    report = run_plan(Session)
    assert report.planned == 0 and report.not_due == {"conversation-pause": 1}
    with Session() as session:
        [line] = preview(session, NOW.date(), NOW)
    assert not line.called
    assert (
        line.reason
        == "pause after a conversation; next eligible 2026-12-08 08:00 America/Los_Angeles"
    )


def test_the_7_in_7_cap_is_named_in_the_preview_with_the_next_eligible_time(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        account = add_account(
            session, "K1", region="IL", phones=(("+13125550100", PhoneType.HOME, False),)
        )
        for days in range(7):  # one unanswered call a day for the last 7 local days
            past_call(
                session,
                account,
                at=NOW - dt.timedelta(days=days, hours=2),
                status=AttemptStatus.NO_ANSWER,
                campaign_id=None,
            )
    with Session() as session:
        [line] = preview(session, NOW.date(), NOW)
    assert not line.called
    assert line.reason == "7-in-7 cap reached; next eligible 2026-12-03 08:00 America/Chicago"
    # Inside the planning horizon: queued for then, with the cap as what held it back.
    run_plan(Session)
    [attempt] = open_attempts(Session)
    assert attempt.due_at == dt.datetime(2026, 12, 3, 14, 0, tzinfo=dt.UTC)
    assert decision(attempt)["held_back"]["rule"] == "7-in-7 cap reached"


@pytest.mark.skipif(backend() != "postgresql", reason="SQLite serialises writers")
def test_two_planners_at_once_never_queue_two_open_calls_for_one_account(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        for i in range(300):
            add_account(session, f"Z{i:03d}", phones=((f"+1415555{i:04d}", PhoneType.HOME, False),))
    # Tiers set beforehand, so neither planner waits on the other's tier updates: both
    # read "no open attempt" and insert, and only the unique index stands between them.
    with Session.begin() as session:
        refresh_tiers(session)
    barrier = threading.Barrier(2)
    planned: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with Session.begin() as session:
                session.execute(select(func.count()).select_from(CardAccount))
                barrier.wait()
                planned.append(plan(session, NOW).planned)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(planned) == 300
    with Session() as session:
        per_account = session.execute(
            select(ContactAttempt.account_id, func.count())
            .where(ContactAttempt.status == AttemptStatus.PLANNED)
            .group_by(ContactAttempt.account_id)
        ).all()
    assert len(per_account) == 300 and {count for _, count in per_account} == {1}


def test_a_run_committed_batch_by_batch_queues_the_same_calls(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        for i in range(5):
            add_account(session, f"S{i}", phones=((f"+1415555020{i}", PhoneType.HOME, False),))
    commits = []
    with Session() as session:

        def commit() -> None:
            session.commit()
            commits.append(len(open_attempts(Session)))  # what others see by now

        report = plan(session, NOW, batch_size=2, after_batch=commit)
        session.commit()
    assert report.planned == 5 and len(open_attempts(Session)) == 5
    # After the tier refresh, then after each batch of two: visible as it goes.
    assert commits == [0, 2, 4, 5]


def test_every_call_planned_on_unchanged_facts_is_placed_at_its_slot(Session):
    """The planner and the dialer's re-check at the slot agree: with 0 to 6 calls in the
    last 7 days, each account's next call is queued now and placed (the re-check once
    counted the claim itself, and refused every 7th call as the 8th)."""
    from dialer.pacing import Limits
    from dialer.tick import tick
    from tests.dialer_support import StepClock, config, set_limits, worker
    from tests.fakes import FakeCallGateway

    load_campaigns(Session)
    with Session.begin() as session:
        for earlier in range(7):
            number = f"+1415555{earlier:04d}"
            account = add_account(
                session, f"R{earlier}", phones=((number, PhoneType.MOBILE, True),)
            )
            for k in range(earlier):
                past_call(
                    session,
                    account,
                    at=NOW - dt.timedelta(days=k + 1, hours=2),
                    status=AttemptStatus.NO_ANSWER,
                    campaign_id=None,
                    number=number,
                )
    assert run_plan(Session).planned == 7
    assert {a.due_at for a in open_attempts(Session)} == {NOW}
    set_limits(Session, Limits(1.0, 10), NOW)
    carrier = FakeCallGateway()
    clock = StepClock(NOW)
    carrier.now = clock.now
    report = tick(Session, carrier, clock, config(), worker())
    assert (report.placed, report.skipped) == (7, 0)
    assert sorted(r.to for r in carrier.placed) == [f"+1415555{i:04d}" for i in range(7)]


def test_the_planning_job_logs_under_its_own_name(Session, caplog):
    from dialer.tick import planning
    from tests.dialer_support import StepClock

    load_campaigns(Session)
    with Session.begin() as session:
        add_account(session, "L1")
    with caplog.at_level("INFO", logger="dialer"):
        planning(Session, StepClock(NOW))
    [line] = [r for r in caplog.records if r.getMessage().startswith("planned ")]
    assert line.name == "dialer.planner"
    assert line.getMessage() == (
        "planned 1 call(s) over 1 account(s) (0 known from the last run); 0 cancelled"
    )


@pytest.mark.parametrize("late_by", [dt.timedelta(days=8), dt.timedelta(days=12)])
def test_a_call_counts_for_the_caps_when_it_went_not_when_it_was_due(Session, late_by):
    """The dialer stores when the carrier took a call (placed_at), never started_at: a call
    due days before it went counted on its due day, outside the 7 days Reg F counts (8
    days late), or outside the history read, planned as if the cardholder had no
    contact at all (12 days late: the set path)."""
    load_campaigns(Session)
    with Session.begin() as session:
        account = add_account(session, "W1")
        for days in range(1, 7):  # six calls in the last seven days ...
            past_call(
                session,
                account,
                at=NOW - dt.timedelta(days=days, hours=2),
                status=AttemptStatus.NO_ANSWER,
                campaign_id=None,
            )
        past_call(  # ... and a seventh, due long before, placed an hour ago
            session,
            account,
            at=NOW - late_by,
            status=AttemptStatus.NO_ANSWER,
            campaign_id=None,
        )
        session.flush()
        late = session.scalars(
            select(ContactAttempt).where(ContactAttempt.due_at == NOW - late_by)
        ).one()
        late.started_at, late.placed_at = None, NOW - dt.timedelta(hours=1)
    with Session() as session:
        [line] = preview(session, NOW.date(), NOW)
    assert not line.called
    assert line.reason.startswith("7-in-7 cap reached; next eligible")
    run_plan(Session)
    assert all(a.due_at > NOW for a in open_attempts(Session))


def test_a_conversation_placed_late_pauses_calls_though_it_was_due_long_before(Session):
    """The set path (accounts with no recent contact, planned in SQL) reads a call's time
    as the caps do: a conversation an hour ago, on a call due twelve days before, is
    recent contact, and the pause after it holds."""
    load_campaigns(Session)
    with Session.begin() as session:
        account = add_account(session, "W2")
        past_call(
            session,
            account,
            at=NOW - dt.timedelta(days=12),
            status=AttemptStatus.COMPLETED,
            campaign_id=None,
            answered_by="human",
            disposition="right-party",
        )
        session.flush()
        [call] = session.scalars(select(ContactAttempt)).all()
        call.started_at, call.placed_at = None, NOW - dt.timedelta(hours=1)
        call.ended_at = NOW - dt.timedelta(minutes=55)
    run_plan(Session)
    assert open_attempts(Session) == []  # not within the planner's 24 hours
    with Session() as session:
        [line] = preview(session, NOW.date(), NOW)
    assert not line.called
    assert line.reason.startswith("pause after a conversation; next eligible 2026-12-09")


def test_a_call_still_ringing_is_read_as_live_and_an_ended_one_is_not(Session):
    from dialer.facts import load_cases
    from hotline.accounts import core

    with Session.begin() as session:
        account = add_account(session, "V1")
        for status in (AttemptStatus.RINGING, AttemptStatus.NO_ANSWER):
            past_call(
                session,
                account,
                at=NOW - dt.timedelta(minutes=5),
                status=status,
                campaign_id=None,
            )
        session.flush()
        [case] = load_cases(core(session), [account.id], NOW).cases
    assert sorted((a.live, a.outcome.value) for a in case.history) == [
        (False, "no-answer"),
        (True, "no-answer"),
    ]


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's planner, without statistics")
def test_a_batch_s_facts_are_found_by_account_never_by_reading_a_whole_history(Session):
    # The tables of the contact history grow every day: a statement that reads every text
    # sent (0015's status index chosen over the account's, 325 us against 20 us over 1,000
    # accounts and 30 days) costs more each day of a campaign.
    from sqlalchemy import event

    from dialer.facts import load_cases
    from hotline.accounts import core

    with Session.begin() as session:
        account = add_account(session, "Q1")
        past_call(
            session,
            account,
            at=NOW - dt.timedelta(hours=5),
            status=AttemptStatus.NO_ANSWER,
            campaign_id=None,
        )
        session.flush()
        connection = core(session)
        statements: list[tuple[str, tuple]] = []

        def keep(conn, cursor, statement, parameters, context, executemany):
            statements.append((statement, parameters))

        event.listen(connection, "before_cursor_execute", keep)
        try:
            load_cases(connection, [account.id], NOW)
        finally:
            event.remove(connection, "before_cursor_execute", keep)
        plans = {
            statement.split("FROM", 1)[1].split()[0]: [
                row[-1]
                for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            ]
            for statement, params in statements
        }
    assert {"card_account", "phone", "contact_attempt", "text_message", "ivr_call"} <= set(plans)
    for table, plan_rows in plans.items():
        own = [row for row in plan_rows if f" {table} " in f" {row} "]
        assert own and all(row.startswith("SEARCH") for row in own), (table, plan_rows)
    assert any("ix_text_message_account_status" in row for row in plans["text_message"])
