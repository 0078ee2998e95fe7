"""An agent takes a caller from the queue: the real app behind the simulator, both lines'
callers, the <Dial> to the agent's phone, and what happens when that phone is not answered."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from desk import queue
from desk.queue import Agent
from hotline.models import AuditEvent, QueueEntry, utcnow
from simulator.callees import Party, Script
from tests.e2e.scripted_app import children, said, wait_until

AGENT_PHONE = "+14155550299"
AMY = Agent(user_id=1, username="amy", phone=AGENT_PHONE)


def waiting_callers(line):
    with line.app.extensions["hotline"].Session() as session:
        return queue.waiting(session, utcnow())


def accept(line, entry_id, agent=AMY):
    runtime = line.app.extensions["hotline"]
    return queue.accept_call(
        runtime.Session,
        runtime.gateway,
        entry_id,
        agent,
        bridge_url=line.app.extensions["desk_calls"].bridge_url,
        clock=utcnow,
    )


def entry_of(line, call_sid):
    with line.app.extensions["hotline"].Session() as session:
        return session.scalars(select(QueueEntry).where(QueueEntry.call_sid == call_sid)).one()


@pytest.mark.realtime
def test_a_verified_caller_who_presses_0_waits_is_accepted_and_bridged_to_the_agents_phone(
    hotline_app,
):
    line = hotline_app
    line.carrier.scripts[AGENT_PHONE] = Script(ring_seconds=1, talk_seconds=6)
    caller = line.carrier.start_inbound(
        "+14155550100", party=Party(Script.from_dict({"keys": "94107#,0"}))
    )
    wait_until(lambda: waiting_callers(line), timeout=30)
    [waiting] = waiting_callers(line)
    assert waiting.verified and waiting.language == "en" and waiting.line == "ivr"
    assert waiting.account_number is not None and waiting.path[-1] == "queued"
    assert "verify" in waiting.path and "menu" in waiting.path

    accepted = accept(line, waiting.entry_id)
    assert accepted.call_sid == caller.sid
    line.carrier.wait(caller.sid, timeout=60)
    [agent_leg] = children(line.simulator, caller)
    assert agent_leg.to == AGENT_PHONE
    assert any(e.kind == "bridged" for e in caller.transcript)
    assert "Connecting you to an agent now." in said(caller)
    entry = entry_of(line, caller.sid)
    assert entry.status == "ended" and entry.accepted_by == "amy"
    assert entry.bridged_at is not None and entry.result == "completed"
    assert waiting_callers(line) == []
    with line.app.extensions["hotline"].Session() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "call.accepted" in actions and "call.transferred" in actions


@pytest.mark.realtime
def test_an_agent_phone_that_does_not_answer_puts_the_caller_back_in_the_queue(hotline_app):
    line = hotline_app
    line.carrier.scripts[AGENT_PHONE] = Script(answer="no-answer")
    caller = line.carrier.start_inbound(
        "+14155550100", party=Party(Script.from_dict({"keys": "94107#,0", "hold_patience": 60}))
    )
    wait_until(lambda: waiting_callers(line), timeout=30)
    [waiting] = waiting_callers(line)
    accept(line, waiting.entry_id)
    wait_until(lambda: entry_of(line, caller.sid).result == "no-answer", timeout=60)
    entry = entry_of(line, caller.sid)
    assert entry.status == "waiting" and entry.accepted_by is None
    [again] = waiting_callers(line)
    assert again.entry_id == waiting.entry_id
    wait_until(lambda: "The agent could not take your call." in " ".join(said(caller)), 30)
    line.app.extensions["hotline"].gateway.hangup(caller.sid)
    line.carrier.wait(caller.sid, timeout=30)
    # Ended by REST, the call asks for no more hold music: once stale it is not offered.
    later = utcnow() + queue.STALE_AFTER + dt.timedelta(seconds=1)
    with line.app.extensions["hotline"].Session() as session:
        assert queue.waiting(session, later) == []


def test_accepting_a_caller_who_has_hung_up_says_so_and_ends_the_entry(hotline_app):
    line = hotline_app
    caller = line.call(keys="94107#,0", hold_patience=1)
    assert caller.status == "completed"
    entry = entry_of(line, caller.sid)
    assert entry.status == "left" and entry.result == "hangup"
    with line.app.extensions["hotline"].Session.begin() as session:
        session.get(QueueEntry, entry.id).status = "waiting"  # as if the action were lost
    with pytest.raises(queue.CallerGone):
        accept(line, entry.id)
    assert entry_of(line, caller.sid).status == "left"


@pytest.mark.realtime
def test_a_reminder_call_whose_cardholder_presses_0_is_in_the_queue_and_bridged_too(hotline_app):
    from dialer.urls import call_request
    from hotline.settings import DEV_ACCOUNT_SID
    from telephony.twilio_gateway import TwilioGateway
    from tests.e2e.conftest import AUTH_TOKEN, HOTLINE_NUMBER
    from tests.e2e.test_dialer_call import ALICE, ALICE_ACCOUNT, plan_attempt

    line = hotline_app
    line.carrier.scripts[AGENT_PHONE] = Script(ring_seconds=1, talk_seconds=4)
    attempt_id = plan_attempt(line, ALICE, ALICE_ACCOUNT)
    line.carrier.scripts[ALICE] = Script.from_dict({"keys": "1,0"})
    gateway = TwilioGateway.from_settings(DEV_ACCOUNT_SID, AUTH_TOKEN, line.simulator.base_url)
    try:
        info = gateway.place_call(
            call_request(line.base_url, attempt_id, to=ALICE, from_=HOTLINE_NUMBER)
        )
    finally:
        gateway.client.http_client.session.close()
    with line.app.extensions["hotline"].Session.begin() as session:
        from hotline.models import ContactAttempt

        placed = session.get(ContactAttempt, attempt_id)
        placed.provider_call_sid = placed.provider_call_sid or info.sid
    wait_until(lambda: waiting_callers(line), timeout=30)
    [waiting] = waiting_callers(line)
    assert waiting.line == "dialer" and waiting.verified and waiting.account_number == ALICE_ACCOUNT
    assert "right-party" in waiting.path
    accept(line, waiting.entry_id)
    call = line.carrier.wait(info.sid, timeout=60)
    [agent_leg] = children(line.simulator, call)
    assert agent_leg.to == AGENT_PHONE
    entry = entry_of(line, info.sid)
    assert entry.status == "ended" and entry.attempt_id == attempt_id
