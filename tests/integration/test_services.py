"""The shared services in hotline/, called directly on a real database: no HTTP, no carrier.

Each test frames its own transactions the way an entry point does (`with Session.begin()`),
so what is asserted is what was committed. Races run on PostgreSQL, one session and one
transaction per thread; SQLite serialises writers and would hide them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, exc, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from flows.state import Heard
from hotline import accounts, arrangements, cases, contacts, payments, verification
from hotline.demo import KNOWN_CALLERS
from hotline.enums import (
    AccountFlag,
    AttemptStatus,
    CaseKind,
    Direction,
    InstalmentStatus,
    PaymentStatus,
    PhoneType,
    PlanStatus,
    PromiseStatus,
    Source,
    Step,
)
from hotline.facts import LineConfig
from hotline.hours import parse_hours
from hotline.models import (
    AccountFlagRow,
    AuditEvent,
    CallEvent,
    CardAccount,
    Case,
    ContactAttempt,
    Payment,
    Phone,
    PlanInstalment,
    PromiseToPay,
    RepaymentPlan,
    VerificationAttempt,
)
from hotline.origin import Origin
from hotline.profiles import PROFILES
from hotline.rules import Limits
from hotline.settings import Settings
from ivr import service
from ivr.turns import Turns
from prompts.catalog import load_all
from telephony.twiml import Links, Renderer, voices_from
from tests.conftest import TEST_SECRET_KEY, backend, seed_demo
from tests.fakes import FakeCallGateway

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
ALICE, WANG = KNOWN_CALLERS
CALL = "CA" + "a1" * 16
IVR = Origin.ivr(CALL)
AGENT = Origin(Source.AGENT, "agent:kim")
THREADS = 8

postgresql_only = pytest.mark.skipif(
    backend() != "postgresql",
    reason="a race needs concurrent writers: SQLite serialises them and would hide it",
)


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def alice(Session: sessionmaker) -> int:
    """The demo portfolio's first accounts; Alice's account id."""
    seed_demo(Session, size=3)
    return account_id(Session, ALICE.account_number)


def account_id(Session: sessionmaker, number: str) -> int:
    with Session() as session:
        return session.scalars(
            select(CardAccount.id).where(CardAccount.account_number == number)
        ).one()


def set_amounts(
    Session: sessionmaker, account: int, *, balance: int, minimum: int, past_due: int
) -> None:
    with Session.begin() as session:
        row = session.get_one(CardAccount, account)
        row.balance_minor, row.minimum_due_minor, row.past_due_minor = balance, minimum, past_due
        row.credit_minor = 0


def read(Session: sessionmaker, account: int) -> CardAccount:
    with Session() as session:
        row = session.get_one(CardAccount, account)
        session.expunge(row)
        return row


def rows(Session: sessionmaker, model: Any, *where: Any) -> list[Any]:
    with Session() as session:
        found = list(session.scalars(select(model).where(*where).order_by(model.id)))
        session.expunge_all()
        return found


def audited(Session: sessionmaker, action: str) -> list[AuditEvent]:
    return rows(Session, AuditEvent, AuditEvent.action == action)


def data(event: AuditEvent) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(event.data)
    return found


def post(
    Session: sessionmaker,
    account: int,
    amount: int,
    key: str,
    *,
    confirmation: str = "ch_0001",
    now: dt.datetime = NOW,
) -> bool:
    """One card payment in its own transaction, as the /ivr/pay webhook frames it."""
    with Session.begin() as session:
        return payments.post_card_payment(
            session,
            session.get_one(CardAccount, account),
            amount_minor=amount,
            key=key,
            confirmation=confirmation,
            brand="visa",
            masked="xxxx-xxxx-xxxx-4242",
            origin=IVR,
            now=now,
        )


def together(count: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run work(0..count-1) on as many threads released at once; results and errors."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except BaseException as exc:  # surfaced by the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread is still waiting: a lock leak"
    return results, errors


# --- payments -----------------------------------------------------------------------------


def test_a_payment_posts_once_per_key_whatever_comes_again(Session, alice):
    set_amounts(Session, alice, balance=50_000, minimum=5_000, past_due=2_000)
    key = payments.pay_key(CALL, "1", "ch_0001")
    assert post(Session, alice, 4_000, key) is True
    # Twilio retries the callback; then a re-cut request with another confirmation code.
    assert post(Session, alice, 4_000, key) is False
    assert post(Session, alice, 4_000, key, confirmation="ch_9999") is False
    [payment] = rows(Session, Payment)
    assert (payment.amount_minor, payment.idempotency_key) == (4_000, key)
    assert payment.processor_confirmation == "ch_0001"
    assert (payment.card_brand, payment.card_last4) == ("visa", "4242")
    assert (payment.source, payment.status, payment.call_sid) == (
        Source.IVR,
        PaymentStatus.POSTED,
        CALL,
    )
    row = read(Session, alice)
    assert (row.balance_minor, row.minimum_due_minor, row.past_due_minor) == (46_000, 1_000, 0)
    assert row.credit_minor == 0
    [event] = audited(Session, "payment.posted")
    assert event.entity_id == ALICE.account_number and event.actor == "ivr"
    assert data(event) == {
        "payment_id": payment.id,
        "amount_minor": 4_000,
        "currency": "USD",
        "call_sid": CALL,
        "confirmation": "ch_0001",
        "credited_minor": 0,
    }


def test_more_than_the_balance_is_posted_whole_and_the_rest_kept_as_credit(Session, alice):
    set_amounts(Session, alice, balance=10_000, minimum=3_000, past_due=2_000)
    assert post(Session, alice, 15_000, "test:over") is True
    [payment] = rows(Session, Payment)
    assert payment.amount_minor == 15_000  # never clamped to what was owed
    row = read(Session, alice)
    assert (row.balance_minor, row.credit_minor) == (0, 5_000)
    assert (row.minimum_due_minor, row.past_due_minor) == (0, 0)
    [event] = audited(Session, "payment.posted")
    assert (data(event)["amount_minor"], data(event)["credited_minor"]) == (15_000, 5_000)


def test_minimum_and_past_due_fall_by_the_payment_and_stop_at_zero(Session, alice):
    set_amounts(Session, alice, balance=20_000, minimum=3_000, past_due=2_000)
    assert post(Session, alice, 2_500, "test:first") is True
    row = read(Session, alice)
    assert (row.balance_minor, row.minimum_due_minor, row.past_due_minor) == (17_500, 500, 0)
    assert post(Session, alice, 1_000, "test:second") is True
    row = read(Session, alice)
    assert (row.balance_minor, row.minimum_due_minor, row.past_due_minor) == (16_500, 0, 0)
    # An audit event per posting, each naming its own payment.
    first, second = rows(Session, Payment)
    events = audited(Session, "payment.posted")
    assert [data(e)["payment_id"] for e in events] == [first.id, second.id]


def test_a_refusal_other_than_the_key_raises_and_posts_nothing(Session, alice):
    # A zero amount breaks the payment's CHECK (amount_positive), not its key: that must not
    # pass for a replay (False) and silently lose a charge.
    set_amounts(Session, alice, balance=20_000, minimum=3_000, past_due=2_000)
    with pytest.raises(IntegrityError, match="amount_positive"):
        post(Session, alice, 0, "test:zero")
    assert rows(Session, Payment) == []
    assert read(Session, alice).balance_minor == 20_000
    assert audited(Session, "payment.posted") == []


@postgresql_only
def test_concurrent_payments_on_one_account_all_post_in_full_and_conserve_money(Session, alice):
    balance = 10_000
    set_amounts(Session, alice, balance=balance, minimum=3_000, past_due=2_000)
    # Eight payments of 3,000 against 10,000 owed: the ones that land after the balance is
    # gone become credit, whichever order the lock gives them.
    results, errors = together(
        THREADS, lambda i: post(Session, alice, 3_000, f"test:concurrent:{i}")
    )
    assert errors == []  # no deadlock, no serialisation failure
    assert results == [True] * THREADS
    paid = sum(p.amount_minor for p in rows(Session, Payment))
    assert paid == 3_000 * THREADS
    row = read(Session, alice)
    assert row.balance_minor + paid - row.credit_minor == balance
    assert (row.balance_minor, row.credit_minor) == (0, 3_000 * THREADS - balance)
    assert len(audited(Session, "payment.posted")) == THREADS


@postgresql_only
def test_concurrent_replays_of_one_payment_post_it_once(Session, alice):
    set_amounts(Session, alice, balance=50_000, minimum=3_000, past_due=2_000)
    key = payments.pay_key(CALL, "1", "ch_0001")
    results, errors = together(THREADS, lambda i: post(Session, alice, 4_000, key))
    assert errors == []
    assert sorted(results) == [False] * (THREADS - 1) + [True]
    assert [p.amount_minor for p in rows(Session, Payment)] == [4_000]
    assert read(Session, alice).balance_minor == 46_000
    assert len(audited(Session, "payment.posted")) == 1


# --- arrangements -------------------------------------------------------------------------


def test_a_promise_pauses_reminders_until_its_date(Session, alice):
    date = NOW.date() + dt.timedelta(days=10)
    with Session.begin() as session:
        account = session.get_one(CardAccount, alice)
        reference = arrangements.save_promise(
            session, account, amount_minor=5_000, date=date, origin=IVR, now=NOW
        )
    [promise] = rows(Session, PromiseToPay)
    assert re.fullmatch(r"P\d{6}", reference) and reference == f"P{promise.id:06d}"
    assert (promise.amount_minor, promise.promised_date, promise.status) == (
        5_000,
        date,
        PromiseStatus.PENDING,
    )
    assert (promise.source, promise.call_sid, promise.currency) == (Source.IVR, CALL, "USD")
    assert read(Session, alice).reminders_paused_until == date
    # A second, nearer promise does not shorten the pause the first one bought.
    with Session.begin() as session:
        arrangements.save_promise(
            session,
            session.get_one(CardAccount, alice),
            amount_minor=1_000,
            date=date - dt.timedelta(days=5),
            origin=AGENT,
            now=NOW,
        )
    assert read(Session, alice).reminders_paused_until == date
    events = audited(Session, "promise.created")
    assert [e.actor for e in events] == ["ivr", "agent:kim"]
    assert data(events[0])["promise_id"] == promise.id


@pytest.mark.parametrize(
    ("start", "dues"),
    [
        # Across a year's end.
        (
            dt.date(2026, 12, 15),
            [dt.date(2026, 12, 15), dt.date(2027, 1, 15), dt.date(2027, 2, 15)],
        ),
        # The 28th every month, February included.
        (dt.date(2027, 1, 28), [dt.date(2027, 1, 28), dt.date(2027, 2, 28), dt.date(2027, 3, 28)]),
    ],
)
def test_a_plan_splits_the_balance_monthly_and_pauses_reminders_to_its_end(
    Session, alice, start, dues
):
    set_amounts(Session, alice, balance=100_001, minimum=3_000, past_due=2_000)
    [(count, instalment, last)] = Limits(plan_months=(3,)).plans(100_001, excluded=False)
    with Session.begin() as session:
        reference = arrangements.save_plan(
            session,
            session.get_one(CardAccount, alice),
            count=count,
            instalment_minor=instalment,
            start=start,
            origin=IVR,
            now=NOW,
        )
    [plan] = rows(Session, RepaymentPlan)
    assert re.fullmatch(r"L\d{6}", reference) and reference == f"L{plan.id:06d}"
    assert (plan.total_minor, plan.instalment_count, plan.start_date) == (100_001, 3, start)
    assert (plan.status, plan.source, plan.call_sid) == (PlanStatus.ACTIVE, Source.IVR, CALL)
    instalments = rows(Session, PlanInstalment, PlanInstalment.plan_id == plan.id)
    assert [i.sequence for i in instalments] == [1, 2, 3]
    assert (
        [i.amount_minor for i in instalments]
        == [33_334, 33_334, 33_333]
        == [
            instalment,
            instalment,
            last,
        ]
    )
    assert sum(i.amount_minor for i in instalments) == 100_001
    assert [i.due_date for i in instalments] == dues
    assert {i.status for i in instalments} == {InstalmentStatus.DUE}
    assert read(Session, alice).reminders_paused_until == dues[-1]
    [event] = audited(Session, "plan.created")
    assert data(event)["plan_id"] == plan.id


def test_a_plans_last_instalment_takes_whatever_the_others_leave(Session, alice):
    # An instalment agreed below the even split (as an agent may): the last one is the rest,
    # so the plan still adds up to the balance.
    set_amounts(Session, alice, balance=10_000, minimum=3_000, past_due=2_000)
    with Session.begin() as session:
        arrangements.save_plan(
            session,
            session.get_one(CardAccount, alice),
            count=3,
            instalment_minor=2_000,
            start=dt.date(2027, 1, 10),
            origin=AGENT,
            now=NOW,
        )
    [plan] = rows(Session, RepaymentPlan)
    instalments = rows(Session, PlanInstalment, PlanInstalment.plan_id == plan.id)
    assert [i.amount_minor for i in instalments] == [2_000, 2_000, 6_000]
    assert plan.total_minor == 10_000 and plan.source == Source.AGENT


# --- cases --------------------------------------------------------------------------------


def test_a_dispute_sets_the_dispute_flag_once(Session, alice):
    opened = []
    for origin in (IVR, AGENT):
        with Session.begin() as session:
            case_row = cases.open_case(
                session,
                session.get_one(CardAccount, alice),
                kind=CaseKind.DISPUTE,
                summary="the caller does not recognise a charge",
                origin=origin,
                now=NOW,
            )
            opened.append(case_row.id)
    assert [c.id for c in rows(Session, Case)] == opened
    [flag] = rows_flags(Session, alice)
    assert (flag.flag, flag.source) == (AccountFlag.DISPUTE, Source.IVR)  # the first opener's
    events = audited(Session, "case.opened")
    assert [e.actor for e in events] == ["ivr", "agent:kim"]
    assert [data(e)["case_id"] for e in events] == opened


def test_a_case_that_is_not_a_dispute_sets_no_flag(Session, alice):
    with Session.begin() as session:
        cases.open_case(
            session,
            session.get_one(CardAccount, alice),
            kind=CaseKind.HARDSHIP,
            summary="lost a job",
            origin=IVR,
            now=NOW,
        )
    [case_row] = rows(Session, Case)
    assert (case_row.kind, case_row.source, case_row.call_sid) == (
        CaseKind.HARDSHIP,
        Source.IVR,
        CALL,
    )
    assert rows_flags(Session, alice) == []
    assert len(audited(Session, "case.opened")) == 1


def rows_flags(Session: sessionmaker, account: int) -> list[AccountFlagRow]:
    with Session() as session:
        found = list(
            session.scalars(select(AccountFlagRow).where(AccountFlagRow.account_id == account))
        )
        session.expunge_all()
        return found


# --- contacts -----------------------------------------------------------------------------


@pytest.fixture
def shared_number(Session: sessionmaker, alice: int) -> int:
    """Wang has Alice's number on file too (a shared family line); Wang's phone row id."""
    wang = account_id(Session, WANG.account_number)
    with Session.begin() as session:
        phone = Phone(
            cardholder_id=session.get_one(CardAccount, wang).cardholder_id,
            e164=ALICE.phone,
            phone_type=PhoneType.HOME,
            autodial_consent=True,
        )
        session.add(phone)
        session.flush()
        return phone.id


def test_an_opt_out_stops_every_row_with_the_number_and_withdraws_consent(Session, shared_number):
    with Session.begin() as session:
        assert contacts.opt_out(session, ALICE.phone, origin=IVR, now=NOW) == 2
    numbered = rows(Session, Phone, Phone.e164 == ALICE.phone)
    assert len(numbered) == 2 and len({p.cardholder_id for p in numbered}) == 2
    for phone in numbered:
        assert (phone.opted_out_at, phone.opted_out_source) == (NOW, Source.IVR)
        assert phone.autodial_consent is False
        assert (phone.consent_source, phone.consent_changed_at) == (Source.IVR, NOW)
    # Nobody else's number is touched.
    others = rows(Session, Phone, Phone.e164 != ALICE.phone)
    assert others and all(p.opted_out_at is None for p in others)
    # Asked again later: still opted out since the first time, nothing else changes.
    later = NOW + dt.timedelta(hours=1)
    with Session.begin() as session:
        assert contacts.opt_out(session, ALICE.phone, origin=AGENT, now=later) == 2
    again = rows(Session, Phone, Phone.e164 == ALICE.phone)
    assert [(p.opted_out_at, p.opted_out_source) for p in again] == [(NOW, Source.IVR)] * 2
    assert all(p.autodial_consent is False for p in again)
    events = audited(Session, "phone.opted-out")
    assert [e.entity_id for e in events] == [ALICE.phone[-4:]] * 2  # never the whole number


def test_a_callback_is_a_planned_outbound_attempt_to_the_cardholders_own_row(
    Session, alice, shared_number
):
    due = NOW + dt.timedelta(hours=3)
    with Session.begin() as session:
        attempt = contacts.request_callback(
            session, session.get_one(CardAccount, alice), ALICE.phone, due=due, origin=IVR, now=NOW
        )
        attempt_id = attempt.id
    [row] = rows(Session, ContactAttempt)
    assert row.id == attempt_id
    assert (row.direction, row.status, row.due_at) == (
        Direction.OUTBOUND,
        AttemptStatus.PLANNED,
        due,
    )
    assert (row.account_id, row.number, row.disposition) == (
        alice,
        ALICE.phone,
        "callback-requested",
    )
    # The number is on file twice; the callback goes to Alice's row, not Wang's.
    [own] = rows(
        Session,
        Phone,
        Phone.e164 == ALICE.phone,
        Phone.cardholder_id == read(Session, alice).cardholder_id,
    )
    assert row.phone_id == own.id != shared_number
    [event] = audited(Session, "callback.requested")
    assert data(event)["attempt_id"] == attempt_id


def test_a_callback_from_a_number_not_on_file_still_keeps_the_number(Session, alice):
    stranger = "+14155550177"
    with Session.begin() as session:
        contacts.request_callback(
            session, session.get_one(CardAccount, alice), stranger, due=NOW, origin=IVR, now=NOW
        )
    [row] = rows(Session, ContactAttempt)
    assert (row.phone_id, row.number, row.status) == (None, stranger, AttemptStatus.PLANNED)


def record_event(Session: sessionmaker, sequence: str, call_sid: str = CALL) -> bool:
    with Session.begin() as session:
        return contacts.record_call_event(
            session,
            call_sid=call_sid,
            kind="status",
            sequence=sequence,
            payload={"CallStatus": "ringing"},
            now=NOW,
        )


def test_a_call_event_is_kept_once_per_call_kind_and_sequence(Session, alice):
    with Session.begin() as session:
        session.add(
            ContactAttempt(
                direction=Direction.OUTBOUND,
                account_id=alice,
                number=ALICE.phone,
                status=AttemptStatus.RINGING,
                provider_call_sid=CALL,
                created_at=NOW,
            )
        )
    assert record_event(Session, "1") is True
    assert record_event(Session, "1") is False  # the carrier's retry
    assert record_event(Session, "2") is True
    other_call = "CA" + "b2" * 16
    assert record_event(Session, "1", other_call) is True
    events = rows(Session, CallEvent)
    assert [(e.call_sid, e.sequence) for e in events] == [
        (CALL, "1"),
        (CALL, "2"),
        (other_call, "1"),
    ]
    [attempt] = rows(Session, ContactAttempt)
    # Tied to the attempt whose call it is; an unknown call's event is kept untied.
    assert [e.attempt_id for e in events] == [attempt.id, attempt.id, None]
    assert events[0].payload == '{"CallStatus": "ringing"}'


@postgresql_only
def test_concurrent_duplicates_of_a_call_event_insert_exactly_one(Session, alice):
    results, errors = together(THREADS, lambda i: record_event(Session, "1"))
    assert errors == []
    assert sorted(results) == [False] * (THREADS - 1) + [True]
    assert len(rows(Session, CallEvent)) == 1


# --- verification -------------------------------------------------------------------------


def failures(Session: sessionmaker, account: int, now: dt.datetime) -> tuple[int, bool]:
    """(failures counted in the window, locked) as a call would read them at `now`."""
    with Session() as session:
        row = accounts.by_id(session, account, now, Limits())
        assert row is not None
        return row.failures_last_24h, row.locked


def fail_once(Session: sessionmaker, account: int, now: dt.datetime, call: str = CALL) -> None:
    with Session.begin() as session:
        verification.record_attempt(session, account, call_sid=call, succeeded=False, now=now)


def test_failures_count_in_the_window_and_a_lock_is_set_once(Session, alice):
    old = NOW - Limits().failure_window - dt.timedelta(minutes=1)
    fail_once(Session, alice, old)  # outside the window: no longer counts
    for minutes in range(3):
        fail_once(Session, alice, NOW - dt.timedelta(minutes=minutes))
    with Session.begin() as session:
        verification.record_attempt(session, alice, call_sid=CALL, succeeded=True, now=NOW)
    assert failures(Session, alice, NOW) == (3, False)
    locked = []
    for origin in (IVR, IVR):
        with Session.begin() as session:
            account = session.get_one(CardAccount, alice)
            locked.append(verification.lock(session, account, origin=origin, now=NOW))
    assert locked == [True, False]
    assert failures(Session, alice, NOW) == (3, True)
    assert read(Session, alice).self_service_locked_at == NOW
    [event] = audited(Session, "self-service.locked")
    assert event.entity_id == ALICE.account_number


def test_an_unlock_sets_the_failures_before_it_aside(Session, alice):
    limits = Limits()
    for minutes in range(limits.lock_after_failures, 0, -1):
        fail_once(Session, alice, NOW - dt.timedelta(minutes=minutes))
    with Session.begin() as session:
        verification.lock(session, session.get_one(CardAccount, alice), origin=IVR, now=NOW)
    assert failures(Session, alice, NOW) == (limits.lock_after_failures, True)
    assert not limits.checkable(locked=True, failures=limits.lock_after_failures)
    unlocked_at = NOW + dt.timedelta(minutes=1)
    with Session.begin() as session:
        assert verification.unlock(
            session, ALICE.account_number, actor="agent:kim", now=unlocked_at
        )
    later = unlocked_at + dt.timedelta(minutes=1)
    assert failures(Session, alice, later) == (0, False)
    assert read(Session, alice).verification_reset_at == unlocked_at
    fail_once(Session, alice, later)
    assert failures(Session, alice, later) == (1, False)
    # Unlocking an account that is not locked says so, and is audited all the same.
    with Session.begin() as session:
        assert not verification.unlock(session, ALICE.account_number, actor="agent:kim", now=later)
    events = audited(Session, "self-service.unlocked")
    assert [data(e)["was_locked"] for e in events] == [True, False]
    with Session.begin() as session, pytest.raises(verification.UnknownAccount):
        verification.unlock(session, "4000999999999999", actor="agent:kim", now=later)


@postgresql_only
def test_a_burst_of_guesses_records_no_more_failures_than_the_lock_allows(Session, alice):
    limits = Limits()
    count = limits.lock_after_failures + 7

    def guess(index: int) -> bool:
        # What ivr.service.answer does with wrong digits: count under the account's lock,
        # record only a guess that may be checked, lock on the last one allowed.
        with Session.begin() as session:
            row = accounts.locked_fresh(session, alice, NOW, limits)
            assert row is not None
            if not limits.checkable(locked=row.locked, failures=row.failures_last_24h):
                return False
            verification.record_attempt(
                session, alice, call_sid=f"CA{index:032x}", succeeded=False, now=NOW
            )
            if limits.locks_after(row.failures_last_24h):
                verification.lock(session, accounts.entity(session, row), origin=IVR, now=NOW)
            return True

    results, errors = together(count, guess)
    assert errors == []
    recorded = rows(Session, VerificationAttempt)
    assert len(recorded) == limits.lock_after_failures == results.count(True)
    assert failures(Session, alice, NOW) == (limits.lock_after_failures, True)
    assert len(audited(Session, "self-service.locked")) == 1


# --- the IVR's use cases, with the fake carrier ------------------------------------------

LINKS = Links(
    step=lambda step: f"https://hotline.test/ivr/step/{step}",
    pay_action="https://hotline.test/ivr/pay",
    hold="https://hotline.test/ivr/hold",
    queue_action="https://hotline.test/ivr/queued",
    recording_status="https://hotline.test/ivr/recording",
)


@dataclass
class FakeLine:
    """The IVR's use cases driven as ivr/web.py drives them (one transaction a turn, the
    answer rendered and remembered), minus HTTP, and with a FakeCallGateway for a carrier."""

    Session: sessionmaker
    config: LineConfig
    gateway: FakeCallGateway
    renderer: Renderer
    call_sid: str = CALL
    caller: str = ALICE.phone

    def turn(self, run: Callable[[OrmSession, dt.datetime], service.Reply]) -> ET.Element:
        # As the webhooks run a turn (ivr.turns), with the fake carrier.
        turns = Turns(self.Session, self.config, self.renderer, LINKS, self.gateway, load_all())
        now = dt.datetime.now(dt.UTC)
        answer = turns.run(run, now, call_sid=self.call_sid, caller=self.caller)
        answer.afterwards()
        return ET.fromstring(answer.xml)

    def begin(self) -> ET.Element:
        return self.turn(
            lambda session, now: service.begin(
                session, self.config, call_sid=self.call_sid, caller=self.caller, now=now
            )
        )

    def press(self, step: Step, digits: str) -> ET.Element:
        return self.turn(
            lambda session, now: service.answer(
                session,
                self.config,
                call_sid=self.call_sid,
                caller=self.caller,
                step=step,
                listen=lambda _step, _language: Heard(digits=digits),
                now=now,
            )
        )

    def pay_result(self, token: str, code: str = "ch_ivr0000001") -> ET.Element:
        form = {
            "Result": "success",
            "PaymentConfirmationCode": code,
            "PaymentCardType": "visa",
            "PaymentCardNumber": "xxxx-xxxx-xxxx-4242",
        }
        return self.turn(
            lambda session, now: service.pay_result(
                session,
                self.config,
                call_sid=self.call_sid,
                caller=self.caller,
                form=form,
                token=token,
                now=now,
            )
        )

    def to_pay(self) -> ET.Element:
        """Verify, choose to pay the minimum due, confirm: the turn that would start <Pay>."""
        assert self.begin().find("Gather").get("action").endswith("/verify")
        self.press(Step.VERIFY, ALICE.verify_digits)
        self.press(Step.MENU, "2")
        self.press(Step.PAY_CHOICE, "1")
        return self.press(Step.PAY_CONFIRM, "1")


@pytest.fixture
def fake_line(Session: sessionmaker) -> Callable[..., FakeLine]:
    seed_demo(Session, size=3)
    settings = Settings(secret_key=TEST_SECRET_KEY, agent_hours="always")

    def make(*, record_calls: bool) -> FakeLine:
        # As ivr/web.py init_app builds it.
        config = LineConfig(
            bank=settings.bank_name,
            secret_key=settings.secret_key,
            agent_hours=parse_hours(settings.agent_hours),
            timezone=settings.default_timezone,
            profile=PROFILES[settings.profile],
            limits=Limits.from_settings(settings),
            sms_confirmations=settings.sms_confirmations,
            caller_id=settings.caller_ids[0],
            record_calls=record_calls,
        )
        renderer = Renderer(
            load_all(),
            voices_from(settings.voice_en, settings.voice_zh),
            settings.payment_connector,
        )
        return FakeLine(Session, config, FakeCallGateway(), renderer)

    return make


def says(twiml: ET.Element) -> str:
    return " ".join(s.text or "" for s in twiml.iter("Say"))


def test_a_verified_call_pays_the_minimum_and_it_posts_once(Session, fake_line):
    line = fake_line(record_calls=False)
    before = read(Session, account_id(Session, ALICE.account_number))
    pay = line.to_pay()
    [pay_verb] = pay.iter("Pay")
    minimum = before.minimum_due_minor
    assert pay_verb.get("chargeAmount") == f"{minimum // 100}.{minimum % 100:02d}"
    assert pay_verb.get("action") == "https://hotline.test/ivr/pay?pay=1"
    done = line.pay_result("1")
    assert "Your payment of" in says(done) and "was accepted" in says(done)
    # Twilio retries the result: the answer is the same, and nothing posts again.
    assert ET.tostring(line.pay_result("1")) == ET.tostring(done)
    [payment] = rows(Session, Payment)
    assert payment.amount_minor == before.minimum_due_minor
    assert payment.idempotency_key == payments.pay_key(CALL, "1", "ch_ivr0000001")
    assert (payment.card_last4, payment.call_sid) == ("4242", CALL)
    after = read(Session, before.id)
    assert after.balance_minor == before.balance_minor - before.minimum_due_minor
    # An unrecorded line never touches a recording; nothing else was asked of the carrier.
    g = line.gateway
    assert (g.paused, g.resumed, g.placed, g.sms, g.hangups, g.redirects) == ([],) * 6


def test_no_pay_is_offered_when_the_recording_will_not_pause(Session, fake_line):
    line = fake_line(record_calls=True)
    line.gateway.fail("pause_recording")
    twiml = line.to_pay()
    assert list(twiml.iter("Pay")) == []
    assert "We could not reach the payment service." in says(twiml)
    assert line.gateway.refused == [("pause_recording", CALL)]
    assert line.gateway.paused == [] and line.gateway.resumed == []
    # The caller may try again (and is refused again while the recording will not pause).
    again = line.press(Step.PAY_RETRY, "1")
    assert list(again.iter("Pay")) == []
    assert line.gateway.refused == [("pause_recording", CALL)] * 2
    assert rows(Session, Payment) == []


def test_the_recording_is_paused_for_pay_and_resumed_by_its_result(Session, fake_line):
    line = fake_line(record_calls=True)
    assert line.begin() is not None
    verified = line.press(Step.VERIFY, ALICE.verify_digits)
    assert verified.find("Start/Recording") is not None  # recording starts once verified
    line.press(Step.MENU, "2")
    line.press(Step.PAY_CHOICE, "1")
    pay = line.press(Step.PAY_CONFIRM, "1")
    assert len(list(pay.iter("Pay"))) == 1
    assert (line.gateway.paused, line.gateway.resumed) == ([CALL], [])
    line.pay_result("1")
    assert (line.gateway.paused, line.gateway.resumed) == ([CALL], [CALL])
    # A replayed result posts nothing and does not resume a second time.
    line.pay_result("1")
    assert line.gateway.resumed == [CALL]
    assert len(rows(Session, Payment)) == 1


def test_a_recording_that_will_not_resume_does_not_undo_the_payment(Session, fake_line):
    line = fake_line(record_calls=True)
    assert len(list(line.to_pay().iter("Pay"))) == 1
    line.gateway.fail("resume_recording")
    done = line.pay_result("1")
    # The card was charged: the caller hears so and the payment stands; the refusal is the
    # carrier's, logged, and the call goes on to the menu.
    assert "was accepted" in says(done)
    assert done.find("Gather").get("action").endswith("/menu")
    assert line.gateway.refused == [("resume_recording", CALL)]
    assert len(rows(Session, Payment)) == 1


def test_the_carrier_is_asked_to_pause_only_after_the_turn_has_committed(
    Session, fake_line, database_url
):
    """Twilio may take seconds to answer a REST call: asked inside the transaction, the
    turn would hold the call's row, the account's lock and (SQLite) the one write lock."""
    line = fake_line(record_calls=True)
    held: list[bool] = []
    other = create_engine(database_url)

    def pause_recording(sid: str) -> str:
        # Another connection takes, without waiting, what the turn's transaction wrote.
        with other.connect() as connection:
            try:
                if other.dialect.name == "sqlite":
                    connection.exec_driver_sql("PRAGMA busy_timeout = 0")
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    connection.execute(
                        text("SELECT 1 FROM ivr_call WHERE call_sid = :sid FOR UPDATE NOWAIT"),
                        {"sid": sid},
                    )
                held.append(False)
            except exc.OperationalError:
                held.append(True)
            connection.rollback()
        return FakeCallGateway.pause_recording(line.gateway, sid)

    line.gateway.pause_recording = pause_recording  # type: ignore[method-assign]
    try:
        assert len(list(line.to_pay().iter("Pay"))) == 1
    finally:
        other.dispose()
    assert held == [False]
    assert line.gateway.paused == [CALL]
