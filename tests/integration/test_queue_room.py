"""A campaign's queue holds at most what its pacing can place within the planning horizon
(dialer/queue_room.py): the earliest due, then the lowest account, first; the rest are
queued by later runs as calls leave the queue. Both planning paths agree."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from dialer.claims import set_campaign_limits, set_global_limits
from dialer.pacing import Limits
from dialer.planner import HORIZON, PlanReport, plan
from dialer.queue_room import QUEUE_FULL, QUEUE_FULL_UNCHECKED, capacity
from hotline.enums import AttemptStatus, PhoneType
from hotline.models import Campaign, CardAccount, ContactAttempt
from hotline.phones import stored_zones
from tests.integration.dialer_fixtures import NOW, add_account, load_campaigns, open_attempts

ACCOUNTS = 20
# A pacing that places 9 calls in the horizon (one now, one each 9,600 s after).
RATE = 8.5 / HORIZON.total_seconds()


def _portfolio(Session: Any, *, limited: bool = True) -> list[int]:
    """Plain accounts in the campaign's mid tier, due now; their ids in order."""
    load_campaigns(Session)  # its campaign starts active
    with Session.begin() as session:
        ids = []
        for i in range(ACCOUNTS):
            e164 = f"+1415555{i:04d}"
            account = add_account(
                session, f"Q{i:04d}", dpd=45, phones=((e164, PhoneType.HOME, False),)
            )
            for key, value in stored_zones(e164).items():
                setattr(account.cardholder.phones[0], key, value)
            ids.append(account.id)
        if limited:
            set_global_limits(session, Limits(RATE, 10), NOW)
    return ids


def _planned(Session: Any) -> list[int]:
    return sorted(a.account_id for a in open_attempts(Session) if a.account_id is not None)


def _plan(Session: Any, now: dt.datetime, as_sets: bool) -> PlanReport:
    with Session.begin() as session:
        return plan(session, now, as_sets=as_sets)


def test_capacity_counts_the_slot_now_and_one_each_interval():
    assert capacity(RATE, HORIZON) == 9
    assert capacity(1.0, HORIZON) == 86_401
    assert capacity(10.0, dt.timedelta(seconds=1)) == 11


@pytest.mark.parametrize("as_sets", (False, True), ids=("one-by-one", "as-sets"))
def test_the_queue_takes_what_pacing_places_and_the_rest_wait_their_turn(Session, as_sets):
    ids = _portfolio(Session)
    report = _plan(Session, NOW, as_sets)
    assert _planned(Session) == ids[:9]
    assert report.planned == 9
    assert report.not_due == {QUEUE_FULL: ACCOUNTS - 9}
    assert (report.considered_as_sets > 0) is as_sets

    # Nothing has left the queue: nothing more goes in. The set path checks its accounts
    # all the same (a statement for them all); one by one, only those with a planned call
    # are read.
    again = _plan(Session, NOW + dt.timedelta(minutes=5), as_sets)
    assert again.planned == 0 and again.already_open == 9
    assert again.accounts_considered == ACCOUNTS
    assert again.not_due == {QUEUE_FULL if as_sets else QUEUE_FULL_UNCHECKED: ACCOUNTS - 9}

    # Three calls claimed by a dialer: three places, taken by the next accounts in turn.
    with Session.begin() as session:
        session.execute(
            update(ContactAttempt)
            .where(ContactAttempt.account_id.in_(ids[:3]))
            .values(status=AttemptStatus.DIALING)
        )
    later = _plan(Session, NOW + dt.timedelta(minutes=10), as_sets)
    assert later.planned == 3
    assert _planned(Session) == ids[3:12]

    # An account that paid leaves the queue, and its place goes to the next account.
    with Session.begin() as session:
        session.execute(
            update(CardAccount).where(CardAccount.id == ids[5]).values(past_due_minor=0)
        )
    paid = _plan(Session, NOW + dt.timedelta(minutes=15), as_sets)
    assert paid.cancelled == 1
    if not as_sets:
        # One by one, the accounts waiting for room were not read: the next run fills it.
        assert paid.planned == 0
        paid = _plan(Session, NOW + dt.timedelta(minutes=20), as_sets)
    assert paid.planned == 1
    assert _planned(Session) == [*ids[3:5], *ids[6:13]]


def test_without_pacing_set_every_due_account_is_queued(Session):
    ids = _portfolio(Session, limited=False)
    report = _plan(Session, NOW, as_sets=True)
    assert _planned(Session) == ids
    assert QUEUE_FULL not in report.not_due


def test_the_queue_bound_is_the_slower_of_the_global_and_the_campaigns_pacing(Session):
    ids = _portfolio(Session, limited=False)
    with Session.begin() as session:
        set_global_limits(session, Limits(1.0, 10), NOW)
        campaign_id = session.scalar(select(Campaign.id))
        set_campaign_limits(session, campaign_id, Limits(RATE / 2, 10), NOW)
    _plan(Session, NOW, as_sets=True)
    assert _planned(Session) == ids[: capacity(RATE / 2, HORIZON)]
