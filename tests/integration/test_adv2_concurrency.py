"""Adversarial review 2: planners at once with a bound, and beside claims (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import func, select, text

from dialer.claims import claim_due, set_global_limits
from dialer.pacing import Limits
from dialer.planner import HORIZON, PlanReport, plan, refresh_tiers
from hotline.enums import AttemptStatus, Direction, PhoneType
from hotline.models import CardAccount, ContactAttempt
from hotline.phones import stored_zones
from tests.conftest import backend
from tests.integration.dialer_fixtures import EXAMPLE, NOW, add_account, load_campaigns

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="PostgreSQL races")

ACCOUNTS = 400


def _setup(Session: Any, *, reversed_planned: bool) -> list[int]:
    load_campaigns(Session, EXAMPLE.read_text(encoding="utf-8"), start=("us-reminders",))
    with Session.begin() as session:
        ids = []
        for i in range(ACCOUNTS):
            number = f"+1415555{i:04d}"
            # Every 7th: five numbers, never plain (the one-by-one path).
            phones = tuple(
                (f"+1415{k}55{i:04d}" if k else number, PhoneType.HOME, False)
                for k in range(5 if i % 7 == 0 else 1)
            )
            account = add_account(session, f"P{i:03d}", phones=phones)
            for phone in account.cardholder.phones:
                for key, value in stored_zones(phone.e164).items():
                    setattr(phone, key, value)
            ids.append(account.id)
        refresh_tiers(session)
        set_global_limits(session, Limits(150.5 / HORIZON.total_seconds(), 10), NOW)
    if reversed_planned:
        # Planned calls for every other account, written in descending account order and
        # for a tier they are no longer in: both planners cancel (tier-changed) and requeue.
        with Session.begin() as session:
            campaign_id = session.scalar(text("SELECT id FROM campaign WHERE name='us-reminders'"))
            other_tier = session.scalar(text("SELECT id FROM delinquency_tier WHERE code='late'"))
            for account_id in sorted(ids[::2], reverse=True):
                account = session.get(CardAccount, account_id)
                session.add(
                    ContactAttempt(
                        direction=Direction.OUTBOUND,
                        account_id=account_id,
                        number=account.cardholder.phones[0].e164,
                        campaign_id=campaign_id,
                        tier_id=other_tier,
                        status=AttemptStatus.PLANNED,
                        due_at=NOW,
                        created_at=NOW - dt.timedelta(hours=1),
                    )
                )
    return ids


def _open_per_account(Session: Any) -> dict[int, int]:
    with Session() as session:
        return dict(
            session.execute(
                select(ContactAttempt.account_id, func.count())
                .where(
                    ContactAttempt.campaign_id.is_not(None),
                    ContactAttempt.status.in_(("planned", "dialing")),
                )
                .group_by(ContactAttempt.account_id)
            ).all()
        )


@pytest.mark.parametrize("commit", (False, True), ids=("one-tx", "after-batch"))
@pytest.mark.parametrize(
    "modes", [(True, True), (True, False), (False, False)], ids=["ss", "so", "oo"]
)
@pytest.mark.parametrize("run", range(2))
def test_two_bounded_planners_with_cancellations(Session, modes, commit, run):
    _setup(Session, reversed_planned=True)
    barrier = threading.Barrier(2)
    reports: list[PlanReport] = []
    errors: list[BaseException] = []

    def go(as_sets: bool) -> None:
        try:
            with Session() as session:
                session.execute(select(func.count()).select_from(CardAccount))
                barrier.wait()
                reports.append(
                    plan(
                        session,
                        NOW,
                        as_sets=as_sets,
                        batch_size=50,
                        after_batch=session.commit if commit else None,
                    )
                )
                session.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    _run_all(Session, [threading.Thread(target=go, args=(m,)) for m in modes], errors)


@pytest.mark.parametrize("as_sets", (True, False), ids=("sets", "one"))
@pytest.mark.parametrize("run", range(2))
def test_a_bounded_planner_beside_claims(Session, as_sets, run):
    _setup(Session, reversed_planned=True)
    with Session.begin() as session:
        set_global_limits(session, Limits(50.0, 1000), NOW)  # claims take many at once
    stop = threading.Event()
    errors: list[BaseException] = []
    claimed: list[int] = []

    def claimer() -> None:
        try:
            while not stop.is_set():
                with Session.begin() as session:
                    got = claim_due(
                        session,
                        worker_id="w",
                        clock=lambda: NOW + dt.timedelta(minutes=1),
                        lease=dt.timedelta(minutes=5),
                        horizon=NOW + dt.timedelta(minutes=2),
                        limit=20,
                    )
                    claimed.extend(c.attempt_id for c in got)
        except BaseException as exc:
            errors.append(exc)

    def planner() -> None:
        try:
            with Session() as session:
                plan(session, NOW, as_sets=as_sets, batch_size=50, after_batch=session.commit)
                session.commit()
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    threads = [threading.Thread(target=claimer), threading.Thread(target=planner)]
    _run_all(Session, threads, errors)
    assert claimed, "no claim was taken"


def _run_all(Session: Any, threads: list[threading.Thread], errors: list[BaseException]) -> None:
    """Run the threads at once; none may fail, and no account may have two open calls."""
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], [repr(e)[:400] for e in errors]
    assert set(_open_per_account(Session).values()) <= {1}
