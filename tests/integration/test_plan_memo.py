"""The planning job's memo (dialer/plan_memo.py) on a real database: run after run, with
the portfolio changing between runs, planning with it queues, keeps and cancels exactly
what planning without it does; it only skips schedules whose answer it knows."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import select, update

from dialer.campaign_store import set_status
from dialer.plan_memo import PlanMemo
from dialer.planner import PlanReport, plan
from hotline.enums import AccountFlag, AttemptStatus, CampaignStatus, Source
from hotline.models import AccountFlagRow, CardAccount, ContactAttempt, Phone
from tests.integration.dialer_fixtures import NOW, past_call
from tests.integration.test_plan_sets import _attempt_rows, _portfolio


def _counts(report: PlanReport) -> tuple[int, ...]:
    # The reasons' sum, not each: a skipped not-due account counts under the reason found
    # when it was last computed.
    return (
        report.accounts_considered,
        report.planned,
        report.already_open,
        report.cancelled,
        sum(report.not_due.values()),
    )


def _with_and_without(Session: Any, memo: PlanMemo, now: dt.datetime, as_sets: bool) -> PlanReport:
    """Plan at `now` without the memo (rolled back), then with it (committed)."""
    with Session() as session:
        fresh = plan(session, now, as_sets=as_sets)
        expected = _attempt_rows(session)
        session.rollback()
    with Session() as session:
        remembered = plan(session, now, as_sets=as_sets, last_run=memo)
        assert _attempt_rows(session) == expected
        session.commit()
    assert _counts(remembered) == _counts(fresh)
    assert fresh.remembered == 0
    return remembered


def _meanwhile(Session: Any, rng: random.Random, at: dt.datetime) -> None:
    """What happens between two runs: calls placed, numbers opted out, tiers rolled,
    flags set, a campaign paused."""
    with Session.begin() as session:
        planned = session.scalars(
            select(ContactAttempt)
            .where(ContactAttempt.status == AttemptStatus.PLANNED)
            .order_by(ContactAttempt.id)
        ).all()
        for attempt in rng.sample(planned, min(8, len(planned))):
            attempt.status = rng.choice((AttemptStatus.NO_ANSWER, AttemptStatus.COMPLETED))
            attempt.started_at = attempt.ended_at = at - dt.timedelta(minutes=5)
            attempt.answered_by = "human" if attempt.status is AttemptStatus.COMPLETED else None
        accounts = session.scalars(select(CardAccount).order_by(CardAccount.id)).all()
        for account in rng.sample(accounts, 6):
            past_call(
                session,
                account,
                number=account.cardholder.phones[0].e164,
                at=at - dt.timedelta(minutes=30),
                status=AttemptStatus.BUSY,
                campaign_id=None,
            )
        for account in rng.sample(accounts, 6):
            session.execute(
                update(CardAccount)
                .where(CardAccount.id == account.id)
                .values(days_past_due=rng.choice((0, 10, 35, 65, 95)))
            )
        for account in rng.sample(accounts, 3):
            if AccountFlag.BANKRUPTCY not in {f.flag for f in account.flags}:
                session.add(
                    AccountFlagRow(
                        account_id=account.id,
                        flag=AccountFlag.BANKRUPTCY,
                        source=Source.AGENT,
                        set_at=at,
                    )
                )
        for phone in rng.sample(session.scalars(select(Phone)).all(), 5):
            phone.opted_out_at = at


@pytest.mark.parametrize("as_sets", [False, True], ids=["one-by-one", "sets"])
def test_planning_with_the_memo_writes_what_planning_without_it_writes(Session, as_sets):
    _portfolio(Session, seed=23)
    memo = PlanMemo()
    rng = random.Random(5)
    skipped = 0
    for hours in (0, 1, 3, 4, 9, 14, 20, 26, 33, 50):
        now = NOW + dt.timedelta(hours=hours)
        if hours in (3, 14, 26):
            _meanwhile(Session, rng, now)
        if hours == 20:
            with Session.begin() as session:
                set_status(session, "us-massachusetts", CampaignStatus.PAUSED, actor="t", now=now)
        if hours == 33:
            with Session.begin() as session:
                set_status(session, "us-massachusetts", CampaignStatus.ACTIVE, actor="t", now=now)
        skipped += _with_and_without(Session, memo, now, as_sets).remembered
    # Not a memo that never answers: most accounts read one by one are unchanged run to run,
    # and most of those are not even read (their cardholder unchanged: plan_changes).
    assert skipped > 0
    assert memo.skipped == skipped
    assert 0 < memo.unread <= skipped
