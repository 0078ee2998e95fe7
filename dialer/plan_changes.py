"""Which cardholders' planning facts changed since the planning job last looked.

The database writes a row to plan_change, the cardholder's id, from a trigger on every
table the planner's loader reads (dialer/facts.py: the account, its cardholder, flags,
disputes, numbers, calls, texts, inbound calls; migration 0016), whoever wrote it. The
planning memo (dialer/plan_memo.py) reads them at the start of each run and forgets what
it knew of those cardholders' accounts; what it still knows was computed from facts
that have not changed since.

Where a read stopped (its `Position`) must leave nothing unread that commits later:

- SQLite runs one writer at a time, and a row's id is taken by its writer after every
  commit before it (AUTOINCREMENT: never reused while the table lives). Any row not
  visible to a read has an id above the table's counter as that read saw it
  (sqlite_sequence, read in the same statement as the rows); the next read starts there.
- On PostgreSQL ids are taken before the commit: a row with a lower id can commit after
  one with a higher. Each row carries its writer's (top-level) transaction id instead,
  and a read keeps the snapshot it was taken under: the next read takes the rows of every
  transaction that snapshot did not see (from its xmin on, not visible in it). The
  snapshot is taken before the rows are read, so what commits in between is read twice,
  never missed; a transaction still open anywhere on the server (another database's
  too: xmin is the cluster's) does not make every later run read it all again.

The feed cannot hold what was written while its triggers were gone (a downgrade, then an
upgrade), a TRUNCATE (PostgreSQL), or the feed's own rows deleted young or emptied: each
makes a new epoch token (plan_change_epoch), and a memo that finds another token, none,
another feed table (PostgreSQL: its oid, new when an older copy is restored), or a
position gone backwards (SQLite: an older file), starts over. So does a run that failed
(the planner's), and a memo that has not read for TRUST_FOR (dialer/plan_memo.py): rows
older than KEEP, by the database's clock, are deleted by the planner.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, text

KEEP = dt.timedelta(days=7)


@dataclass(frozen=True)
class Position:
    epoch: str
    # SQLite: the id counter as read. PostgreSQL: the snapshot's xmin, the snapshot itself
    # (text), and this transaction's own id if it had one then (its later rows are its).
    value: int
    snapshot: str | None = None
    own: int | None = None


@dataclass(frozen=True)
class Changes:
    holders: frozenset[int]  # cardholders with a row since the position asked from
    position: Position  # where the next read starts
    # The position asked from cannot be trusted (None, another epoch, gone backwards):
    # forget everything known, nothing is in `holders`.
    start_over: bool


def read_changes(connection: Connection, since: Position | None) -> Changes:
    """The cardholders changed since `since`. Best read before the transaction writes
    anything (the planner reads first): its own rows are then all after the position."""
    postgresql = connection.dialect.name == "postgresql"
    token = connection.scalar(_EPOCH_POSTGRES if postgresql else _EPOCH_SQLITE)
    epoch = str(token or "")
    if token is None:  # the epoch row gone: nothing can be trusted, every run
        since = None
    if postgresql:
        xmin, snapshot, own = connection.execute(_SNAPSHOT).one()
        position = Position(epoch, int(xmin), str(snapshot), None if own is None else int(own))
        if since is None or since.epoch != epoch or since.value > position.value:
            return Changes(frozenset(), position, start_over=True)
        holders = frozenset(
            connection.scalars(
                _UNSEEN,
                {"xmin": since.value, "snapshot": since.snapshot, "own": since.own},
            )
        )
        return Changes(holders, position, start_over=False)
    counter: int | None = None
    holders_since: set[int] = set()
    # With nothing to go on from, only the counter: a week of rows is not read for nothing.
    after = since.value if since is not None else _NO_ROWS
    for holder, number in connection.execute(_SINCE_ID, {"since": after}):
        if holder is None:
            counter = int(number)
        else:
            holders_since.add(int(holder))
    position = Position(epoch, counter or 0)
    if since is None or since.epoch != epoch or since.value > position.value:
        return Changes(frozenset(), position, start_over=True)
    return Changes(frozenset(holders_since), position, start_over=False)


def prune(connection: Connection) -> int:
    """Delete the rows older than KEEP; how many."""
    statement = _PRUNE_POSTGRES if connection.dialect.name == "postgresql" else _PRUNE_SQLITE
    return int(connection.execute(statement).rowcount or 0)


# On PostgreSQL with the feed table's own id: a table made anew (an older copy restored,
# its epoch row with it) is another table, whatever its rows say.
_EPOCH_POSTGRES = text(
    "SELECT token || '/' || 'plan_change'::regclass::oid::text FROM plan_change_epoch"
)
_EPOCH_SQLITE = text("SELECT token FROM plan_change_epoch")
_SNAPSHOT = text(
    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
    "pg_current_snapshot()::text, pg_current_xact_id_if_assigned()::text::bigint"
)
_UNSEEN = text(
    "SELECT DISTINCT cardholder_id FROM plan_change WHERE xact >= :xmin AND (xact = :own "
    "OR NOT pg_visible_in_snapshot(xact::text::xid8, CAST(:snapshot AS pg_snapshot)))"
)
_NO_ROWS = 2**62  # above any id
# The counter (a row with no cardholder) and the rows since, in one statement: one snapshot.
_SINCE_ID = text(
    "SELECT NULL, seq FROM sqlite_sequence WHERE name = 'plan_change' "
    "UNION ALL SELECT cardholder_id, id FROM plan_change WHERE id > :since"
)
_PRUNE_POSTGRES = text(
    f"DELETE FROM plan_change WHERE changed_at < now() - interval '{KEEP.days} days'"
)
_PRUNE_SQLITE = text(
    f"DELETE FROM plan_change WHERE changed_at < datetime('now', '-{KEEP.days} days')"
)
