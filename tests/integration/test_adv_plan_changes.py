"""Adversarial probes of the planning change feed (migration 0016, dialer/plan_changes.py)
and the memo's unread answers (PlanMemo.known): planning with the memo must write what
planning without it writes, whatever happened in between."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update

from dialer.plan_memo import PlanMemo
from dialer.planner import plan
from hotline import db
from hotline.enums import (
    AccountFlag,
    AttemptStatus,
    CaseStatus,
    PhoneType,
    Source,
)
from hotline.models import AccountFlagRow, CardAccount, Case, ContactAttempt, Phone, PlanChange
from tests.conftest import backend
from tests.integration.dialer_fixtures import NOW, add_account, load_campaigns
from tests.integration.test_plan_changes import NIGHT, _dispute
from tests.integration.test_plan_memo import _with_and_without
from tests.integration.test_plan_sets import _attempt_rows

postgres_only = pytest.mark.skipif(backend() != "postgresql", reason="PostgreSQL only")


def _accounts(Session: Any, n: int = 4) -> list[int]:
    load_campaigns(Session)
    ids = []
    with Session.begin() as session:
        for i in range(n):
            ids.append(
                add_account(
                    session, f"A-{i}", phones=((f"+1415555017{i}", PhoneType.MOBILE, True),)
                ).id
            )
    return ids


def _warm(Session: Any, memo: PlanMemo, hours: tuple[int, ...] = (0, 1, 2)) -> None:
    """Plan until the memo answers every account unread (on PostgreSQL a transaction
    open anywhere on the cluster, another database's included, holds the feed's position
    back: a few more runs, ten minutes apart, until it has ended)."""
    for h in hours:
        report = _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=h), as_sets=False)
    extra = 0
    while report.not_read != report.accounts_considered and extra < 30:
        extra += 1
        time.sleep(0.5)
        at = NIGHT + dt.timedelta(hours=hours[-1], minutes=2 * extra)
        report = _with_and_without(Session, memo, at, as_sets=False)
    assert report.not_read == report.accounts_considered > 0


def _cancelled(Session: Any, account_id: int) -> bool:
    with Session() as session:
        return (AttemptStatus.CANCELED, "not-due") in {
            (r[1], r[8]) for r in _attempt_rows(session) if r[0] == account_id
        }


# --- 1. a run that reads the feed and then fails ---------------------------------------------


def test_a_run_rolled_back_after_reading_the_feed_misses_no_later_change(Session, monkeypatch):
    """The run's own feed rows (tier refresh, cancellations, the sets' writes: all in the
    transaction that reads the feed) are read and the position moves past them; the run
    then fails and rolls back. On SQLite the ids of rolled-back rows are handed out again
    (AUTOINCREMENT's counter rolls back with them): the next change gets an id at or below
    the position and is never read."""
    a, _b, _c, d = _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    # Some account's tier is about to change: the next run's refresh_tiers writes feed
    # rows in its own transaction, before it reads the feed.
    with Session.begin() as session:
        session.execute(update(CardAccount).where(CardAccount.id == d).values(days_past_due=95))
    import dialer.planner as planner

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a batch failed (the database went away, a bug in one account)")

    monkeypatch.setattr(planner, "load_cases", broken)
    with Session() as session, pytest.raises(RuntimeError):
        plan(session, NIGHT + dt.timedelta(hours=3), as_sets=False, last_run=memo)
    monkeypatch.undo()
    with Session.begin() as session:  # a dispute on a known account: its call must go
        _dispute(session, session.get(CardAccount, a))
    _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=4), as_sets=False)


# --- 2. the feed's table recreated under a running memo ----------------------------------


def test_a_migration_round_trip_under_a_running_memo_misses_no_later_change(Session, engine):
    """`hotline db downgrade 0015` then `upgrade` (a rolled-back deploy) while the dialer
    runs: SQLite's AUTOINCREMENT counter goes with the dropped table, so the new table's ids
    start again at 1, below the memo's position."""
    a, *_ = _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    # Enough feed rows that the position is well above what a new table starts at.
    with Session.begin() as session:
        for _ in range(3):
            session.execute(update(CardAccount).values(balance_minor=CardAccount.balance_minor + 1))
    _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=3), as_sets=False)
    engine.dispose()
    try:
        db.downgrade(engine, "0015")
    finally:
        db.upgrade(engine)
    engine.dispose()
    with Session.begin() as session:
        _dispute(session, session.get(CardAccount, a))
    _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=4), as_sets=False)


def test_a_write_while_the_triggers_are_gone_is_not_missed(Session, engine):
    """The same round trip with a write in between (a downgrade before a fix, the IVR
    still taking calls): nothing recorded it, and a memo that ran before still trusts."""
    a, *_ = _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    engine.dispose()
    try:
        db.downgrade(engine, "0015")
        with Session.begin() as session:
            _dispute(session, session.get(CardAccount, a))
    finally:
        db.upgrade(engine)
    engine.dispose()
    _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=4), as_sets=False)


# --- 3. writes the triggers do not see -----------------------------------------------------


@postgres_only
def test_truncate_of_a_table_the_loader_reads_is_seen(Session):
    """TRUNCATE fires no row or INSERT/UPDATE/DELETE statement trigger."""
    a, *_ = _accounts(Session)
    with Session.begin() as session:
        session.add(AccountFlagRow(account_id=a, flag=AccountFlag.BANKRUPTCY, source=Source.AGENT))
    memo = PlanMemo()
    _warm(Session, memo)
    with Session.begin() as session:  # the flags reloaded from the bank's file, say
        session.execute(text("TRUNCATE account_flag"))
    _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=4), as_sets=False)


@postgres_only
def test_writes_with_replication_role_replica_are_seen(Session):
    """pg_restore --disable-triggers, logical replication apply, some ETL tools."""
    a, *_ = _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    with Session.begin() as session:
        session.execute(text("SET LOCAL session_replication_role = replica"))
        _dispute(session, session.get(CardAccount, a))
    _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=4), as_sets=False)


def test_cascaded_deletes_and_raw_sql_are_seen(Session):
    a, b, c, d = _accounts(Session)
    with Session.begin() as session:
        session.add(AccountFlagRow(account_id=b, flag=AccountFlag.BANKRUPTCY, source=Source.AGENT))
    memo = PlanMemo()
    _warm(Session, memo)
    with Session.begin() as session:
        # raw SQL through the driver: a flag on a, one lifted on b, c's number given to d
        session.connection().exec_driver_sql(
            "INSERT INTO account_flag (account_id, flag, source, set_at)"
            f" VALUES ({a}, 'deceased', 'agent', '2026-12-02 18:00:00')"
        )
        session.connection().exec_driver_sql(f"DELETE FROM account_flag WHERE account_id = {b}")
        holder_c = session.get(CardAccount, c).cardholder_id
        holder_d = session.get(CardAccount, d).cardholder_id
        session.connection().exec_driver_sql(
            f"UPDATE phone SET cardholder_id = {holder_d} WHERE cardholder_id = {holder_c}"
        )
    _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=4), as_sets=False)


# --- 4. time ---------------------------------------------------------------------------------


def test_a_clock_set_back_between_runs(Session):
    _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo, (0, 1, 2, 6))
    for h in (3, 1, 5, 0, 7):
        _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=h), as_sets=False)


def test_a_known_pause_or_block_runs_out_with_history_aging(Session):
    """Known answers are not re-read as old history ages out of the 10-day window."""
    ids = _accounts(Session, 6)
    memo = PlanMemo()
    rng = random.Random(3)
    for h in range(0, 24 * 12, 7):
        now = NIGHT + dt.timedelta(hours=h)
        if h % 35 == 0:
            with Session.begin() as session:
                for attempt in session.scalars(
                    select(ContactAttempt).where(ContactAttempt.status == AttemptStatus.PLANNED)
                ):
                    if rng.random() < 0.5:
                        attempt.status = AttemptStatus.COMPLETED
                        attempt.answered_by = "human"
                        attempt.disposition = rng.choice(("promise", "refused", "callback-later"))
                        attempt.started_at = attempt.ended_at = now - dt.timedelta(minutes=3)
        _with_and_without(Session, memo, now, as_sets=False)
    assert ids


# --- 5. two memos, concurrency -------------------------------------------------------------


def test_two_memos_sharing_a_database(Session):
    a, b, _c, _d = _accounts(Session)
    first, second = PlanMemo(), PlanMemo()
    _warm(Session, first)
    _warm(Session, second, (3, 4, 5))
    with Session.begin() as session:
        _dispute(session, session.get(CardAccount, a))
    _with_and_without(Session, first, NIGHT + dt.timedelta(hours=6), as_sets=False)
    with Session.begin() as session:
        session.add(AccountFlagRow(account_id=b, flag=AccountFlag.BANKRUPTCY, source=Source.AGENT))
    _with_and_without(Session, first, NIGHT + dt.timedelta(hours=7), as_sets=False)
    _with_and_without(Session, second, NIGHT + dt.timedelta(hours=8), as_sets=False)
    _with_and_without(Session, first, NIGHT + dt.timedelta(hours=9), as_sets=False)


@postgres_only
def test_concurrent_writers_open_rolled_back_and_savepoints_across_runs(Session):
    """Writers in threads hold transactions open across planning runs, some rolled back,
    some writing in savepoints (one released, one rolled back); after each quiet point the
    memo's run equals a fresh one."""
    ids = _accounts(Session, 12)
    memo = PlanMemo()
    _warm(Session, memo)
    rng = random.Random(11)

    def writer(seed: int, started: threading.Event, go: threading.Event) -> None:
        r = random.Random(seed)
        session = Session()
        try:
            account = session.get(CardAccount, r.choice(ids))
            kind = r.choice(("dispute", "flag", "optout", "savepoint", "savepoint-undone"))
            if kind == "dispute":
                _dispute(session, account)
            elif kind == "flag":
                session.add(
                    AccountFlagRow(
                        account_id=account.id,
                        flag=AccountFlag.CEASE,
                        source=Source.AGENT,
                    )
                )
                session.flush()
            elif kind == "optout":
                session.execute(
                    update(Phone)
                    .where(Phone.cardholder_id == account.cardholder_id)
                    .values(opted_out_at=NOW)
                )
            else:
                session.execute(text("SELECT 1"))
                nested = session.begin_nested()
                _dispute(session, account)
                if kind == "savepoint-undone":
                    nested.rollback()
                else:
                    nested.commit()
            started.set()
            go.wait(30)
            if r.random() < 0.25:
                session.rollback()
            else:
                session.commit()
        except Exception:  # a lost race (duplicate flag): rolled back, harmless
            session.rollback()
            started.set()
        finally:
            session.close()

    for round_ in range(6):
        go = threading.Event()
        threads = []
        for i in range(rng.randint(1, 4)):
            started = threading.Event()
            t = threading.Thread(target=writer, args=(round_ * 10 + i, started, go))
            t.start()
            started.wait(30)
            threads.append(t)
        now = NIGHT + dt.timedelta(hours=3 + round_)
        # a run with the writers' transactions still open: committed, with the memo
        releaser = threading.Timer(rng.uniform(0.0, 0.3), go.set)
        releaser.start()
        with Session() as session:
            plan(session, now, as_sets=False, last_run=memo)
            session.commit()
        for t in threads:
            t.join(30)
        releaser.join()
        _with_and_without(Session, memo, now + dt.timedelta(minutes=30), as_sets=False)


# --- 6. pruning ------------------------------------------------------------------------------


def test_pruning_keeps_what_a_memo_behind_has_not_read(Session):
    """A memo that caught up less than TRUST_FOR ago must find every change since: the
    prune by changed_at must not take a row it has not read. On PostgreSQL changed_at is
    the writer's transaction start (CURRENT_TIMESTAMP), not its commit."""
    a, *_ = _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    with Session.begin() as session:
        _dispute(session, session.get(CardAccount, a))
        # As a writer whose transaction began long ago would stamp it
        session.execute(update(PlanChange).values(changed_at=NOW - dt.timedelta(days=8)))
    # another planner (a second dialer, `hotline campaign plan`) prunes first
    with Session.begin() as session:
        plan(session, NIGHT + dt.timedelta(hours=3), as_sets=False)
    _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=4), as_sets=False)


TWO_CAMPAIGNS = (
    __import__("tests.integration.dialer_fixtures", fromlist=["ONE_CAMPAIGN"]).ONE_CAMPAIGN
    + """
[campaigns.ma]
profile = "us-regf"
caller_id = "+18005550100"
status = "active"
countries = ["US"]
regions = ["MA"]

[campaigns.ma.tiers.mid]
script = ["reminder_mid"]
attempts_per_day = 2
spacing = "2h"
retry_delay = { no_answer = "3h", busy = "30m", voicemail = "1d", failed = "2h" }
amd = "detect-message-end"
offer_agent = true
"""
)


def test_as_the_job_runs_it_a_failed_batch_after_a_stopped_campaigns_cancellations(
    Session, monkeypatch
):
    """dialer/tick.planning: committed after the tier refresh and after each batch. A
    campaign past its last day (ends_on): its planned calls are cancelled by the run, in
    the transaction that reads the feed, committed only with the first batch. That batch
    fails (a database error, a bug in one account's schedule); the job logs it and runs
    again next time. Meanwhile a known account's bankruptcy flag is lifted: the feed row
    takes an id the rolled-back cancellations had, at or below the memo's position."""
    from hotline.models import Campaign

    load_campaigns(Session, TWO_CAMPAIGNS)
    with Session.begin() as session:
        blocked = add_account(
            session,
            "A-0",
            phones=(("+14155550170", PhoneType.MOBILE, True),),
            flags=(AccountFlag.BANKRUPTCY,),
        ).id
        for i in range(1, 3):
            add_account(session, f"A-{i}", phones=((f"+1415555017{i}", PhoneType.MOBILE, True),))
        for i in range(3):
            add_account(
                session,
                f"M-{i}",
                region="MA",
                phones=((f"+1617555017{i}", PhoneType.MOBILE, True),),
            )
        session.execute(
            update(Campaign).where(Campaign.name == "ma").values(ends_on=dt.date(2026, 12, 3))
        )
    memo = PlanMemo()

    def job(at: dt.datetime) -> Any:
        with Session() as session:
            report = plan(session, at, after_batch=session.commit, last_run=memo, as_sets=False)
            session.commit()
        return report

    for h in (0, 1, 2):  # 2026-12-03, 06:00-08:00 UTC: ma still runs
        job(NIGHT + dt.timedelta(hours=h))
    import dialer.planner as planner

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the first batch failed")

    monkeypatch.setattr(planner, "load_cases", broken)
    with pytest.raises(RuntimeError):
        job(NIGHT + dt.timedelta(hours=18, minutes=30))  # 12-04 00:30 UTC: ma has ended
    monkeypatch.undo()
    with Session.begin() as session:  # the bankruptcy flag lifted (entered in error)
        session.execute(delete(AccountFlagRow).where(AccountFlagRow.account_id == blocked))
    _with_and_without(Session, memo, NIGHT + dt.timedelta(hours=19), as_sets=False)


@postgres_only
def test_a_transaction_open_in_another_database_does_not_stop_the_memo_answering(Session):
    """The feed's position is the snapshot's xmin, which is cluster-wide: a transaction
    holding a transaction id in any database of the server (another application's, a
    long import, a session left idle in transaction) holds it back, and every run reads
    every change since again and forgets those cardholders, its own inserts included."""
    import os

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    _a, b, _c, _d = _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    url = make_url(os.environ["HOTLINE_TEST_DATABASE_URL"]).set(database="postgres")
    other = create_engine(url)
    try:
        with other.connect() as elsewhere:
            elsewhere.execute(text("SELECT pg_current_xact_id()"))  # an xid, held
            with Session.begin() as session:  # one change, once (a call ended, say)
                session.execute(
                    update(CardAccount).where(CardAccount.id == b).values(balance_minor=1)
                )
            for h in (3, 4, 5, 6):
                report = _with_and_without(
                    Session, memo, NIGHT + dt.timedelta(hours=h), as_sets=False
                )
            elsewhere.rollback()
    finally:
        other.dispose()
    # read once (run 3), then known again: not re-read on every run while it lasts
    assert report.not_read == report.accounts_considered, report


@postgres_only
def test_two_planning_jobs_and_writers_at_once_then_each_memo_agrees(Session):
    """Two dialers' planning jobs (each its memo, committed batch by batch) and IVR-ish
    writers (disputes opened and resolved, flags set and lifted, numbers opted out and
    back, calls ended) all at once; no writer may fail on a deadlock or lock wait the
    triggers add, and once quiet each memo's run equals a fresh one."""
    from sqlalchemy.exc import DBAPIError

    ids = _accounts(Session, 16)
    memos = [PlanMemo(), PlanMemo()]
    stop = threading.Event()
    errors: list[BaseException] = []
    clock = [NIGHT]

    def planner_job(memo: PlanMemo) -> None:
        while not stop.is_set():
            try:
                with Session() as session:
                    plan(
                        session,
                        clock[0],
                        after_batch=session.commit,
                        last_run=memo,
                        as_sets=False,
                        batch_size=3,
                    )
                    session.commit()
            except BaseException as error:
                errors.append(error)
                return

    def writer(seed: int) -> None:
        r = random.Random(seed)
        while not stop.is_set():
            try:
                with Session.begin() as session:
                    account = session.get(CardAccount, r.choice(ids))
                    kind = r.randrange(5)
                    if kind == 0:
                        _dispute(session, account)
                    elif kind == 1:
                        session.execute(
                            update(Case)
                            .where(Case.account_id == account.id)
                            .values(status=CaseStatus.RESOLVED)
                        )
                    elif kind == 2:
                        if session.get(AccountFlagRow, (account.id, AccountFlag.CEASE)) is None:
                            session.add(
                                AccountFlagRow(
                                    account_id=account.id,
                                    flag=AccountFlag.CEASE,
                                    source=Source.AGENT,
                                )
                            )
                        else:
                            session.execute(
                                delete(AccountFlagRow).where(
                                    AccountFlagRow.account_id == account.id
                                )
                            )
                    elif kind == 3:
                        session.execute(
                            update(Phone)
                            .where(Phone.cardholder_id == account.cardholder_id)
                            .values(opted_out_at=None if r.random() < 0.5 else NOW)
                        )
                    else:
                        session.execute(
                            update(ContactAttempt)
                            .where(
                                ContactAttempt.account_id == account.id,
                                ContactAttempt.status == AttemptStatus.PLANNED,
                            )
                            .values(
                                status=AttemptStatus.NO_ANSWER,
                                started_at=clock[0],
                                ended_at=clock[0],
                            )
                        )
            except DBAPIError as error:
                if "duplicate key" in str(error):
                    continue
                errors.append(error)
                return

    threads = [threading.Thread(target=planner_job, args=(m,)) for m in memos]
    threads += [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        for step in range(12):
            time.sleep(0.4)
            clock[0] = NIGHT + dt.timedelta(minutes=20 * step)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors[:3]
    later = clock[0] + dt.timedelta(minutes=30)
    for i, memo in enumerate(memos):
        _with_and_without(Session, memo, later + dt.timedelta(minutes=i), as_sets=False)


# --- 7. the texts job's follow-up finder, filtered by tier in SQL ----------------------------

TEXT_TIERS = """
[tiers.early]
days_past_due = "1-29"
[tiers.mid]
days_past_due = "30-59"

[campaigns.us]
profile = "us-regf"
caller_id = "+18005550100"
status = "active"
countries = ["US"]

[campaigns.us.tiers.early]
script = ["reminder_early"]
attempts_per_day = 1
spacing = "4h"
retry_delay = { no_answer = "4h", busy = "30m", voicemail = "1d", failed = "2h" }
amd = "detect-message-end"
offer_agent = false
sms_after = ["no_answer"]

[campaigns.us.tiers.mid]
script = ["reminder_mid"]
attempts_per_day = 2
spacing = "3h"
retry_delay = { no_answer = "3h", busy = "30m", voicemail = "1d", failed = "2h" }
amd = "detect-message-end"
offer_agent = true
sms_after = ["voicemail"]

[campaigns.cn]
profile = "us-regf"
caller_id = "+18005550100"
status = "active"
countries = ["CN"]

[campaigns.cn.tiers.mid]
script = ["reminder_mid"]
attempts_per_day = 2
spacing = "3h"
retry_delay = { no_answer = "3h", busy = "30m", voicemail = "1d", failed = "2h" }
amd = "detect-message-end"
offer_agent = true
"""


def test_follow_ups_only_for_the_tier_and_disposition_pairs_that_want_them(Session):
    from dialer import text_queue
    from hotline.enums import Direction, Disposition
    from hotline.models import Campaign, DelinquencyTier, TextMessage

    load_campaigns(Session, TEXT_TIERS)
    with Session.begin() as session:
        campaigns = dict(session.execute(select(Campaign.name, Campaign.id)).all())
        tiers = dict(session.execute(select(DelinquencyTier.code, DelinquencyTier.id)).all())
        expected = set()
        n = 0
        for campaign in ("us", "cn"):
            for tier in ("early", "mid"):
                for disposition in (Disposition.VOICEMAIL_LEFT, Disposition.NO_ANSWER):
                    n += 1
                    account = add_account(
                        session,
                        f"40000000000000{n:02d}",
                        phones=((f"+1415555{n:04d}", PhoneType.MOBILE, True),),
                    )
                    attempt = ContactAttempt(
                        direction=Direction.OUTBOUND,
                        account_id=account.id,
                        number=f"+1415555{n:04d}",
                        campaign_id=campaigns[campaign],
                        tier_id=tiers[tier],
                        status=AttemptStatus.COMPLETED,
                        started_at=NOW - dt.timedelta(minutes=2),
                        ended_at=NOW,
                        due_at=NOW,
                        answered_by="machine_end_beep",
                        disposition=disposition,
                    )
                    session.add(attempt)
                    session.flush()
                    if campaign == "us" and (tier, disposition) in {
                        ("early", Disposition.NO_ANSWER),
                        ("mid", Disposition.VOICEMAIL_LEFT),
                    }:
                        expected.add(f"attempt:{attempt.id}")
    with Session.begin() as session:
        text_queue.queue_due(session, NOW + dt.timedelta(minutes=1))
    with Session() as session:
        queued = set(session.scalars(select(TextMessage.source_key)))
    assert len(expected) == 2 and queued == expected
