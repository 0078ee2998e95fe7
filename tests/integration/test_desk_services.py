"""The desk's services on a real database: the queue and its accept race, the account's
screen, and every action an agent takes (each audited, each refusal its own error)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from desk import actions, queue
from desk.account_view import NotFound, account_view
from desk.queue import Agent
from dialer import claims, planner, recheck
from dialer.callbacks import schedule
from dialer.pacing import Limits as Pacing
from hotline import audit, queueing
from hotline.enums import AccountFlag, AttemptStatus, CaseStatus, Direction, PromiseStatus
from hotline.models import (
    AuditEvent,
    CardAccount,
    ContactAttempt,
    FeeWaiver,
    Phone,
    PromiseToPay,
    QueueEntry,
)
from hotline.rules import Limits
from tests.conftest import backend
from tests.fakes import FakeCallGateway
from tests.integration.dialer_fixtures import NOW, add_account, load_campaigns

AMY = Agent(user_id=1, username="amy", phone="+14155550299", waiver_limit_minor=25_00)
BOB = Agent(user_id=2, username="bob", phone="+14155550298", waiver_limit_minor=25_00)
SUE = Agent(user_id=3, username="sue", role="supervisor", waiver_limit_minor=500_00)
TODAY = NOW.date()


def account_id(Session, number="A1", **kwargs) -> int:
    with Session.begin() as session:
        return add_account(session, number, **kwargs).id


def actions_logged(Session) -> list[str]:
    with Session() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def enqueue(Session, sid="CA" + "1" * 32, account=None, now=NOW, **kwargs):
    values = {
        "line": "ivr",
        "number": "+14155550100",
        "language": "en",
        "verified": True,
        "intent": "balance",
        "path": ["language", "verify", "menu", "queued"],
        "case_id": None,
    }
    values.update(kwargs)
    with Session.begin() as session:
        queueing.enqueue(session, call_sid=sid, account_id=account, now=now, **values)


# --- the queue ------------------------------------------------------------------------------


def test_a_queued_caller_is_listed_with_path_intent_case_and_wait(Session):
    account = account_id(Session)
    with Session.begin() as session:
        actions.open_case(
            session,
            AMY,
            session.get(CardAccount, account),
            kind="hardship",
            summary="lost job",
            call_sid=None,
            now=NOW,
        )
    enqueue(Session, account=account, now=NOW - dt.timedelta(seconds=50))
    with Session() as session:
        [row] = queue.waiting(session, NOW)
    assert row.account_number == "A1" and row.name == "Test Holder" and row.verified
    assert row.path == ("language", "verify", "menu", "queued") and row.intent == "balance"
    assert row.open_case is not None and row.open_case[1] == "hardship"
    assert row.wait_seconds == 50 and row.number.endswith("0100") and "555" not in row.number


def test_a_caller_who_left_or_went_quiet_is_not_listed(Session):
    enqueue(Session, sid="CA" + "1" * 32)
    enqueue(Session, sid="CA" + "2" * 32)
    with Session.begin() as session:
        assert queueing.left(session, "CA" + "1" * 32, "hangup", NOW)
    with Session() as session:
        assert [w.entry_id for w in queue.waiting(session, NOW)] != []
        later = NOW + queue.STALE_AFTER + dt.timedelta(seconds=1)
        assert queue.waiting(session, later) == []
    with Session.begin() as session:  # a wait request keeps it fresh
        assert queueing.seen(session, "CA" + "2" * 32, NOW + queue.STALE_AFTER)
    with Session() as session:
        assert len(queue.waiting(session, NOW + queue.STALE_AFTER)) == 1


def test_the_queue_shows_an_agency_only_its_own_callers(Session):
    mine, theirs = account_id(Session, "A1"), account_id(Session, "A2")
    enqueue(Session, sid="CA" + "1" * 32, account=mine)
    enqueue(Session, sid="CA" + "2" * 32, account=theirs)
    enqueue(Session, sid="CA" + "3" * 32, account=None)
    scope = CardAccount.id.in_([mine])
    with Session() as session:
        assert [w.account_id for w in queue.waiting(session, NOW, scope=scope)] == [mine]
        assert len(queue.waiting(session, NOW)) == 3
        entry = session.scalars(select(QueueEntry).where(QueueEntry.account_id == theirs)).one()
    with Session.begin() as session, pytest.raises(queue.OutOfScope):
        queue.take(session, entry.id, AMY, NOW, scope=scope)


def test_accepting_redirects_the_call_to_the_bridge_and_a_second_agent_is_told_it_is_taken(
    Session,
):
    enqueue(Session, account=account_id(Session))
    gateway = FakeCallGateway()
    with Session() as session:
        [row] = queue.waiting(session, NOW)

    def accept(agent):
        return queue.accept_call(
            Session,
            gateway,
            row.entry_id,
            agent,
            bridge_url=lambda entry: f"https://line.example/ivr/agent/bridge?entry={entry}",
            clock=lambda: NOW,
        )

    accepted = accept(AMY)
    assert [(r.sid, r.url) for r in gateway.redirects] == [
        (accepted.call_sid, f"https://line.example/ivr/agent/bridge?entry={row.entry_id}")
    ]
    with pytest.raises(queue.AlreadyTaken):
        accept(BOB)
    with Session() as session:
        entry = session.get(QueueEntry, row.entry_id)
        assert (entry.status, entry.accepted_by, entry.agent_number) == (
            "accepted",
            "amy",
            AMY.phone,
        )
        assert queue.waiting(session, NOW) == []
    assert actions_logged(Session)[-1] == "call.accepted"


def test_an_agent_without_a_phone_cannot_accept_and_a_refused_redirect_gives_the_caller_back(
    Session,
):
    enqueue(Session)
    gateway = FakeCallGateway()
    with Session() as session:
        [row] = queue.waiting(session, NOW)
    kwargs = {"bridge_url": lambda entry: "https://x/bridge", "clock": lambda: NOW}
    with pytest.raises(queue.NoAgentPhone):
        queue.accept_call(Session, gateway, row.entry_id, Agent(9, "nophone"), **kwargs)
    from telephony.gateway import GatewayError

    gateway.fail("redirect", GatewayError("busy", code=20429, status=429))
    with pytest.raises(queue.CarrierRefused):
        queue.accept_call(Session, gateway, row.entry_id, AMY, **kwargs)
    with Session() as session:
        assert [w.entry_id for w in queue.waiting(session, NOW)] == [row.entry_id]
    gateway.fail("redirect", GatewayError("gone", code=21220, status=400))
    with pytest.raises(queue.CallerGone):
        queue.accept_call(Session, gateway, row.entry_id, AMY, **kwargs)
    with Session() as session:
        assert session.get(QueueEntry, row.entry_id).status == "left"


@pytest.mark.skipif(backend() != "postgresql", reason="concurrent writers need PostgreSQL")
def test_two_agents_accepting_the_same_caller_at_once_exactly_one_wins(Session):
    enqueue(Session, account=account_id(Session))
    with Session() as session:
        [row] = queue.waiting(session, NOW)
    gateway = FakeCallGateway()
    agents = [Agent(i, f"agent{i}", phone=f"+1415555{i:04d}") for i in range(1, 9)]
    barrier = threading.Barrier(len(agents))
    won, taken, failed = [], [], []

    def accept(agent):
        barrier.wait()
        try:
            queue.accept_call(
                Session,
                gateway,
                row.entry_id,
                agent,
                bridge_url=lambda entry: f"https://x/bridge?entry={entry}",
                clock=lambda: NOW,
            )
            won.append(agent.username)
        except queue.AlreadyTaken:
            taken.append(agent.username)
        except Exception as exc:  # anything else is a failure of the test
            failed.append(exc)

    threads = [threading.Thread(target=accept, args=(a,)) for a in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failed == [] and len(won) == 1 and len(taken) == len(agents) - 1
    assert len(gateway.redirects) == 1
    with Session() as session:
        assert session.get(QueueEntry, row.entry_id).accepted_by == won[0]
        assert audit.verify_chain(session).ok


# --- the account's screen ---------------------------------------------------------------------


def test_the_account_screen_has_fifty_contacts_newest_first_and_404s_out_of_scope(Session):
    account = account_id(Session)
    other = account_id(Session, "A2", phones=(("+14155550111", "home", True),))
    with Session.begin() as session:
        for i in range(60):
            session.add(
                ContactAttempt(
                    direction=Direction.OUTBOUND,
                    account_id=account,
                    number="+14155550100",
                    status=AttemptStatus.COMPLETED,
                    started_at=NOW - dt.timedelta(hours=i),
                    created_at=NOW - dt.timedelta(hours=i),
                    disposition="right-party",
                    said="Hello.\nThis is Example Bank." if i == 0 else None,
                )
            )
    with Session() as session:
        view = account_view(session, account)
        assert len(view.contacts) == 50
        assert view.contacts[0].at == NOW and view.contacts[0].said == (
            "Hello.",
            "This is Example Bank.",
        )
        assert view.account.account_number == "A1" and view.phones[0].e164 == "+14155550100"
        with pytest.raises(NotFound):
            account_view(session, other, scope=CardAccount.id.in_([account]))
        with pytest.raises(NotFound):
            account_view(session, 999_999)


def test_a_dialled_call_is_shown_at_the_moment_it_went_not_when_it_was_due(Session):
    account = account_id(Session)
    with Session.begin() as session:
        session.add(
            ContactAttempt(
                direction=Direction.OUTBOUND,
                account_id=account,
                number="+14155550100",
                status=AttemptStatus.NO_ANSWER,
                due_at=NOW - dt.timedelta(days=2),  # queued, then held back two days
                placed_at=NOW - dt.timedelta(minutes=5),
                created_at=NOW - dt.timedelta(days=2),
            )
        )
    with Session() as session:
        [call] = account_view(session, account).contacts
    assert call.at == NOW - dt.timedelta(minutes=5)


# --- actions ----------------------------------------------------------------------------------


def act(Session, account, do):
    with Session.begin() as session:
        return do(session, session.get(CardAccount, account))


def test_a_disposition_and_note_are_kept_with_the_call_and_audited(Session):
    account = account_id(Session)
    with Session.begin() as session:
        session.add(
            ContactAttempt(
                direction=Direction.INBOUND,
                number="+14155550100",
                status=AttemptStatus.IN_PROGRESS,
                provider_call_sid="CA" + "5" * 32,
            )
        )
    note = act(
        Session,
        account,
        lambda s, a: actions.record_disposition(
            s,
            AMY,
            a,
            disposition="promise",
            note=" will pay Friday ",
            call_sid="CA" + "5" * 32,
            now=NOW,
        ),
    )
    assert note.body == "will pay Friday" and note.attempt_id is not None
    with Session() as session:
        attempt = session.get(ContactAttempt, note.attempt_id)
        assert attempt.disposition == "promise" and attempt.account_id == account
    assert actions_logged(Session)[-1] == "desk.disposition"
    with pytest.raises(actions.UnknownDisposition):
        act(
            Session,
            account,
            lambda s, a: actions.record_disposition(
                s, AMY, a, disposition="nonsense", note="", call_sid=None, now=NOW
            ),
        )
    with pytest.raises(actions.NoteTooLong):
        act(
            Session,
            account,
            lambda s, a: actions.record_disposition(
                s, AMY, a, disposition="other", note="x" * 2001, call_sid=None, now=NOW
            ),
        )


def test_a_promise_within_the_window_is_saved_as_the_agents_and_others_are_refused(Session):
    account = account_id(Session)
    limits = Limits()

    def promise(amount, date):
        return act(
            Session,
            account,
            lambda s, a: actions.promise(
                s,
                AMY,
                a,
                amount_minor=amount,
                date=date,
                today=TODAY,
                limits=limits,
                call_sid=None,
                now=NOW,
            ),
        )

    reference = promise(100_00, TODAY + dt.timedelta(days=7))
    assert reference.startswith("P")
    with Session() as session:
        row = session.scalars(select(PromiseToPay)).one()
        assert (row.source, row.status, row.amount_minor) == (
            "agent",
            PromiseStatus.PENDING,
            100_00,
        )
        account_row = session.get(CardAccount, account)
        assert account_row.reminders_paused_until == TODAY + dt.timedelta(days=7)
    logged = actions_logged(Session)
    assert logged[-1] == "promise.created"
    with Session() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event.actor == "desk:amy"
    with pytest.raises(actions.BadAmount):
        promise(2000_00, TODAY)
    with pytest.raises(actions.DateOutsideWindow):
        promise(100_00, TODAY + dt.timedelta(days=31))
    with pytest.raises(actions.DateOutsideWindow):
        promise(100_00, TODAY - dt.timedelta(days=1))


def test_a_plan_is_saved_once_and_a_second_is_refused_while_it_runs(Session):
    account = account_id(Session)

    def plan(count):
        return act(
            Session,
            account,
            lambda s, a: actions.plan(
                s,
                AMY,
                a,
                count=count,
                start=TODAY + dt.timedelta(days=3),
                today=TODAY,
                limits=Limits(),
                call_sid=None,
                now=NOW,
            ),
        )

    with pytest.raises(actions.PlanNotOffered):
        plan(1)
    assert plan(4).startswith("L")
    with pytest.raises(actions.PlanRunning):
        plan(6)
    with Session() as session:
        [p] = account_view(session, account).plans
        assert len(p.instalments) == 4 and sum(i.amount_minor for i in p.instalments) == 1000_00


def test_a_waiver_within_the_limit_applies_and_one_above_waits_for_a_supervisor(Session):
    account = account_id(Session)

    def waive(agent, amount, reason="late fee charged in error"):
        return act(
            Session,
            account,
            lambda s, a: actions.request_waiver(
                s, agent, a, amount_minor=amount, reason=reason, call_sid=None, now=NOW
            ),
        )

    small = waive(AMY, 25_00)
    assert small.status == "applied"
    with Session() as session:
        row = session.get(CardAccount, account)
        assert (row.balance_minor, row.past_due_minor) == (975_00, 75_00)
    big = waive(AMY, 40_00)
    assert big.status == "pending"
    with Session() as session:
        assert session.get(CardAccount, account).balance_minor == 975_00
        assert [w.id for w, _ in actions.pending_waivers(session)] == [big.id]
    with pytest.raises(actions.ReasonRequired):
        waive(AMY, 10_00, reason="  ")
    with pytest.raises(actions.BadAmount):
        waive(AMY, 0)
    with Session.begin() as session, pytest.raises(actions.NotSupervisor):
        actions.decide_waiver(session, BOB, big.id, approve=True, note="", now=NOW)
    with Session.begin() as session:
        actions.decide_waiver(session, SUE, big.id, approve=True, note="ok", now=NOW)
    with Session() as session:
        assert session.get(FeeWaiver, big.id).status == "applied"
        assert session.get(FeeWaiver, big.id).decided_by == "sue"
        assert session.get(CardAccount, account).balance_minor == 935_00
        assert actions.pending_waivers(session) == []
    with Session.begin() as session, pytest.raises(actions.WaiverNotPending):
        actions.decide_waiver(session, SUE, big.id, approve=False, note="", now=NOW)
    logged = actions_logged(Session)
    assert logged.count("fee-waiver.applied") == 2 and "fee-waiver.approved" in logged
    own = waive(SUE.__class__(3, "sue", role="supervisor", waiver_limit_minor=0), 5_00)
    with Session.begin() as session, pytest.raises(actions.OwnWaiver):
        actions.decide_waiver(session, SUE, own.id, approve=True, note="", now=NOW)


def test_a_dispute_case_is_opened_updated_and_resolved_and_its_flag_lifted(Session):
    account = account_id(Session)
    case = act(
        Session,
        account,
        lambda s, a: actions.open_case(
            s, AMY, a, kind="dispute", summary="charge not mine", call_sid=None, now=NOW
        ),
    )
    with Session() as session:
        assert AccountFlag.DISPUTE in session.get(CardAccount, account).flag_set
    act(
        Session,
        account,
        lambda s, a: actions.update_case(s, AMY, a, case.id, note="asked for receipt", now=NOW),
    )
    resolved = act(
        Session,
        account,
        lambda s, a: actions.resolve_case(s, AMY, a, case.id, resolution="refunded", now=NOW),
    )
    assert resolved.status == CaseStatus.RESOLVED and "asked for receipt" in resolved.summary
    with Session() as session:
        assert AccountFlag.DISPUTE not in session.get(CardAccount, account).flag_set
    with pytest.raises(actions.CaseClosed):
        act(
            Session,
            account,
            lambda s, a: actions.resolve_case(s, AMY, a, case.id, resolution="again", now=NOW),
        )
    with pytest.raises(actions.UnknownKind):
        act(
            Session,
            account,
            lambda s, a: actions.open_case(
                s, AMY, a, kind="fee-waiver", summary="x", call_sid=None, now=NOW
            ),
        )
    assert actions_logged(Session)[-3:] == ["case.opened", "case.updated", "case.resolved"]


def test_flags_are_set_and_cleared_by_an_agent_but_not_the_files(Session):
    account = account_id(Session, flags=(AccountFlag.ATTORNEY,))

    def flag(name, on):
        return act(
            Session,
            account,
            lambda s, a: actions.set_flag(s, AMY, a, name, on=on, call_sid=None, now=NOW),
        )

    assert flag("dnc", True) and not flag("dnc", True)
    assert flag("cease", True) and flag("cease", False)
    with pytest.raises(actions.FlagFromFile):
        flag("attorney", False)
    with pytest.raises(actions.UnknownFlag):
        flag("deceased", True)
    with Session() as session:
        assert session.get(CardAccount, account).flag_set == {
            AccountFlag.DNC,
            AccountFlag.ATTORNEY,
        }
    assert actions_logged(Session).count("flag.set") == 2


def test_calling_hours_are_set_on_the_cardholders_own_number_only(Session):
    account = account_id(Session)
    other = account_id(Session, "A2", phones=(("+14155550111", "home", True),))
    with Session() as session:
        phone = session.scalars(select(Phone).where(Phone.e164 == "+14155550100")).one()
        foreign = session.scalars(select(Phone).where(Phone.e164 == "+14155550111")).one()
    act(
        Session,
        account,
        lambda s, a: actions.set_allowed_hours(
            s, AMY, a, phone.id, start=dt.time(18), end=dt.time(20), now=NOW
        ),
    )
    with Session() as session:
        row = session.get(Phone, phone.id)
        assert (row.allowed_hours_start, row.allowed_hours_end) == (dt.time(18), dt.time(20))
        assert row.allowed_hours_source == "agent"
    with pytest.raises(actions.BadHours):
        act(
            Session,
            account,
            lambda s, a: actions.set_allowed_hours(
                s, AMY, a, phone.id, start=dt.time(20), end=dt.time(18), now=NOW
            ),
        )
    with pytest.raises(actions.UnknownPhone):
        act(
            Session,
            account,
            lambda s, a: actions.set_allowed_hours(
                s, AMY, a, foreign.id, start=None, end=None, now=NOW
            ),
        )
    assert other


def test_self_service_is_unlocked_only_when_locked(Session):
    account = account_id(Session)
    with pytest.raises(actions.NotLocked):
        act(Session, account, lambda s, a: actions.unlock(s, AMY, a, now=NOW))
    with Session.begin() as session:
        session.get(CardAccount, account).self_service_locked_at = NOW
    act(Session, account, lambda s, a: actions.unlock(s, AMY, a, now=NOW))
    with Session() as session:
        assert session.get(CardAccount, account).self_service_locked_at is None
    assert actions_logged(Session)[-1] == "self-service.unlocked"


def test_a_callback_is_a_campaign_attempt_the_dialer_claims_and_asks_the_policy_about_again(
    Session,
):
    load_campaigns(Session, start=("us",))
    account = account_id(Session, dpd=45)
    with Session.begin() as session:
        planner.plan(session, NOW)  # tiers, and the account's campaign call
    with Session() as session:
        phone = session.scalars(select(Phone)).one()
        [planned] = session.scalars(
            select(ContactAttempt).where(ContactAttempt.status == AttemptStatus.PLANNED)
        ).all()
    at = NOW + dt.timedelta(hours=2)  # 12:00 in Los Angeles
    callback = act(
        Session,
        account,
        lambda s, a: actions.schedule_callback(
            s, AMY, a, phone.id, at=at, now=NOW, scheduler=schedule
        ),
    )
    with Session() as session:
        assert session.get(ContactAttempt, planned.id).status == AttemptStatus.CANCELED
        row = session.get(ContactAttempt, callback.id)
        assert (row.status, row.due_at, row.campaign_id) == (
            AttemptStatus.PLANNED,
            at,
            planned.campaign_id,
        )
    with Session.begin() as session:  # the planner leaves the account to the callback
        planner.plan(session, NOW + dt.timedelta(minutes=5))
    with Session() as session:
        open_ones = session.scalars(
            select(ContactAttempt.id).where(ContactAttempt.status == AttemptStatus.PLANNED)
        ).all()
        assert open_ones == [callback.id]
    with Session.begin() as session:
        claims.set_global_limits(session, Pacing(1.0, 10), NOW)
    with Session.begin() as session:
        assert (
            claims.claim_next(
                session,
                worker_id="w1",
                clock=lambda: NOW,
                lease=dt.timedelta(seconds=30),
                horizon=NOW + dt.timedelta(seconds=2),
            )
            is None
        )  # not due yet
    with Session.begin() as session:
        claim = claims.claim_next(
            session,
            worker_id="w1",
            clock=lambda: at,
            lease=dt.timedelta(seconds=30),
            horizon=at + dt.timedelta(seconds=2),
        )
        assert claim is not None and claim.attempt_id == callback.id
        assert recheck.refusal_at(session, claim, at) is None
    act(
        Session,
        account,
        lambda s, a: actions.set_flag(s, AMY, a, "cease", on=True, call_sid=None, now=at),
    )
    with Session() as session:
        assert recheck.refusal_at(session, claim, at) is not None  # asked again at its slot
    assert "callback.scheduled" in actions_logged(Session)


def test_a_callback_outside_the_contact_rules_is_refused_with_the_reason(Session):
    load_campaigns(Session, start=("us",))
    account = account_id(Session, dpd=45)
    with Session.begin() as session:
        planner.plan(session, NOW)
    with Session() as session:
        phone = session.scalars(select(Phone)).one()
    night = dt.datetime(2026, 12, 3, 7, 0, tzinfo=dt.UTC)  # 23:00 in Los Angeles
    with pytest.raises(actions.CallbackNotScheduled) as refused:
        act(
            Session,
            account,
            lambda s, a: actions.schedule_callback(
                s, AMY, a, phone.id, at=night, now=NOW, scheduler=schedule
            ),
        )
    assert refused.value.key == "error_not_callable" and refused.value.values["reason"]
    with pytest.raises(actions.CallbackInPast):
        act(
            Session,
            account,
            lambda s, a: actions.schedule_callback(
                s, AMY, a, phone.id, at=NOW, now=NOW, scheduler=schedule
            ),
        )
    bare = account_id(Session, "B1", dpd=45, phones=(("+14155550122", "mobile", True),))
    with Session() as session:
        bare_phone = session.scalars(select(Phone).where(Phone.e164 == "+14155550122")).one()
    with Session.begin() as session:
        from dialer.campaign_store import set_status
        from hotline.enums import CampaignStatus

        set_status(session, "us", CampaignStatus.PAUSED, actor="test", now=NOW)
    with pytest.raises(actions.CallbackNotScheduled) as no_campaign:
        act(
            Session,
            bare,
            lambda s, a: actions.schedule_callback(
                s,
                AMY,
                a,
                bare_phone.id,
                at=NOW + dt.timedelta(hours=1),
                now=NOW,
                scheduler=schedule,
            ),
        )
    assert no_campaign.value.key == "error_no_campaign"
