"""An outbound call placed through the twilio SDK, carried by the simulator, end to end."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from simulator.callees import Script
from telephony.gateway import CallRequest, GatewayError
from tests.e2e.conftest import HOTLINE_NUMBER

CALLEE = "+14155550123"


def place(gateway, peer_url, **overrides):
    request = CallRequest(
        to=CALLEE,
        from_=HOTLINE_NUMBER,
        url=peer_url + "/answer",
        status_callback=peer_url + "/status",
        **overrides,
    )
    return gateway.place_call(request)


def test_the_create_answer_is_the_call_as_created_however_soon_it_runs(simulator, peer):
    # The create's JSON is written after the call has started on the carrier's pool: under
    # load the SDK was told `in-progress`. Twilio answers `queued`.
    _, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script.from_dict({"keys": "1"})
    created = simulator.carrier.create_call(
        {
            "To": [CALLEE],
            "From": [HOTLINE_NUMBER],
            "Url": [peer_url + "/answer"],
            "StatusCallback": [peer_url + "/status"],
        }
    )
    live = simulator.carrier.wait(created.sid)
    assert live.status == "completed"
    assert created.status == "queued"


def test_a_scripted_callee_presses_a_key_and_every_step_is_signed_and_reported(
    gateway, simulator, peer
):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script.from_dict({"keys": "1"})

    created = place(gateway, peer_url)
    assert created.status == "queued" and created.sid.startswith("CA")
    call = simulator.carrier.wait(created.sid)

    # The app's answer URL was fetched, then the Gather action with the key, both signed.
    assert recorder.paths()[:0] == []
    flow = [s for s in recorder.seen if s.path != "/status"]
    assert [(s.path, s.form.get("Digits")) for s in flow] == [("/answer", None), ("/pressed", "1")]
    assert all(s.signature_valid for s in recorder.seen)
    assert flow[0].form["CallStatus"] == "in-progress"
    assert flow[0].form["Direction"] == "outbound-api"
    assert flow[0].form["To"] == CALLEE and flow[0].form["From"] == HOTLINE_NUMBER

    # Status callbacks in Twilio's order and numbering.
    callbacks = recorder.callbacks()
    assert [(c["CallStatus"], c["SequenceNumber"]) for c in callbacks] == [
        ("initiated", "0"),
        ("ringing", "1"),
        ("in-progress", "2"),
        ("completed", "3"),
    ]
    final = callbacks[-1]
    assert final["CallbackSource"] == "call-progress-events"
    assert int(final["CallDuration"]) > 0 and final["SipResponseCode"] == "200"
    assert "CallDuration" not in callbacks[0]

    # The transcript tells the same story, and the SDK reads the final state back.
    kinds = [e.kind for e in call.transcript]
    assert "say" in kinds and "gather" in kinds
    assert any(e.kind == "input" and e.detail.get("digits") == "1" for e in call.transcript)
    said = " ".join(e.detail["text"] for e in call.transcript if e.kind == "say")
    assert "You pressed 1. Goodbye." in said
    fetched = gateway.fetch(created.sid)
    assert fetched.status == "completed" and fetched.duration_seconds == call.duration


def test_a_silent_person_lets_the_gather_time_out_and_the_call_falls_through(
    gateway, simulator, peer
):
    recorder, peer_url = peer
    call = simulator.carrier.wait(place(gateway, peer_url).sid)
    assert "/pressed" not in recorder.paths()
    said = [e.detail["text"] for e in call.transcript if e.kind == "say"]
    assert said[-1] == "We did not get your answer. Goodbye."
    assert call.status == "completed"


@pytest.mark.parametrize(
    ("answer", "status", "sip"),
    [("busy", "busy", "486"), ("no-answer", "no-answer", "487"), ("failed", "failed", "404")],
)
def test_unanswered_outcomes_end_with_their_status_and_never_fetch_twiml(
    gateway, simulator, peer, answer, status, sip
):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script(answer=answer)
    info = place(gateway, peer_url)
    call = simulator.carrier.wait(info.sid)
    assert call.status == status and call.duration is None  # never answered: no duration
    assert gateway.fetch(info.sid).duration_seconds is None
    assert "/answer" not in recorder.paths()
    final = recorder.callbacks()[-1]
    assert (final["CallStatus"], final["SipResponseCode"], final["CallDuration"]) == (
        status,
        sip,
        "0",
    )


def test_sync_amd_reports_a_machine_before_the_answer_url_is_fetched(gateway, simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script(answer="machine", greeting_seconds=12)
    call = simulator.carrier.wait(
        place(gateway, peer_url, machine_detection="DetectMessageEnd").sid
    )
    answer = next(s for s in recorder.seen if s.path == "/answer")
    assert answer.form["AnsweredBy"] == "machine_end_beep"
    assert call.answered_by == "machine_end_beep"
    assert recorder.callbacks()[-1]["AnsweredBy"] == "machine_end_beep"
    assert "/pressed" not in recorder.paths()  # a machine keys nothing


def test_amd_reports_a_human_as_human(gateway, simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script.from_dict({"keys": "1"})
    place(gateway, peer_url, machine_detection="Enable")
    simulator.carrier.wait_all()
    assert next(s for s in recorder.seen if s.path == "/answer").form["AnsweredBy"] == "human"


def test_invalid_numbers_are_refused_with_twilios_codes(gateway, peer):
    _, peer_url = peer
    with pytest.raises(GatewayError) as bad_to:
        gateway.place_call(CallRequest(to="12", from_=HOTLINE_NUMBER, url=peer_url + "/answer"))
    assert (bad_to.value.code, bad_to.value.status) == (21211, 400)
    with pytest.raises(GatewayError) as not_ours:
        gateway.place_call(CallRequest(to=CALLEE, from_="+14155550199", url=peer_url + "/a"))
    assert (not_ours.value.code, not_ours.value.status) == (21210, 400)  # well formed, not ours
    with pytest.raises(GatewayError) as bad_from:
        gateway.place_call(CallRequest(to=CALLEE, from_="12", url=peer_url + "/a"))
    assert bad_from.value.code == 21212
    with pytest.raises(GatewayError) as no_from:
        gateway.place_call(CallRequest(to=CALLEE, from_="", url=peer_url + "/a"))
    assert no_from.value.code == 21213


def test_calls_beyond_one_per_second_wait_in_the_queue(gateway, simulator, peer):
    _, peer_url = peer
    # Held until all three are placed: on the virtual clock a call that ends moves time to
    # its end, so a first call finished before the third was placed (a loaded machine) left
    # the third nothing to wait for, and the test failed by timing, not by the carrier.
    simulator.carrier.hold_calls = True
    infos = [place(gateway, peer_url) for _ in range(3)]
    queue_times = [simulator.carrier.get(i.sid).queue_time_ms for i in infos]
    assert queue_times == [0, 1000, 2000]
    for call in simulator.carrier.take_held():
        simulator.carrier.run_held(call)
    simulator.carrier.wait_all()
    starts = [simulator.carrier.get(i.sid).start_time for i in infos]
    assert [(b - a).total_seconds() for a, b in pairwise(starts)] == [1, 1]


def test_a_broken_twiml_answer_ends_the_call_with_twilios_error(gateway, simulator, peer):
    _, peer_url = peer
    created = gateway.place_call(
        CallRequest(to=CALLEE, from_=HOTLINE_NUMBER, url=peer_url + "/broken")
    )
    call = simulator.carrier.wait(created.sid)
    assert call.error_code == 12100
    said = [e.detail["text"] for e in call.transcript if e.kind == "say"]
    assert said == ["We are sorry, an application error has occurred. Goodbye."]


def test_an_http_error_from_the_app_is_11200(gateway, simulator, peer):
    _, peer_url = peer
    call = simulator.carrier.wait(
        gateway.place_call(
            CallRequest(to=CALLEE, from_=HOTLINE_NUMBER, url=peer_url + "/fails")
        ).sid
    )
    assert call.error_code == 11200


@pytest.mark.realtime
def test_the_sdk_cancels_a_ringing_call_and_cannot_redirect_an_ended_one(gateway, simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script(answer="no-answer", ring_seconds=60)
    info = place(gateway, peer_url, timeout_seconds=60)
    gateway.hangup(info.sid)
    call = simulator.carrier.wait(info.sid, timeout=5)
    assert call.status == "canceled" and call.duration is None
    assert recorder.callbacks()[-1]["CallStatus"] == "canceled"
    assert "/answer" not in recorder.paths()
    with pytest.raises(GatewayError) as not_live:
        gateway.redirect(info.sid, peer_url + "/pressed")
    assert not_live.value.code == 21220


@pytest.mark.realtime
def test_the_sdk_redirects_a_live_call_to_new_twiml(gateway, simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script(ring_seconds=0.2)  # answers, stays silent
    info = place(gateway, peer_url)
    call = simulator.carrier.get(info.sid)
    deadline = time.monotonic() + 5
    while call.status != "in-progress" and time.monotonic() < deadline:
        time.sleep(0.02)
    gateway.redirect(info.sid, peer_url + "/pressed")
    simulator.carrier.wait(info.sid, timeout=15)
    assert "/pressed" in recorder.paths()
    assert any(e.kind == "api" and e.detail.get("action") == "redirect" for e in call.transcript)


def test_sms_through_the_gateway_is_queued_then_delivered(gateway, simulator):
    message = gateway.send_sms(CALLEE, HOTLINE_NUMBER, "Your promise to pay is confirmed.")
    assert message.sid.startswith("SM") and message.status == "queued"
    simulator.carrier.wait_messages()
    [sent] = simulator.carrier.messages
    assert (sent.body, sent.status) == ("Your promise to pay is confirmed.", "delivered")


def test_sms_the_carrier_refuses_is_a_gateway_error_with_twilios_code(gateway, simulator):
    simulator.carrier.scripts[CALLEE] = Script.from_dict({"sms_capable": False})
    with pytest.raises(GatewayError) as refused:
        gateway.send_sms(CALLEE, HOTLINE_NUMBER, "Your promise to pay is confirmed.")
    assert (refused.value.code, refused.value.status) == (21614, 400)


def test_record_true_reports_the_recording_on_the_completed_callback(gateway, simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script.from_dict({"keys": "1"})
    simulator.carrier.wait(place(gateway, peer_url, record=True).sid)
    final = recorder.callbacks()[-1]
    assert final["RecordingSid"].startswith("RE")
    assert final["RecordingDuration"] == final["CallDuration"]
