"""The dialer's jobs: the tick places due calls within pacing; reconcile asks the carrier.

Plain functions of (sessionmaker, gateway, clock): the scheduler calls them every few
seconds (dialer/process.py), a simulation calls them on a virtual clock. Each step is its
own transaction (claimed, then placed, then the CallSid stored: dialer/claims.py), so
killing the process anywhere loses nothing and dials nothing twice. The tick claims the
slots of at most one tick ahead at a time, so a stop is obeyed within one call: the claims
not yet dialled are given back, a call being placed is finished and its CallSid stored.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from dialer import claims, recheck
from dialer.clock import Clock, sleep_until
from dialer.config import CARRIER_REQUEST_BOUND, DialerConfig
from dialer.plan_memo import PlanMemo
from dialer.planner import PlanReport, plan
from dialer.reconcile import reconcile_overdue, resolve_unknown_placements
from dialer.retry import Refusal, classify
from dialer.urls import call_request
from telephony.gateway import CallGateway, GatewayError

log = logging.getLogger(__name__)
# The planning job's own name in the logs (an operator filters on it; it runs beside ticks).
planning_log = logging.getLogger("dialer.planner")
# A call goes within this of its pacing slot or not at that slot: so the calls' actual
# starts are never closer together than the slots allow, less this.
LATE_SEND_LIMIT = dt.timedelta(milliseconds=10)


@dataclass
class TickReport:
    placed: int = 0
    deferred: int = 0  # refused with 429/5xx: due again after a backoff
    failed: int = 0  # invalid number, or refused for good
    released: int = 0  # claimed but not dialled (stopping, lease too short)
    skipped: int = 0  # the policy, asked again at the slot, would not allow the call
    swept: int = 0  # due calls the policy would not allow, ended before a slot (recheck)
    adopted: int = 0
    replanned: int = 0
    reconciled: int = 0
    more: bool = False  # stopped for its time budget with calls still to place


@dataclass(frozen=True)
class Worker:
    """Who this dialer process is, for its claims; `alone_since` on SQLite (see reconcile)."""

    worker_id: str
    stop: threading.Event
    alone_since: dt.datetime | None = None


def tick(
    Session: sessionmaker[Session],
    gateway: CallGateway,
    clock: Clock,
    config: DialerConfig,
    worker: Worker,
) -> TickReport:
    """Place due calls, each at its pacing slot, while a slot comes within one tick.

    Returns when nothing is due, no call may start (concurrency), the next slot is more
    than a tick away, or after `config.tick_budget` with work left (`report.more`: the
    scheduler calls it again at once, so a busy dialer never idles between ticks).
    """
    report = TickReport()
    budget_end = clock.now() + config.tick_budget
    while not worker.stop.is_set():
        if clock.now() >= budget_end:
            report.more = True
            break
        with Session.begin() as session:
            batch = claims.claim_due(
                session,
                worker_id=worker.worker_id,
                clock=clock.now,
                lease=config.lease,
                horizon=clock.now() + config.tick,
                limit=_slots_per_tick(config),
            )
        if not batch:
            break  # nothing due, or no slot or room within a tick
        with Session.begin() as session:  # the policy's facts for all of them at once
            facts = recheck.load_facts(session, batch, batch[0].slot)
        skipped = report.skipped
        for claim in batch:  # once stopping, each is given back undialled
            place(Session, gateway, clock, config, worker, claim, report, facts)
        if report.skipped > skipped and not worker.stop.is_set():
            # Refused at its slot: the calls queued behind it may be too (a zone's window
            # has closed on its backlog); asked all at once, not given a slot each.
            with Session.begin() as session:
                report.swept += recheck.sweep_due(session, clock.now())
    return report


def planning(
    Session: sessionmaker[Session], clock: Clock, last_run: PlanMemo | None = None
) -> PlanReport:
    """The planning job: refresh tiers and queue the calls due within the planner's horizon.

    Committed batch by batch (the planner's `after_batch`), so a run over a large portfolio
    never holds a cardholder's account for its whole length; two dialers planning at once
    are kept to one open attempt per account by the database (the planner's unique index).
    `last_run`: the job's memo, kept from one run to the next (dialer/plan_memo.py).
    """
    with Session() as session:
        report = plan(
            session,
            clock.now(),
            actor="dialer:planner",
            after_batch=session.commit,
            last_run=last_run,
        )
        session.commit()
    planning_log.info(
        "planned %s call(s) over %s account(s) (%s known from the last run); %s cancelled",
        report.planned,
        report.accounts_considered,
        report.remembered,
        report.cancelled,
    )
    return report


def _slots_per_tick(config: DialerConfig) -> int:
    """Claims taken in one transaction: the slots one tick holds, so the database work
    between two calls is storing a CallSid, not a claim as well."""
    per_tick = config.limits.calls_per_second * config.tick.total_seconds()
    return max(1, min(claims.CANDIDATES, math.ceil(per_tick)))


def reconcile(
    Session: sessionmaker[Session],
    gateway: CallGateway,
    clock: Clock,
    config: DialerConfig,
    worker: Worker,
) -> TickReport:
    """Resolve unknown placements and fetch overdue calls (dialer/reconcile.py)."""
    report = TickReport()
    now = clock.now()
    report.adopted, report.replanned = resolve_unknown_placements(
        Session, gateway, now, config, worker_id=worker.worker_id, alone_since=worker.alone_since
    )
    report.reconciled = reconcile_overdue(Session, gateway, now, config)
    return report


def place(
    Session: sessionmaker[Session],
    gateway: CallGateway,
    clock: Clock,
    config: DialerConfig,
    worker: Worker,
    claim: claims.Claim,
    report: TickReport,
    facts: recheck.Facts | None = None,
) -> None:
    """Wait for the claim's slot, place the call, store the CallSid (or the refusal).
    `facts`: the policy's facts read for the tick's claims (else read here)."""
    with Session.begin() as session:
        # The facts may have changed since the call was planned (a STOP, a payment, a
        # flag, another call using up a cap): asked again for the slot (dialer/recheck.py),
        # before waiting for it, so that nothing but the request itself comes between the
        # slot and the call (a claim stays held until its lease ends: only this worker
        # moves it before then).
        refused = recheck.refusal_at(session, claim, claim.slot, facts)
        if refused is not None:
            recheck.record_not_callable(session, claim, refused, clock.now())
    if refused is not None:
        log.info("attempt %s not dialled at its slot: %s", claim.attempt_id, refused)
        report.skipped += 1
        return
    awake = sleep_until(clock, claim.slot, worker.stop)
    late = clock.now() - claim.slot
    if (
        not awake
        or late > LATE_SEND_LIMIT
        or claim.slot + CARRIER_REQUEST_BOUND > claim.lease_until
    ):
        # Not dialled: stopping; or woken too late for the slot (a busy machine), where the
        # next dialer's slot, counted from this one, would come too soon after it; or the
        # lease could end while the request is out (another dialer could then take the
        # attempt up). The attempt is due again at once, with a slot of its own.
        with Session.begin() as session:
            report.released += claims.release(session, claim)
        if awake and late > LATE_SEND_LIMIT:
            log.info("attempt %s: woke %s after its slot; given back", claim.attempt_id, late)
        return
    # The URLs and options the call's webhooks need (dialer/urls.py: the one interface
    # between placing a call and the call itself).
    request = call_request(
        config.public_base_url,
        claim.attempt_id,
        to=claim.number,
        from_=claim.caller_id or config.caller_id,
    )
    sent_at = clock.now()  # when the call was placed, as pacing counts it
    try:
        call = gateway.place_call(request)
    except GatewayError as exc:
        refusal = classify(exc.code, exc.status)
        log.warning(
            "carrier refused the call of attempt %s (code %s, HTTP %s): %s",
            claim.attempt_id,
            exc.code,
            exc.status,
            refusal.value,
        )
        with Session.begin() as session:
            claims.record_refusal(
                session, claim, refusal, code=exc.code, message=str(exc), now=clock.now()
            )
        if refusal in (Refusal.INVALID_NUMBER, Refusal.REFUSED):
            report.failed += 1
        else:
            report.deferred += 1
        return
    with Session.begin() as session:
        stored = claims.record_placed(session, claim, call, sent_at, now=clock.now())
    if not stored:
        log.error(
            "attempt %s: placed %s for a claim no longer held (its lease ran out)",
            claim.attempt_id,
            call.sid,
        )
    report.placed += 1
