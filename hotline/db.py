"""Engine, sessionmaker and the schema's migration state.

One engine and one `sessionmaker(expire_on_commit=False)` per process, built by the
composition root (hotline.bootstrap). Entry points frame work with `with Session.begin():`;
services receive that session and never commit.
"""

from __future__ import annotations

import logging
import threading
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def make_engine(database_url: str, *, pool_size: int | None = None, **kwargs: Any) -> Engine:
    """An engine with the per-backend settings Hotline relies on.

    `pool_size` is how many connections the pool keeps open. A threaded server needs one per
    thread: connections beyond the pool are closed when returned, so a busy server would
    otherwise open and close PostgreSQL connections (a backend process each, and its
    prepared statements) all the time.
    """
    url = make_url(database_url)
    if pool_size is not None:
        kwargs.setdefault("pool_size", pool_size)
    if url.get_backend_name() == "sqlite":
        # A web server, the dialer and the CLI may share one SQLite file: wait for the write
        # lock rather than fail, and let readers run beside the writer (WAL).
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        _serialise_sqlite_transactions(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite so that _sqlite_begin_immediate decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _serialise_sqlite_transactions(engine: Engine) -> None:
    """Every SQLite transaction takes the write lock at BEGIN, queuing in-process first.

    A deferred SQLite transaction that reads and then writes fails at once (no busy wait)
    when another writer committed in between, and two of them can both read the same
    "latest" row (the audit chain head): BEGIN IMMEDIATE makes writers queue instead. Within
    one process they queue on a lock, because SQLite's own busy handler sleeps in growing
    steps (up to 100 ms) and turns contention into long tails. PostgreSQL needs none of this.
    """
    lock = threading.RLock()

    def begin(connection: Any) -> None:
        lock.acquire()
        connection.info["hotline_holds_lock"] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(connection)
            raise

    def _release(connection: Any, *_: Any) -> None:
        if connection.info.pop("hotline_holds_lock", False):
            lock.release()

    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    """Alembic config for the package's migrations, bound to this engine (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("hotline") / "migrations"))
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


class SchemaOutOfDate(RuntimeError):
    """The database is not at the schema this code expects; the message says what to run."""


def ensure_schema(engine: Engine) -> None:
    """Bring the schema to head where that is safe, otherwise say how.

    An empty database or the embedded SQLite file is upgraded on the spot, so the demo
    needs no setup. A PostgreSQL database that already holds data is never migrated as a
    side effect of, say, an import: the operator runs `hotline db upgrade`.
    """
    current = current_revision(engine)
    head = head_revision(engine)
    if current == head:
        return
    if current is None or engine.dialect.name == "sqlite":
        log.info("upgrading database schema from %s to %s", current or "empty", head)
        upgrade(engine)
        return
    raise SchemaOutOfDate(
        f"database schema is at {current}, this version of Hotline needs {head}: "
        "run `hotline db upgrade`"
    )


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any driver or network error means "not reachable" for a health check
        log.warning("database unreachable", exc_info=True)
        return False
    return True
