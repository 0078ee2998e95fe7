"""The audit chain on a real database: tampering with the guard triggers off is still caught."""

import threading

from sqlalchemy import select, text

from hotline import audit
from hotline.models import AuditEvent
from tests.conftest import backend


def append(Session, n):
    with Session.begin() as session:
        for i in range(n):
            audit.record(
                session,
                actor="agent:kim",
                action="payment.posted",
                entity_type="payment",
                entity_id=i,
                data={"amount_minor": 100 * (i + 1)},
            )


def tamper(engine, statement):
    """Run a statement a table owner could run with the append-only trigger disabled."""
    with engine.begin() as connection:
        if backend() == "postgresql":
            connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            connection.exec_driver_sql(statement)
            connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_event_no_update"))
            connection.execute(text("DROP TRIGGER audit_event_no_delete"))
            connection.exec_driver_sql(statement)


def test_a_chain_written_through_the_service_verifies(Session):
    append(Session, 5)
    with Session() as session:
        report = audit.verify_chain(session)
        assert report.ok and report.rows_checked == 5 and report.head_seq == 5
        assert session.scalars(select(AuditEvent.data).where(AuditEvent.seq == 2)).one() == (
            '{"amount_minor":200}'
        )


def test_an_edited_row_is_detected(Session, engine):
    append(Session, 5)
    tamper(engine, """UPDATE audit_event SET data = '{"amount_minor":1}' WHERE seq = 3""")
    with Session() as session:
        assert audit.verify_chain(session).problems == [
            "seq 3: content does not match its hash (edited)"
        ]


def test_a_deleted_row_is_detected(Session, engine):
    append(Session, 5)
    tamper(engine, "DELETE FROM audit_event WHERE seq = 2")
    with Session() as session:
        problems = audit.verify_chain(session).problems
        assert "seq 3: expected seq 2 (rows missing or inserted)" in problems


def test_concurrent_writers_extend_one_chain_without_forks(Session):
    errors = []

    def writer():
        try:
            append(Session, 10)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session() as session:
        report = audit.verify_chain(session)
        assert report.ok and report.rows_checked == 40
