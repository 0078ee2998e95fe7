from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from hotline import db
from hotline.models import Base


def test_the_migrated_schema_matches_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migrations_go_down_to_nothing_and_back_up(engine):
    db.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision(engine)
    assert "card_account" in inspect(engine).get_table_names()


def test_ensure_schema_upgrades_an_empty_database(engine):
    db.downgrade(engine, "base")
    db.ensure_schema(engine)
    assert db.current_revision(engine) == db.head_revision(engine)


def test_the_database_refuses_to_change_audit_rows(engine, Session):
    from hotline import audit

    with Session.begin() as session:
        audit.record(session, actor="test", action="x", entity_type="t", entity_id=1)
    for statement in ("UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event"):
        with engine.connect() as connection:
            try:
                connection.execute(text(statement))
                connection.commit()
            except Exception as exc:  # the driver's own error type differs per backend
                assert "append-only" in str(exc)
            else:
                raise AssertionError(f"{statement!r} was allowed")
