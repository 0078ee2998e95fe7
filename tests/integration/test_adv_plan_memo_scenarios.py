"""Adversarial probe: planning with the memo writes what planning without it writes, under
events tests/integration/test_plan_memo.py does not try: the clock going back, tier
settings and a campaign's profile edited, pauses set and lifted, conversations (verified
inbound calls, right-party calls), horizons changing, a memo'd run rolled back, two
dialers each with its own memo, runs across a DST change and a holiday."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import pytest
from sqlalchemy import select, update

from dialer.campaign_store import set_status
from dialer.plan_memo import PlanMemo
from dialer.planner import plan
from hotline.enums import AttemptStatus, CampaignStatus
from hotline.models import Campaign, CampaignTier, CardAccount, ContactAttempt, IvrCall, Phone
from tests.integration.dialer_fixtures import NOW
from tests.integration.test_plan_sets import _attempt_rows, _portfolio

H = dt.timedelta(hours=1)


def _step(
    Session: Any,
    memo: PlanMemo,
    now: dt.datetime,
    *,
    as_sets: bool,
    horizon: dt.timedelta,
    commit: bool = True,
) -> int:
    with Session() as session:
        plan(session, now, as_sets=as_sets, horizon=horizon)
        expected = _attempt_rows(session)
        session.rollback()
    with Session() as session:
        report = plan(session, now, as_sets=as_sets, horizon=horizon, last_run=memo)
        assert _attempt_rows(session) == expected, now
        if commit:
            session.commit()
        else:
            session.rollback()
    return report.remembered


def _events(Session: Any, rng: random.Random, at: dt.datetime, kind: str) -> None:
    with Session.begin() as session:
        accounts = session.scalars(select(CardAccount).order_by(CardAccount.id)).all()
        planned = session.scalars(
            select(ContactAttempt)
            .where(ContactAttempt.status == AttemptStatus.PLANNED)
            .order_by(ContactAttempt.id)
        ).all()
        if kind == "calls":
            for attempt in rng.sample(planned, min(10, len(planned))):
                attempt.status = rng.choice(
                    (AttemptStatus.NO_ANSWER, AttemptStatus.COMPLETED, AttemptStatus.BUSY)
                )
                attempt.started_at = attempt.ended_at = at - dt.timedelta(minutes=3)
                if attempt.status is AttemptStatus.COMPLETED:
                    attempt.answered_by = rng.choice(("human", "machine_end_beep"))
                    attempt.disposition = rng.choice(("right-party", "promise", None))
        elif kind == "inbound":
            for account in rng.sample(accounts, 8):
                session.add(
                    IvrCall(
                        call_sid=f"CA{rng.getrandbits(120):032x}"[:34],
                        from_number=account.cardholder.phones[0].e164,
                        account_id=account.id,
                        step="menu",
                        verified=True,
                        started_at=at - dt.timedelta(minutes=10),
                    )
                )
        elif kind == "pauses":
            for account in rng.sample(accounts, 12):
                account.reminders_paused_until = rng.choice(
                    (None, at.date() + dt.timedelta(days=rng.randint(0, 6)))
                )
        elif kind == "tier-settings":
            link = session.scalars(select(CampaignTier).order_by(CampaignTier.id)).first()
            assert link is not None
            settings = json.loads(link.settings)
            settings["attempts_per_day"] = 1 + settings["attempts_per_day"] % 3
            settings["spacing_s"] = rng.choice((600, 4 * 3600, 26 * 3600))
            settings["retry_delay_s"] = {
                k: rng.choice((60, 3 * 3600, 2 * 86400)) for k in settings["retry_delay_s"]
            }
            link.settings = json.dumps(settings, sort_keys=True)
        elif kind == "profile":
            session.execute(
                update(Campaign)
                .where(Campaign.name == "us-reminders")
                .values(profile=rng.choice(("us-wa", "us-regf", "us-ma")))
            )
        elif kind == "opt-outs":
            for phone in rng.sample(session.scalars(select(Phone)).all(), 4):
                phone.opted_out_at = None if phone.opted_out_at else at
        elif kind == "dpd":
            for account in rng.sample(accounts, 10):
                account.days_past_due = rng.choice((0, 10, 35, 65, 95))
        elif kind == "pause-campaign":
            set_status(session, "us-reminders", CampaignStatus.PAUSED, actor="t", now=at)
        elif kind == "start-campaign":
            set_status(session, "us-reminders", CampaignStatus.ACTIVE, actor="t", now=at)


# (hours after NOW, horizon hours, events before, commit the memo'd run)
TIMELINE: list[tuple[float, float, tuple[str, ...], bool]] = [
    (0, 24, (), True),
    (1, 24, ("calls",), True),
    (2, 24, ("inbound",), True),
    (-3, 24, (), True),  # the clock went back
    (-2, 24, ("calls",), True),
    (5, 6, ("pauses",), True),  # a shorter horizon
    (6, 72, (), True),  # a longer one
    (7, 24, ("tier-settings",), True),
    (8, 24, (), False),  # a memo'd run rolled back
    (8.5, 24, ("calls",), True),
    (9, 24, ("profile",), True),
    (12, 24, ("opt-outs", "dpd"), True),
    (20, 24, ("pause-campaign",), True),
    (26, 24, ("start-campaign",), True),
    (40, 24, ("calls", "inbound"), True),
    (60, 24, ("pauses",), True),
    (100, 24, (), True),
    (90, 24, (), True),  # back again
    (200, 24, ("calls",), True),
]


@pytest.mark.parametrize("as_sets", [False, True], ids=["one-by-one", "sets"])
@pytest.mark.parametrize(
    "start", [NOW, dt.datetime(2026, 10, 30, 17, 0, tzinfo=dt.UTC)], ids=["december", "dst-end"]
)
def test_memo_equals_fresh_planning_through_harder_events(Session, as_sets, start):
    _portfolio(Session, seed=41, accounts=200)
    rng = random.Random(9)
    memo = PlanMemo()
    other = PlanMemo()  # a second dialer's, used on some runs
    skipped = 0
    for i, (hours, horizon, events, commit) in enumerate(TIMELINE):
        now = start + dt.timedelta(hours=hours)
        for kind in events:
            _events(Session, rng, now - dt.timedelta(minutes=1), kind)
        which = other if i % 3 == 2 else memo
        skipped += _step(
            Session,
            which,
            now,
            as_sets=as_sets,
            horizon=dt.timedelta(hours=horizon),
            commit=commit,
        )
    assert skipped > 0


KINDS = (
    "calls",
    "inbound",
    "pauses",
    "tier-settings",
    "profile",
    "opt-outs",
    "dpd",
    "pause-campaign",
    "start-campaign",
)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_memo_equals_fresh_planning_on_random_timelines(Session, seed):
    rng = random.Random(seed)
    _portfolio(Session, seed=100 + seed, accounts=150)
    memos = [PlanMemo(), PlanMemo()]
    start = rng.choice(
        [
            NOW,
            dt.datetime(2026, 3, 6, 20, 0, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC),
        ]
    )
    hours = 0.0
    for _ in range(22):
        hours += rng.choice((-5, -0.5, 0.25, 1, 1, 2, 7, 23, 49))
        now = start + dt.timedelta(hours=hours)
        for kind in rng.sample(KINDS, rng.randint(0, 2)):
            _events(Session, rng, now - dt.timedelta(minutes=1), kind)
        _step(
            Session,
            rng.choice(memos),
            now,
            as_sets=rng.random() < 0.3,
            horizon=dt.timedelta(hours=rng.choice((1, 24, 24, 48))),
            commit=rng.random() < 0.85,
        )
