"""<Dial> to numbers: real child calls, ringing at once, whispers, read back by the SDK."""

from __future__ import annotations

import pytest

from simulator.callees import Script
from tests.e2e.conftest import HOTLINE_NUMBER
from tests.e2e.scripted_app import children, ring, said, scripted_app, wait_until  # noqa: F401

CALLER = "+14155550100"
AGENT_A, AGENT_B, AGENT_C = "+14155550201", "+14155550202", "+14155550203"
ALL_EVENTS = "initiated ringing answered completed"


def test_a_dialed_number_is_a_child_call_the_sdk_fetches_with_its_parent(simulator, gateway, app):
    simulator.carrier.scripts[AGENT_A] = Script(ring_seconds=3, talk_seconds=20)
    app.docs["/voice"] = (
        f'<Dial action="/dialed" timeout="15"><Number statusCallback="/leg-status" '
        f'statusCallbackEvent="{ALL_EVENTS}">{AGENT_A}</Number></Dial>'
    )
    parent = simulator.carrier.wait(ring(simulator, app, "/voice", CALLER).sid)

    [child] = children(simulator, parent)
    fetched = gateway.client.calls(child.sid).fetch()
    assert fetched.parent_call_sid == parent.sid
    assert fetched.direction == "outbound-dial"
    assert fetched.to == AGENT_A and fetched._from == CALLER  # the caller's ID by default
    assert fetched.status == "completed" and fetched.duration == "20"

    [dialed] = app.forms("/dialed")
    assert dialed["DialCallSid"] == child.sid and dialed["CallSid"] == parent.sid
    assert dialed["DialCallStatus"] == "completed" and dialed["DialBridged"] == "true"
    assert dialed["DialCallDuration"] == "20"

    legs = app.forms("/leg-status")
    assert [(f["CallStatus"], f["SequenceNumber"]) for f in legs] == [
        ("initiated", "0"),
        ("ringing", "1"),
        ("in-progress", "2"),
        ("completed", "3"),
    ]
    assert {f["CallSid"] for f in legs} == {child.sid}
    assert {f["ParentCallSid"] for f in legs} == {parent.sid}
    assert {f["Direction"] for f in legs} == {"outbound-dial"}
    assert legs[-1]["CallDuration"] == "20"
    assert all(h.signature_valid for h in app.hits)


def test_without_status_callback_events_a_number_reports_only_completed(simulator, app):
    app.docs["/voice"] = f'<Dial><Number statusCallback="/leg-status">{AGENT_A}</Number></Dial>'
    simulator.carrier.wait(ring(simulator, app, "/voice", CALLER).sid)
    assert [f["CallStatus"] for f in app.forms("/leg-status")] == ["completed"]


def test_numbers_ring_at_once_and_the_first_to_answer_wins(simulator, gateway, app):
    carrier = simulator.carrier
    carrier.scripts[AGENT_A] = Script(answer="busy", ring_seconds=2)
    carrier.scripts[AGENT_B] = Script(ring_seconds=6, talk_seconds=10)
    carrier.scripts[AGENT_C] = Script(ring_seconds=9)
    app.docs["/voice"] = (
        '<Dial action="/dialed">'
        + "".join(
            f'<Number statusCallback="/leg-status" statusCallbackEvent="{ALL_EVENTS}">{n}</Number>'
            for n in (AGENT_A, AGENT_B, AGENT_C)
        )
        + "</Dial>"
    )
    parent = carrier.wait(ring(simulator, app, "/voice", CALLER).sid)

    busy, winner, loser = children(simulator, parent)
    statuses = {c.to: gateway.client.calls(c.sid).fetch().status for c in (busy, winner, loser)}
    assert statuses == {AGENT_A: "busy", AGENT_B: "completed", AGENT_C: "canceled"}
    [dialed] = app.forms("/dialed")
    assert dialed["DialCallSid"] == winner.sid and dialed["DialCallDuration"] == "10"
    # All three rang from the same moment: the loser was canceled when the winner answered.
    assert (loser.end_time - parent.created_at).total_seconds() == pytest.approx(
        (winner.created_at - parent.created_at).total_seconds() + 6, abs=0.3
    )
    canceled = [f for f in app.forms("/leg-status") if f["CallSid"] == loser.sid]
    assert [f["CallStatus"] for f in canceled] == ["initiated", "ringing", "canceled"]
    # The caller heard the winner for its talk time after six seconds of ringing.
    assert parent.duration == pytest.approx(6 + 10, abs=1)


@pytest.mark.parametrize(
    ("answers", "status"),
    [(("busy", "no-answer"), "no-answer"), (("busy", "busy"), "busy"), (("failed",), "failed")],
)
def test_when_nobody_answers_the_action_hears_why(simulator, app, answers, status):
    numbers = [AGENT_A, AGENT_B][: len(answers)]
    for number, answer in zip(numbers, answers, strict=True):
        simulator.carrier.scripts[number] = Script(answer=answer, ring_seconds=3)
    nouns = "".join(f"<Number>{n}</Number>" for n in numbers)
    app.docs["/voice"] = f'<Dial action="/dialed" timeout="10">{nouns}</Dial>'
    parent = simulator.carrier.wait(ring(simulator, app, "/voice", CALLER).sid)
    [dialed] = app.forms("/dialed")
    assert dialed["DialCallStatus"] == status and dialed["DialBridged"] == "false"
    assert dialed["DialCallSid"] in {c.sid for c in children(simulator, parent)}


@pytest.mark.parametrize(("key", "bridged"), [("1", "true"), ("2", "false")])
def test_the_whisper_plays_to_the_callee_who_may_decline_before_the_bridge(
    simulator, app, key, bridged
):
    simulator.carrier.scripts[AGENT_A] = Script.from_dict({"keys": key, "talk_seconds": 15})
    app.docs["/voice"] = f'<Dial action="/dialed"><Number url="/whisper">{AGENT_A}</Number></Dial>'
    app.docs["/whisper"] = (
        '<Gather numDigits="1" action="/screened"><Say>Press 1 to take a call.</Say></Gather>'
        "<Hangup/>"
    )
    app.docs["/screened"] = lambda form: (
        "<Say>Connecting.</Say>" if form.get("Digits") == "1" else "<Hangup/>"
    )
    parent = simulator.carrier.wait(ring(simulator, app, "/voice", CALLER).sid)
    [child] = children(simulator, parent)

    [whisper] = app.forms("/whisper")
    assert whisper["CallSid"] == child.sid and whisper["ParentCallSid"] == parent.sid
    assert whisper["Direction"] == "outbound-dial"
    assert "Press 1 to take a call." in said(child)
    assert "Press 1 to take a call." not in said(parent)  # only the callee hears it
    [dialed] = app.forms("/dialed")
    assert dialed["DialCallStatus"] == "completed" and dialed["DialBridged"] == bridged
    assert child.status == "completed"
    assert any(e.kind == "bridged" for e in parent.transcript) == (bridged == "true")


def test_send_digits_are_played_to_the_callee_once_it_answers(simulator, app):
    app.docs["/voice"] = f'<Dial><Number sendDigits="ww1234#">{AGENT_A}</Number></Dial>'
    parent = simulator.carrier.wait(ring(simulator, app, "/voice", CALLER).sid)
    [child] = children(simulator, parent)
    played = [e for e in child.transcript if e.kind == "play"]
    assert [e.detail["digits"] for e in played] == ["ww1234#"]
    answered = next(e for e in child.transcript if e.detail.get("status") == "in-progress")
    assert played[0].t >= answered.t


def test_a_client_and_a_sip_address_are_dialed_as_child_calls(simulator, app):
    app.docs["/voice"] = (
        '<Dial action="/dialed"><Client>agent-7</Client><Sip>sip:desk@pbx.example</Sip></Dial>'
    )
    parent = simulator.carrier.wait(ring(simulator, app, "/voice", CALLER).sid)
    assert [c.to for c in children(simulator, parent)] == ["client:agent-7", "sip:desk@pbx.example"]
    assert app.forms("/dialed")[0]["DialCallStatus"] == "completed"


def test_the_caller_hanging_up_mid_dial_ends_the_child_and_still_reports(simulator, app):
    simulator.carrier.scripts[AGENT_A] = Script(talk_seconds=120)
    app.docs["/voice"] = f'<Dial action="/dialed"><Number>{AGENT_A}</Number></Dial>'
    parent = simulator.carrier.wait(ring(simulator, app, "/voice", CALLER, hangup_after=30).sid)
    [child] = children(simulator, parent)
    assert child.status == "completed" and child.duration is not None and child.duration < 30
    [dialed] = app.forms("/dialed")
    assert dialed["CallStatus"] == "completed"


@pytest.mark.realtime
def test_hanging_up_the_child_by_rest_ends_the_bridge_and_the_caller_goes_on(
    simulator, gateway, app
):
    simulator.carrier.scripts[AGENT_A] = Script(ring_seconds=1, talk_seconds=300)
    app.docs["/voice"] = f'<Dial action="/dialed"><Number>{AGENT_A}</Number></Dial>'
    app.docs["/dialed"] = "<Say>Thanks for holding.</Say>"
    parent = ring(simulator, app, "/voice", CALLER)
    wait_until(
        lambda: (
            children(simulator, parent) and children(simulator, parent)[0].status == "in-progress"
        )
    )
    [child] = children(simulator, parent)
    gateway.client.calls(child.sid).update(status="completed")
    simulator.carrier.wait(parent.sid, timeout=30)
    [dialed] = app.forms("/dialed")
    assert dialed["DialCallStatus"] == "completed" and int(dialed["DialCallDuration"]) < 300
    assert "Thanks for holding." in said(parent)
    assert gateway.client.calls(child.sid).fetch().status == "completed"


def test_the_parent_fetches_as_before_and_lists_the_child_among_calls(simulator, gateway, app):
    app.docs["/voice"] = f"<Dial>{AGENT_A}</Dial><Say>After the dial.</Say>"
    parent = simulator.carrier.wait(ring(simulator, app, "/voice", CALLER).sid)
    assert "After the dial." in said(parent)  # no action: the next verb runs
    listed = {c.sid: c.parent_call_sid for c in gateway.client.calls.list()}
    [child] = children(simulator, parent)
    assert listed == {parent.sid: None, child.sid: parent.sid}
    assert gateway.client.calls(parent.sid).fetch().to == HOTLINE_NUMBER


@pytest.mark.realtime
def test_a_child_redirected_by_rest_leaves_the_bridge_and_runs_its_new_twiml(
    simulator, gateway, app
):
    simulator.carrier.scripts[AGENT_A] = Script(ring_seconds=1, talk_seconds=300)
    app.docs["/voice"] = f'<Dial action="/dialed"><Number>{AGENT_A}</Number></Dial>'
    app.docs["/wrap-up"] = "<Say>Please record the outcome.</Say>"
    parent = ring(simulator, app, "/voice", CALLER)
    wait_until(
        lambda: (
            children(simulator, parent) and children(simulator, parent)[0].status == "in-progress"
        )
    )
    [child] = children(simulator, parent)
    gateway.client.calls(child.sid).update(url=app.url("/wrap-up"))
    simulator.carrier.wait(parent.sid, timeout=30)
    simulator.carrier.wait(child.sid, timeout=30)
    [dialed] = app.forms("/dialed")
    assert dialed["DialCallStatus"] == "completed" and "DialCallDuration" not in dialed
    assert "Please record the outcome." in said(child)
    assert app.forms("/wrap-up")[0]["CallSid"] == child.sid
    assert gateway.client.calls(child.sid).fetch().status == "completed"
