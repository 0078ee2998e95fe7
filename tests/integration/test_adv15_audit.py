"""adv15: the audit chain when transactions and savepoints roll back, with writers racing."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from hotline import audit
from hotline.models import AuditEvent


def _mixed_writer(
    Session, name: str, rounds: int, barrier: threading.Barrier, autobegin: bool
) -> None:
    barrier.wait()
    for i in range(rounds):
        # kept: outer, savepoint released, outer again
        with Session.begin() as session:
            audit.record(session, actor=name, action="keep", entity_type="t", entity_id=i)
            with session.begin_nested():
                audit.record(session, actor=name, action="keep", entity_type="t", entity_id=i)
            nested = session.begin_nested()
            audit.record(session, actor=name, action="drop", entity_type="t", entity_id=i)
            audit.record(session, actor=name, action="drop", entity_type="t", entity_id=i)
            nested.rollback()
            audit.record(session, actor=name, action="keep", entity_type="t", entity_id=i)
        # a savepoint first, rolled back, then the outer transaction's own event
        with Session.begin() as session:
            nested = session.begin_nested()
            audit.record(session, actor=name, action="drop", entity_type="t", entity_id=i)
            nested.rollback()
            audit.record(session, actor=name, action="keep", entity_type="t", entity_id=i)
        # a whole transaction rolled back, in a session that began at audit.record
        if not autobegin:
            with Session.begin() as session:
                audit.record(session, actor=name, action="keep", entity_type="t", entity_id=i)
            continue
        session = Session()
        audit.record(session, actor=name, action="drop", entity_type="t", entity_id=i)
        session.flush()
        session.rollback()
        audit.record(session, actor=name, action="keep", entity_type="t", entity_id=i)
        session.commit()
        session.close()


@pytest.mark.parametrize("autobegin", [False, True], ids=["savepoints-held", "autobegin-breaks"])
def test_rolled_back_events_vanish_and_the_chain_stays_whole_under_racing_writers(
    Session, autobegin
):
    writers, rounds = 3, 8
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def run(name):
        try:
            _mixed_writer(Session, name, rounds, barrier, autobegin)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"w{n}",)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with Session() as session:
        report = audit.verify_chain(session)
        rows = session.execute(select(AuditEvent.actor, AuditEvent.action)).all()
    assert report.ok, report.problems[:5]
    counts = Counter(rows)
    for n in range(writers):
        assert counts[(f"w{n}", "keep")] == 5 * rounds
        assert counts[(f"w{n}", "drop")] == 0
    assert report.head_seq == writers * rounds * 5


def test_an_event_after_a_rolled_back_one_in_an_autobegun_session_is_not_chained_onto_it(
    Session,
):
    """No threads: a session whose transaction began at audit.record itself (autobegin)
    keeps the head bound to `None` (get_transaction() before the flush), and so does the
    session's next transaction before its first statement: the event after a rollback is
    chained onto the rolled-back one, without the lock or a read of the head."""
    with Session.begin() as session:
        audit.record(session, actor="t", action="first", entity_type="t", entity_id=1)
    session = Session()
    audit.record(session, actor="t", action="rolled-back", entity_type="t", entity_id=2)
    session.flush()
    session.rollback()
    audit.record(session, actor="t", action="kept", entity_type="t", entity_id=3)
    session.commit()
    session.close()
    with Session() as session:
        report = audit.verify_chain(session)
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["first", "kept"]
    assert report.ok, report.problems


def test_two_transactions_of_one_session_each_starting_with_an_event_read_the_head_again(
    Session,
):
    """The same with a commit: another writer appends between the two transactions of
    one session; the session's second event takes the seq the other writer used."""
    mine = Session()
    try:
        audit.record(mine, actor="mine", action="one", entity_type="t", entity_id=1)
        mine.commit()
        with Session.begin() as other:
            audit.record(other, actor="other", action="between", entity_type="t", entity_id=2)
        audit.record(mine, actor="mine", action="two", entity_type="t", entity_id=3)
        mine.commit()  # IntegrityError: seq 2 (or its prev_hash) is taken already
    finally:
        mine.rollback()
        mine.close()
    with Session() as session:
        assert audit.verify_chain(session).ok
