"""Call recording on the IVR, end to end: started after verification (and the notice where
the law asks for one), paused while the caller keys card details into <Pay>, kept once."""

from __future__ import annotations

import time

import pytest

from hotline.models import CallEvent, Payment
from simulator.callees import InteractiveParty, Step
from tests.e2e.test_ivr import ALICE, ALICE_DIGITS, CALLERS, _pay_params, _signed_post, heard, rows

NOTICE = {"en": "This call may be recorded.", "zh-CN": "本次通话可能会被录音。"}


def entries(call, kind):
    return [(i, e.detail) for i, e in enumerate(call.transcript) if e.kind == kind]


def first(call, kind, **match):
    return next(i for i, d in entries(call, kind) if all(d.get(k) == v for k, v in match.items()))


def test_an_unrecorded_line_records_nothing_and_gives_no_notice(hotline_app):
    call = hotline_app.call(f"{ALICE_DIGITS}#,2,1,1")
    assert call.recordings == []
    assert not heard(call, NOTICE["en"])
    assert rows(hotline_app, Payment)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_recording_starts_after_verification_and_the_notice(hotline_line, language):
    line = hotline_line(record_calls=True)
    caller, _, digits = CALLERS[language]
    call = line.call(f"{digits}#,1", caller=caller)
    [recording] = call.recordings
    assert recording.source == "StartCallRecordingTwiML"
    assert recording.status == "completed"
    started = first(call, "recording", status="in-progress")
    # The caller's verification digits are keyed before the recording starts...
    assert first(call, "input", digits=f"{digits}#") < started
    # ...and the notice is heard first (both callers live where consent is needed).
    said = [i for i, e in enumerate(call.transcript) if e.detail.get("text") == NOTICE[language]]
    assert said and said[0] < started
    # The recording's completed callback is kept once, tied to the inbound call.
    [event] = rows(line, CallEvent, CallEvent.kind == "recording")
    assert event.call_sid == call.sid
    assert event.sequence == f"{recording.sid}:completed"
    assert event.attempt_id is not None


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_card_details_are_never_recorded(hotline_line, language):
    line = hotline_line(record_calls=True)
    caller, _, digits = CALLERS[language]
    call = line.call(f"{digits}#,2,1,1,1", caller=caller)
    assert rows(line, Payment), "the payment went through"
    card_stages = [d for _, d in entries(call, "pay") if d.get("attempt")]
    assert card_stages and not any(d["recorded"] for d in card_stages)
    assert not call.card_data_recorded
    [recording] = call.recordings
    # Paused for <Pay> and resumed after it: two recorded stretches with the payment between.
    assert [d["status"] for _, d in entries(call, "recording")] == [
        "in-progress",
        "paused",
        "in-progress",
    ]
    (_, paused_at), (resumed_at, _) = recording.spans
    pay_started = call.transcript[first(call, "pay", stage="start")].t
    pay_result = call.transcript[first(call, "pay", stage="result")].t
    assert paused_at <= pay_started and resumed_at >= pay_result


def test_a_replayed_recording_callback_changes_nothing(hotline_line):
    line = hotline_line(record_calls=True)
    call = line.call(f"{ALICE_DIGITS}#,1")
    [recording] = call.recordings
    params = {
        "AccountSid": call.account_sid,
        "CallSid": call.sid,
        "RecordingSid": recording.sid,
        "RecordingStatus": "completed",
        "RecordingUrl": "https://api.twilio.com/x",
        "RecordingDuration": "12",
    }
    for _ in range(3):
        response = _signed_post(line, "/ivr/recording", params)
        assert response.status_code == 204
    assert len(rows(line, CallEvent, CallEvent.kind == "recording")) == 1


def test_no_pay_starts_when_the_recording_cannot_be_paused(hotline_line):
    line = hotline_line(record_calls=True)
    party = InteractiveParty()
    call = line.carrier.start_inbound(ALICE, party=party)
    party.give(Step(press=f"{ALICE_DIGITS}#"))
    _wait(lambda: call.recordings and party.waiting.is_set())
    # Someone stops the recording behind the line's back: pausing it now fails, and the
    # line cannot tell that nothing records, so it offers no <Pay>.
    gateway = line.app.extensions["hotline"].gateway
    gateway.client.calls(call.sid).recordings("Twilio.CURRENT").update(status="stopped")
    for key in ("2", "1", "1"):
        party.give(Step(press=key))
    _wait(lambda: heard(call, "We could not reach the payment service."))
    gateway.hangup(call.sid)
    line.carrier.wait(call.sid)
    assert not entries(call, "pay")
    assert rows(line, Payment) == []


def test_a_replayed_pay_result_does_not_resume_twice(hotline_line):
    line = hotline_line(record_calls=True)
    call = line.call(f"{ALICE_DIGITS}#,2,1,1")
    resumed = [d for _, d in entries(call, "recording") if d["status"] == "in-progress"]
    response = _signed_post(line, "/ivr/pay", _pay_params(call.sid))
    assert response.status_code == 200
    assert [d for _, d in entries(call, "recording") if d["status"] == "in-progress"] == resumed


def _wait(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
