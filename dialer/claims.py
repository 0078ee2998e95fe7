"""The attempt queue: claim a due attempt within pacing, and move it along its placement.

An outbound attempt goes PLANNED -> DIALING (claimed: worker, lease, claimed_at) -> the
carrier's status once its CallSid is stored; each step is its own transaction, so a dialer
killed at any moment leaves a row that says how far it got:

- DIALING without a CallSid: the placement is unknown (the claimer may have died before,
  during or after the carrier request). Nobody dials it again; once its lease is over,
  dialer/reconcile.py asks the carrier whether the call exists and either adopts the call
  or returns the attempt to PLANNED.
- A CallSid: placed; the status moves on with callbacks or reconcile.

Every step after the claim is guarded by the claim itself (worker id and claimed_at), as
procrastinate's finish_job moves a job only out of the state it expects: a claim someone
else has since resolved is left alone.

Claiming (as procrastinate_fetch_job: one transaction picks and marks): the `global` pacing
row is locked first (FOR UPDATE), so every dialer process takes its slots and counts the
calls in flight in turn; then due attempts are read with FOR UPDATE SKIP LOCKED, so rows
another transaction holds (reconcile, a callback) are passed over rather than waited for.
On SQLite nothing is locked (its dialect renders no FOR UPDATE): one dialer runs there
(dialer/process.py enforces it) and SQLite serialises writers.

Services here take a session and never commit; dialer/tick.py owns the transactions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, case, func, select, update
from sqlalchemy.orm import Session, aliased

from dialer import pacing
from dialer.outcomes import IN_FLIGHT, status_of
from dialer.retry import Refusal, backoff
from hotline import audit
from hotline.contacts import CALLBACK_REQUESTED
from hotline.enums import AttemptStatus, CampaignStatus, Direction
from hotline.models import Campaign, ContactAttempt, DialerPacing, Phone
from telephony.gateway import CallInfo

GLOBAL_SCOPE = "global"
ACTOR = "dialer"
# Due attempts read per claim: enough to step past those whose campaign is at its limit.
CANDIDATES = 20


def campaign_scope(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


@dataclass(frozen=True)
class Claim:
    """An attempt this worker holds: placed at `slot`, if still held then."""

    attempt_id: int
    number: str
    campaign_id: int
    caller_id: str | None
    worker_id: str
    claimed_at: dt.datetime
    slot: dt.datetime
    lease_until: dt.datetime


def set_global_limits(session: Session, limits: pacing.Limits, now: dt.datetime) -> None:
    """Make the `global` pacing row hold these limits (the dialer's settings at start)."""
    _set_limits(session, GLOBAL_SCOPE, None, limits, now)


def set_campaign_limits(
    session: Session, campaign_id: int, limits: pacing.Limits | None, now: dt.datetime
) -> None:
    """Give a campaign limits of its own (None: only the global ones apply)."""
    if limits is None:
        row = session.get(DialerPacing, campaign_scope(campaign_id))
        if row is not None:
            session.delete(row)
        return
    _set_limits(session, campaign_scope(campaign_id), campaign_id, limits, now)


def _set_limits(
    session: Session,
    scope: str,
    campaign_id: int | None,
    limits: pacing.Limits,
    now: dt.datetime,
) -> None:
    row = session.get(DialerPacing, scope, with_for_update=True)
    if row is None:
        row = DialerPacing(scope=scope, campaign_id=campaign_id, updated_at=now)
        session.add(row)
    row.calls_per_second = limits.calls_per_second
    row.max_concurrent = limits.max_concurrent
    session.flush()


def claim_next(
    session: Session,
    *,
    worker_id: str,
    clock: Callable[[], dt.datetime],
    lease: dt.timedelta,
    horizon: dt.datetime,
) -> Claim | None:
    """Claim the next due attempt whose slot comes by `horizon`; None if there is none."""
    claimed = claim_due(
        session, worker_id=worker_id, clock=clock, lease=lease, horizon=horizon, limit=1
    )
    return claimed[0] if claimed else None


def claim_due(
    session: Session,
    *,
    worker_id: str,
    clock: Callable[[], dt.datetime],
    lease: dt.timedelta,
    horizon: dt.datetime,
    limit: int,
) -> list[Claim]:
    """Claim up to `limit` due attempts whose pacing slots come by `horizon`, in slot order.

    Takes the slots with them: the claims, their slots and the moved-on bucket state commit
    together, so a claim that is rolled back gives its slot back. Nothing due, no room
    (max_concurrent) or no slot by the horizon: an empty list, and the attempts wait.

    The time is read once the pacing row is locked: a slot counted from before a wait for
    the lock (or a first connection) would be in the past by the time the call goes, and
    the next dialer's slot, counted from it, would come too soon after.
    """
    global_row = session.scalars(_GLOBAL_ROW).one_or_none()
    if global_row is None:
        raise RuntimeError("no global pacing limits: call dialer.claims.set_global_limits first")
    now = clock()
    global_limits = _limits_of(global_row)
    if global_row.next_slot_at is not None and global_row.next_slot_at > horizon:
        return []
    in_flight = _in_flight_by_campaign(session)
    room = global_limits.max_concurrent - sum(in_flight.values())
    if room <= 0:
        return []
    rows = session.execute(_DUE_ATTEMPTS, {"now": now}).all()
    if not rows:
        return []
    candidates = [attempt for attempt, _ in rows]
    caller_ids = {attempt.id: caller_id for attempt, caller_id in rows}
    scopes = {
        row.campaign_id: row
        for row in session.scalars(
            _CAMPAIGN_ROWS, {"campaigns": list({c.campaign_id for c in candidates})}
        )
    }
    # One call at a time to a number (see _due_attempts), the oldest due first.
    first_per_number: dict[str, ContactAttempt] = {}
    for candidate in candidates:
        first_per_number.setdefault(candidate.number, candidate)
    candidates = list(first_per_number.values())
    claimed: list[Claim] = []
    while candidates and len(claimed) < min(limit, room):
        picked = _earliest_slot(candidates, now, horizon, global_row, scopes, in_flight)
        if picked is None:
            break
        taken, attempt, own = picked
        candidates.remove(attempt)
        global_row.next_slot_at = pacing.next_free(taken, global_limits.calls_per_second)
        global_row.updated_at = now
        if own is not None:
            own.next_slot_at = pacing.next_free(taken, own.calls_per_second)
            own.updated_at = now
        assert attempt.campaign_id is not None  # _due_attempts reads campaign attempts only
        in_flight[attempt.campaign_id] = in_flight.get(attempt.campaign_id, 0) + 1
        attempt.status = AttemptStatus.DIALING
        attempt.worker_id = worker_id
        attempt.claimed_at = now
        attempt.slot_at = taken
        attempt.lease_until = now + lease
        claimed.append(
            Claim(
                attempt_id=attempt.id,
                number=attempt.number,
                campaign_id=attempt.campaign_id,
                caller_id=caller_ids[attempt.id],
                worker_id=worker_id,
                claimed_at=now,
                slot=taken,
                lease_until=now + lease,
            )
        )
    session.flush()
    return claimed


def _earliest_slot(
    candidates: list[ContactAttempt],
    now: dt.datetime,
    horizon: dt.datetime,
    global_row: DialerPacing,
    scopes: dict[int | None, DialerPacing],
    in_flight: dict[int | None, int],
) -> tuple[dt.datetime, ContactAttempt, DialerPacing | None] | None:
    """The candidate whose slot comes first (the oldest due among equals), if by the
    horizon: a campaign slowed by its own limits does not hold back another's calls."""
    chosen: tuple[dt.datetime, ContactAttempt, DialerPacing | None] | None = None
    for attempt in candidates:
        own = scopes.get(attempt.campaign_id)
        if own is not None and not pacing.has_room(
            in_flight.get(attempt.campaign_id, 0), _limits_of(own)
        ):
            continue
        taken = pacing.slot(now, [global_row.next_slot_at, own.next_slot_at if own else None])
        if taken <= horizon and (chosen is None or taken < chosen[0]):
            chosen = (taken, attempt, own)
    return chosen


# A planned campaign call due by the parameter `now`, its campaign (joined) running: what
# a claim may take and what the re-check's sweep asks about (dialer/recheck.py).
DUE_CAMPAIGN_CALL = (
    ContactAttempt.status == AttemptStatus.PLANNED,
    ContactAttempt.direction == Direction.OUTBOUND,
    ContactAttempt.due_at <= bindparam("now", type_=ContactAttempt.due_at.type),
    Campaign.status == CampaignStatus.ACTIVE,
)


def _due_attempts() -> Select[ContactAttempt, str | None]:
    """Planned attempts of active campaigns due by the parameter `now`, oldest first, each
    with its campaign's caller id; rows others hold skipped.

    Only campaign attempts: a callback the cardholder asked for is for an agent to make.
    A number with a call in flight is passed over, so at most one claim per number is ever
    unresolved and the carrier's calls to that number since the claim are unambiguously
    its own (dialer/reconcile.py).
    """
    other = aliased(ContactAttempt)
    busy_number = (
        select(other.id)
        .where(
            other.number == ContactAttempt.number,
            other.direction == Direction.OUTBOUND,
            other.status.in_(IN_FLIGHT),
        )
        .exists()
    )
    return (
        select(ContactAttempt, Campaign.caller_id)
        .join(Campaign, Campaign.id == ContactAttempt.campaign_id)
        .where(*DUE_CAMPAIGN_CALL, ~busy_number)
        .order_by(ContactAttempt.due_at, ContactAttempt.id)
        .limit(CANDIDATES)
        .with_for_update(of=ContactAttempt, skip_locked=True)
    )


def _in_flight_by_campaign(session: Session) -> dict[int | None, int]:
    return {campaign_id: count for campaign_id, count in session.execute(_IN_FLIGHT).all()}


# The statements of a claim, built once: the tick runs them for every call, and building
# one afresh cost more than running it (a new statement object also has its result columns
# matched again to the cached compilation's).
_GLOBAL_ROW = select(DialerPacing).where(DialerPacing.scope == GLOBAL_SCOPE).with_for_update()
_DUE_ATTEMPTS = _due_attempts()
_CAMPAIGN_ROWS = (
    select(DialerPacing)
    .where(DialerPacing.campaign_id.in_(bindparam("campaigns", expanding=True)))
    .order_by(DialerPacing.scope)
    .with_for_update()
)
_IN_FLIGHT = (
    select(ContactAttempt.campaign_id, func.count())
    .where(
        ContactAttempt.direction == Direction.OUTBOUND,
        ContactAttempt.status.in_(IN_FLIGHT),
    )
    .group_by(ContactAttempt.campaign_id)
)


def _limits_of(row: DialerPacing) -> pacing.Limits:
    return pacing.Limits(row.calls_per_second, row.max_concurrent)


# The attempt row, only while a claim still holds it unplaced: the claim's own values
# bound by held_params. Built once, for the statements every call runs.
HELD = (
    ContactAttempt.id == bindparam("held_attempt"),
    ContactAttempt.status == AttemptStatus.DIALING,
    ContactAttempt.provider_call_sid.is_(None),
    ContactAttempt.worker_id == bindparam("held_worker"),
    ContactAttempt.claimed_at == bindparam("held_claimed_at", type_=ContactAttempt.claimed_at.type),
)
STILL_HELD = select(ContactAttempt.id).where(*HELD)
HELD_ROW = select(ContactAttempt).where(*HELD).with_for_update()


def held_params(claim: Claim) -> dict[str, object]:
    return {
        "held_attempt": claim.attempt_id,
        "held_worker": claim.worker_id,
        "held_claimed_at": claim.claimed_at,
    }


def release(session: Session, claim: Claim) -> bool:
    """Give back a claim this worker never dialled (stopping, or its lease ran short)."""
    result = session.execute(
        update(ContactAttempt)
        .where(*HELD)
        .values(status=AttemptStatus.PLANNED, worker_id=None, lease_until=None, claimed_at=None)
        .execution_options(synchronize_session=False),
        held_params(claim),
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_placed(
    session: Session, claim: Claim, call: CallInfo, sent_at: dt.datetime, *, now: dt.datetime
) -> bool:
    """Store the CallSid the carrier gave for the request sent at `sent_at`; False if the
    claim was taken up meanwhile."""
    result = session.execute(
        _STORE_PLACED,
        {
            **held_params(claim),
            "sid": call.sid,
            "status": status_of(call.status) or AttemptStatus.QUEUED,
            "placed_at": sent_at,
        },
    )
    stored = bool(result.rowcount)  # type: ignore[attr-defined]
    if not stored and not _adopted_by_its_callback(session, claim, call, sent_at):
        return False
    audit.record(
        session,
        actor=ACTOR,
        action="attempt.placed",
        entity_type="contact_attempt",
        entity_id=claim.attempt_id,
        data={"call_sid": call.sid, "campaign_id": claim.campaign_id},
        now=now,
    )
    return True


_STORE_PLACED = (
    update(ContactAttempt)
    .where(*HELD)
    .values(
        provider_call_sid=bindparam("sid"),
        status=bindparam("status", type_=ContactAttempt.status.type),
        placed_at=bindparam("placed_at", type_=ContactAttempt.placed_at.type),
        lease_until=None,
        dial_retries=0,
        error_code=None,
        error_message=None,
        # A callback an agent scheduled is a call like any other once placed.
        disposition=case(
            (ContactAttempt.disposition == CALLBACK_REQUESTED, None),
            else_=ContactAttempt.disposition,
        ),
    )
    .execution_options(synchronize_session=False)
)


def _adopted_by_its_callback(
    session: Session, claim: Claim, call: CallInfo, sent_at: dt.datetime
) -> bool:
    """Whether the call's first status callback got here before the carrier's answer did
    and stored this CallSid on the claimed row (dialer/outcomes.py adopts it): then the
    claim is ours and placed, its status the callback's; only the placement is recorded."""
    result = session.execute(
        update(ContactAttempt)
        .where(
            ContactAttempt.id == claim.attempt_id,
            ContactAttempt.provider_call_sid == call.sid,
            ContactAttempt.worker_id == claim.worker_id,
            ContactAttempt.claimed_at == claim.claimed_at,
            ContactAttempt.placed_at.is_(None),
        )
        .values(placed_at=sent_at, lease_until=None, dial_retries=0)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_refusal(
    session: Session,
    claim: Claim,
    refusal: Refusal,
    *,
    code: int | None,
    message: str,
    now: dt.datetime,
) -> bool:
    """What a carrier refusal does to the attempt (dialer/retry.py says which is which).

    Invalid number: the attempt fails and the phone is marked bad. Refused: the attempt
    fails. Retry: back to PLANNED after the backoff. Unknown (no answer, 5xx): deferred the
    same way, but left DIALING with its lease ended, so the carrier is asked whether the
    call exists before it is ever dialled again.
    """
    attempt = session.scalars(HELD_ROW, held_params(claim)).one_or_none()
    if attempt is None:
        return False
    attempt.error_code = str(code) if code is not None else None
    attempt.error_message = message[:500]
    if refusal in (Refusal.INVALID_NUMBER, Refusal.REFUSED):
        attempt.status = AttemptStatus.FAILED
        attempt.disposition = refusal.value if refusal is Refusal.INVALID_NUMBER else "failed"
        attempt.ended_at = now
        attempt.lease_until = None
        if refusal is Refusal.INVALID_NUMBER and attempt.phone_id is not None:
            phone = session.get(Phone, attempt.phone_id)
            if phone is not None and not phone.bad_number:
                phone.bad_number = True
                phone.bad_number_at = now
                audit.record(
                    session,
                    actor=ACTOR,
                    action="phone.bad_number",
                    entity_type="phone",
                    entity_id=phone.id,
                    data={"attempt_id": attempt.id, "carrier_code": code},
                    now=now,
                )
        audit.record(
            session,
            actor=ACTOR,
            action="attempt.failed",
            entity_type="contact_attempt",
            entity_id=attempt.id,
            data={"carrier_code": code, "reason": refusal.value},
            now=now,
        )
        return True
    attempt.due_at = now + backoff(attempt.dial_retries)
    attempt.dial_retries += 1
    if refusal is Refusal.UNKNOWN:
        attempt.lease_until = now  # over: reconcile asks the carrier once it settles
    else:
        attempt.status = AttemptStatus.PLANNED
        attempt.worker_id = None
        attempt.lease_until = None
        attempt.claimed_at = None
    return True
