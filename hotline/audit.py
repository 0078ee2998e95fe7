"""The audit trail: append-only events, each chained to the one before by SHA-256.

A row's hash covers its sequence number, time, actor, action, entity, data and the previous
row's hash. Editing a row breaks its own hash; deleting or inserting one breaks the link and
the gap-free sequence. Deleting rows from the end leaves no trace inside the table, so
`hotline audit verify` prints the head hash for the operator to anchor elsewhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hotline.models import AuditEvent, utcnow

GENESIS_HASH = "0" * 64
# Any constant works: it names the PostgreSQL advisory lock that serialises appends, so two
# transactions never both extend the same head.
_CHAIN_LOCK_KEY = 0x484F544C  # "HOTL"


def canonical_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_hash(
    *,
    seq: int,
    occurred_at: dt.datetime,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    data: str,
    prev_hash: str,
) -> str:
    content = canonical_json(
        {
            "seq": seq,
            "occurred_at": _timestamp(occurred_at),
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "data": data,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(content.encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str | int,
    data: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction (inserted at its next
    flush, with any other events it appends).

    Appends are serialised (on PostgreSQL by a transaction lock), so the time from taking
    the lock to the commit is what bounds how many transactions a second may append: it
    is kept to the fewest round trips. The transaction's own writes are flushed before the
    lock; the lock and the head are one round trip; the head is read once a transaction
    (holding the lock, this transaction's last event is the head until it ends), so a
    second event (a call's outcome, then its end) costs nothing until the flush that
    inserts both. The head kept is bound to the innermost transaction it was read in, so
    an event in a savepoint that rolls back is never chained onto."""
    # Begin the transaction first if the caller has not: a head kept under "no transaction"
    # would be reused by whatever transaction comes next (after a rollback, or a commit by
    # another writer, it is stale).
    session.connection()
    transaction = session.get_nested_transaction() or session.get_transaction()
    kept = session.info.get(_HEAD)
    if transaction is not None and kept is not None and kept[0] is transaction:
        seq, prev_hash = kept[1] + 1, kept[2]
    else:
        head = _locked_head(session)
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    # Microseconds are what both backends keep; the hash must match the stored value.
    occurred_at = (now or utcnow()).astimezone(dt.UTC)
    event = AuditEvent(
        seq=seq,
        occurred_at=occurred_at,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        data=canonical_json(data or {}),
        prev_hash=prev_hash,
    )
    event.hash = compute_hash(
        seq=seq,
        occurred_at=occurred_at,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=event.entity_id,
        data=event.data,
        prev_hash=prev_hash,
    )
    session.add(event)
    session.info[_HEAD] = (transaction, seq, event.hash)
    return event


def lock_chain(session: Session) -> None:
    """Take the chain's append lock now, for the rest of the transaction (PostgreSQL; on
    SQLite the transaction's write lock already serialises appends).

    For a writer that must not hold a row another appender may wait on while it waits for
    the chain: it takes the chain first, then writes (the lock is re-entrant, so its own
    appends later take it again at no cost)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({_CHAIN_LOCK_KEY})"))


def _locked_head(session: Session) -> tuple[int, str] | None:
    """The chain's head (seq, hash), read holding the chain's lock; None if empty."""
    if session.get_bind().dialect.name != "postgresql":
        # SQLite: the transaction already holds the database's one write lock.
        head = session.execute(_HEAD_QUERY).first()
        return (head[0], head[1]) if head else None
    session.flush()
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        # Two statements, one round trip: the second takes its snapshot after the lock is
        # granted, so it sees the head the previous holder committed.
        cursor.execute(_LOCK_AND_HEAD)
        cursor.nextset()
        head = cursor.fetchone()
    finally:
        cursor.close()
    return (head[0], head[1]) if head else None


_HEAD_QUERY = select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
_LOCK_AND_HEAD = (
    f"SELECT pg_advisory_xact_lock({_CHAIN_LOCK_KEY}); "
    "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"
)


_HEAD = "hotline.audit.head"  # session.info: (transaction, seq, hash) of its last event


@dataclass
class ChainReport:
    rows_checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_rows(rows: Iterable[AuditEvent], *, max_problems: int = 100) -> ChainReport:
    """Check a chain given in seq order; report every break up to max_problems."""
    report = ChainReport()
    expected_seq, expected_prev = 1, GENESIS_HASH
    for row in rows:
        report.rows_checked += 1
        if row.seq != expected_seq:
            report.problems.append(
                f"seq {row.seq}: expected seq {expected_seq} (rows missing or inserted)"
            )
        if row.prev_hash != expected_prev:
            report.problems.append(
                f"seq {row.seq}: prev_hash does not match the hash of the row before it"
            )
        recomputed = compute_hash(
            seq=row.seq,
            occurred_at=row.occurred_at,
            actor=row.actor,
            action=row.action,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            data=row.data,
            prev_hash=row.prev_hash,
        )
        if recomputed != row.hash:
            report.problems.append(f"seq {row.seq}: content does not match its hash (edited)")
        expected_seq, expected_prev = row.seq + 1, row.hash
        report.head_seq, report.head_hash = row.seq, row.hash
        if len(report.problems) >= max_problems:
            break
    return report


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole chain from the database, streaming rows."""
    rows = session.scalars(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)
    )
    return verify_rows(rows)
