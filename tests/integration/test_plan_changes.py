"""The planning change feed (dialer/plan_changes.py, migration 0016's triggers): every
write to a table the planner reads about an account names that account's cardholder, and
a change committed after the planning job read the feed is read on its next run, never
missed, even when it was written before the run began (PostgreSQL's ids are not in
commit order)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from dialer.plan_changes import read_changes
from dialer.plan_memo import PlanMemo
from dialer.planner import plan
from hotline.enums import (
    AccountFlag,
    AttemptStatus,
    CaseKind,
    CaseStatus,
    Direction,
    PhoneType,
    Source,
    TextKind,
    TextStatus,
)
from hotline.models import (
    AccountFlagRow,
    CardAccount,
    Cardholder,
    Case,
    ContactAttempt,
    IvrCall,
    Phone,
    PlanChange,
    TextMessage,
)
from tests.conftest import backend
from tests.integration.dialer_fixtures import NOW, add_account, load_campaigns
from tests.integration.test_plan_memo import _with_and_without
from tests.integration.test_plan_sets import _attempt_rows

Write = Callable[[Session, CardAccount], Any]
# 22:00 in Los Angeles: the calls planned then are due at 08:00, still ahead for hours, so
# the memo knows them from one run to the next.
NIGHT = NOW + dt.timedelta(hours=12)


def _added(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def _attempt(session: Session, account: CardAccount) -> ContactAttempt:
    return _added(
        session,
        ContactAttempt(
            direction=Direction.OUTBOUND,
            account_id=account.id,
            number="+14155550100",
            status=AttemptStatus.NO_ANSWER,
            started_at=NOW,
            due_at=NOW,
        ),
    )


def _text(session: Session, account: CardAccount) -> TextMessage:
    return _added(
        session,
        TextMessage(
            account_id=account.id,
            number="+14155550100",
            kind=TextKind.FOLLOW_UP,
            source_key=f"attempt:{account.id}",
            body_key="sms_follow_up",
            language="en",
            status=TextStatus.QUEUED,
            due_at=NOW,
        ),
    )


def _inbound(session: Session, account: CardAccount) -> IvrCall:
    call = IvrCall(call_sid=f"CA{account.id:032d}", from_number="+14155550100", step="menu")
    call.account_id = account.id
    return _added(session, call)


def _dispute(session: Session, account: CardAccount) -> Case:
    kind, status = CaseKind.DISPUTE, CaseStatus.OPEN
    return _added(session, Case(account_id=account.id, kind=kind, status=status, source=Source.IVR))


def _flag(session: Session, account: CardAccount) -> None:
    flag = AccountFlag.BANKRUPTCY
    _added(session, AccountFlagRow(account_id=account.id, flag=flag, source=Source.AGENT))


def _first_phone(session: Session, account: CardAccount) -> Phone:
    phone = session.scalars(
        select(Phone).where(Phone.cardholder_id == account.cardholder_id)
    ).first()
    assert phone is not None
    return phone


def _updated(model: Any, **values: Any) -> Write:
    """Update the account's rows of `model` (a table keyed by account_id)."""
    return lambda s, a: s.execute(update(model).where(model.account_id == a.id).values(**values))


def _deleted(model: Any) -> Write:
    return lambda s, a: s.execute(delete(model).where(model.account_id == a.id))


def _holder_updated(model: Any, key: Any, **values: Any) -> Write:
    return lambda s, a: s.execute(update(model).where(key == a.cardholder_id).values(**values))


# What is written before the feed is read (setup), then the write under test.
WRITES: dict[str, tuple[Write | None, Write]] = {
    "account updated": (
        None,
        lambda s, a: s.execute(
            update(CardAccount).where(CardAccount.id == a.id).values(days_past_due=70)
        ),
    ),
    "cardholder moved": (None, _holder_updated(Cardholder, Cardholder.id, address_region="MA")),
    "number added": (
        None,
        lambda s, a: s.add(
            Phone(cardholder_id=a.cardholder_id, e164="+14155550199", phone_type=PhoneType.HOME)
        ),
    ),
    "number opted out": (None, _holder_updated(Phone, Phone.cardholder_id, opted_out_at=NOW)),
    "number deleted": (None, lambda s, a: s.delete(_first_phone(s, a))),
    "flag set": (None, _flag),
    "flag lifted": (_flag, _deleted(AccountFlagRow)),
    "dispute opened": (None, _dispute),
    "dispute resolved": (_dispute, _updated(Case, status=CaseStatus.RESOLVED)),
    "call placed": (None, _attempt),
    "call ended": (_attempt, _updated(ContactAttempt, status=AttemptStatus.COMPLETED)),
    "call deleted": (_attempt, _deleted(ContactAttempt)),
    "text queued": (None, _text),
    "text sent": (_text, _updated(TextMessage, status=TextStatus.SENT, sent_at=NOW)),
    "inbound call": (None, _inbound),
    "inbound caller verified": (_inbound, _updated(IvrCall, verified=True, started_at=NOW)),
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_every_write_the_planner_would_read_names_the_cardholder(Session, name):
    setup, write = WRITES[name]
    with Session.begin() as session:
        account = add_account(session, "A-1")
        other = add_account(session, "B-1", phones=(("+14155550177", PhoneType.MOBILE, True),))
        if setup is not None:
            setup(session, account)
        holder, bystander = account.cardholder_id, other.cardholder_id
    with Session() as session:
        since = read_changes(session.connection(), None).position
    with Session.begin() as session:
        write(session, session.get(CardAccount, account.id))
    with Session() as session:
        changes = read_changes(session.connection(), since)
    assert holder in changes.holders
    assert bystander not in changes.holders
    with Session() as session:  # and the next read starts after it
        assert holder not in read_changes(session.connection(), changes.position).holders or (
            session.get_bind().dialect.name == "postgresql"  # re-read from the xmin: harmless
        )


def test_an_account_given_to_another_cardholder_names_both(Session):
    with Session.begin() as session:
        account = add_account(session, "A-1")
        other = add_account(session, "B-1", phones=(("+14155550177", PhoneType.MOBILE, True),))
        first, second = account.cardholder_id, other.cardholder_id
    with Session() as session:
        since = read_changes(session.connection(), None).position
    with Session.begin() as session:
        session.execute(
            update(CardAccount).where(CardAccount.id == account.id).values(cardholder_id=second)
        )
    with Session() as session:
        assert {first, second} <= read_changes(session.connection(), since).holders


def _one_due_account(Session: Any) -> int:
    load_campaigns(Session)
    with Session.begin() as session:
        account_id = add_account(session, "A-1").id
        for i in range(3):  # company, so the memo has others to know too
            add_account(session, f"B-{i}", phones=((f"+1415555017{i}", PhoneType.MOBILE, True),))
    return account_id


def test_a_known_account_is_not_read_until_its_cardholder_changes(Session):
    account_id = _one_due_account(Session)
    memo = PlanMemo()
    for hours in (0, 1):  # planned, then read again once (the planner's own insert)
        _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=hours), as_sets=False)
    third = _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=2), as_sets=False)
    assert third.not_read == third.accounts_considered == 4
    with Session.begin() as session:  # a dispute opened: the call must go
        _dispute(session, session.get(CardAccount, account_id))
    fourth = _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=3), as_sets=False)
    assert fourth.not_read == 3
    with Session() as session:
        assert (AttemptStatus.CANCELED, "not-due") in {
            (row[1], row[8]) for row in _attempt_rows(session) if row[0] == account_id
        }


def test_a_memo_not_caught_up_for_a_day_reads_everything_again(Session):
    _one_due_account(Session)
    wall = [0.0]
    memo = PlanMemo(wall=lambda: wall[0])
    for hours in (0, 1, 2):
        _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=hours), as_sets=False)
    wall[0] += dt.timedelta(days=1, seconds=1).total_seconds()
    again = _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=3), as_sets=False)
    assert again.not_read == 0


def test_planning_lets_go_of_changes_older_than_a_week(Session):
    _one_due_account(Session)
    with Session.begin() as session:
        session.execute(update(PlanChange).values(changed_at=NOW - dt.timedelta(days=8)))
        kept = session.scalar(select(PlanChange.id).order_by(PlanChange.id.desc()).limit(1))
        session.add(PlanChange(cardholder_id=1))
    with Session.begin() as session:
        plan(session, NOW)
    with Session() as session:
        left = session.scalars(select(PlanChange.id)).all()
    assert left and min(left) > kept  # the old ones gone; this run's own and the new kept


@pytest.mark.skipif(backend() != "postgresql", reason="SQLite commits in id order")
def test_a_change_committed_after_the_run_read_the_feed_is_read_next_run(Session):
    """PostgreSQL takes a row's id when it is written, not when it commits: a transaction
    still open while planning read the feed holds rows below ids that were read. Its
    change must still reach the next run."""
    account_id = _one_due_account(Session)
    memo = PlanMemo()
    for hours in (0, 1, 2):
        _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=hours), as_sets=False)
    slow = Session()
    try:
        _dispute(slow, slow.get(CardAccount, account_id))  # written, not committed
        with Session.begin() as session:  # a later write, committed first: a higher id
            session.execute(
                update(Cardholder)
                .where(Cardholder.id != session.get(CardAccount, account_id).cardholder_id)
                .values(postal_code="94110")
            )
        _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=3), as_sets=False)
        slow.commit()
    finally:
        slow.close()
    _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=4), as_sets=False)
    with Session() as session:
        assert (AttemptStatus.CANCELED, "not-due") in {
            (row[1], row[8]) for row in _attempt_rows(session) if row[0] == account_id
        }
