"""The queue bound's ranking and end-of-run insertion (dialer/queue_room.py), from a
second adversarial review: places freed, skips, a queue over its bound, both paths on
varied portfolios, every account accounted for once."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import select, update

from dialer import queue_room
from dialer.claims import set_global_limits
from dialer.pacing import Limits
from dialer.planner import HORIZON, plan
from hotline.enums import PhoneType
from hotline.models import CardAccount, ContactAttempt
from hotline.phones import stored_zones
from tests.integration.dialer_fixtures import NOW, add_account, load_campaigns, open_attempts
from tests.integration.test_plan_sets import _attempt_rows
from tests.integration.test_plan_sets import _portfolio as _varied

RATE = 8.5 / HORIZON.total_seconds()  # 9 places in the horizon
MOMENT = dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.UTC)  # 09:00 New York, 06:00 LA


def _account(session: Any, name: str, e164: str, region: str, dpd: int = 45, n: int = 1) -> int:
    phones = tuple((f"{e164[:-1]}{k}", PhoneType.HOME, False) for k in range(n))
    account = add_account(session, name, dpd=dpd, region=region, phones=phones)
    for phone in account.cardholder.phones:
        for key, value in stored_zones(phone.e164).items():
            setattr(phone, key, value)
    session.flush()
    return account.id


def _planned(Session: Any) -> list[int]:
    return sorted(a.account_id for a in open_attempts(Session) if a.account_id is not None)


def _set_dpd(session: Any, ids: list[int], dpd: int) -> None:
    session.execute(
        update(CardAccount)
        .where(CardAccount.id.in_(ids))
        .values(days_past_due=dpd, due_date=NOW.date() - dt.timedelta(days=dpd))
    )


@pytest.mark.parametrize("as_sets", (False, True), ids=("one-by-one", "as-sets"))
def test_a_place_given_back_goes_to_the_call_popped_before_it(Session, as_sets):
    """The queue is full; a planned account pays (its place freed), and three NY accounts
    due now and a CA account due two hours later want places: the NY ones get them (the
    same run as sets, where the cancellation comes before the room is read; the next one
    by one)."""
    load_campaigns(Session)
    with Session.begin() as session:
        staying = [_account(session, f"S{i}", f"+1212555{i:03d}0", "NY") for i in range(6)]
        waiting = [_account(session, f"W{i}", f"+1212556{i:03d}0", "NY", dpd=0) for i in range(3)]
        paying = _account(session, "X", "+12125570000", "NY")
        late = _account(session, "CA", "+14155580000", "CA", dpd=0)
        set_global_limits(session, Limits(RATE, 10), NOW)
    with Session.begin() as session:
        plan(session, MOMENT, as_sets=as_sets)
    assert _planned(Session) == sorted([*staying, paying])
    with Session.begin() as session:
        _set_dpd(session, [*waiting, late], 45)
        session.execute(
            update(CardAccount).where(CardAccount.id == paying).values(past_due_minor=0)
        )
    with Session.begin() as session:
        report = plan(session, MOMENT + dt.timedelta(minutes=5), as_sets=as_sets)
    assert report.cancelled == 1
    if not as_sets:
        # One by one, the place a cancellation frees is the next run's: two of three now.
        assert _planned(Session) == sorted([*staying, *waiting[:2]])
        with Session.begin() as session:
            plan(session, MOMENT + dt.timedelta(minutes=10), as_sets=as_sets)
    assert _planned(Session) == sorted([*staying, *waiting]), {"late_planned": late, **vars(report)}


def _reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_room.Places, "cannot_place", lambda *a, **k: False)


def test_a_place_given_back_after_the_skip_is_left_empty_or_given_to_a_worse_call(
    Session, monkeypatch
):
    """As sets: the queue is full (room 0) of the set's calls; a non-plain account with a
    planned call is cancelled (it paid). Planning with cannot_place's skips and without
    them do the same: the place it frees is the next run's either way."""
    load_campaigns(Session)
    with Session.begin() as session:
        # Five numbers: never plain. Lowest id: queued on the first run.
        paying = _account(session, "X", "+12125570000", "NY", n=5)
        plain = [_account(session, f"P{i}", f"+1212555{i:03d}0", "NY") for i in range(12)]
        _account(session, "Y", "+12125590000", "NY", n=5)  # never plain, due now
        set_global_limits(session, Limits(RATE, 10), NOW)
    with Session.begin() as session:
        plan(session, MOMENT, as_sets=True)
    assert _planned(Session) == sorted([paying, *plain[:8]])
    with Session.begin() as session:
        session.execute(
            update(CardAccount).where(CardAccount.id == paying).values(past_due_minor=0)
        )
    later = MOMENT + dt.timedelta(minutes=5)
    results = {}
    for skipping in (True, False):
        with monkeypatch.context() as m:
            if not skipping:
                _reference(m)
            with Session() as session:
                report = plan(session, later, as_sets=True)
                rows = _attempt_rows(session)
                session.rollback()
        results[skipping] = (
            report.planned,
            report.cancelled,
            sorted(r[0] for r in rows if r[1] == "planned"),
        )
    assert results[True] == results[False], results


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "moment",
    (
        NOW,
        dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 2, 4, 0, tzinfo=dt.UTC),
    ),
    ids=("18h", "14h", "04h"),
)
def test_with_a_bound_both_paths_pick_the_same_accounts(Session, seed, moment, monkeypatch):
    """Varied portfolio, small bound: the set path and the one-by-one path (and the set path
    without skipping) queue the same rows."""
    _varied(Session, seed=seed * 31 + moment.hour, accounts=200)
    with Session.begin() as session:
        set_global_limits(session, Limits(20.5 / HORIZON.total_seconds(), 10), NOW)
    outcomes = {}
    for name, as_sets, skip in (("one", False, True), ("sets", True, True), ("ref", True, False)):
        with monkeypatch.context() as m:
            if not skip:
                _reference(m)
            with Session() as session:
                report = plan(session, moment, as_sets=as_sets)
                outcomes[name] = (
                    (report.planned, report.cancelled, report.already_open),
                    _attempt_rows(session),
                )
                session.rollback()
    assert outcomes["sets"][1] == outcomes["ref"][1]
    assert outcomes["sets"][1] == outcomes["one"][1], (outcomes["sets"][0], outcomes["one"][0])
    assert outcomes["sets"][0] == outcomes["one"][0]


def _true_places(Session: Any, now: dt.datetime, rate: float, monkeypatch: Any) -> set[int]:
    """The spec: every due call ranked (one by one, room unbounded, offers recorded);
    each campaign keeps its capacity less the planned calls that stay, the best first."""
    import dialer.planner as planner_module

    offers: list[tuple[int, Any, int]] = []
    original = queue_room.Places.offer

    def record(self, campaign_id, rank, row):  # type: ignore[no-untyped-def]
        offers.append((campaign_id, rank, row["account_id"]))
        original(self, campaign_id, rank, row)

    with monkeypatch.context() as m:
        m.setattr(
            planner_module,
            "queue_room",
            lambda connection, ids, now, horizon: {c: 10**9 for c in ids},
        )
        m.setattr(queue_room.Places, "offer", record)
        with Session() as session:
            plan(session, now, as_sets=False)
            staying: dict[int, int] = {}
            for (campaign_id,) in session.execute(
                select(ContactAttempt.campaign_id).where(
                    ContactAttempt.status == "planned",
                    ContactAttempt.campaign_id.is_not(None),
                    ContactAttempt.created_at < now,
                    ContactAttempt.due_at < now + HORIZON,
                )
            ):
                staying[campaign_id] = staying.get(campaign_id, 0) + 1
            session.rollback()
    winners: set[int] = set()
    for campaign_id in {c for c, _, _ in offers}:
        ranked = sorted((r, a) for c, r, a in offers if c == campaign_id)
        room = max(0, queue_room.capacity(rate, HORIZON) - staying.get(campaign_id, 0))
        winners.update(a for _, a in ranked[:room])
    return winners


def _new_rows(Session: Any, now: dt.datetime, as_sets: bool) -> set[int]:
    with Session() as session:
        plan(session, now, as_sets=as_sets)
        ids = set(
            session.scalars(
                select(ContactAttempt.account_id).where(
                    ContactAttempt.status == "planned", ContactAttempt.created_at == now
                )
            )
        )
        session.rollback()
    return ids


@pytest.mark.parametrize("as_sets", (False, True), ids=("one-by-one", "as-sets"))
def test_a_queue_over_its_bound_does_not_grow_back_by_tier_changes(Session, as_sets):
    """12 calls queued before the pacing was set (or lowered): capacity 9. Six accounts
    move to another tier of the campaign (cancel + requeue). Six stay, so the queue has
    room for 3 of the six requeued, never all six."""
    load_campaigns(Session)
    with Session.begin() as session:
        ids = [_account(session, f"O{i}", f"+1415555{i:03d}0", "CA") for i in range(12)]
    with Session.begin() as session:
        plan(session, NOW, as_sets=as_sets)  # no pacing yet: every due call
    assert len(_planned(Session)) == 12
    with Session.begin() as session:
        set_global_limits(session, Limits(RATE, 10), NOW)
        _set_dpd(session, ids[:6], 15)  # mid -> early: tier-changed
    with Session.begin() as session:
        report = plan(session, NOW + dt.timedelta(minutes=5), as_sets=as_sets)
    assert report.cancelled == 6
    if not as_sets:
        # One by one, the six requeued wait for the next run; it has room for three.
        assert len(_planned(Session)) == 6, vars(report)
        with Session.begin() as session:
            plan(session, NOW + dt.timedelta(minutes=10), as_sets=as_sets)
    assert len(_planned(Session)) == 9, vars(report)


@pytest.mark.parametrize("as_sets", (False, True), ids=("one-by-one", "as-sets"))
@pytest.mark.parametrize("seed", range(4))
def test_every_account_considered_is_accounted_for_once(Session, seed, as_sets):
    _varied(Session, seed=300 + seed, accounts=200)
    with Session.begin() as session:
        set_global_limits(session, Limits(25.5 / HORIZON.total_seconds(), 10), NOW)
    rng = random.Random(seed)
    for step in range(3):
        now = NOW + dt.timedelta(hours=step)
        with Session.begin() as session:
            report = plan(session, now, as_sets=as_sets)
            total = report.planned + report.already_open + sum(report.not_due.values())
            assert total == report.accounts_considered, vars(report)
            ids = list(session.scalars(select(CardAccount.id)))
            for account_id in rng.sample(ids, 30):
                session.execute(
                    update(CardAccount)
                    .where(CardAccount.id == account_id)
                    .values(days_past_due=rng.choice((0, 10, 35, 65, 95)))
                )
