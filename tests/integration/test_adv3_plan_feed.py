"""Third adversarial review of the planning change feed (commit 51bf40e): planning with the
memo must write what planning without it writes, run after run, on both databases."""

from __future__ import annotations

import datetime as dt
import subprocess
from typing import Any

import pytest
from sqlalchemy import delete, event, select, text

import dialer.planner as planner
from dialer.plan_memo import PlanMemo
from dialer.planner import plan
from hotline.models import AccountFlagRow, CardAccount, Case
from tests.integration.test_adv_plan_changes import _accounts, _warm, postgres_only
from tests.integration.test_plan_changes import NIGHT, _dispute, _flag
from tests.integration.test_plan_memo import _counts, _with_and_without
from tests.integration.test_plan_sets import _attempt_rows

H = dt.timedelta(hours=1)


def _job_like(Session: Any, memo: PlanMemo, now: dt.datetime, hook=None, batch_size: int = 1):
    """Fresh (rolled back) first, then as dialer/tick.py runs it: committed batch by batch;
    `hook(n)` runs after the n-th commit."""
    with Session() as session:
        fresh = plan(session, now, as_sets=False, batch_size=batch_size)
        expected = _attempt_rows(session)
        session.rollback()
    with Session() as session:
        n = [0]

        def after() -> None:
            session.commit()
            n[0] += 1
            if hook is not None:
                hook(n[0])

        report = plan(
            session, now, as_sets=False, batch_size=batch_size, after_batch=after, last_run=memo
        )
        session.commit()
        assert _attempt_rows(session) == expected
    assert _counts(report) == _counts(fresh)
    return report


# --- PostgreSQL: an older copy restored (pg_dump / psql), the memo still running -----------


@postgres_only
def test_an_older_copy_restored_on_postgres_is_not_trusted(Session, engine, tmp_path):
    """plan_changes.py: 'a position gone backwards (a table recreated, an older copy
    restored) starts over'. On PostgreSQL the position is the cluster's xid, which a
    restore into the same cluster does not move back, and the epoch token comes back
    with the dump: the restored facts are trusted as unchanged."""
    a, *_ = _accounts(Session)
    with Session.begin() as session:
        _dispute(session, session.get(CardAccount, a))
    memo = PlanMemo()
    _warm(Session, memo)
    with Session.begin() as session:  # the dispute resolved; the copy taken now
        session.execute(delete(Case).where(Case.account_id == a))
    url = engine.url
    conn = ["-h", url.host, "-U", url.username, "-d", url.database]
    dump = tmp_path / "copy.sql"
    subprocess.run(["pg_dump", *conn, "-n", "public", "--no-owner", "-f", str(dump)], check=True)
    with Session.begin() as session:  # disputed again; the memo learns it
        _dispute(session, session.get(CardAccount, a))
    _warm(Session, memo, (3, 4, 5))
    engine.dispose()
    subprocess.run(["psql", *conn, "-q", "-c", "DROP SCHEMA public CASCADE"], check=True)
    subprocess.run(["psql", *conn, "-q", "-f", str(dump)], check=True, capture_output=True)
    engine.dispose()
    with Session() as session:
        assert session.scalar(select(Case.id).where(Case.account_id == a)) is None
    _with_and_without(Session, memo, NIGHT + 6 * H, as_sets=False)


# --- the feed itself emptied: TRUNCATE plan_change fires no epoch trigger ------------------


@postgres_only
def test_truncate_of_the_feed_itself_starts_over(Session):
    a, *_ = _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    with Session.begin() as session:
        _flag(session, session.get(CardAccount, a))
    with Session.begin() as session:  # "the feed grew large: empty it" (or a RESTART IDENTITY
        session.execute(text("TRUNCATE plan_change"))  # TRUNCATE of all tables, as the tests)
    _with_and_without(Session, memo, NIGHT + 4 * H, as_sets=False)


@postgres_only
def test_an_empty_epoch_table_and_a_truncated_feed(Session):
    a, *_ = _accounts(Session)
    with Session.begin() as session:
        session.execute(text("DELETE FROM plan_change_epoch"))
    memo = PlanMemo()
    for hours in (0, 1, 2):  # with no epoch to trust, nothing is answered unread
        report = _with_and_without(Session, memo, NIGHT + hours * H, as_sets=False)
        assert report.not_read == 0
    with Session.begin() as session:
        _flag(session, session.get(CardAccount, a))
        session.execute(text("TRUNCATE plan_change"))
    _with_and_without(Session, memo, NIGHT + 4 * H, as_sets=False)


# --- what should hold ---------------------------------------------------------------------


def test_sqlite_feed_read_is_inside_begin_immediate(Session, engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    seen: list[str] = []

    def log(_c, _cur, statement, *_a):
        seen.append(statement.strip().split()[0:2].__str__() + statement[:60])

    event.listen(engine, "before_cursor_execute", log)
    with Session() as session:
        plan(session, NIGHT + 3 * H, as_sets=False, last_run=memo)
        session.commit()
    event.remove(engine, "before_cursor_execute", log)
    feed = next(i for i, s in enumerate(seen) if "sqlite_sequence" in s or "plan_change_epoch" in s)
    assert any("BEGIN IMMEDIATE" in s for s in seen[:feed]), seen[: feed + 1]


def test_writes_committed_between_the_jobs_batches_are_seen(Session):
    ids = _accounts(Session, 5)
    memo = PlanMemo()
    for h in (0, 1, 2):
        _job_like(Session, memo, NIGHT + h * H)

    def hook(n: int) -> None:  # after the tiers' commit and each batch: another writer
        if 2 <= n <= 6:
            with Session.begin() as other:
                account = other.get(CardAccount, ids[n - 2])
                (_dispute if n % 2 else _flag)(other, account)

    _job_like(Session, memo, NIGHT + 3 * H, hook)
    for h in (4, 5, 6):
        _job_like(Session, memo, NIGHT + h * H)


def test_own_write_before_the_run_in_the_same_transaction(Session):
    a, b, *_ = _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    with Session() as session:
        _dispute(session, session.get(CardAccount, a))
        session.flush()  # the planner's transaction has an xid before the feed is read
        plan(session, NIGHT + 3 * H, as_sets=False, last_run=memo)
        _flag(session, session.get(CardAccount, b))  # and writes after it, same transaction
        session.commit()
    for h in (4, 5):
        _with_and_without(Session, memo, NIGHT + h * H, as_sets=False)


@pytest.mark.parametrize("as_sets", [False, True])
def test_a_caller_that_rolls_back_a_successful_run(Session, as_sets):
    a, b, _c, d = _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    with Session.begin() as session:
        session.get(CardAccount, d).days_past_due = 95  # the run will re-tier it
        _dispute(session, session.get(CardAccount, a))  # and cancel a's call
    with Session() as session:
        plan(session, NIGHT + 3 * H, as_sets=as_sets, last_run=memo)
        session.rollback()
    with Session.begin() as session:
        _flag(session, session.get(CardAccount, b))
    for h in (4, 5, 6):
        _with_and_without(Session, memo, NIGHT + h * H, as_sets=as_sets)


@pytest.mark.parametrize("where", ["audit", "interrupt"])
def test_failures_late_in_a_committed_run_make_it_forget(Session, monkeypatch, where):
    ids = _accounts(Session, 4)
    memo = PlanMemo()
    for h in (0, 1, 2):
        _job_like(Session, memo, NIGHT + h * H)
    with Session.begin() as session:
        _dispute(session, session.get(CardAccount, ids[0]))
    if where == "audit":

        def broken(*_a, **_k):
            raise RuntimeError("audit chain head locked")

        monkeypatch.setattr(planner.audit, "record", broken)
        hook = None
    else:

        def hook(n: int) -> None:
            if n == 2:
                raise KeyboardInterrupt

    with Session() as session, pytest.raises((RuntimeError, KeyboardInterrupt)):

        def after() -> None:
            session.commit()
            after.n += 1
            if hook is not None:
                hook(after.n)

        after.n = 0
        plan(session, NIGHT + 3 * H, as_sets=False, batch_size=1, after_batch=after, last_run=memo)
    monkeypatch.undo()
    assert memo._position is None and not memo._last
    with Session.begin() as session:
        _flag(session, session.get(CardAccount, ids[1]))
    for h in (4, 5):
        _job_like(Session, memo, NIGHT + h * H)


def test_two_jobs_alternating_committed_batch_by_batch(Session):
    ids = _accounts(Session, 4)
    one, two = PlanMemo(), PlanMemo()
    for h in range(6):
        _job_like(Session, one if h % 2 else two, NIGHT + h * H)
    for h in range(6, 14):
        with Session.begin() as session:
            account = session.get(CardAccount, ids[h % 4])
            if h % 3 == 0:
                session.execute(delete(Case).where(Case.account_id == account.id))
                session.execute(
                    delete(AccountFlagRow).where(AccountFlagRow.account_id == account.id)
                )
            else:
                (_dispute if h % 2 else _flag)(session, account)
        _job_like(Session, one if h % 2 else two, NIGHT + h * H)
        _job_like(Session, two if h % 2 else one, NIGHT + h * H + dt.timedelta(minutes=5))


@postgres_only
def test_a_writer_open_at_the_snapshot_with_savepoints_commits_mid_run(Session, engine):
    a, b, _c, _d = _accounts(Session)
    memo = PlanMemo()
    for h in (0, 1, 2):
        _job_like(Session, memo, NIGHT + h * H)
    writer = engine.connect()
    tx = writer.begin()
    writer.execute(text("SELECT pg_current_xact_id()"))  # in xip at the run's snapshot
    sp = writer.begin_nested()
    writer.execute(
        text(
            "INSERT INTO service_case (account_id, kind, status, source, summary, opened_at)"
            " VALUES (:a, 'dispute', 'open', 'ivr', '', now())"
        ),
        {"a": a},
    )
    sp.commit()
    sp = writer.begin_nested()
    writer.execute(
        text(
            "UPDATE phone SET opted_out_at = now() WHERE cardholder_id = (SELECT cardholder_id"
            " FROM card_account WHERE id = :b)"
        ),
        {"b": b},
    )
    sp.rollback()

    def hook(n: int) -> None:
        if n == 2:
            tx.commit()

    try:
        _job_like(Session, memo, NIGHT + 3 * H, hook)
    finally:
        writer.close()
    for h in (4, 5):
        _job_like(Session, memo, NIGHT + h * H)


def test_the_feed_emptied_by_delete_starts_over(Session):
    """The same on either database with a DELETE (SQLite keeps its counter: the position
    does not go backwards, the rows are simply gone)."""
    a, *_ = _accounts(Session)
    memo = PlanMemo()
    _warm(Session, memo)
    with Session.begin() as session:
        _flag(session, session.get(CardAccount, a))
    with Session.begin() as session:
        session.execute(text("DELETE FROM plan_change"))
    _with_and_without(Session, memo, NIGHT + 4 * H, as_sets=False)
