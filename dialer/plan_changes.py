"""Which cardholders' planning facts changed since the planning job last looked.

The database writes a row to plan_change, the cardholder's id, from a trigger on every
table the planner's loader reads (dialer/facts.py: the account, its cardholder, flags,
disputes, numbers, calls, texts, inbound calls; migration 0016), whoever wrote it. The
planning memo (dialer/plan_memo.py) reads them at the start of each run and forgets what
it knew of those cardholders' accounts; what it still knows was computed from facts
that have not changed since.

Where the last read stopped (its `position`) must leave nothing unread that commits later:

- SQLite runs one writer at a time, and a row's id is taken by its writer after every
  commit before it (AUTOINCREMENT: never reused). Any row not visible to a read has an id
  above every row that is; the position is the highest id read.
- On PostgreSQL ids are taken before the commit: a row with a lower id can commit after
  one with a higher. The position is the read's snapshot xmin instead, the oldest
  transaction still running: a row not yet visible belongs to a transaction at or after
  it, and each row carries its writer's transaction id (`xact`). The next read takes
  every row from that transaction on (some a second time: harmless, it only recomputes).

Rows older than KEEP (by the database's clock) are deleted by the planner; a memo that
has not read for longer than it trusts (plan_memo.TRUST_FOR, well under KEEP) starts over.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, text

KEEP = dt.timedelta(days=7)


@dataclass(frozen=True)
class Changes:
    holders: frozenset[int]  # cardholders with a row since the position asked from
    position: int  # where the next read starts


def read_changes(connection: Connection, since: int | None) -> Changes:
    """The cardholders changed since `since` (None: only where the feed stands now)."""
    if connection.dialect.name == "postgresql":
        # The snapshot first, then the rows: whatever commits between the two is read now
        # and again next time, never missed.
        position = int(connection.scalar(_XMIN) or 0)
        if since is None:
            return Changes(frozenset(), position)
        holders = frozenset(connection.scalars(_SINCE_XACT, {"since": since}))
        return Changes(holders, position)
    if since is None:
        return Changes(frozenset(), int(connection.scalar(_LAST_ID) or 0))
    # One statement, one snapshot: the ids and the highest of them.
    rows = connection.execute(_SINCE_ID, {"since": since}).all()
    return Changes(frozenset(h for h, _ in rows), max((i for _, i in rows), default=since))


def prune(connection: Connection) -> int:
    """Delete the rows older than KEEP; how many."""
    statement = _PRUNE_POSTGRES if connection.dialect.name == "postgresql" else _PRUNE_SQLITE
    return int(connection.execute(statement).rowcount or 0)


_XMIN = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
_SINCE_XACT = text("SELECT DISTINCT cardholder_id FROM plan_change WHERE xact >= :since")
_LAST_ID = text("SELECT max(id) FROM plan_change")
_SINCE_ID = text(
    "SELECT cardholder_id, max(id) FROM plan_change WHERE id > :since GROUP BY cardholder_id"
)
_KEEP_DAYS = KEEP.days
_PRUNE_POSTGRES = text(
    f"DELETE FROM plan_change WHERE changed_at < now() - interval '{_KEEP_DAYS} days'"
)
_PRUNE_SQLITE = text(
    f"DELETE FROM plan_change WHERE changed_at < datetime('now', '-{_KEEP_DAYS} days')"
)
