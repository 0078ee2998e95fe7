"""Planning as sets (dialer/plan_sets.py) against planning one account at a time: over a
varied portfolio, at several moments, first runs and later ones, the two must queue the
same calls (numbers, times, decisions byte for byte), cancel the same attempts and count
the same reasons. The set path is only a faster way to the planner's own answers."""

from __future__ import annotations

import datetime as dt
import random
import threading
from typing import Any

import pytest
from sqlalchemy import func, select, update

from dialer.campaign_store import set_status
from dialer.claims import set_global_limits
from dialer.pacing import Limits
from dialer.planner import PlanReport, plan, refresh_tiers
from hotline.enums import (
    AccountFlag,
    AttemptStatus,
    CampaignStatus,
    CaseKind,
    CaseStatus,
    PhoneType,
    Source,
    TextKind,
    TextStatus,
)
from hotline.models import (
    Campaign,
    CardAccount,
    Case,
    ContactAttempt,
    IvrCall,
    Phone,
    TextMessage,
)
from hotline.phones import ZONES_VERSION, stored_zones
from tests.conftest import backend
from tests.integration.dialer_fixtures import (
    EXAMPLE,
    NOW,
    add_account,
    load_campaigns,
    open_attempts,
    past_call,
)

US_AREAS = {"CA": "415", "NY": "212", "MA": "617", "WA": "206", "TX": "512", "HI": "808"}
HOURS = (None, (dt.time(9), dt.time(12)), (dt.time(18), dt.time(20)))


def _number(rng: random.Random, country: str, area: str) -> str:
    if country == "CN":
        return f"+86138{rng.randrange(10**8):08d}"
    return f"+1{area}{rng.randint(2, 9)}{rng.randrange(10**6):06d}"


def _portfolio(Session: Any, seed: int, accounts: int = 160) -> None:
    """Accounts of every kind the planner tells apart, most of them plain."""
    rng = random.Random(seed)
    load_campaigns(
        Session,
        EXAMPLE.read_text(encoding="utf-8"),
        start=("us-reminders", "us-massachusetts", "cn-reminders"),
    )
    with Session.begin() as session:
        for i in range(accounts):
            if rng.random() < 0.6:
                _common_account(session, rng, f"S{seed}-{i:05d}")
                continue
            country = "CN" if rng.random() < 0.15 else "US"
            region = "BJ" if country == "CN" else rng.choice(list(US_AREAS))
            area = US_AREAS.get(region, "415")
            count = rng.choice((1, 1, 1, 2, 2, 3, 5))
            phones = []
            for _ in range(count):
                # Now and then a number from another state: more zones to call within.
                other = rng.choice(list(US_AREAS.values())) if rng.random() < 0.2 else area
                kind = rng.choice((PhoneType.MOBILE, PhoneType.HOME, PhoneType.WORK))
                phones.append((_number(rng, country, other), kind, rng.random() < 0.8))
            if count == 2 and rng.random() < 0.2:
                # Two numbers with the same last four digits: masked alike.
                first = phones[0][0]
                digit = "8" if first[-5] == "9" else "9"
                phones[1] = (first[:-5] + digit + first[-4:], *phones[1][1:])
            dpd = rng.choice((0, 0, 5, 15, 29, 30, 45, 59, 60, 75, 89, 90, 120))
            flags = (rng.choice(list(AccountFlag)),) if rng.random() < 0.12 else ()
            account = add_account(
                session,
                f"S{seed}-{i:05d}",
                dpd=dpd,
                past_due=0 if rng.random() < 0.05 else 75_00,
                region=region,
                country=country,
                phones=tuple(phones),
                flags=flags,
            )
            holder = account.cardholder
            for phone in holder.phones:
                if rng.random() < 0.9:
                    for key, value in stored_zones(phone.e164).items():
                        setattr(phone, key, value)
                if rng.random() < 0.06:
                    phone.opted_out_at = NOW - dt.timedelta(days=3)
                if rng.random() < 0.04:
                    phone.bad_number = True
                if rng.random() < 0.04:
                    phone.removed_at = NOW - dt.timedelta(days=30)
                if rng.random() < 0.04:
                    phone.under_review_at = NOW - dt.timedelta(days=1)
                hours = rng.choice(HOURS)
                if hours is not None and rng.random() < 0.3:
                    phone.allowed_hours_start, phone.allowed_hours_end = hours
            roll = rng.random()
            if roll < 0.08:
                account.reminders_paused_until = NOW.date() + dt.timedelta(days=rng.randint(1, 9))
            elif roll < 0.12:
                account.reminders_paused_until = NOW.date() - dt.timedelta(days=2)
            if rng.random() < 0.05:
                session.add(
                    Case(
                        account_id=account.id,
                        kind=CaseKind.DISPUTE,
                        status=rng.choice((CaseStatus.OPEN, CaseStatus.RESOLVED)),
                        source=Source.IVR,
                    )
                )
            roll = rng.random()
            if roll < 0.08:
                past_call(
                    session,
                    account,
                    number=holder.phones[0].e164,
                    at=NOW - dt.timedelta(hours=rng.choice((3, 20, 30, 100, 300))),
                    status=rng.choice((AttemptStatus.NO_ANSWER, AttemptStatus.COMPLETED)),
                    campaign_id=None,
                )
            elif roll < 0.11:
                _rang_the_line(session, account, holder.phones[0].e164)
            elif roll < 0.14 and i > 0:
                # A second account of the previous account's cardholder.
                previous = session.scalars(
                    select(CardAccount).where(CardAccount.account_number == f"S{seed}-{i - 1:05d}")
                ).one()
                account.cardholder = previous.cardholder
        session.flush()


def _common_account(session: Any, rng: random.Random, number: str) -> None:
    """The portfolio's bulk: accounts alike but for who they are and what they owe, so that
    many share a shape (and one account's schedule stands for many)."""
    region = rng.choice(("CA", "NY", "MA"))
    country = "CN" if rng.random() < 0.1 else "US"
    e164 = _number(rng, country, US_AREAS[region])
    kind, consent = rng.choice(((PhoneType.MOBILE, True), (PhoneType.HOME, False)))
    account = add_account(
        session,
        number,
        dpd=rng.choice((3, 20, 40, 70, 100)),
        past_due=0 if rng.random() < 0.1 else rng.choice((20_00, 75_00)),
        region="BJ" if country == "CN" else region,
        country=country,
        phones=((e164, kind, consent),),
        flags=(AccountFlag.BANKRUPTCY,) if rng.random() < 0.05 else (),
    )
    if rng.random() < 0.05:
        account.reminders_paused_until = NOW.date() + dt.timedelta(days=2)
    for phone in account.cardholder.phones:
        for key, value in stored_zones(phone.e164).items():
            setattr(phone, key, value)
        if rng.random() < 0.05:
            phone.opted_out_at = NOW - dt.timedelta(days=3)
    session.flush()
    roll = rng.random()
    if roll < 0.06:  # called by its campaign this morning, or rang the line two days ago
        campaign = "cn-reminders" if country == "CN" else "us-reminders"
        campaign_id = session.scalar(select(Campaign.id).where(Campaign.name == campaign))
        when = NOW - dt.timedelta(hours=3)
        past_call(
            session,
            account,
            number=e164,
            at=when,
            status=AttemptStatus.NO_ANSWER,
            campaign_id=campaign_id,
        )
    elif roll < 0.1:
        _rang_the_line(session, account, e164)
    elif roll < 0.16 and kind is PhoneType.MOBILE:
        _texted(session, account, e164)


def _texted(session: Any, account: CardAccount, number: str) -> None:
    """Two texts sent yesterday (us-ma counts texts: 2 in 7 days)."""
    for k in range(2):
        sent = NOW - dt.timedelta(hours=20 + k)
        session.add(
            TextMessage(
                account_id=account.id,
                number=number,
                kind=TextKind.FOLLOW_UP,
                source_key=f"test-{account.id}-{k}",
                body_key="sms_follow_up",
                language="en",
                status=TextStatus.SENT,
                due_at=sent,
                claimed_at=sent,
                sent_at=sent,
            )
        )


def _rang_the_line(session: Any, account: CardAccount, number: str) -> None:
    """A verified inbound call two days ago: a conversation the pause counts."""
    session.add(
        IvrCall(
            call_sid=f"CA{account.id:032d}",
            from_number=number,
            account_id=account.id,
            step="menu",
            verified=True,
            started_at=NOW - dt.timedelta(days=2),
        )
    )


def _attempt_rows(session: Any) -> list[tuple[Any, ...]]:
    rows = session.execute(
        select(
            ContactAttempt.account_id,
            ContactAttempt.status,
            ContactAttempt.number,
            ContactAttempt.phone_id,
            ContactAttempt.campaign_id,
            ContactAttempt.tier_id,
            ContactAttempt.due_at,
            ContactAttempt.decision,
            ContactAttempt.disposition,
            ContactAttempt.ended_at,
        ).where(ContactAttempt.campaign_id.is_not(None))
    ).all()
    return sorted((tuple(r) for r in rows), key=repr)


def _figures(report: PlanReport) -> tuple[Any, ...]:
    return (
        report.tiers_changed,
        report.accounts_considered,
        report.planned,
        report.already_open,
        report.cancelled,
        sorted(report.not_due.items()),
    )


def _both_ways(Session: Any, now: dt.datetime) -> tuple[PlanReport, PlanReport]:
    """Plan at `now` one by one and as sets, each rolled back; both must agree."""
    outcomes = []
    for as_sets in (False, True):
        with Session() as session:
            report = plan(session, now, as_sets=as_sets)
            outcomes.append((report, _attempt_rows(session)))
            session.rollback()
    (one_by_one, rows_one), (sets, rows_sets) = outcomes
    assert rows_sets == rows_one
    assert _figures(sets) == _figures(one_by_one)
    return one_by_one, sets


MOMENTS = (
    NOW,  # Wednesday 10:00 in Los Angeles
    dt.datetime(2026, 12, 2, 4, 0, tzinfo=dt.UTC),  # night in the US, noon in Beijing
    dt.datetime(2026, 12, 25, 17, 0, tzinfo=dt.UTC),  # Christmas Day
    dt.datetime(2026, 12, 6, 20, 30, tzinfo=dt.UTC),  # a Sunday afternoon
)


@pytest.mark.parametrize("moment", MOMENTS, ids=lambda m: m.strftime("%a-%d-%H%M"))
def test_a_first_run_as_sets_queues_what_one_by_one_queues(Session, moment):
    _portfolio(Session, seed=moment.day * 100 + moment.hour)
    one_by_one, sets = _both_ways(Session, moment)
    assert one_by_one.considered_as_sets == 0
    # Not a set path that hands everything back: most plain accounts are planned as sets.
    assert sets.considered_as_sets > sets.accounts_considered // 2
    assert sets.planned > 0


def test_a_later_run_as_sets_keeps_cancels_and_replaces_what_one_by_one_does(Session):
    _portfolio(Session, seed=7)
    with Session.begin() as session:
        plan(session, NOW)
    later = NOW + dt.timedelta(hours=2)
    with Session.begin() as session:
        ids = list(session.scalars(select(CardAccount.id).order_by(CardAccount.id)))
        rng = random.Random(3)
        for account_id in rng.sample(ids, 30):  # the bank's file: some roll a tier
            session.execute(
                update(CardAccount)
                .where(CardAccount.id == account_id)
                .values(days_past_due=rng.choice((0, 10, 35, 65, 95)))
            )
        for account_id in rng.sample(ids, 5):
            account = session.get(CardAccount, account_id)
            account.reminders_paused_until = later.date() + dt.timedelta(days=3)
        for phone in session.scalars(select(Phone).limit(12)):
            phone.opted_out_at = later
        set_status(session, "us-massachusetts", CampaignStatus.PAUSED, actor="test", now=later)
    _, sets = _both_ways(Session, later)
    assert sets.already_open > 0 and sets.cancelled > 0
    # And once more, with nothing changed: everything that stands is kept.
    with Session.begin() as session:
        plan(session, later)
    _, again = _both_ways(Session, later + dt.timedelta(minutes=5))
    assert again.planned == 0 and again.cancelled == 0


def test_an_account_called_meanwhile_is_left_to_the_account_path(Session):
    """A cardholder with any recent contact is never planned as a set."""
    _portfolio(Session, seed=11, accounts=40)
    _, before = _both_ways(Session, NOW)
    with Session.begin() as session:
        for account in session.scalars(select(CardAccount)):
            phone = account.cardholder.phones[0]
            past_call(
                session,
                account,
                number=phone.e164,
                at=NOW - dt.timedelta(hours=1),
                status=AttemptStatus.BUSY,
                campaign_id=None,
            )
    _, after = _both_ways(Session, NOW)
    assert before.considered_as_sets > 0 and after.considered_as_sets == 0


@pytest.mark.parametrize("contact", ["campaign call", "two texts", "inbound call"])
def test_a_contacted_account_among_its_twins_is_not_planned_as_one_of_them(Session, contact):
    """Five Massachusetts accounts alike; the fourth was contacted. Its twins are queued now
    as one shape; it is held back as the rules say (retry delay, 2 contacts in 7 days
    under us-ma, the pause after a conversation), and the set path agrees."""
    load_campaigns(
        Session, EXAMPLE.read_text(encoding="utf-8"), start=("us-reminders", "us-massachusetts")
    )
    with Session.begin() as session:
        accounts = []
        for i in range(5):
            number = f"+1617555{1000 + i:04d}"
            phones = ((number, PhoneType.MOBILE, True),)
            account = add_account(session, f"MA-{i}", region="MA", phones=phones)
            for key, value in stored_zones(number).items():
                setattr(account.cardholder.phones[0], key, value)
            accounts.append(account)
        session.flush()
        contacted = accounts[3]
        number = contacted.cardholder.phones[0].e164
        if contact == "campaign call":
            campaign_id = session.scalar(
                select(Campaign.id).where(Campaign.name == "us-massachusetts")
            )
            when = NOW - dt.timedelta(hours=1)
            past_call(
                session,
                contacted,
                number=number,
                at=when,
                status=AttemptStatus.NO_ANSWER,
                campaign_id=campaign_id,
            )
        elif contact == "two texts":
            _texted(session, contacted, number)
        else:
            _rang_the_line(session, contacted, number)
        contacted_id = contacted.id
    _, sets = _both_ways(Session, NOW)
    assert sets.considered_as_sets == 4
    with Session.begin() as session:
        plan(session, NOW)
    queued = {a.account_id: a.due_at for a in open_attempts(Session)}
    twins = {queued[a.id] for a in accounts if a.id != contacted_id}
    assert twins == {NOW}
    assert queued.get(contacted_id) != NOW


def test_a_number_with_zones_from_an_older_numbering_plan_is_not_one_of_its_twins(Session):
    """A Los Angeles number stored as New York's under an older numbering plan: its zones
    are worked out afresh, one by one. As a twin of the New York accounts it would be
    queued at 10:30 in New York, 07:30 where it rings."""
    load_campaigns(Session, EXAMPLE.read_text(encoding="utf-8"), start=("us-reminders",))
    moment = dt.datetime(2026, 12, 2, 15, 30, tzinfo=dt.UTC)
    with Session.begin() as session:
        for i, number in enumerate(("+12125551000", "+12125551001", "+14155551002")):
            account = add_account(
                session, f"Z-{i}", region="NY", phones=((number, PhoneType.HOME, False),)
            )
            phone = account.cardholder.phones[0]
            phone.time_zones, phone.time_zones_version = "America/New_York", ZONES_VERSION
        phone.time_zones_version = "8.0.0"
        stale = account.id
    _, sets = _both_ways(Session, moment)
    assert sets.considered_as_sets == 2
    with Session.begin() as session:
        plan(session, moment, as_sets=True)
    queued = {a.account_id: a.due_at for a in open_attempts(Session)}
    assert queued.pop(stale) == dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC)  # 08:00 there
    assert set(queued.values()) == {moment}


@pytest.mark.skipif(backend() != "postgresql", reason="SQLite serialises writers")
@pytest.mark.parametrize("as_sets", [(True, True), (True, False)], ids=["sets+sets", "sets+one"])
def test_two_planners_at_once_as_sets_queue_one_call_per_account(Session, as_sets):
    """Both read "no open attempt" and insert; the unique index keeps one per account,
    whichever way each plans, and neither fails."""
    load_campaigns(Session, EXAMPLE.read_text(encoding="utf-8"), start=("us-reminders",))
    with Session.begin() as session:
        for i in range(300):
            number = f"+1415555{i:04d}"
            account = add_account(session, f"P{i:03d}", phones=((number, PhoneType.HOME, False),))
            for key, value in stored_zones(number).items():
                setattr(account.cardholder.phones[0], key, value)
        refresh_tiers(session)
    barrier = threading.Barrier(2)
    reports: list[PlanReport] = []
    errors: list[BaseException] = []

    def run(sets: bool) -> None:
        try:
            with Session.begin() as session:
                session.execute(select(func.count()).select_from(CardAccount))
                barrier.wait()
                reports.append(plan(session, NOW, as_sets=sets))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(sets,)) for sets in as_sets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.planned for r in reports) == 300
    assert max(r.considered_as_sets for r in reports) == 300
    with Session() as session:
        per_account = session.execute(
            select(ContactAttempt.account_id, func.count())
            .where(ContactAttempt.status == AttemptStatus.PLANNED)
            .group_by(ContactAttempt.account_id)
        ).all()
    assert len(per_account) == 300 and {count for _, count in per_account} == {1}


def test_with_a_bound_the_set_path_writes_the_rows_it_writes_without_one(Session):
    """With a pacing set, the set's calls are built in Python to compete for the room
    (dialer/queue_room.py); with room for all, they are the rows its SQL writes without a
    bound, decisions byte for byte."""
    _portfolio(Session, seed=23)
    outcomes = []
    for limits in (None, Limits(1.0, 10)):
        with Session() as session:
            if limits is not None:
                set_global_limits(session, limits, NOW)
            report = plan(session, NOW, as_sets=True)
            outcomes.append((_figures(report), _attempt_rows(session)))
            session.rollback()
    (figures, rows), (bounded_figures, bounded_rows) = outcomes
    assert bounded_rows == rows and len(rows) > 20
    assert bounded_figures == figures
