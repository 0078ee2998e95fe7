"""Answering machine detection through the twilio SDK: what the app hears, and when.

Calls are placed with the SDK's own `calls.create` (every MachineDetection* parameter, which
the gateway's CallRequest does not carry), so the form the simulator reads is the SDK's.
The peer app answers /answer with a one-key menu and records every request it receives.
"""

from __future__ import annotations

import pytest

from simulator.callees import CalleeMix, Script
from tests.e2e.conftest import HOTLINE_NUMBER

CALLEE = "+14155550123"
EVENTS = ["initiated", "ringing", "answered", "completed"]


def dial(gateway, peer_url, to=CALLEE, **amd):
    """Place a call with the SDK; `amd` are calls.create keyword arguments."""
    call = gateway.client.calls.create(
        to=to,
        from_=HOTLINE_NUMBER,
        url=peer_url + "/answer",
        status_callback=peer_url + "/status",
        status_callback_event=EVENTS,
        **amd,
    )
    return call.sid


def async_result(recorder, sid):
    [form] = [f for f in recorder.forms("/amd") if f["CallSid"] == sid]
    return form["AnsweredBy"], int(form["MachineDetectionDuration"])


def answered_by_at_answer(recorder, sid):
    [form] = [f for f in recorder.forms("/answer") if f["CallSid"] == sid]
    return form.get("AnsweredBy")


def test_machine_detection_duration_counts_from_the_answer_not_the_queue_or_ring(
    gateway, simulator, peer
):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script(answer="machine", ring_seconds=12)
    simulator.carrier.scripts["+14155550124"] = Script(answer="machine", ring_seconds=2)
    amd = {
        "machine_detection": "DetectMessageEnd",
        "async_amd": "true",
        "async_amd_status_callback": peer_url + "/amd",
    }
    # Held until all are placed, so none has ended (moving the virtual clock to its end)
    # before the next is placed: each waits its turn at 1 CPS whatever the machine's load.
    simulator.carrier.hold_calls = True
    sids = [dial(gateway, peer_url, **amd) for _ in range(3)]  # 1 CPS: 0, 1, 2 s queued
    sids.append(dial(gateway, peer_url, to="+14155550124", **amd))
    for call in simulator.carrier.take_held():
        simulator.carrier.run_held(call)
    simulator.carrier.wait_all()
    # An 8 s greeting and its beep, 8.5 s after the answer whatever came before it.
    assert [async_result(recorder, sid) for sid in sids] == [("machine_end_beep", 8500)] * 4
    assert simulator.carrier.get(sids[2]).queue_time_ms == 2000


def test_a_greeting_that_ends_in_other_sound_is_machine_end_other(gateway, simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script.from_dict(
        {"answer": "machine", "greeting_seconds": 6, "greeting_end": "other"}
    )
    sid = dial(gateway, peer_url, machine_detection="DetectMessageEnd")
    call = simulator.carrier.wait(sid)
    assert answered_by_at_answer(recorder, sid) == "machine_end_other"
    assert recorder.callbacks()[-1]["AnsweredBy"] == "machine_end_other"
    assert gateway.fetch(sid).answered_by == "machine_end_other"
    [note] = [e for e in call.transcript if e.kind == "amd"]
    assert note.detail["detection_ms"] == 7200  # 6 s greeting, then 1.2 s that is not speech


@pytest.mark.parametrize(
    ("greeting_end", "answered_by", "ms"),
    [("beep", "machine_end_beep", 10500), ("silence", "machine_end_silence", 11200)],
)
def test_message_end_is_the_beep_or_the_silence_after_the_greeting(
    gateway, simulator, peer, greeting_end, answered_by, ms
):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script.from_dict(
        {"answer": "machine", "greeting_seconds": 10, "greeting_end": greeting_end}
    )
    sid = dial(
        gateway,
        peer_url,
        machine_detection="DetectMessageEnd",
        async_amd="true",
        async_amd_status_callback=peer_url + "/amd",
    )
    simulator.carrier.wait(sid)
    assert async_result(recorder, sid) == (answered_by, ms)


def test_a_callee_who_answers_and_says_nothing_is_unknown_after_the_silence_timeout(
    gateway, simulator, peer
):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script.from_dict({"silent": True, "keys": "1"})
    sync = dial(gateway, peer_url, machine_detection="Enable")
    default = dial(
        gateway,
        peer_url,
        machine_detection="Enable",
        async_amd="true",
        async_amd_status_callback=peer_url + "/amd",
    )
    tuned = dial(
        gateway,
        peer_url,
        machine_detection="Enable",
        machine_detection_silence_timeout=2000,
        async_amd="true",
        async_amd_status_callback=peer_url + "/amd",
    )
    simulator.carrier.wait_all()
    assert answered_by_at_answer(recorder, sync) == "unknown"
    assert async_result(recorder, default) == ("unknown", 5000)
    assert async_result(recorder, tuned) == ("unknown", 2000)
    # A silent person is still a person: they key the menu once it is played.
    assert len(recorder.forms("/pressed")) == 3


def test_the_speech_threshold_decides_whether_a_long_greeting_is_a_person(gateway, simulator, peer):
    recorder, peer_url = peer
    # "Hello, Dana Smith speaking": 3 s, then waits for the caller, then keys the menu.
    simulator.carrier.scripts[CALLEE] = Script.from_dict({"greeting_seconds": 3, "keys": "1"})
    by_default = dial(gateway, peer_url, machine_detection="Enable")
    tuned = dial(
        gateway, peer_url, machine_detection="Enable", machine_detection_speech_threshold=4000
    )
    simulator.carrier.wait_all()
    assert answered_by_at_answer(recorder, by_default) == "machine_start"
    assert answered_by_at_answer(recorder, tuned) == "human"
    # Taken for a machine or not, the person keys the menu.
    assert len(recorder.forms("/pressed")) == 2


def test_the_speech_end_threshold_is_how_long_amd_waits_after_a_hello(gateway, simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script.from_dict({"greeting_seconds": 0.8})
    amd = {
        "machine_detection": "Enable",
        "async_amd": "true",
        "async_amd_status_callback": peer_url + "/amd",
    }
    by_default = dial(gateway, peer_url, **amd)
    tuned = dial(gateway, peer_url, machine_detection_speech_end_threshold=500, **amd)
    simulator.carrier.wait_all()
    assert async_result(recorder, by_default) == ("human", 2000)
    assert async_result(recorder, tuned) == ("human", 1300)


def test_past_the_detection_timeout_a_long_greeting_is_unknown(gateway, simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script(answer="machine", greeting_seconds=20)
    sid = dial(
        gateway, peer_url, machine_detection="DetectMessageEnd", machine_detection_timeout=10
    )
    call = simulator.carrier.wait(sid)
    assert answered_by_at_answer(recorder, sid) == "unknown"
    [note] = [e for e in call.transcript if e.kind == "amd"]
    assert note.detail["detection_ms"] == 10000


def test_async_amd_reports_unknown_when_the_call_ends_before_detection_decides(
    gateway, simulator, peer
):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script(
        answer="machine", greeting_seconds=20, hangup_after=4
    )
    sid = dial(
        gateway,
        peer_url,
        machine_detection="DetectMessageEnd",
        async_amd="true",
        async_amd_status_callback=peer_url + "/amd",
    )
    call = simulator.carrier.wait(sid)
    assert async_result(recorder, sid) == ("unknown", 4000)
    assert "AnsweredBy" not in recorder.forms("/answer")[0]  # fetched at once, as async does
    # The result arrives before the completed callback, which carries it too.
    paths = [p for p in recorder.paths() if p in ("/amd", "/status")]
    assert paths[-2:] == ["/amd", "/status"]
    assert recorder.callbacks()[-1]["AnsweredBy"] == "unknown"
    assert call.status == "completed" and call.duration == 4


def test_sync_amd_never_fetches_the_url_when_the_callee_hangs_up_during_detection(
    gateway, simulator, peer
):
    recorder, peer_url = peer
    simulator.carrier.scripts[CALLEE] = Script(
        answer="machine", greeting_seconds=20, hangup_after=4
    )
    sid = dial(gateway, peer_url, machine_detection="DetectMessageEnd")
    call = simulator.carrier.wait(sid)
    assert "/answer" not in recorder.paths()
    final = recorder.callbacks()[-1]
    assert (final["CallStatus"], final["CallDuration"], final["AnsweredBy"]) == (
        "completed",
        "4",
        "unknown",
    )
    assert [c["CallStatus"] for c in recorder.callbacks()] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert call.answered_by == "unknown" and call.error_code is None


def test_the_seeded_mix_sends_every_voicemail_branch_to_the_app(gateway, simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.mix = CalleeMix(seed=11, weights={"human": 0.4, "machine": 0.6})
    numbers = [f"+1415555{n:04d}" for n in range(200, 260)]
    sids = {dial(gateway, peer_url, to=n, machine_detection="DetectMessageEnd"): n for n in numbers}
    simulator.carrier.wait_all(timeout=120)
    heard = {sids[f["CallSid"]]: f["AnsweredBy"] for f in recorder.forms("/answer")}
    assert len(heard) == len(numbers)
    assert set(heard.values()) == {
        "human",
        "unknown",
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
    }
    # The same seed draws the same callee for a number, whatever the order of dialing.
    again = CalleeMix(seed=11, weights={"human": 0.4, "machine": 0.6})
    for number in numbers[:10]:
        assert simulator.carrier.script_for(number) == again.script_for(number)
