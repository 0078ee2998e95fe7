"""SMS through the real twilio SDK and the simulator: delivery, errors, texts to the line.

The app has no SMS webhook yet, so a small receiver on loopback stands in for it: it checks
every request's X-Twilio-Signature with the SDK's RequestValidator and answers texts with
messaging TwiML.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask, Response, request
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from hotline.settings import DEV_ACCOUNT_SID
from simulator.callees import Script
from simulator.carrier import Carrier
from simulator.carrier.sms_rules import HELP_REPLY, OPT_IN_REPLY, OPT_OUT, OPT_OUT_REPLY
from simulator.clock import Clock
from simulator.server import BackgroundServer, RunningSimulator, start
from simulator.softphone import SimulatorClient
from telephony.twilio_gateway import make_client
from tests.e2e.conftest import AUTH_TOKEN, HOTLINE_NUMBER

CALLEE = "+14155550123"
SERVICE = "MG" + "0123456789abcdef" * 2


@dataclass
class Receiver:
    """The app's side of SMS: texts and status callbacks, each with its signature check."""

    base_url: str = ""
    seen: list[tuple[str, dict[str, str], bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def build(self) -> Flask:
        app = Flask("sms-receiver")
        validator = RequestValidator(AUTH_TOKEN)

        def record() -> dict[str, str]:
            valid = validator.validate(
                self.base_url + request.path,
                request.form,
                request.headers.get("X-Twilio-Signature", ""),
            )
            with self.lock:
                self.seen.append((request.path, request.form.to_dict(), valid))
            return request.form.to_dict()

        @app.post("/sms/inbound")
        def inbound() -> Response:
            body = record()["Body"]
            reply = MessagingResponse()
            if body == "BALANCE":
                reply.message("Your balance is $12.34.", action="/sms/status")
            elif body == "STOP":
                reply.message("Sorry to see you go.")
            elif body == "退订":
                reply.message("您已退订。")
            return Response(str(reply), mimetype="text/xml")

        @app.post("/sms/status")
        def status() -> Response:
            record()
            return Response("", status=204)

        @app.post("/sms/broken")
        def broken() -> Response:
            record()
            return Response("oops", status=500)

        return app

    def forms(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [form for p, form, _ in self.seen if p == path]

    def all_signed(self) -> bool:
        with self.lock:
            return bool(self.seen) and all(valid for _, _, valid in self.seen)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    served = BackgroundServer(receiver.build())
    receiver.base_url = served.base_url
    yield receiver
    served.stop()


def sms_carrier(clock: Clock, receiver: Receiver, **overrides: object) -> Carrier:
    settings: dict[str, object] = {
        "account_sid": DEV_ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "numbers": [HOTLINE_NUMBER],
        "voice_url": receiver.base_url + "/voice",
        "sms_url": receiver.base_url + "/sms/inbound",
        "clock": clock,
        **overrides,
    }
    return Carrier(**settings)  # type: ignore[arg-type]


@pytest.fixture
def line(clock: Clock, receiver: Receiver) -> Iterator[RunningSimulator]:
    running = start(sms_carrier(clock, receiver))
    yield running
    running.stop()


@pytest.fixture
def service_line(clock: Clock, receiver: Receiver) -> Iterator[RunningSimulator]:
    running = start(sms_carrier(clock, receiver, messaging_service_sid=SERVICE))
    yield running
    running.stop()


def sdk(simulator: RunningSimulator) -> Client:
    return make_client(DEV_ACCOUNT_SID, AUTH_TOKEN, simulator.base_url)


def text(simulator: RunningSimulator, texter: str, body: str) -> dict:
    answer = SimulatorClient(simulator.base_url, DEV_ACCOUNT_SID, AUTH_TOKEN).text(texter, body)
    simulator.carrier.wait_messages()
    return answer


def refused(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


# --- outbound: status lifecycle ---------------------------------------------------------


def test_a_message_is_queued_then_sent_and_delivered_with_signed_callbacks(line, receiver):
    client = sdk(line)
    created = client.messages.create(
        to=CALLEE,
        from_=HOTLINE_NUMBER,
        body="Reply STOP to opt out.",
        status_callback=receiver.base_url + "/sms/status",
    )
    assert created.status == "queued" and created.sid.startswith("SM")
    assert created.date_sent is None and created.num_segments == "1"
    line.carrier.wait_messages()

    callbacks = receiver.forms("/sms/status")
    # No callback for the initial status, as on Twilio.
    assert [c["MessageStatus"] for c in callbacks] == ["sending", "sent", "delivered"]
    assert receiver.all_signed()
    final = callbacks[-1]
    assert final["MessageSid"] == final["SmsSid"] == created.sid
    assert final["SmsStatus"] == "delivered" and final["AccountSid"] == DEV_ACCOUNT_SID
    assert (final["From"], final["To"], final["ApiVersion"]) == (
        HOTLINE_NUMBER,
        CALLEE,
        "2010-04-01",
    )
    assert "ErrorCode" not in final and len(final["RawDlrDoneDate"]) == 10
    assert "Body" not in final

    fetched = client.messages(created.sid).fetch()
    assert fetched.status == "delivered" and fetched.error_code is None
    assert fetched.direction == "outbound-api" and fetched.body == "Reply STOP to opt out."
    # Carrier time: sent a second after creation, the receipt two seconds later.
    assert (fetched.date_sent - fetched.date_created).total_seconds() == 1
    assert (fetched.date_updated - fetched.date_created).total_seconds() == 3
    assert [m.sid for m in client.messages.list(to=CALLEE)] == [created.sid]


@pytest.mark.parametrize(
    ("script", "statuses", "code"),
    [
        ({"sms": "undelivered"}, ["sending", "sent", "undelivered"], 30003),
        ({"sms": "failed"}, ["sending", "failed"], 30008),
        # Twilio tries a landline in the US, Canada and the UK; no handset takes it.
        ({"line": "landline"}, ["sending", "sent", "undelivered"], 30006),
    ],
)
def test_the_recipients_script_decides_how_a_message_ends(line, receiver, script, statuses, code):
    line.carrier.scripts[CALLEE] = Script.from_dict(script)
    client = sdk(line)
    created = client.messages.create(
        to=CALLEE,
        from_=HOTLINE_NUMBER,
        body="Hello",
        status_callback=receiver.base_url + "/sms/status",
    )
    line.carrier.wait_messages()
    callbacks = receiver.forms("/sms/status")
    assert [c["MessageStatus"] for c in callbacks] == statuses
    assert callbacks[-1]["ErrorCode"] == str(code)
    fetched = client.messages(created.sid).fetch()
    assert (fetched.status, fetched.error_code) == (statuses[-1], code)
    assert (fetched.date_sent is None) == (statuses[-1] == "failed")


def test_a_messaging_service_picks_the_sender_and_starts_accepted(service_line, receiver):
    client = sdk(service_line)
    created = client.messages.create(
        to=CALLEE,
        messaging_service_sid=SERVICE,
        body="Hello",
        status_callback=receiver.base_url + "/sms/status",
    )
    assert created.status == "accepted" and created.messaging_service_sid == SERVICE
    assert created.from_ == HOTLINE_NUMBER
    service_line.carrier.wait_messages()
    callbacks = receiver.forms("/sms/status")
    assert [c["MessageStatus"] for c in callbacks] == ["queued", "sending", "sent", "delivered"]
    assert {c["MessagingServiceSid"] for c in callbacks} == {SERVICE}


def test_on_the_real_clock_delivery_takes_its_time(receiver):
    # Real time at life's pace: three seconds to the receipt, so a fetch made at once
    # cannot find the message delivered however loaded the machine is.
    running = start(sms_carrier(Clock(), receiver))
    try:
        client = sdk(running)
        created = client.messages.create(to=CALLEE, from_=HOTLINE_NUMBER, body="Hello")
        started = time.monotonic()
        assert client.messages(created.sid).fetch().status in ("queued", "sending", "sent")
        running.carrier.wait_messages()
        assert time.monotonic() - started > 2.5
        assert client.messages(created.sid).fetch().status == "delivered"
    finally:
        running.stop()


def test_the_list_pages_newest_first(line):
    client = sdk(line)
    sids = [
        client.messages.create(to=CALLEE, from_=HOTLINE_NUMBER, body=f"n{i}").sid for i in range(5)
    ]
    assert [m.sid for m in client.messages.list(page_size=2)] == sids[::-1]
    assert client.messages.list(from_="+14155550999") == []
    missing = refused(lambda: client.messages("SM" + "0" * 32).fetch())
    assert (missing.status, missing.code) == (404, 20404)


# --- outbound: Twilio's refusals --------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "script", "code"),
    [
        ({"to": ""}, {}, 21604),
        ({"to": "12"}, {}, 21211),
        ({"from_": ""}, {}, 21603),
        ({"from_": "+14155550999"}, {}, 21606),
        ({"from_": "banana"}, {}, 21212),
        ({"body": ""}, {}, 21602),
        ({}, {"sms_capable": False}, 21614),
        ({"to": "+493012345678"}, {"line": "landline"}, 21635),
        ({"body": "a" * 1601}, {}, 21617),
        ({"status_callback": "/sms/status"}, {}, 21609),
        ({"status_callback": "ftp://example.com/status"}, {}, 21609),
        ({"from_": "", "messaging_service_sid": "MG123"}, {}, 21705),
        ({"from_": "", "messaging_service_sid": "MG" + "f" * 32}, {}, 21701),
    ],
)
def test_a_message_twilio_would_refuse_raises_its_error(line, options, script, code):
    request = {"to": CALLEE, "from_": HOTLINE_NUMBER, "body": "Hello", **options}
    line.carrier.scripts[request["to"]] = Script.from_dict(script)
    error = refused(lambda: sdk(line).messages.create(**request))
    assert (error.status, error.code) == (400, code)
    assert line.carrier.messages == []


# --- inbound texts and Twilio's keywords ------------------------------------------------


def test_a_text_reaches_the_sms_url_signed_with_twilios_parameters(line, receiver):
    answer = text(line, CALLEE, "Hello there")
    [form] = receiver.forms("/sms/inbound")
    assert receiver.all_signed()
    sid = answer["message"]["sid"]
    assert form["MessageSid"] == form["SmsSid"] == form["SmsMessageSid"] == sid
    assert (form["From"], form["To"], form["Body"]) == (CALLEE, HOTLINE_NUMBER, "Hello there")
    assert (form["SmsStatus"], form["NumMedia"], form["NumSegments"]) == ("received", "0", "1")
    assert (form["FromCountry"], form["ToCountry"]) == ("US", "US")
    assert form["AccountSid"] == DEV_ACCOUNT_SID and form["ApiVersion"] == "2010-04-01"
    assert "MessagingServiceSid" not in form and "OptOutType" not in form
    assert answer["replies"] == []  # the receiver's empty <Response/> sends nothing
    inbound = sdk(line).messages(sid).fetch()
    assert (inbound.direction, inbound.status) == ("inbound", "received")


def test_the_apps_twiml_reply_is_sent_back_and_listed(line, receiver):
    answer = text(line, CALLEE, "BALANCE")
    [reply] = answer["replies"]
    assert (reply["to"], reply["from"], reply["body"]) == (
        CALLEE,
        HOTLINE_NUMBER,
        "Your balance is $12.34.",
    )
    listed = sdk(line).messages.list()
    assert [(m.direction, m.body) for m in listed] == [
        ("outbound-reply", "Your balance is $12.34."),
        ("inbound", "BALANCE"),
    ]
    assert listed[0].status == "delivered"
    # The <Message action> is the reply's status callback, resolved against the SMS URL.
    assert [c["MessageStatus"] for c in receiver.forms("/sms/status")][-1] == "delivered"


@pytest.mark.parametrize("word", [*sorted(OPT_OUT), "stop", "  Stop \n"])
def test_stop_blocks_the_sender_confirms_and_still_reaches_the_app(line, receiver, word):
    answer = text(line, CALLEE, word)
    assert receiver.forms("/sms/inbound")[0]["Body"] == word
    assert answer["replies"][0]["body"] == OPT_OUT_REPLY
    error = refused(
        lambda: sdk(line).messages.create(to=CALLEE, from_=HOTLINE_NUMBER, body="Pay now")
    )
    assert (error.status, error.code) == (400, 21610)
    # Another number may still be texted.
    sdk(line).messages.create(to="+14155550124", from_=HOTLINE_NUMBER, body="Hello")


def test_a_stop_blocks_only_the_number_texted_without_a_messaging_service(clock, receiver):
    other = "+18005550101"
    running = start(sms_carrier(clock, receiver, numbers=[HOTLINE_NUMBER, other]))
    try:
        text(running, CALLEE, "STOP")
        client = sdk(running)
        assert client.messages.create(to=CALLEE, from_=other, body="Hello").status == "queued"
        error = refused(lambda: client.messages.create(to=CALLEE, from_=HOTLINE_NUMBER, body="x"))
        assert error.code == 21610
    finally:
        running.stop()


def test_the_apps_own_reply_to_a_stop_is_not_delivered(line):
    answer = text(line, CALLEE, "STOP")
    auto, apps = answer["replies"]
    messages = {m.sid: m for m in sdk(line).messages.list()}
    assert messages[auto["sid"]].status == "delivered"
    assert (messages[apps["sid"]].status, messages[apps["sid"]].error_code) == ("failed", 21610)


@pytest.mark.parametrize("word", ["START", "unstop", "Yes"])
def test_start_lifts_the_block_with_twilios_confirmation(line, word):
    text(line, CALLEE, "STOP")
    answer = text(line, CALLEE, word)
    assert [r["body"] for r in answer["replies"]] == [OPT_IN_REPLY]
    message = sdk(line).messages.create(to=CALLEE, from_=HOTLINE_NUMBER, body="Welcome back")
    assert message.status == "queued"


def test_help_is_answered_unless_the_texter_has_opted_out(line):
    assert [r["body"] for r in text(line, CALLEE, "help")["replies"]] == [HELP_REPLY]
    assert [r["body"] for r in text(line, CALLEE, "INFO")["replies"]] == [HELP_REPLY]
    text(line, CALLEE, "STOP")
    assert text(line, "+14155550123", "HELP")["replies"] == []


@pytest.mark.parametrize("body", ["STOP PLEASE", "退订", "please stop", "TD"])
def test_other_words_pass_through_untouched(line, receiver, body):
    answer = text(line, CALLEE, body)
    assert receiver.forms("/sms/inbound")[0]["Body"] == body
    assert all(r["body"] != OPT_OUT_REPLY for r in answer["replies"])
    assert sdk(line).messages.create(to=CALLEE, from_=HOTLINE_NUMBER, body="Hi").status == "queued"
    if body == "退订":
        [reply] = answer["replies"]
        assert reply["body"] == "您已退订。" and reply["num_segments"] == "1"


def test_with_a_messaging_service_the_app_is_told_the_opt_out_type(service_line, receiver):
    text(service_line, CALLEE, "stop")
    text(service_line, CALLEE, "HELP")
    text(service_line, CALLEE, "start")
    text(service_line, CALLEE, "hello")
    forms = receiver.forms("/sms/inbound")
    assert [f.get("OptOutType") for f in forms] == ["STOP", "HELP", "START", None]
    assert {f["MessagingServiceSid"] for f in forms} == {SERVICE}


def test_a_stop_to_a_service_number_blocks_the_whole_service(service_line):
    text(service_line, CALLEE, "STOP")
    error = refused(
        lambda: sdk(service_line).messages.create(
            to=CALLEE, messaging_service_sid=SERVICE, body="Pay now"
        )
    )
    assert error.code == 21610


def test_keywords_apply_even_when_the_number_has_no_sms_url(clock, receiver):
    running = start(sms_carrier(clock, receiver, sms_url=None))
    try:
        answer = text(running, CALLEE, "STOP")
        assert [r["body"] for r in answer["replies"]] == [OPT_OUT_REPLY]
        assert receiver.forms("/sms/inbound") == []
        assert (
            refused(
                lambda: sdk(running).messages.create(to=CALLEE, from_=HOTLINE_NUMBER, body="x")
            ).code
            == 21610
        )
    finally:
        running.stop()


def test_an_app_that_fails_is_noted_as_11200(line, receiver):
    line.carrier.sms_url = receiver.base_url + "/sms/broken"
    answer = text(line, CALLEE, "Hello")
    assert answer["replies"] == []
    assert {"kind": "error", "code": 11200}.items() <= answer["events"][-1].items()


def test_a_scripted_callee_replies_stop_to_the_first_reminder(line, receiver):
    line.carrier.scripts[CALLEE] = Script.from_dict({"sms_replies": ["STOP"]})
    client = sdk(line)
    client.messages.create(to=CALLEE, from_=HOTLINE_NUMBER, body="Your payment is due.")
    line.carrier.wait_messages()
    [form] = receiver.forms("/sms/inbound")
    assert (form["From"], form["To"], form["Body"]) == (CALLEE, HOTLINE_NUMBER, "STOP")
    error = refused(
        lambda: client.messages.create(to=CALLEE, from_=HOTLINE_NUMBER, body="Reminder")
    )
    assert error.code == 21610


def test_virtual_time_dates_messages_on_the_carrier_clock(line):
    line.carrier.clock.advance(3600)  # type: ignore[attr-defined]
    answer = text(line, CALLEE, "Hello")
    created = email.utils.parsedate_to_datetime(answer["message"]["date_created"])
    assert created == line.carrier.clock.now()


# --- `hotline sms` and `hotline simulator messages` -------------------------------------


def hotline(simulator: RunningSimulator, *args: str):
    from click.testing import CliRunner

    from hotline.cli import cli

    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": simulator.base_url}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_hotline_sms_texts_the_line_and_prints_the_replies(line, receiver):
    result = hotline(line, "sms", "--from", CALLEE, "STOP")
    assert result.exit_code == 0, result.output
    texted, auto, apps = result.stdout.splitlines()
    assert texted.split()[1:4] == ["inbound", CALLEE, "->"] and texted.endswith("received: STOP")
    assert auto.endswith(f"{OPT_OUT_REPLY}") and f"{HOTLINE_NUMBER} -> {CALLEE}" in auto
    assert "failed (21610): Sorry to see you go." in apps
    assert [f["Body"] for f in receiver.forms("/sms/inbound")] == ["STOP"]

    line.carrier.wait_messages()
    listing = hotline(line, "simulator", "messages").stdout.splitlines()
    assert [row.rsplit(": ", 1)[1] for row in listing] == [
        "STOP",
        OPT_OUT_REPLY,
        "Sorry to see you go.",
    ]
    assert "delivered" in listing[1]


def test_hotline_sms_fails_when_the_app_does(line, receiver):
    line.carrier.sms_url = receiver.base_url + "/sms/broken"
    result = hotline(line, "sms", "--from", CALLEE, "Hello")
    assert result.exit_code == 1
    assert "app error 11200: HTTP retrieval failure: status 500" in result.stderr


def test_hotline_sms_says_when_no_simulator_answers(line):
    result = hotline(line, "sms", "--from", CALLEE, "--simulator-url", "http://127.0.0.1:9", "hi")
    assert result.exit_code == 1
    assert "no simulator answering at http://127.0.0.1:9" in result.stderr
