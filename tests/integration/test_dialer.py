"""The dialer's jobs on a real database (SQLite, or PostgreSQL when configured), the fake
carrier and a virtual clock: claims, leases, adoption after a crash, backoff, pacing."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
from sqlalchemy import select, text

from dialer import claims, pacing, recheck
from dialer.pacing import Limits
from dialer.tick import TickReport, place, reconcile, tick
from hotline import audit
from hotline.enums import AttemptStatus, CampaignStatus, Direction, Language, PhoneType
from hotline.models import (
    AuditEvent,
    CardAccount,
    Cardholder,
    ContactAttempt,
    DialerPacing,
    Phone,
)
from telephony.gateway import CallInfo, GatewayError
from tests.conftest import backend
from tests.dialer_support import (
    CALLER_ID,
    T0,
    StepClock,
    attempts,
    config,
    make_campaign,
    numbers,
    plan,
    set_limits,
    worker,
)
from tests.fakes import FakeCallGateway
from tests.integration.dialer_fixtures import past_call


@pytest.fixture
def clock():
    return StepClock()


@pytest.fixture
def carrier(clock):
    """The fake carrier, stamping each call it creates, and the time of each placement."""
    fake = FakeCallGateway()
    fake.now = clock.now
    return fake


def placed_at(carrier: FakeCallGateway) -> list[dt.datetime]:
    return [c.created_at for c in carrier.calls.values() if c.created_at]


def claim_due(session, clock, name: str, limit: int) -> list[claims.Claim]:
    """Up to `limit` claims whose slots come within the tick (2 s), in the caller's
    transaction."""
    return claims.claim_due(
        session,
        worker_id=name,
        clock=clock.now,
        lease=dt.timedelta(seconds=30),
        horizon=clock.now() + config().tick,
        limit=limit,
    )


def claim_one(Session, clock, name="w1", lease=dt.timedelta(seconds=30)):
    with Session.begin() as session:
        return claims.claim_next(
            session,
            worker_id=name,
            clock=clock.now,
            lease=lease,
            horizon=clock.now() + dt.timedelta(seconds=2),
        )


def test_a_tick_claims_places_and_stores_each_calls_sid(Session, clock, carrier):
    set_limits(Session, Limits(1.0, 10))
    campaign = make_campaign(Session, caller_id="+18005550177")
    ids = plan(Session, campaign, numbers(2))
    report = tick(Session, carrier, clock, config(), worker())
    assert report.placed == 2
    rows = attempts(Session)
    assert [r.status for r in rows] == [AttemptStatus.QUEUED, AttemptStatus.QUEUED]
    assert [r.provider_call_sid for r in rows] == list(carrier.calls)
    assert all(r.worker_id == "w1" and r.lease_until is None for r in rows)
    assert [r.placed_at for r in rows] == [T0, T0 + dt.timedelta(seconds=1)]
    first = carrier.placed[0]
    assert (first.to, first.from_) == (numbers(1)[0], "+18005550177")
    assert first.url == f"http://127.0.0.1:8000/dialer/answer?attempt={ids[0]}"
    assert first.status_callback == f"http://127.0.0.1:8000/dialer/status?attempt={ids[0]}"
    assert first.machine_detection == "DetectMessageEnd"
    with Session.begin() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert actions == ["attempt.placed", "attempt.placed"]


def test_only_due_attempts_of_active_campaigns_are_dialled(Session, clock, carrier):
    set_limits(Session, Limits(10.0, 10))
    active = make_campaign(Session, "active")
    paused = make_campaign(Session, "paused", status=CampaignStatus.PAUSED)
    plan(Session, active, numbers(1, 0), due_at=T0)
    plan(Session, active, numbers(1, 1), due_at=T0 + dt.timedelta(hours=1))
    plan(Session, paused, numbers(1, 2))
    with Session.begin() as session:  # a callback asked for: an agent's, not the dialer's
        session.add(
            ContactAttempt(
                direction=Direction.OUTBOUND,
                number=numbers(1, 3)[0],
                status=AttemptStatus.PLANNED,
                due_at=T0,
                disposition="callback-requested",
            )
        )
    tick(Session, carrier, clock, config(), worker())
    assert [r.to for r in carrier.placed] == numbers(1, 0)


def test_a_number_with_a_call_in_flight_is_not_dialled_again_meanwhile(Session, clock, carrier):
    set_limits(Session, Limits(10.0, 10))
    first, second = make_campaign(Session, "a"), make_campaign(Session, "b")
    plan(Session, first, numbers(1))
    plan(Session, second, numbers(1))
    tick(Session, carrier, clock, config(), worker())
    assert len(carrier.placed) == 1
    [sid] = carrier.calls
    carrier.calls[sid] = CallInfo(sid, "completed", numbers(1)[0], CALLER_ID, "outbound-api")
    clock.advance(120)
    reconcile(Session, carrier, clock, config(), worker())
    tick(Session, carrier, clock, config(), worker())
    assert len(carrier.placed) == 2


def test_calls_go_at_the_rate_limit_and_a_busy_tick_says_there_is_more(Session, clock, carrier):
    set_limits(Session, Limits(2.0, 100))
    plan(Session, make_campaign(Session), numbers(10))
    report = tick(Session, carrier, clock, config(tick_budget=dt.timedelta(seconds=2)), worker())
    # A batch of a tick's slots at a time (0, 0.5, 1.0, 1.5 s; then 2.0 s on), until its
    # budget is spent; then it returns, saying there is more.
    assert report.more and 4 <= report.placed < 10
    report = tick(Session, carrier, clock, config(), worker())
    assert not report.more and len(carrier.placed) == 10
    times = placed_at(carrier)
    assert len(times) == 10
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert gaps == {0.5}


def test_max_concurrent_holds_calls_back_until_one_ends(Session, clock, carrier):
    set_limits(Session, Limits(10.0, 3))
    plan(Session, make_campaign(Session), numbers(5))
    assert tick(Session, carrier, clock, config(), worker()).placed == 3
    assert tick(Session, carrier, clock, config(), worker()).placed == 0
    sid = next(iter(carrier.calls))
    carrier.calls[sid] = CallInfo(sid, "no-answer", numbers(1)[0], CALLER_ID, "outbound-api")
    clock.advance(61)
    assert reconcile(Session, carrier, clock, config(), worker()).reconciled == 3 - 2
    assert tick(Session, carrier, clock, config(), worker()).placed == 1
    statuses = [r.status for r in attempts(Session)]
    assert statuses.count(AttemptStatus.NO_ANSWER) == 1
    assert statuses.count(AttemptStatus.PLANNED) == 1


def test_a_campaigns_own_limits_hold_alongside_the_global_ones(Session, clock, carrier):
    set_limits(Session, Limits(10.0, 100))
    slow, fast = make_campaign(Session, "slow"), make_campaign(Session, "fast")
    with Session.begin() as session:
        claims.set_campaign_limits(session, slow, Limits(1.0, 2), T0)
    plan(Session, slow, numbers(4, 0))
    plan(Session, fast, numbers(4, 100), due_at=T0 + dt.timedelta(milliseconds=1))
    clock.advance(0.001)
    tick(Session, carrier, clock, config(tick=dt.timedelta(seconds=1)), worker())
    by_number = {c.to: c.created_at for c in carrier.calls.values()}
    slow_times = sorted(t for n, t in by_number.items() if n in numbers(4, 0))
    # Two at most in flight for the slow campaign, a second apart; the fast one fills in.
    assert len(slow_times) == 2
    assert (slow_times[1] - slow_times[0]).total_seconds() >= 1.0
    assert sum(1 for n in by_number if n in numbers(4, 100)) == 4


def test_a_claim_whose_dialer_died_before_placing_is_dialled_once_after_its_lease(
    Session, clock, carrier
):
    set_limits(Session, Limits(1.0, 10))
    plan(Session, make_campaign(Session), numbers(1))
    claim = claim_one(Session, clock, "dead")  # ... and the process was killed here
    assert isinstance(claim, claims.Claim)
    assert tick(Session, carrier, clock, config(), worker()).placed == 0  # still held
    clock.advance(20)
    report = reconcile(Session, carrier, clock, config(), worker())
    assert report.replanned == 0  # lease not over yet
    clock.advance(16)  # lease (30 s) and settle (5 s) over
    report = reconcile(Session, carrier, clock, config(), worker())
    assert (report.adopted, report.replanned) == (0, 1)
    assert carrier.listed == [(numbers(1)[0], T0 - dt.timedelta(seconds=5))]
    assert tick(Session, carrier, clock, config(), worker()).placed == 1
    assert len(carrier.placed) == 1


def test_a_call_placed_by_a_dialer_that_died_before_storing_its_sid_is_adopted(
    Session, clock, carrier
):
    set_limits(Session, Limits(1.0, 10))
    plan(Session, make_campaign(Session), numbers(1))
    claim = claim_one(Session, clock, "dead")
    assert isinstance(claim, claims.Claim)
    clock.advance(0.4)
    call = carrier.place_call(_request(claim))  # placed, then killed before storing the SID
    clock.advance(40)
    report = reconcile(Session, carrier, clock, config(), worker())
    assert (report.adopted, report.replanned) == (1, 0)
    [row] = attempts(Session)
    assert (row.status, row.provider_call_sid) == (AttemptStatus.QUEUED, call.sid)
    assert tick(Session, carrier, clock, config(), worker()).placed == 0
    assert len(carrier.placed) == 1  # never dialled twice


def _request(claim: claims.Claim):
    from telephony.gateway import CallRequest

    return CallRequest(to=claim.number, from_=CALLER_ID, url="http://x/")


def test_on_sqlite_a_restarted_dialer_resolves_a_dead_dialers_claim_at_once(
    Session, clock, carrier
):
    set_limits(Session, Limits(1.0, 10))
    plan(Session, make_campaign(Session), numbers(2))
    claim = claim_one(Session, clock, "dead")
    assert isinstance(claim, claims.Claim)
    carrier.place_call(_request(claim))
    clock.advance(1)
    restarted = worker("w2", alone_since=clock.now())
    assert reconcile(Session, carrier, clock, config(), restarted).adopted == 0  # settling
    clock.advance(5)
    assert reconcile(Session, carrier, clock, config(), restarted).adopted == 1
    tick(Session, carrier, clock, config(), restarted)
    assert sorted(c.to for c in carrier.placed) == numbers(2)


def test_a_stop_gives_back_a_claim_waiting_for_its_slot(Session, clock, carrier):
    set_limits(Session, Limits(1.0, 10))
    plan(Session, make_campaign(Session), numbers(1))
    stopping = worker()
    claim = claim_one(Session, clock)
    assert isinstance(claim, claims.Claim)
    stopping.stop.set()
    report = TickReport()
    place(Session, carrier, clock, config(), stopping, claim, report)
    assert report.released == 1 and carrier.placed == []
    [row] = attempts(Session)
    assert (row.status, row.worker_id, row.lease_until) == (AttemptStatus.PLANNED, None, None)


def test_a_429_defers_the_attempt_with_growing_backoff(Session, clock, carrier):
    set_limits(Session, Limits(10.0, 10))
    plan(Session, make_campaign(Session), numbers(1))
    carrier.fail("place_call", GatewayError("too many", code=20429, status=429))
    assert tick(Session, carrier, clock, config(), worker()).deferred == 1
    [row] = attempts(Session)
    assert (row.status, row.dial_retries, row.error_code) == (AttemptStatus.PLANNED, 1, "20429")
    assert row.due_at == T0 + dt.timedelta(seconds=30)
    clock.advance(30)
    tick(Session, carrier, clock, config(), worker())
    [row] = attempts(Session)
    assert row.due_at == T0 + dt.timedelta(seconds=30 + 60)
    carrier.failing.clear()
    clock.advance(60)
    assert tick(Session, carrier, clock, config(), worker()).placed == 1
    [row] = attempts(Session)
    assert (row.status, row.dial_retries, row.error_code) == (AttemptStatus.QUEUED, 0, None)


def test_a_5xx_asks_the_carrier_before_dialling_again(Session, clock, carrier):
    set_limits(Session, Limits(10.0, 10))
    plan(Session, make_campaign(Session), numbers(2))
    carrier.fail("place_call", GatewayError("bad gateway", code=None, status=502))
    assert tick(Session, carrier, clock, config(), worker()).deferred == 2
    carrier.failing.clear()
    # The first 502 came after the carrier had created the call; the second did not.
    ghost = CallInfo("CA" + "f" * 32, "ringing", numbers(1)[0], CALLER_ID, "outbound-api")
    carrier.calls[ghost.sid] = ghost
    rows = attempts(Session)
    assert [r.status for r in rows] == [AttemptStatus.DIALING] * 2
    clock.advance(5)
    report = reconcile(Session, carrier, clock, config(), worker())
    assert (report.adopted, report.replanned) == (1, 1)
    rows = attempts(Session)
    assert (rows[0].status, rows[0].provider_call_sid) == (AttemptStatus.RINGING, ghost.sid)
    assert (rows[1].status, rows[1].due_at) == (AttemptStatus.PLANNED, T0 + dt.timedelta(0, 30.1))
    clock.advance(30)
    assert tick(Session, carrier, clock, config(), worker()).placed == 1
    assert [r.to for r in carrier.placed] == numbers(1, 1)


def test_an_invalid_number_fails_the_attempt_and_marks_the_phone_bad(Session, clock, carrier):
    set_limits(Session, Limits(10.0, 10))
    with Session.begin() as session:
        holder = Cardholder(
            name="A", language=Language.EN, country="US", verify_salt="s", verify_hash="h"
        )
        session.add(holder)
        session.flush()
        phone = Phone(cardholder_id=holder.id, e164=numbers(1)[0], phone_type=PhoneType.MOBILE)
        session.add(phone)
        session.flush()
        phone_id = phone.id
    plan(Session, make_campaign(Session), numbers(1), phone_ids=[phone_id])
    carrier.fail("place_call", GatewayError("Invalid 'To'", code=21211, status=400))
    assert tick(Session, carrier, clock, config(), worker()).failed == 1
    [row] = attempts(Session)
    assert (row.status, row.disposition, row.error_code) == (
        AttemptStatus.FAILED,
        "invalid-number",
        "21211",
    )
    with Session.begin() as session:
        phone = session.get(Phone, phone_id)
        assert phone is not None and phone.bad_number and phone.bad_number_at == T0
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["phone.bad_number", "attempt.failed"]


def test_an_overdue_call_is_fetched_and_its_final_status_stored(Session, clock, carrier):
    set_limits(Session, Limits(10.0, 10))
    plan(Session, make_campaign(Session), numbers(1))
    tick(Session, carrier, clock, config(), worker())
    [sid] = carrier.calls
    ended = CallInfo(
        sid,
        "completed",
        numbers(1)[0],
        CALLER_ID,
        "outbound-api",
        answered_by="machine_end_beep",
        duration_seconds=31,
        start_time=T0 + dt.timedelta(seconds=5),
        end_time=T0 + dt.timedelta(seconds=36),
    )
    carrier.calls[sid] = ended
    clock.advance(59)
    assert reconcile(Session, carrier, clock, config(), worker()).reconciled == 0  # not yet
    clock.advance(2)
    assert reconcile(Session, carrier, clock, config(), worker()).reconciled == 1
    [row] = attempts(Session)
    assert (row.status, row.answered_by, row.duration_seconds, row.ended_at) == (
        AttemptStatus.COMPLETED,
        "machine_end_beep",
        31,
        T0 + dt.timedelta(seconds=36),
    )
    clock.advance(120)
    assert reconcile(Session, carrier, clock, config(), worker()).reconciled == 0
    assert carrier.fetched == [sid]  # a final call is never fetched again
    with Session.begin() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    # Ended as a status callback would end it: its disposition, then the attempt's end.
    assert actions == ["attempt.placed", "dialer.outcome", "dialer.attempt-ended"]


@pytest.mark.skipif(backend() != "postgresql", reason="SKIP LOCKED claims need PostgreSQL")
def test_dialers_claiming_at_once_never_claim_one_attempt_twice(Session):
    # 100 a second: faster than the claims come, so each claim's slot is the bucket's
    # (reserved ahead, within the hour's horizon), not the moment it was claimed.
    set_limits(Session, Limits(100.0, 10_000))
    due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    plan(Session, make_campaign(Session), numbers(300), due_at=due)
    claimed: dict[str, list[int]] = {f"w{i}": [] for i in range(8)}
    start = threading.Barrier(len(claimed))

    def claimer(name: str) -> None:
        start.wait()
        while True:
            now = dt.datetime.now(dt.UTC)
            with Session.begin() as session:
                claim = claims.claim_next(
                    session,
                    worker_id=name,
                    clock=lambda: dt.datetime.now(dt.UTC),
                    lease=dt.timedelta(minutes=5),
                    horizon=now + dt.timedelta(hours=1),
                )
            if not isinstance(claim, claims.Claim):
                return
            claimed[name].append(claim.attempt_id)

    threads = [threading.Thread(target=claimer, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    every = [attempt for ids in claimed.values() for attempt in ids]
    assert len(every) == len(set(every)) == 300
    assert sum(1 for ids in claimed.values() if ids) > 1  # they did claim side by side
    owner = {attempt: name for name, ids in claimed.items() for attempt in ids}
    rows = attempts(Session)
    assert all(r.status is AttemptStatus.DIALING and r.worker_id == owner[r.id] for r in rows)
    # Every slot handed out once: 300 distinct moments, at least 10 ms apart at 100/s, as
    # each claim stored its slot (the bucket row, locked by every claim, moved on past it).
    slots = sorted(r.slot_at for r in rows)
    step = pacing.interval(100.0)
    assert [(a, b) for a, b in itertools.pairwise(slots) if b - a < step] == []
    with Session.begin() as session:
        pacing_row = session.get(DialerPacing, claims.GLOBAL_SCOPE)
        assert pacing_row is not None and pacing_row.next_slot_at == slots[-1] + step


def test_a_number_opted_out_after_planning_is_not_dialled_at_its_slot(Session, clock, carrier):
    set_limits(Session, Limits(1.0, 10))
    campaign = make_campaign(Session)
    ids = plan(Session, campaign, numbers(3))
    with Session.begin() as session:  # a STOP by text, after the calls were queued
        phone = session.scalars(select(Phone).where(Phone.e164 == numbers(3)[1])).one()
        phone.opted_out_at = T0
    report = tick(Session, carrier, clock, config(), worker())
    assert (report.placed, report.skipped) == (2, 1)
    assert [r.to for r in carrier.placed] == [numbers(3)[0], numbers(3)[2]]
    skipped = {r.id: r for r in attempts(Session)}[ids[1]]
    assert skipped.status is AttemptStatus.SKIPPED and skipped.disposition == "not-callable"
    assert skipped.error_message == "number opted out; not called"


def test_calls_refused_behind_a_refused_call_are_ended_at_once_not_a_slot_each(
    Session, clock, carrier
):
    """A zone's window closing on its backlog, in small: ten of twelve queued calls may no
    longer be made. The first refused at its slot, the rest are asked all at once and
    ended; the callable calls behind them go at the next slots, not ten seconds later."""
    set_limits(Session, Limits(1.0, 10))
    campaign = make_campaign(Session)
    to = numbers(12)
    ids = plan(Session, campaign, to)
    refused = [to[0], *to[2:11]]
    callable_ = [to[1], to[11]]
    with Session.begin() as session:
        for phone in session.scalars(select(Phone).where(Phone.e164.in_(refused))):
            phone.opted_out_at = T0
    report = tick(Session, carrier, clock, config(), worker())
    assert [r.to for r in carrier.placed] == callable_
    assert (report.placed, report.skipped, report.swept) == (2, 1, 9)
    # The second call went one slot after the first (the refused ones took no slot).
    first, second = sorted(placed_at(carrier))
    assert second - first == pacing.interval(1.0)
    rows = {r.id: r for r in attempts(Session)}
    ended = [rows[i] for i, number in zip(ids, to, strict=True) if number in refused]
    assert {(r.status, r.disposition, r.error_message) for r in ended} == {
        (AttemptStatus.SKIPPED, "not-callable", "number opted out; not called")
    }
    with Session.begin() as session:  # each in the audit chain, as one refused at its slot
        events = session.scalars(
            select(AuditEvent.entity_id).where(AuditEvent.action == "attempt.not_callable")
        ).all()
    assert sorted(int(e) for e in events) == sorted(r.id for r in ended)


@pytest.mark.parametrize(
    ("before", "ended"),
    [(dt.timedelta(seconds=1), 0), (dt.timedelta(minutes=14), 0), (dt.timedelta(minutes=16), 1)],
)
def test_a_sweep_leaves_a_call_the_policy_allows_within_a_quarter_hour(Session, before, ended):
    """Shortly before 08:00 in Los Angeles, a call due then is refused now but may well be
    allowed by its slot (the queue ahead of it is unknown): left for its claim. Refused
    for more than a quarter of an hour (recheck.SWEEP_SPARES): ended."""
    set_limits(Session, Limits(1.0, 10))
    campaign = make_campaign(Session)
    before_eight = dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC) - before  # 08:00 PST
    [planned] = plan(Session, campaign, numbers(1), due_at=before_eight)
    with Session.begin() as session:
        assert recheck.sweep_due(session, before_eight) == ended
    [row] = attempts(Session)
    assert row.id == planned
    if ended:
        assert row.status is AttemptStatus.SKIPPED
        assert (row.error_message or "").startswith("outside the calling window")
    else:
        assert row.status is AttemptStatus.PLANNED and row.error_message is None


def _opted_out_calls(Session, count: int) -> list[int]:
    """`count` planned calls due at T0 whose numbers have all since opted out."""
    set_limits(Session, Limits(1.0, 10))
    ids = plan(Session, make_campaign(Session), numbers(count))
    with Session.begin() as session:
        for phone in session.scalars(select(Phone)):
            phone.opted_out_at = T0
    return ids


def _sweep_beside(Session) -> tuple[threading.Thread, list[int]]:
    """A sweep at T0 on a thread of its own: the thread, and what it ends."""
    swept: list[int] = []

    def sweep() -> None:
        with Session.begin() as session:
            swept.append(recheck.sweep_due(session, T0))

    thread = threading.Thread(target=sweep)
    thread.start()
    return thread, swept


@pytest.mark.skipif(backend() != "postgresql", reason="two sessions racing: PostgreSQL")
def test_a_sweep_passes_over_the_calls_a_dialer_is_claiming_without_waiting(Session, clock):
    """A claim holds its candidates' rows until it commits: the sweep beside it ends none
    of them and does not wait; once the claim is in, the calls it did not take are ended."""
    claimed, *others = _opted_out_calls(Session, 3)
    with Session() as dialer:
        dialer.begin()
        batch = claim_due(dialer, clock, "w2", limit=1)
        assert [c.attempt_id for c in batch] == [claimed]
        sweeper, swept = _sweep_beside(Session)
        sweeper.join(timeout=10)
        assert not sweeper.is_alive() and swept == [0]
        dialer.commit()
    sweeper, swept = _sweep_beside(Session)
    sweeper.join(timeout=10)
    assert swept == [2]
    rows = {r.id: r for r in attempts(Session)}
    assert (rows[claimed].status, rows[claimed].worker_id) == (AttemptStatus.DIALING, "w2")
    assert [rows[i].status for i in others] == [AttemptStatus.SKIPPED] * 2


@pytest.mark.skipif(backend() != "postgresql", reason="two sessions racing: PostgreSQL")
def test_a_sweep_waits_for_the_chain_and_leaves_a_call_the_planner_moved(Session):
    """The planner holds the audit chain; the sweep waits for it holding no row, so the
    planner moves one of the sweep's calls to tomorrow without waiting (a sweep that held
    its rows while it waited would deadlock with it); the sweep ends the other two."""
    moved, *others = _opted_out_calls(Session, 3)
    tomorrow = T0 + dt.timedelta(days=1)
    with Session() as planner:
        planner.begin()
        audit.record(planner, actor="test", action="planner", entity_type="x", entity_id=1)
        planner.flush()  # the chain held
        sweeper, swept = _sweep_beside(Session)
        sweeper.join(timeout=1)
        assert sweeper.is_alive()  # waiting for the chain, with its calls read
        planner.execute(text("SET LOCAL lock_timeout = '5s'"))
        planner.get(ContactAttempt, moved).due_at = tomorrow
        planner.flush()
        planner.commit()
    sweeper.join(timeout=10)
    assert swept == [2]
    rows = {r.id: r for r in attempts(Session)}
    assert (rows[moved].status, rows[moved].due_at) == (AttemptStatus.PLANNED, tomorrow)
    assert [rows[i].status for i in others] == [AttemptStatus.SKIPPED] * 2


@pytest.mark.parametrize(("earlier", "placed"), [(6, 1), (7, 0)])
def test_the_call_asked_about_at_its_slot_is_not_one_of_its_own_caps_calls(
    Session, clock, carrier, earlier, placed
):
    """Reg F allows a 7th call in 7 days: the claim itself, in flight by its status, is not
    counted as placed (it was, and every 7th call the planner queued was refused at its
    slot, queued again the next hour and refused again)."""
    set_limits(Session, Limits(1.0, 10))
    campaign = make_campaign(Session)
    [planned] = plan(Session, campaign, numbers(1))
    with Session.begin() as session:
        row = session.get(ContactAttempt, planned)
        for k in range(earlier):  # one every 20 hours, the first 6 days and an hour ago
            past_call(
                session,
                session.get(CardAccount, row.account_id),
                at=T0 - dt.timedelta(days=6, hours=1) + dt.timedelta(hours=20 * k),
                status=AttemptStatus.NO_ANSWER,
                campaign_id=campaign,
                disposition="no-answer",
                number=row.number,
            )
    report = tick(Session, carrier, clock, config(), worker())
    assert (report.placed, report.skipped) == (placed, 1 - placed)
    assert [r.to for r in carrier.placed] == numbers(1)[:placed]
    row = {r.id: r for r in attempts(Session)}[planned]
    if placed:
        assert row.status is not AttemptStatus.SKIPPED and row.provider_call_sid
    else:
        assert row.status is AttemptStatus.SKIPPED
        assert (row.error_message or "").startswith("7-in-7 cap reached; next eligible")


def test_the_ticks_facts_leave_out_a_second_call_to_the_same_cardholder(Session, clock):
    set_limits(Session, Limits(1.0, 10))
    campaign = make_campaign(Session)
    first, second, other = plan(Session, campaign, numbers(3))
    with Session.begin() as session:  # the second call's account: the first's cardholder's
        rows = {r.id: r for r in session.scalars(select(ContactAttempt))}
        holder = session.get(CardAccount, rows[first].account_id).cardholder_id
        session.get(CardAccount, rows[second].account_id).cardholder_id = holder
    with Session.begin() as session:
        batch = claim_due(session, clock, "w1", limit=3)
        facts = recheck.load_facts(session, batch, batch[0].slot)
    assert [c.attempt_id for c in batch] == [first, second, other]
    # The second is read again at its slot (with the first call in its cardholder's
    # history): its account's cardholder now has no such number on file.
    assert sorted(facts.cases) == [first, other]
    with Session.begin() as session:
        refused = recheck.refusal_at(session, batch[1], batch[1].slot, facts)
    assert refused == "this number may not be called now (not allowed)"


def test_a_call_whose_first_callback_stored_its_sid_before_the_dialer_did_is_placed(
    Session, clock, carrier
):
    """The carrier's first status callback can reach the app before the carrier's answer
    reaches the dialer, and adopt the CallSid on the claimed row: the claim is still this
    dialer's, and the placement is recorded, not reported as a lost claim."""
    set_limits(Session, Limits(1.0, 10))
    plan(Session, make_campaign(Session), numbers(1))
    claim = claim_one(Session, clock, "fast-callback")
    assert isinstance(claim, claims.Claim)
    call = carrier.place_call(_request(claim))
    with Session.begin() as session:  # what dialer/outcomes.py does for the early callback
        row = session.get(ContactAttempt, claim.attempt_id)
        row.provider_call_sid = call.sid
        row.status = AttemptStatus.RINGING
    sent_at = clock.now()
    with Session.begin() as session:
        assert claims.record_placed(session, claim, call, sent_at, now=clock.now())
    [row] = attempts(Session)
    assert (row.status, row.provider_call_sid, row.placed_at) == (
        AttemptStatus.RINGING,
        call.sid,
        sent_at,
    )
    assert row.lease_until is None
