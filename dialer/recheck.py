"""The contact policy asked again just before a call goes out.

The planner queues a call for the first instant the policy allowed, up to a day ahead;
by the time its slot comes the cardholder may have texted STOP, paid, promised, been
flagged (bankruptcy, attorney, dispute), or another call may have used up a cap. So each
call is checked once more at its slot, on the facts as they are then, and one the policy
would not allow now is not dialled: the attempt ends `skipped` with the policy's reason,
and the planner queues the account again when (if) it may be called.

The facts are read once for all the calls one tick claimed (`load_facts`: the batched
loader the planner uses, a handful of statements whatever the batch's size), then each
call is asked at its own slot, at most one tick later; per call, only whether the claim
is still held is read. A call whose cardholder another call of the same tick reaches first
is asked on facts read at its slot (the earlier call is then in its history).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from dialer.claims import DUE_CAMPAIGN_CALL, HELD_ROW, STILL_HELD, Claim, held_params
from dialer.facts import AccountCase, load_cases
from dialer.policy import callable_numbers, decide
from hotline import audit
from hotline.accounts import core
from hotline.enums import AttemptStatus
from hotline.models import Campaign, CardAccount, Cardholder, ContactAttempt
from hotline.profiles import PROFILES, ContactProfile

ACTOR = "dialer:recheck"
NOT_CALLABLE = "not-callable"  # the attempt's disposition when the re-check refused it


@dataclass(frozen=True)
class Facts:
    """What the policy is asked about each claimed call, by attempt id: its account's
    case (None: no account on file) and its campaign's profile (None: none to check)."""

    cases: dict[int, AccountCase | None]
    profiles: dict[int, ContactProfile | None]
    numbers: dict[int, str]


def load_facts(session: Session, claims: Sequence[Claim], at: dt.datetime) -> Facts:
    """The facts of the claimed calls' accounts, read in one batch. A call whose
    cardholder an earlier call of the batch reaches is left out (asked at its slot)."""
    rows = (
        session.execute(_CLAIMED, {"attempts": [c.attempt_id for c in claims]}).all()
        if claims
        else []
    )
    accounts = sorted({account_id for _, account_id, _, _ in rows if account_id is not None})
    if accounts and session.get_bind().dialect.name == "postgresql":
        # The texts job asks the policy and marks its text SENDING under each cardholder's
        # row lock (text_queue.claim_due); the claims were committed before this read. So
        # a text being claimed now is waited for, and counted; one claimed after this read
        # finds these calls in flight, and counts them: a call and a text never both use
        # the last place under a cap that counts both (us-ma's 2 in 7 days). SQLite runs
        # one transaction at a time (BEGIN IMMEDIATE): nothing to wait for there.
        session.execute(_HOLDERS_SHARED, {"accounts": accounts}).all()
    # Not placed yet: a claim counts neither against its own cap nor against another
    # claim's (one call a cardholder is asked about on these facts; a second is read again
    # at its slot, when the first has been placed).
    claimed = [c.attempt_id for c in claims]
    loaded = {
        c.account_id: c for c in load_cases(core(session), accounts, at, not_counting=claimed).cases
    }
    cases: dict[int, AccountCase | None] = {}
    profiles: dict[int, ContactProfile | None] = {}
    numbers: dict[int, str] = {}
    by_id = {
        attempt_id: (account_id, number, profile)
        for attempt_id, account_id, number, profile in rows
    }
    reached: set[int] = set()
    for claim in claims:  # in slot order: the order the calls go out
        if claim.attempt_id not in by_id:
            continue
        account_id, number, profile = by_id[claim.attempt_id]
        case = loaded.get(account_id) if account_id is not None else None
        if case is not None:
            if case.cardholder_id in reached:
                continue
            reached.add(case.cardholder_id)
        cases[claim.attempt_id] = case
        # No account to check the call against is as no profile: the same refusal.
        profiles[claim.attempt_id] = (
            PROFILES.get(profile) if profile and account_id is not None else None
        )
        numbers[claim.attempt_id] = number
    return Facts(cases, profiles, numbers)


# Built once: the tick runs it before every call (building it cost more than running it).
_CLAIMED = (
    select(ContactAttempt.id, ContactAttempt.account_id, ContactAttempt.number, Campaign.profile)
    .outerjoin(Campaign, Campaign.id == ContactAttempt.campaign_id)
    .where(ContactAttempt.id.in_(bindparam("attempts", expanding=True)))
)


_HOLDERS_SHARED = (
    select(Cardholder.id)
    .where(
        Cardholder.id.in_(
            select(CardAccount.cardholder_id).where(
                CardAccount.id.in_(bindparam("accounts", expanding=True))
            )
        )
    )
    .order_by(Cardholder.id)  # in the order the texts job takes them
    .with_for_update(read=True)
)


def refusal_at(
    session: Session, claim: Claim, at: dt.datetime, facts: Facts | None = None
) -> str | None:
    """None if the claim's number may be dialled at `at`; else why not, in the policy's
    words. A claim no longer held is not for this worker to dial: 'claim lost'.

    `facts`: the tick's (load_facts); a call they leave out is read here."""
    if facts is None or claim.attempt_id not in facts.cases:
        facts = load_facts(session, [claim], at)
    if session.scalar(STILL_HELD, held_params(claim)) is None:
        return "claim lost"
    case, profile = facts.cases.get(claim.attempt_id), facts.profiles.get(claim.attempt_id)
    if profile is None:
        return "no account or campaign profile to check the call against"
    if case is None:
        return "account no longer on file"
    refused = _refusal(case, profile, facts.numbers[claim.attempt_id], at)
    return None if refused is None else refused[0]


def _refusal(
    case: AccountCase, profile: ContactProfile, number: str, at: dt.datetime
) -> tuple[str, dt.datetime | None] | None:
    """None if the number may be dialled at `at`; else why not, in the policy's words, and
    the next instant the same facts would allow a call (None: time alone never will)."""
    if number in callable_numbers(case.facts, case.phones, case.history, profile, at):
        return None
    decision = decide(case.facts, case.phones, case.history, profile, at)
    if decision.allowed:  # allowed, but not on this number (opted out, under review, ...)
        excluded = dict(decision.excluded)
        reason = excluded.get(number)
        why = f"this number may not be called now ({reason.value if reason else 'not allowed'})"
        return why, None
    return decision.explanation, decision.next_eligible


def record_not_callable(session: Session, claim: Claim, reason: str, now: dt.datetime) -> bool:
    """End the claimed attempt undialled: the policy refused it at its slot."""
    attempt = session.scalars(HELD_ROW, held_params(claim)).one_or_none()
    if attempt is None:
        return False
    attempt.status = AttemptStatus.SKIPPED
    attempt.disposition = NOT_CALLABLE
    attempt.error_message = reason[:500]
    attempt.ended_at = now
    attempt.lease_until = None
    _audit_not_callable(session, attempt.id, reason, now)
    return True


def _audit_not_callable(session: Session, attempt_id: int, reason: str, now: dt.datetime) -> None:
    audit.record(
        session,
        actor=ACTOR,
        action="attempt.not_callable",
        entity_type="contact_attempt",
        entity_id=attempt_id,
        data={"reason": reason[:200]},
        now=now,
    )


# Due calls asked about at once by a sweep: about a quarter of the planner's batch (the
# facts are read in one go), and the few minutes of calls a line places.
SWEEP_SIZE = 500
# A due call the policy refuses now but allows within this is left for its claim: its slot
# may come after that (the sweep does not know the queue ahead of it), and ending it would
# put it off until the planner's next run. Longer refusals (a window closed until the
# morning, a cap for days, an opt-out) are what a sweep is for.
SWEEP_SPARES = dt.timedelta(minutes=15)


def sweep_due(session: Session, now: dt.datetime) -> int:
    """End, undialled, the due calls the policy refuses now and for longer than SWEEP_SPARES:
    the oldest `SWEEP_SIZE` planned calls of running campaigns, asked all at once.

    Why: when a zone's calling window closes with its calls still queued (more were due
    than the lines could place), each would otherwise be claimed, given a pacing slot and
    refused at it, one a slot: an evening's backlog of thousands held every other zone's
    calls (due later, so queued behind) for an hour or more, a slot at a time. The tick
    sweeps when a call was refused at its slot. Each is asked about at `now`, not at a slot
    of its own, and ended as the re-check ends a call refused at its slot (skipped,
    not-callable, the policy's reason, in the audit chain); the planner queues the account
    again when it may be called. A call another dialer holds or has claimed, or the planner
    has moved, since it was read is left alone."""
    rows = session.execute(_DUE_PLANNED, {"now": now, "size": SWEEP_SIZE}).all()
    accounts = sorted({account_id for _, account_id, _, _, _ in rows if account_id is not None})
    cases = {c.account_id: c for c in load_cases(core(session), accounts, now).cases}
    to_end: dict[int, tuple[dt.datetime | None, str]] = {}
    for attempt_id, account_id, number, due_at, profile_name in rows:
        case = cases.get(account_id) if account_id is not None else None
        profile = PROFILES.get(profile_name) if profile_name else None
        if case is None or profile is None:
            continue  # refused at its slot, as before, with the reason that names
        refused = _refusal(case, profile, number, now)
        if refused is not None and (refused[1] is None or refused[1] > now + SWEEP_SPARES):
            to_end[attempt_id] = (due_at, refused[0])
    if not to_end:
        return 0
    # The chain before any row, and then only rows no one holds: a planner appending to
    # the chain may be about to write one of these rows, and must never wait on this
    # transaction while it waits on the planner.
    audit.lock_chain(session)
    unchanged = [
        attempt_id
        for attempt_id, due_at in session.execute(_LOCK_PLANNED, {"ids": list(to_end)})
        if due_at == to_end[attempt_id][0]  # else the planner moved it since it was read
    ]
    if not unchanged:
        return 0
    core(session).execute(  # Core: one executemany, not the ORM's bulk update by key
        _END_PLANNED,
        [{"attempt": i, "why": to_end[i][1][:500], "now": now} for i in unchanged],
    )
    for attempt_id in unchanged:
        _audit_not_callable(session, attempt_id, to_end[attempt_id][1], now)
    return len(unchanged)


_DUE_PLANNED = (
    select(
        ContactAttempt.id,
        ContactAttempt.account_id,
        ContactAttempt.number,
        ContactAttempt.due_at,
        Campaign.profile,
    )
    .join(Campaign, Campaign.id == ContactAttempt.campaign_id)
    .where(*DUE_CAMPAIGN_CALL)
    .order_by(ContactAttempt.due_at, ContactAttempt.id)  # the order calls are claimed in
    .limit(bindparam("size"))
)
_LOCK_PLANNED = (
    select(ContactAttempt.id, ContactAttempt.due_at)
    .where(
        ContactAttempt.id.in_(bindparam("ids", expanding=True)),
        ContactAttempt.status == AttemptStatus.PLANNED,
    )
    .order_by(ContactAttempt.id)
    .with_for_update(skip_locked=True)  # one a dialer is claiming is left to its claim
)
_END_PLANNED = (
    update(ContactAttempt)
    .where(ContactAttempt.id == bindparam("attempt"))
    .values(
        status=AttemptStatus.SKIPPED,
        disposition=NOT_CALLABLE,
        error_message=bindparam("why"),
        ended_at=bindparam("now", type_=ContactAttempt.ended_at.type),
    )
)
