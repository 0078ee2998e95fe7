"""Engine, sessionmaker and the schema's migration state.

One engine and one `sessionmaker(expire_on_commit=False)` per process, built by the
composition root (hotline.bootstrap). Entry points frame work with `with Session.begin():`;
services receive that session and never commit.

Bounded waits. Twilio gives a webhook 15 s and Hotline promises 5 s, whatever the database
does, so a web request runs its database work inside `deadline(seconds)` (the app factory
wraps every request in one). Within a deadline every wait is bounded by what is left of it:

- waiting for a pooled connection (`pool_timeout`, the whole budget at most);
- opening one (libpq `connect_timeout`: whole seconds and at least 2, psycopg's rule);
- each statement and each lock wait on the server (`statement_timeout`, `lock_timeout`, set
  for the transaction by the statement that also pings the pooled connection, so a turn of
  several statements shares one budget and pays no extra round trip);
- and, because a server that does not answer cannot time itself out (a hung host, or a
  stopped backend behind a kernel that still ACKs), a watchdog thread that shuts the
  connection's socket down once the deadline and a short grace have passed. The statement
  then fails at once, SQLAlchemy discards the connection, and the next checkout pings its
  replacement: the app recovers by itself when the database returns.

SQLite gets the same budget as its busy timeout and as the wait for the in-process write
lock. Outside a deadline (the CLI, migrations, an import of 100,000 rows) none of the
per-request limits apply; the connection-level ones (connect timeout, TCP keepalives and
`tcp_user_timeout` against dead hosts, `idle_in_transaction_session_timeout` against a
stuck lock holder) always do.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# How long past the deadline the watchdog waits before it cuts a connection: the server's
# own statement_timeout (set to the time left) should win the race and leave the connection
# usable; the cut is for a server that cannot answer at all.
WATCHDOG_GRACE_S = 0.25
# Connections older than this are replaced at checkout (firewalls and NAT drop idle flows).
POOL_RECYCLE_S = 1800
# Outside a deadline, SQLite waits this long for another process's write lock (the CLI and
# a web server may share the demo file).
SQLITE_BUSY_TIMEOUT_MS = 30_000
# TCP keepalives on PostgreSQL connections: a pooled connection to a host that vanished is
# found dead within about idle + interval * count seconds instead of hours.
TCP_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


@dataclass(frozen=True)
class Timeouts:
    """Connection-level limits that hold in every process (see the module docstring)."""

    connect_s: int = 2
    # Unacknowledged data for this long aborts the connection (a host that went silent).
    tcp_user_timeout_ms: int = 10_000
    # The server ends a session idle inside a transaction this long (0: never), so a stuck
    # process cannot hold row locks that every caller then waits for.
    idle_in_transaction_ms: int = 30_000


class DeadlineExceeded(exc.TimeoutError):
    """The request's database budget ran out before (or while) it got a connection."""


_deadline: ContextVar[float | None] = ContextVar("hotline_db_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Bound all database work done in this context (this thread) to `seconds` in total;
    an enclosing deadline that ends sooner still holds."""
    end = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float | None:
    """Seconds left of the current deadline (may be negative); None outside one."""
    end = _deadline.get()
    return None if end is None else end - time.monotonic()


class _Watchdog:
    """One daemon thread that cuts connections still checked out past their deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, _Guard] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, when: float, guard: _Guard) -> int:
        with self._cond:
            token = next(self._ids)
            self._armed[token] = guard
            heapq.heappush(self._heap, (when, token))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="hotline-db-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0][1] == token:
                self._cond.notify()
        return token

    def disarm(self, token: int) -> None:
        # Entries stay in the heap until they reach its top; the thread drops them there.
        with self._cond:
            guard = self._armed.pop(token, None)
        if guard is not None:
            guard.release()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                when, token = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                guard = self._armed.pop(token)
                # Under the lock, so that disarm (and with it the connection's release)
                # cannot run while the cut is under way.
                try:
                    guard.cut()
                except Exception:  # a dying connection may refuse; the cut is best effort
                    log.debug("database watchdog could not cut a connection", exc_info=True)
                finally:
                    guard.release()


class _Guard:
    """How to end one connection's wait from another thread."""

    def __init__(self, dbapi_connection: Any) -> None:
        self._connection = dbapi_connection

    def cut(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """Drop what the guard holds; called once, after the cut or when disarmed."""


class _SocketGuard(_Guard):
    """A PostgreSQL connection: shut its socket down, so a blocked read returns at once.

    The guard holds a duplicate of the socket's descriptor, taken by the owning thread at
    checkout: should the owner close the connection meanwhile, the duplicate still names
    the same socket, never a descriptor number the process has reused for another one.
    """

    def __init__(self, dbapi_connection: Any) -> None:
        super().__init__(dbapi_connection)
        self._socket = socket.socket(fileno=os.dup(dbapi_connection.fileno()))

    def cut(self) -> None:
        log.warning("database did not answer within the request's budget: connection cut")
        self._socket.shutdown(socket.SHUT_RDWR)

    def release(self) -> None:
        self._socket.close()


class _InterruptGuard(_Guard):
    """A SQLite connection: interrupt the statement it runs (thread-safe by design)."""

    def cut(self) -> None:
        log.warning("database statement outlived the request's budget: interrupted")
        self._connection.interrupt()


_WATCHDOG = _Watchdog()


def _new_watchdog_after_fork() -> None:
    # A forked child has no watchdog thread (and may have copied its lock held).
    global _WATCHDOG
    _WATCHDOG = _Watchdog()


os.register_at_fork(after_in_child=_new_watchdog_after_fork)
_WATCH_KEY = "hotline_watchdog_token"


def _watch(record: Any, guard: _Guard, left: float) -> None:
    record.info[_WATCH_KEY] = _WATCHDOG.arm(time.monotonic() + left + WATCHDOG_GRACE_S, guard)


def _unwatch(_dbapi_connection: Any, record: Any, *_: Any) -> None:
    token = record.info.pop(_WATCH_KEY, None) if record is not None else None
    if token is not None:
        _WATCHDOG.disarm(token)


def make_engine(
    database_url: str,
    *,
    pool_size: int | None = None,
    timeouts: Timeouts | None = None,
    pool_timeout_s: float = 2.0,
    **kwargs: Any,
) -> Engine:
    """An engine with the per-backend settings Hotline relies on.

    `pool_size` is how many connections the pool keeps open. A threaded server needs one per
    thread: connections beyond the pool are closed when returned, so a busy server would
    otherwise open and close PostgreSQL connections (a backend process each, and its
    prepared statements) all the time. `pool_timeout_s` bounds the wait for a pooled
    connection when all are in use; `timeouts` are the connection-level limits.
    """
    timeouts = timeouts or Timeouts()
    url = make_url(database_url)
    # An error's text never carries the statement's parameters: they hold names, numbers
    # and whatever a caller keyed, and tracebacks go to the logs (which mask them as well).
    kwargs.setdefault("hide_parameters", True)
    if pool_size is not None:
        kwargs.setdefault("pool_size", pool_size)
    kwargs.setdefault("pool_timeout", pool_timeout_s)
    if url.get_backend_name() == "sqlite":
        # A web server, the dialer and the CLI may share one SQLite file: wait for the write
        # lock rather than fail (within a request, only as long as its budget allows, see
        # _serialise_sqlite_transactions), and let readers run beside the writer (WAL).
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        _serialise_sqlite_transactions(engine)
        _watch_checkouts(engine, _InterruptGuard)
        return engine
    kwargs.setdefault("connect_args", _postgresql_connect_args(url, timeouts))
    kwargs.setdefault("pool_recycle", POOL_RECYCLE_S)
    # The ping at checkout is ours (_ping_postgresql): it must run under the watchdog, and
    # it carries the request's statement and lock timeouts in the same round trip.
    kwargs["pool_pre_ping"] = False
    engine = create_engine(url, **kwargs)
    _bound_postgresql(engine, timeouts)
    return engine


def _postgresql_connect_args(url: Any, timeouts: Timeouts) -> dict[str, Any]:
    """libpq parameters for every PostgreSQL connection (`connect_timeout` is set per
    attempt, see _bound_postgresql)."""
    options = [url.query.get("options") or ""]
    if timeouts.idle_in_transaction_ms:
        options.append(f"-c idle_in_transaction_session_timeout={timeouts.idle_in_transaction_ms}")
    return {
        **TCP_KEEPALIVES,
        "tcp_user_timeout": timeouts.tcp_user_timeout_ms,
        "options": " ".join(o for o in options if o),
    }


def _watch_checkouts(engine: Engine, guard: type[_Guard]) -> None:
    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        _unwatch(dbapi_connection, record)
        left = time_left()
        if left is None:
            return
        if left <= 0:
            raise DeadlineExceeded("the request's database budget ran out before checkout")
        _watch(record, guard(dbapi_connection), left)

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", _unwatch)
    event.listen(engine, "invalidate", _unwatch)


def _bound_postgresql(engine: Engine, timeouts: Timeouts) -> None:
    driver_error = engine.dialect.loaded_dbapi.Error

    def do_connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        left = time_left()
        if left is not None and left <= 0:
            raise DeadlineExceeded("the request's database budget ran out before connecting")
        # libpq counts whole seconds (and psycopg at least 2): round the time left up.
        limit = timeouts.connect_s if left is None else min(timeouts.connect_s, math.ceil(left))
        cparams["connect_timeout"] = max(1, limit)

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        _unwatch(dbapi_connection, record)
        left = time_left()
        if left is None:
            _ping_postgresql(dbapi_connection, driver_error, "SELECT 1")
            return
        if left <= 0:
            raise DeadlineExceeded("the request's database budget ran out before checkout")
        _watch(record, _SocketGuard(dbapi_connection), left)
        statement_ms = max(1, int(left * 1000))
        # A lock wait a little shorter than the statement's, so that the log says "lock
        # timeout" when contention, not slowness, was the cause.
        lock_ms = max(1, statement_ms * 3 // 4)
        timeouts_ms = (str(statement_ms), str(lock_ms))
        _ping_postgresql(dbapi_connection, driver_error, _SET_TIMEOUTS, timeouts_ms)

    event.listen(engine, "do_connect", do_connect)
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", _unwatch)
    event.listen(engine, "invalidate", _unwatch)


# One statement text whatever the values, so that psycopg prepares it like the hot path's.
_SET_TIMEOUTS = (
    "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)"
)


def _ping_postgresql(
    dbapi_connection: Any, driver_error: type[Exception], sql: str, params: tuple[str, ...] = ()
) -> None:
    """Check a pooled connection is alive, as pool_pre_ping would, and open the transaction.

    psycopg starts a transaction at the first statement; the session's statements that
    follow join it, so `set_config(..., true)` here holds for exactly that transaction.
    A dead connection is replaced once by the pool (DisconnectionError); one that did not
    answer within the request's budget is not, since no time is left to connect again.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql, params or None)
    except driver_error as error:
        left = time_left()
        if left is not None and left <= 0:
            raise DeadlineExceeded("the database did not answer within the budget") from error
        raise exc.DisconnectionError(f"pooled connection is dead: {error}") from error
    finally:
        with contextlib.suppress(driver_error):
            cursor.close()


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

    Within a deadline both waits, the in-process lock and SQLite's busy timeout (another
    process holding the file), last no longer than the time left.
    """
    lock = threading.RLock()

    def begin(connection: Any) -> None:
        left = time_left()
        if left is None:
            lock.acquire()
            busy_ms = SQLITE_BUSY_TIMEOUT_MS
        elif left <= 0 or not lock.acquire(timeout=left):
            raise DeadlineExceeded("the database stayed busy for the request's whole budget")
        else:
            # Rounded down to 100 ms, so that most requests find it set already.
            busy_ms = max(1, int(left * 10) * 100)
        connection.info["hotline_holds_lock"] = True
        try:
            if connection.info.get("hotline_busy_ms") != busy_ms:
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms}")
                connection.info["hotline_busy_ms"] = busy_ms
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
