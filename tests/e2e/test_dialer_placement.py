"""The dialer's jobs through the real twilio SDK against the simulator (virtual time)."""

from __future__ import annotations

import datetime as dt

import pytest

from dialer import claims
from dialer.pacing import Limits
from dialer.tick import reconcile, tick
from hotline.enums import AttemptStatus, Language, PhoneType
from hotline.models import Cardholder, Phone
from simulator.callees import Script
from telephony.gateway import CallRequest
from tests.dialer_support import T0, StepClock, attempts, config, make_campaign, numbers, plan
from tests.dialer_support import worker as new_worker
from tests.e2e.conftest import HOTLINE_NUMBER


def dialer_config(peer_url: str, **overrides: object):
    return config(
        public_base_url=peer_url,
        caller_id=HOTLINE_NUMBER,
        **overrides,
    )


@pytest.fixture(autouse=True)
def _inside_the_calling_window(clock):
    """The carrier's virtual time starts at T0, when the test cardholders may be called (the
    dialer asks the contact policy again at every slot)."""
    clock.set(T0)


def test_the_tick_places_paced_calls_through_the_sdk_and_reconcile_stores_outcomes(
    Session, gateway, simulator, peer, clock
):
    recorder, peer_url = peer
    # The dialer's own virtual clock: the simulator's moves on to each call's end, from
    # the call's thread, at moments of its own.
    dialer_clock = StepClock(start=clock.now())
    carrier = simulator.carrier
    to = numbers(3)
    carrier.scripts[to[1]] = Script.from_dict({"answer": "busy"})
    with Session.begin() as session:
        claims.set_global_limits(session, Limits(1.0, 10), clock.now())
    campaign = make_campaign(Session, caller_id=HOTLINE_NUMBER)
    ids = plan(Session, campaign, to, due_at=clock.now())
    cfg = dialer_config(peer_url, tick=dt.timedelta(seconds=3))
    started = dialer_clock.now()

    report = tick(Session, gateway, dialer_clock, cfg, new_worker())

    assert report.placed == 3
    calls = sorted(carrier.list_calls(), key=lambda c: c.seq)
    assert [c.to for c in calls] == to
    assert [c.url for c in calls] == [f"{peer_url}/dialer/answer?attempt={i}" for i in ids]
    rows = attempts(Session)
    assert [r.provider_call_sid for r in rows] == [c.sid for c in calls]
    # One call a second, as the limit says.
    assert [(r.placed_at - started).total_seconds() for r in rows] == [0.0, 1.0, 2.0]
    carrier.wait_all()

    # No callback handler stores outcomes yet: reconcile fetches them once overdue.
    dialer_clock.advance(120)
    assert reconcile(Session, gateway, dialer_clock, cfg, new_worker()).reconciled == 3
    rows = attempts(Session)
    assert [r.status for r in rows] == [
        AttemptStatus.COMPLETED,
        AttemptStatus.BUSY,
        AttemptStatus.COMPLETED,
    ]
    assert rows[1].disposition == "busy"
    assert rows[0].duration_seconds == carrier.get(calls[0].sid).duration
    status_posts = recorder.forms("/dialer/status")
    assert {p["CallSid"] for p in status_posts} == {c.sid for c in calls}


def test_a_call_placed_by_a_dialer_killed_before_storing_its_sid_is_adopted_not_redialled(
    Session, gateway, simulator, peer, clock
):
    _, peer_url = peer
    dialer_clock = StepClock(source=clock)
    with Session.begin() as session:
        claims.set_global_limits(session, Limits(1.0, 10), clock.now())
    campaign = make_campaign(Session, caller_id=HOTLINE_NUMBER)
    plan(Session, campaign, numbers(2), due_at=clock.now())
    # Another call to the same number an hour earlier: outside the claim's window.
    earlier = gateway.place_call(
        CallRequest(to=numbers(1)[0], from_=HOTLINE_NUMBER, url=peer_url + "/answer")
    )
    simulator.carrier.wait(earlier.sid)
    clock.advance(3600)
    with Session.begin() as session:
        claim = claims.claim_next(
            session,
            worker_id="killed",
            clock=clock.now,
            lease=dt.timedelta(seconds=30),
            horizon=clock.now(),
        )
    assert isinstance(claim, claims.Claim)
    lost = gateway.place_call(
        CallRequest(to=claim.number, from_=HOTLINE_NUMBER, url=peer_url + "/answer")
    )  # ... and the dialer was killed before it stored the SID
    simulator.carrier.wait(lost.sid)
    clock.advance(1)

    restarted = new_worker("restarted", alone_since=clock.now())
    clock.advance(6)
    cfg = dialer_config(peer_url)
    report = reconcile(Session, gateway, dialer_clock, cfg, restarted)
    assert (report.adopted, report.replanned) == (1, 0)
    tick(Session, gateway, dialer_clock, cfg, restarted)

    to_first = [c for c in simulator.carrier.list_calls() if c.to == numbers(1)[0]]
    assert sorted(c.sid for c in to_first) == sorted([earlier.sid, lost.sid])  # not a third
    rows = attempts(Session)
    assert rows[0].provider_call_sid == lost.sid
    assert rows[1].provider_call_sid is not None  # the other attempt was placed as usual


def test_an_invalid_number_from_the_carrier_marks_the_phone_bad(
    Session, gateway, simulator, peer, clock
):
    _, peer_url = peer
    with Session.begin() as session:
        claims.set_global_limits(session, Limits(1.0, 10), clock.now())
        holder = Cardholder(
            name="B", language=Language.EN, country="US", verify_salt="s", verify_hash="h"
        )
        session.add(holder)
        session.flush()
        phone = Phone(cardholder_id=holder.id, e164="+1415", phone_type=PhoneType.HOME)
        session.add(phone)
        session.flush()
        phone_id = phone.id
    campaign = make_campaign(Session, caller_id=HOTLINE_NUMBER)
    plan(Session, campaign, ["+1415"], due_at=clock.now(), phone_ids=[phone_id])
    report = tick(Session, gateway, StepClock(source=clock), dialer_config(peer_url), new_worker())
    assert report.failed == 1
    [row] = attempts(Session)
    assert (row.status, row.disposition, row.error_code) == (
        AttemptStatus.FAILED,
        "invalid-number",
        "21211",
    )
    with Session.begin() as session:
        stored = session.get(Phone, phone_id)
        assert stored is not None and stored.bad_number
    assert simulator.carrier.list_calls() == []
