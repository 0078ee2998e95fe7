"""Ask the carrier what became of calls whose fate the database does not know.

Two cases, both run at the start of every tick:

- **Unknown placements**: DIALING with no CallSid once the claim is over (its lease ended
  and the carrier has had `settle` to list what it accepted), or, on SQLite where one
  dialer runs alone, any claim left by a dialer that is no longer running. The claimer
  died somewhere between claiming and storing the CallSid, or the carrier did not answer.
  The carrier is asked for outbound calls to the number created since the claim was taken
  (To and a time window: Twilio's list returns neither the Url nor the StatusCallback, so
  a marker in them could not be read back). A call found is adopted, its SID stored; none
  found means nothing was dialled and the attempt is PLANNED again. Unambiguous because a
  claim is only taken for a number with no call in flight (dialer/claims.py), and a SID
  already stored on another attempt is never adopted. A carrier that cannot be asked
  leaves the row as it is: never dialled again until the carrier answers.
- **Overdue calls**: placed, no final status `reconcile_after` past placing (callbacks
  lost, the app down): fetched and their status stored; asked again each
  `reconcile_after` until final.

Each resolution is its own transaction, guarded by the claim it saw (worker, claimed_at),
so a row another dialer resolved or claimed meanwhile is left alone.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session, sessionmaker

from dialer.claims import ACTOR
from dialer.config import CARRIER_CLOCK_SKEW, DialerConfig
from dialer.outcomes import PLACED_NOT_FINAL, apply_carrier_status
from hotline import audit
from hotline.enums import AttemptStatus, Direction
from hotline.models import ContactAttempt
from telephony.gateway import CallGateway, CallInfo, GatewayError

log = logging.getLogger(__name__)
BATCH = 50


@dataclass(frozen=True)
class Orphan:
    attempt_id: int
    number: str
    worker_id: str | None
    claimed_at: dt.datetime | None


def resolve_unknown_placements(
    Session: sessionmaker[Session],
    gateway: CallGateway,
    now: dt.datetime,
    config: DialerConfig,
    *,
    worker_id: str,
    alone_since: dt.datetime | None = None,
) -> tuple[int, int]:
    """Adopt or re-plan claims whose placement is unknown; (adopted, re-planned).

    `alone_since`: this dialer has run alone since then (SQLite's lock file), so a claim
    by any other worker is a dead dialer's once the carrier has had `settle` since then.
    """
    alone = alone_since is not None and alone_since <= now - config.settle
    with Session.begin() as session:
        orphans = [
            Orphan(row.id, row.number, row.worker_id, row.claimed_at)
            for row in session.execute(
                _ORPHANS_OF_DEAD_OWNERS if alone else _ORPHANS,
                {
                    "expired_by": now - config.settle,
                    "worker_id": worker_id,
                    "alone_since": alone_since,
                },
            )
        ]
    adopted = replanned = 0
    for orphan in orphans:
        since = (orphan.claimed_at or now) - CARRIER_CLOCK_SKEW
        try:
            calls = gateway.list_calls(orphan.number, since)
        except GatewayError as exc:
            log.warning(
                "attempt %s stays unresolved (not dialled) until the carrier lists calls: %s",
                orphan.attempt_id,
                exc,
            )
            continue
        with Session.begin() as session:
            outcome = _resolve(session, orphan, calls, now)
        adopted += outcome == "adopted"
        replanned += outcome == "replanned"
    return adopted, replanned


def _resolve(session: Session, orphan: Orphan, calls: list[CallInfo], now: dt.datetime) -> str:
    attempt = session.scalars(
        select(ContactAttempt)
        .where(
            ContactAttempt.id == orphan.attempt_id,
            ContactAttempt.status == AttemptStatus.DIALING,
            ContactAttempt.provider_call_sid.is_(None),
            ContactAttempt.worker_id.is_not_distinct_from(orphan.worker_id),
            ContactAttempt.claimed_at.is_not_distinct_from(orphan.claimed_at),
        )
        .with_for_update(skip_locked=True)
    ).one_or_none()
    if attempt is None:
        return "gone"  # resolved or claimed again by someone else meanwhile
    known = (
        set(
            session.scalars(
                select(ContactAttempt.provider_call_sid).where(
                    ContactAttempt.provider_call_sid.in_([c.sid for c in calls])
                )
            )
        )
        if calls
        else set()
    )
    fresh = [c for c in calls if c.sid not in known]
    if not fresh:
        attempt.status = AttemptStatus.PLANNED
        attempt.worker_id = None
        attempt.lease_until = None
        attempt.claimed_at = None
        log.info("attempt %s: the carrier has no call for its claim; planned again", attempt.id)
        return "replanned"
    if len(fresh) > 1:
        log.warning(
            "attempt %s: the carrier has several unclaimed calls to its number (%s); "
            "adopting the first",
            attempt.id,
            ", ".join(c.sid for c in fresh),
        )
    call = fresh[0]
    attempt.provider_call_sid = call.sid
    attempt.placed_at = call.created_at or now
    attempt.status = AttemptStatus.QUEUED
    attempt.lease_until = None
    apply_carrier_status(session, attempt, call, now)
    audit.record(
        session,
        actor=ACTOR,
        action="attempt.adopted",
        entity_type="contact_attempt",
        entity_id=attempt.id,
        data={"call_sid": call.sid, "carrier_status": call.status},
        now=now,
    )
    log.info("attempt %s: adopted the carrier's call %s for its claim", attempt.id, call.sid)
    return "adopted"


def _orphans(*, alone: bool) -> Select[int, str, str | None, dt.datetime | None]:
    """Claims with no CallSid whose lease is over (`expired_by`), or, for a dialer that has
    run alone since `alone_since`, any other worker's claim made before then."""
    expired = and_(
        ContactAttempt.lease_until.is_not(None),
        ContactAttempt.lease_until
        <= bindparam("expired_by", type_=ContactAttempt.lease_until.type),
    )
    dead_owner = and_(
        ContactAttempt.worker_id.is_distinct_from(bindparam("worker_id")),
        or_(
            ContactAttempt.claimed_at.is_(None),
            ContactAttempt.claimed_at
            < bindparam("alone_since", type_=ContactAttempt.claimed_at.type),
        ),
    )
    return (
        select(
            ContactAttempt.id,
            ContactAttempt.number,
            ContactAttempt.worker_id,
            ContactAttempt.claimed_at,
        )
        .where(
            ContactAttempt.status == AttemptStatus.DIALING,
            ContactAttempt.provider_call_sid.is_(None),
            or_(expired, dead_owner) if alone else expired,
        )
        .order_by(ContactAttempt.id)
        .limit(BATCH)
    )


# Built once: reconcile runs with every tick (building them cost more than running them).
_ORPHANS = _orphans(alone=False)
_ORPHANS_OF_DEAD_OWNERS = _orphans(alone=True)


def reconcile_overdue(
    Session: sessionmaker[Session], gateway: CallGateway, now: dt.datetime, config: DialerConfig
) -> int:
    """Fetch placed calls with no final status `reconcile_after` after placing; how many
    changed."""
    with Session.begin() as session:
        due = session.execute(_OVERDUE, {"cutoff": now - config.reconcile_after}).all()
    changed = 0
    for attempt_id, sid in due:
        if sid is None:
            continue  # excluded by the query; the column is nullable for planned rows
        try:
            call: CallInfo | None = gateway.fetch(sid)
        except GatewayError as exc:
            log.warning("attempt %s: carrier could not fetch %s: %s", attempt_id, sid, exc)
            call = None
        with Session.begin() as session:
            attempt = session.get(ContactAttempt, attempt_id, with_for_update=True)
            if attempt is None:
                continue
            attempt.carrier_checked_at = now
            # An ended call is audited with its disposition there (dialer.outcomes).
            if call is not None and apply_carrier_status(session, attempt, call, now):
                changed += 1
    return changed


_cutoff = bindparam("cutoff", type_=ContactAttempt.placed_at.type)
# Placed calls with no final status, placed (and last fetched) by the cutoff: built once.
_OVERDUE = (
    select(ContactAttempt.id, ContactAttempt.provider_call_sid)
    .where(
        ContactAttempt.direction == Direction.OUTBOUND,
        ContactAttempt.status.in_(PLACED_NOT_FINAL),
        ContactAttempt.provider_call_sid.is_not(None),
        ContactAttempt.placed_at <= _cutoff,
        or_(
            ContactAttempt.carrier_checked_at.is_(None),
            ContactAttempt.carrier_checked_at <= _cutoff,
        ),
    )
    .order_by(ContactAttempt.placed_at)
    .limit(BATCH)
)
