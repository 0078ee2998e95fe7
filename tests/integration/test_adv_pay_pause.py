"""Adversarial: no <Pay> may reach the caller while the recording may still be running.

The turn that starts <Pay> commits it (as the call's answer, kept for replays) and only then
asks the carrier to pause the recording. A request for the same call that arrives in that
window (Twilio retrying the webhook after a read timeout, or a late <Gather> action) is
answered from the row: it must not be handed the stored <Pay> while the pause is unsettled,
nor after it failed.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from flows.state import Heard
from hotline.enums import PayOutcome, Step
from hotline.models import Payment
from ivr import service
from ivr.turns import Turns
from prompts.catalog import load_all
from telephony.gateway import GatewayError
from tests.fakes import FakeCallGateway
from tests.integration.test_services import CALL, LINKS, fake_line, rows, says  # noqa: F401


def _pays(twiml: ET.Element) -> int:
    return len(list(twiml.iter("Pay")))


def test_adv_a_request_replayed_while_the_pause_fails_is_not_answered_with_pay(
    Session,
    fake_line,  # noqa: F811
):
    line = fake_line(record_calls=True)
    replayed: list[ET.Element] = []
    asked: list[str] = []

    def pause_recording(sid: str) -> str:
        # While the first request waits on the carrier, Twilio retries it (same step): the
        # row already holds the <Pay>. Then the carrier refuses the pause.
        asked.append(sid)
        if len(asked) == 1:
            replayed.append(line.press(Step.PAY_CONFIRM, "1"))
        raise GatewayError("not recording", code=21220, status=400)

    line.gateway.pause_recording = pause_recording  # type: ignore[method-assign]
    first = line.to_pay()
    assert _pays(first) == 0 and "We could not reach the payment service." in says(first)
    [replay] = replayed
    # The replay must not be a <Pay>: the recording was never paused.
    assert _pays(replay) == 0, ET.tostring(replay)
    assert rows(Session, Payment) == []


def test_adv_a_replay_while_the_pause_succeeds_pauses_before_pay(Session, fake_line):  # noqa: F811
    """A replay answered with <Pay> must itself have made sure the recording is paused."""
    line = fake_line(record_calls=True)
    order: list[str] = []
    replayed: list[ET.Element] = []

    def pause_recording(sid: str) -> str:
        order.append("pause")
        if len(order) == 1:
            replayed.append(line.press(Step.PAY_CONFIRM, "1"))
            order.append("replay answered")
        return FakeCallGateway.pause_recording(line.gateway, sid)

    line.gateway.pause_recording = pause_recording  # type: ignore[method-assign]
    assert _pays(line.to_pay()) == 1
    [replay] = replayed
    if _pays(replay):
        # It was answered with <Pay>: a pause must have been asked (and granted) before.
        assert order.index("pause", 1) < order.index("replay answered"), order


def test_adv_a_late_resume_after_a_declined_pay_does_not_unpause_the_retry(
    Session,
    fake_line,  # noqa: F811
):
    """A declined card: the answer offers a retry and, once sent, resumes the recording.
    The caller barges in with 1 at once (or the carrier is slow): the retry's turn pauses
    and answers <Pay> while the first turn's resume is still on its way."""
    line = fake_line(record_calls=True)
    commands: list[str] = []
    gateway = line.gateway
    gateway.pause_recording = lambda sid: commands.append("pause") or "paused"  # type: ignore[method-assign]
    gateway.resume_recording = lambda sid: commands.append("resume") or "in-progress"  # type: ignore[method-assign]
    assert _pays(line.to_pay()) == 1
    turns = Turns(line.Session, line.config, line.renderer, LINKS, gateway, load_all())
    declined = {"Result": PayOutcome.TOO_MANY_FAILED_ATTEMPTS.value, "PaymentError": ""}
    now = dt.datetime.now(dt.UTC)
    failed = turns.run(
        lambda session, now: service.pay_result(
            session,
            line.config,
            call_sid=CALL,
            caller=line.caller,
            form=declined,
            token="1",
            now=now,
        ),
        now,
        call_sid=CALL,
        caller=line.caller,
    )
    assert "<Pay" not in failed.xml  # a retry is offered
    retry = turns.run(
        lambda session, now: service.answer(
            session,
            line.config,
            call_sid=CALL,
            caller=line.caller,
            step=Step.PAY_RETRY,
            listen=lambda _s, _l: Heard(digits="1"),
            now=now,
        ),
        now,
        call_sid=CALL,
        caller=line.caller,
    )
    assert "<Pay" in retry.xml
    failed.afterwards()  # the first turn's resume lands now
    retry.afterwards()
    # The second <Pay> is live: the last word the carrier had must be "pause".
    assert commands[-1] == "pause", commands
