"""Service rules found by attacking the services: racing disputes and plans on one account,
and a plan starting after the 28th. Each failed before its fix (the account's row lock in
open_case and save_plan; the first instalment due on the plan's own start day).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import sessionmaker

from hotline import arrangements, cases
from hotline.demo import KNOWN_CALLERS
from hotline.enums import AccountFlag, CaseKind
from hotline.models import CardAccount, Case, PlanInstalment, RepaymentPlan
from tests.conftest import seed_demo
from tests.integration.test_services import (
    IVR,
    NOW,
    THREADS,
    account_id,
    audited,
    postgresql_only,
    rows,
    rows_flags,
    together,
)


@pytest.fixture
def alice(Session: sessionmaker) -> int:
    seed_demo(Session, size=3)
    return account_id(Session, KNOWN_CALLERS[0].account_number)


@postgresql_only
def test_concurrent_disputes_on_one_account_all_open_with_one_flag(
    Session: sessionmaker, alice: int
) -> None:
    """Two lines (or a caller and an agent) opening a dispute at once: every case opens.

    Found: open_case checks `account.flag_set` without a lock, so each racing transaction
    sees no dispute flag and inserts one; all but the first fail on account_flag's primary
    key (IntegrityError) and roll back with their case, so the caller hears the apology
    and the dispute they raised is lost.
    """

    def dispute(index: int) -> int:
        with Session.begin() as session:
            return cases.open_case(
                session,
                session.get_one(CardAccount, alice),
                kind=CaseKind.DISPUTE,
                summary=f"dispute {index}",
                origin=IVR,
                now=NOW,
            ).id

    _, errors = together(THREADS, dispute)
    assert errors == []
    assert len(rows(Session, Case)) == THREADS
    assert [f.flag for f in rows_flags(Session, alice)] == [AccountFlag.DISPUTE]
    assert len(audited(Session, "case.opened")) == THREADS


def test_a_plan_starting_after_the_28th_is_not_due_before_it_starts(
    Session: sessionmaker, alice: int
) -> None:
    """A plan agreed to start on the 31st: its first instalment is due on the 31st.

    Found (latent: the phone flows start plans on add_months(today, 1), already kept to the
    28th, but an agent or the dialer may pass any day): save_plan dates instalment n at
    add_months(start, n - 1), and add_months keeps the day to the 28th even for n = 1, so the
    first instalment falls due three days before the plan's own start_date, perhaps already
    past on the day it is agreed.
    """
    start = dt.date(2027, 1, 31)
    with Session.begin() as session:
        arrangements.save_plan(
            session,
            session.get_one(CardAccount, alice),
            count=3,
            instalment_minor=1_000,
            start=start,
            origin=IVR,
            now=NOW,
        )
    [plan] = rows(Session, RepaymentPlan)
    dues = [i.due_date for i in rows(Session, PlanInstalment, PlanInstalment.plan_id == plan.id)]
    assert plan.start_date == start
    assert dues[0] >= plan.start_date
    assert dues == [start, dt.date(2027, 2, 28), dt.date(2027, 3, 28)]


@postgresql_only
def test_two_plans_agreed_at_once_leave_one_running(Session: sessionmaker, alice: int) -> None:
    """Two calls confirming a plan at the same instant: one plan runs, both get its
    reference (neither hears an apology, no second plan doubles the instalments)."""

    def agree(index: int) -> str:
        with Session.begin() as session:
            return arrangements.save_plan(
                session,
                session.get_one(CardAccount, alice),
                count=3,
                instalment_minor=10_000,
                start=dt.date(2027, 1, 5),
                origin=IVR,
                now=NOW,
            )

    references, errors = together(THREADS, agree)
    assert errors == []
    assert len(rows(Session, RepaymentPlan)) == 1
    assert len(set(references)) == 1
