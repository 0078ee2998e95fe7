"""The queue bound (dialer/queue_room.py) under pressure: callbacks booked ahead, a
backlog over days, batches, both planning paths, calls in flight. From an adversarial
review of the bound; each of these failed against its first version."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from dialer import callbacks
from dialer.claims import set_global_limits
from dialer.pacing import Limits
from dialer.planner import HORIZON, PlanReport, plan, refresh_tiers
from dialer.queue_room import QUEUE_FULL, QUEUE_FULL_UNCHECKED
from hotline.contacts import CALLBACK_REQUESTED
from hotline.enums import AttemptStatus, PhoneType, Source
from hotline.models import CardAccount, ContactAttempt
from hotline.origin import Origin
from hotline.phones import stored_zones
from tests.integration.dialer_fixtures import NOW, add_account, load_campaigns, open_attempts

# Places 9 calls within the horizon (as tests/integration/test_queue_room.py).
RATE = 8.5 / HORIZON.total_seconds()
CAPACITY = 9


def _account(session: Any, i: int, e164: str, region: str = "CA") -> int:
    account = add_account(
        session, f"A{i:04d}", dpd=45, region=region, phones=((e164, PhoneType.HOME, False),)
    )
    for key, value in stored_zones(e164).items():
        setattr(account.cardholder.phones[0], key, value)
    session.flush()
    return account.id


def _planned(Session: Any, *, campaign_calls_only: bool = False) -> list[int]:
    return sorted(
        a.account_id
        for a in open_attempts(Session)
        if a.account_id is not None
        and not (campaign_calls_only and a.disposition == CALLBACK_REQUESTED)
    )


def _plan(Session: Any, now: dt.datetime, as_sets: bool, **kw: Any) -> PlanReport:
    with Session.begin() as session:
        return plan(session, now, as_sets=as_sets, **kw)


@pytest.mark.parametrize("as_sets", (False, True), ids=("one-by-one", "as-sets"))
def test_callbacks_due_next_week_do_not_take_todays_places(Session, as_sets):
    """Agents' callbacks are planned campaign attempts (dialer/callbacks.py) and may be due
    any time ahead: one due after the horizon places no call within it, and takes no
    place from the accounts due now."""
    load_campaigns(Session)
    with Session.begin() as session:
        ids = [_account(session, i, f"+1415555{i:04d}") for i in range(20)]
        set_global_limits(session, Limits(RATE, 10), NOW)
    # Next Wednesday, 10:00 in California: an agent books 9 callbacks.
    next_week = NOW + dt.timedelta(days=7)
    with Session.begin() as session:
        refresh_tiers(session)  # the tiers the planner would give them (callbacks need one)
        for account_id in ids[11:]:
            account = session.get(CardAccount, account_id)
            assert account is not None
            callbacks.schedule(
                session,
                account,
                account.cardholder.phones[0],
                at=next_week,
                origin=Origin(Source.AGENT, "agent:test"),
                now=NOW,
            )
    report = _plan(Session, NOW, as_sets)
    # None of the 9 callbacks can be placed before NOW + 24h; the pacing's 9 places are free.
    assert len(_planned(Session, campaign_calls_only=True)) == CAPACITY, report


def test_accounts_waiting_for_room_are_not_passed_over_forever(Session):
    """Under sustained demand above the pacing, an account called takes its place behind
    those still waiting (contacted most recently: last among those due alike), so every
    account takes its turn rather than the lowest ids each time."""
    load_campaigns(Session)
    with Session.begin() as session:
        ids = [_account(session, i, f"+1415555{i:04d}") for i in range(20)]
        set_global_limits(session, Limits(RATE, 10), NOW)
    first = None
    for day in range(3):
        now = NOW + dt.timedelta(days=day)
        _plan(Session, now, as_sets=False)
        planned = _planned(Session)
        first = first or planned
        # The day's calls are placed and go unanswered.
        with Session.begin() as session:
            session.execute(
                update(ContactAttempt)
                .where(ContactAttempt.status == AttemptStatus.PLANNED)
                .values(
                    status=AttemptStatus.NO_ANSWER,
                    started_at=now,
                    placed_at=now,
                    ended_at=now + dt.timedelta(seconds=30),
                )
            )
    # Three days, 27 places, 20 accounts: each should have been called at least once.
    with Session() as session:
        called = set(
            session.scalars(
                select(ContactAttempt.account_id).where(
                    ContactAttempt.status == AttemptStatus.NO_ANSWER
                )
            )
        )
    never = sorted(set(ids) - called)
    assert never == [], f"never called in 3 days: {len(never)} of 20 (first run: {first})"


def test_one_by_one_gives_the_places_to_the_earliest_due_across_batches(Session):
    """The one-by-one path ranks every batch's calls together: a first batch of accounts
    due later does not take the places of a later batch due now."""
    load_campaigns(Session)
    moment = dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.UTC)  # 09:00 New York, 06:00 LA
    with Session.begin() as session:
        # Lower ids: California, due at 16:00 UTC (08:00 there); higher: New York, due now.
        la = [_account(session, i, f"+1415555{i:04d}", "CA") for i in range(10)]
        ny = [_account(session, 100 + i, f"+1212555{i:04d}", "NY") for i in range(10)]
        set_global_limits(session, Limits(RATE, 10), NOW)
    _plan(Session, moment, as_sets=False, batch_size=5)
    due = {a.account_id: a.due_at for a in open_attempts(Session)}
    assert sorted(due) == ny[:CAPACITY], {"la_planned": sorted(set(due) & set(la))}


def test_set_path_and_one_by_one_agree_on_who_gets_the_places(Session):
    """Accounts with recent history are never plain (the set path leaves them to the
    one-by-one path): both ways the same accounts get the places, the never contacted
    before the contacted, though the contacted have the lower ids."""
    load_campaigns(Session)
    with Session.begin() as session:
        contacted = [_account(session, i, f"+1415555{i:04d}") for i in range(5)]
        fresh = [_account(session, 100 + i, f"+1415556{i:04d}") for i in range(15)]
        set_global_limits(session, Limits(RATE, 10), NOW)
        for account_id in contacted:
            session.add(
                ContactAttempt(
                    direction="outbound",
                    account_id=account_id,
                    number=session.get(CardAccount, account_id).cardholder.phones[0].e164,
                    campaign_id=None,
                    status=AttemptStatus.NO_ANSWER,
                    started_at=NOW - dt.timedelta(days=3),
                    due_at=NOW - dt.timedelta(days=3),
                    ended_at=NOW - dt.timedelta(days=3, seconds=-30),
                )
            )
    picked = {}
    for as_sets in (False, True):
        _plan(Session, NOW, as_sets)
        picked[as_sets] = _planned(Session)
        with Session.begin() as session:
            session.execute(
                update(ContactAttempt)
                .where(ContactAttempt.status == AttemptStatus.PLANNED)
                .values(status=AttemptStatus.CANCELED, ended_at=NOW)
            )
    assert picked[False] == fresh[:CAPACITY]
    assert picked[True] == picked[False], {"sets": picked[True], "one": picked[False]}


@pytest.mark.parametrize("as_sets", (False, True), ids=("one-by-one", "as-sets"))
def test_an_account_with_a_call_in_flight_is_counted_as_already_open(Session, as_sets):
    """When its campaign's queue is full, an account with a call in flight (dialing) is
    still read and reported already open, not as waiting for room."""
    load_campaigns(Session)
    with Session.begin() as session:
        ids = [_account(session, i, f"+1415555{i:04d}") for i in range(20)]
        set_global_limits(session, Limits(RATE, 10), NOW)
    _plan(Session, NOW, as_sets)
    with Session.begin() as session:
        session.execute(
            update(ContactAttempt)
            .where(ContactAttempt.account_id.in_(ids[:3]))
            .values(status=AttemptStatus.DIALING)
        )
    _plan(Session, NOW + dt.timedelta(minutes=5), as_sets)  # 3 more: the queue is full again
    report = _plan(Session, NOW + dt.timedelta(minutes=10), as_sets)
    assert report.already_open == CAPACITY + 3, report
    waiting = report.not_due.get(QUEUE_FULL, 0) + report.not_due.get(QUEUE_FULL_UNCHECKED, 0)
    assert waiting == 20 - CAPACITY - 3, report
