"""Inbound calls into a voice app, exercising each simulated verb through real HTTP."""

from __future__ import annotations

import re

import pytest
import requests

from hotline.settings import DEV_ACCOUNT_SID
from simulator.callees import Card, Script, Step
from tests.e2e.conftest import AUTH_TOKEN, HOTLINE_NUMBER

CALLER = "+14155550100"


def ring(simulator, keys=None, *, url=None, **script):
    carrier = simulator.carrier
    if url:
        carrier.voice_url = url
    steps = tuple(Step(press=k) for k in keys.split(",")) if keys is not None else ()
    call = carrier.start_inbound(CALLER, party=_party(Script(steps=steps, **script)))
    return carrier.wait(call.sid)


def _party(script):
    from simulator.callees import Party

    return Party(script)


def said(call):
    return [e.detail["text"] for e in call.transcript if e.kind == "say"]


@pytest.fixture
def menu(simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.voice_url = peer_url + "/menu"
    return recorder


def test_an_inbound_call_fetches_the_voice_url_as_ringing_then_runs_in_progress(simulator, menu):
    call = ring(simulator, "9")
    first, second = menu.forms("/menu")[0], menu.forms("/choice")[0]
    assert first["CallStatus"] == "ringing" and first["Direction"] == "inbound"
    assert first["From"] == CALLER and first["To"] == HOTLINE_NUMBER
    assert second["Digits"] == "9" and second["CallStatus"] == "in-progress"
    assert all(s.signature_valid for s in menu.seen)
    assert call.status == "completed"


def test_a_successful_card_payment_reports_only_masked_card_data(simulator, menu):
    ring(simulator, "1")
    [paid] = menu.forms("/paid")
    assert paid["Result"] == "success"
    assert paid["PaymentConfirmationCode"].startswith("ch_")
    assert paid["PaymentCardNumber"] == "xxxx-xxxx-xxxx-1111"
    assert paid["PaymentCardType"] == "visa" and paid["SecurityCode"] == "xxx"
    stages = [f["For"] for f in menu.forms("/paystatus")]
    assert stages == [
        "payment-card-number",
        "expiration-date",
        "security-code",
        "postal-code",
        "payment-processing",
    ]
    everything = " ".join(v for s in menu.seen for v in s.form.values())
    assert not re.search(r"(?<![\w+])\d{12,19}(?!\w)", everything)  # no card number, ever


@pytest.mark.parametrize(
    ("outcome", "result", "error"),
    [
        ("declined", "payment-connector-error", "card is declined"),
        ("too-many-failed-attempts", "too-many-failed-attempts", "invalid-card-number"),
        ("caller-interrupted-with-star", "caller-interrupted-with-star", None),
        ("caller-hung-up", "caller-hung-up", None),
        ("connector-error", "payment-connector-error", "payment gateway did not respond"),
    ],
)
def test_each_payment_failure_reaches_the_action_with_twilios_result(
    simulator, menu, outcome, result, error
):
    call = ring(simulator, "1", card=Card(outcome=outcome))
    [paid] = menu.forms("/paid")
    assert paid["Result"] == result
    assert paid.get("PaymentError") == error
    assert "PaymentConfirmationCode" not in paid
    if outcome == "too-many-failed-attempts":
        attempts = {f["Attempt"] for f in menu.forms("/paystatus")}
        assert attempts == {"1", "2"}  # maxAttempts=2
    if outcome == "caller-hung-up":
        assert "Done at /paid." not in said(call)


def test_an_unknown_payment_connector_is_error_64004(simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.voice_url = peer_url + "/menu"
    simulator.carrier.payment_connectors = frozenset({"Stripe"})
    call = ring(simulator, "1")
    assert recorder.forms("/paid")[0]["PayErrorCode"] == "64004"
    assert any(e.kind == "error" and e.detail["code"] == 64004 for e in call.transcript)


def test_speech_reaches_the_app_as_speech_result(simulator, menu):
    call = simulator.carrier.start_inbound(
        CALLER,
        party=_party(Script(steps=(Step(say="agent please", confidence=0.81),), hold_patience=20)),
    )
    simulator.carrier.wait(call.sid)
    choice = menu.forms("/choice")[0]
    assert choice["SpeechResult"] == "agent please" and choice["Confidence"] == "0.81"


def test_a_queued_caller_hears_the_wait_url_and_is_bridged_when_an_agent_answers(simulator, menu):
    simulator.carrier.configure_queue("agents", agent_answers_after=25)
    call = ring(simulator, "2")
    holds = menu.forms("/hold")
    assert holds[0]["QueuePosition"] == "1" and holds[0]["CurrentQueueSize"] == "1"
    after = menu.forms("/after-queue")[0]
    assert after["QueueResult"] == "bridged" and int(after["QueueTime"]) >= 25
    assert any(e.kind == "bridged" for e in call.transcript)


def test_a_caller_who_tires_of_waiting_is_reported_as_hung_up(simulator, menu):
    call = ring(simulator, "2", hold_patience=30)
    assert menu.forms("/after-queue")[0]["QueueResult"] == "hangup"
    assert call.status == "completed"


def test_record_hands_the_recording_to_the_action(simulator, menu):
    ring(simulator, "3", record_seconds=7)
    recorded = menu.forms("/recorded")[0]
    assert recorded["RecordingDuration"] == "7"
    assert recorded["RecordingSid"].startswith("RE")


@pytest.mark.parametrize(
    ("answer", "status"), [("human", "completed"), ("busy", "busy"), ("no-answer", "no-answer")]
)
def test_dial_reports_the_child_legs_outcome(simulator, menu, answer, status):
    simulator.carrier.scripts["+14155550199"] = Script(answer=answer, talk_seconds=12)
    ring(simulator, "4")
    dialed = menu.forms("/dialed")[0]
    assert dialed["DialCallStatus"] == status
    assert dialed["DialCallDuration"] == ("12" if status == "completed" else "0")


def test_reject_as_first_verb_never_answers(simulator, peer):
    _, peer_url = peer
    call = ring(simulator, url=peer_url + "/reject")
    assert call.status == "busy" and call.duration is None  # never answered: no duration


def test_without_input_the_gather_falls_through_to_the_next_verb(simulator, menu):
    call = simulator.carrier.start_inbound(CALLER, party=_party(Script(hangup_after=20)))
    simulator.carrier.wait(call.sid)
    assert len(menu.forms("/menu")) >= 2  # <Redirect> after the silent <Gather>
    assert menu.forms("/choice") == []


def test_async_amd_posts_its_result_to_the_callback(simulator, gateway, peer):
    from telephony.gateway import CallRequest

    recorder, peer_url = peer
    simulator.carrier.scripts["+14155550123"] = Script(answer="machine", greeting_seconds=9)
    info = gateway.place_call(
        CallRequest(
            to="+14155550123",
            from_=HOTLINE_NUMBER,
            url=peer_url + "/menu",
            machine_detection="DetectMessageEnd",
            async_amd_callback=peer_url + "/amd",
        )
    )
    simulator.carrier.wait(info.sid)
    assert "AnsweredBy" not in recorder.forms("/menu")[0]  # fetched at once, before the result
    assert recorder.forms("/amd")[0]["AnsweredBy"] == "machine_end_beep"


def test_rest_auth_errors_and_rate_limits_answer_as_twilio_does(simulator):
    base = f"{simulator.base_url}/2010-04-01/Accounts/{DEV_ACCOUNT_SID}"
    bad = requests.get(f"{base}/Calls.json", auth=(DEV_ACCOUNT_SID, "wrong-token"), timeout=5)
    assert bad.status_code == 401 and bad.json()["code"] == 20003
    missing = requests.get(
        f"{base}/Calls/CA{'0' * 32}.json", auth=(DEV_ACCOUNT_SID, AUTH_TOKEN), timeout=5
    )
    assert missing.status_code == 404 and missing.json()["code"] == 20404
    assert set(missing.json()) == {"code", "message", "more_info", "status"}
    limiter = simulator.server.app.extensions["rate_limiter"]
    limiter.tokens, limiter.per_second = 0, 0.0
    limited = requests.get(f"{base}/Calls.json", auth=(DEV_ACCOUNT_SID, AUTH_TOKEN), timeout=5)
    assert limited.status_code == 429 and limited.json()["code"] == 20429


def test_calls_are_listed_and_transcripts_served_over_the_sim_api(simulator, menu):
    call = ring(simulator, "9")
    auth = (DEV_ACCOUNT_SID, AUTH_TOKEN)
    listing = requests.get(
        f"{simulator.base_url}/2010-04-01/Accounts/{DEV_ACCOUNT_SID}/Calls.json?PageSize=5",
        auth=auth,
        timeout=5,
    ).json()
    assert [c["sid"] for c in listing["calls"]] == [call.sid]
    shown = requests.get(f"{simulator.base_url}/sim/calls/{call.sid}", auth=auth, timeout=5).json()
    assert shown["status"] == "completed"
    kinds = [e["kind"] for e in shown["transcript"]]
    assert kinds[0] == "created" and "fetch" in kinds and kinds[-1] == "status"


def test_leave_in_a_wait_url_ends_the_wait_with_queue_result_leave(simulator, menu):
    ring(simulator, "5")
    assert menu.forms("/after-queue")[0]["QueueResult"] == "leave"


@pytest.mark.realtime
def test_an_agent_dialing_the_queue_takes_the_caller_off_hold_at_once(simulator, peer):
    import time

    recorder, peer_url = peer
    carrier = simulator.carrier
    carrier.voice_url = peer_url + "/menu"
    caller = carrier.start_inbound(
        CALLER, party=_party(Script(steps=(Step(press="2"),), talk_seconds=0.5, hold_patience=60))
    )
    deadline = time.monotonic() + 15
    while not carrier.queues.get("agents", None) or not carrier.queues["agents"].waiting:
        assert time.monotonic() < deadline, "caller never reached the queue"
        time.sleep(0.05)
    carrier.voice_url = peer_url + "/agent"
    agent = carrier.start_inbound("+14155550177", party=_party(Script()))
    carrier.wait(caller.sid, timeout=20)
    carrier.wait(agent.sid, timeout=20)
    assert recorder.forms("/after-queue")[0]["QueueResult"] == "bridged"
    dialed = recorder.forms("/dialed")[0]
    assert dialed["DialCallStatus"] == "completed" and dialed["DialBridged"] == "true"
    # Taken during the hold message's 10 s pause, not after it.
    assert int(recorder.forms("/after-queue")[0]["QueueTime"]) < 10


def test_a_failing_answer_url_falls_back_with_error_code_and_url(simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.scripts["+14155550123"] = Script(hangup_after=30)
    response = requests.post(
        f"{simulator.base_url}/2010-04-01/Accounts/{DEV_ACCOUNT_SID}/Calls.json",
        auth=(DEV_ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
        data={
            "To": "+14155550123",
            "From": HOTLINE_NUMBER,
            "Url": peer_url + "/fails",
            "FallbackUrl": peer_url + "/menu",
        },
    )
    assert response.status_code == 201
    simulator.carrier.wait(response.json()["sid"])
    fallback = recorder.forms("/menu")[0]
    assert fallback["ErrorCode"] == "11200" and fallback["ErrorUrl"] == peer_url + "/fails"
