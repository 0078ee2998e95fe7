"""End-to-end fixtures: the simulator and web apps served over real HTTP on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from hotline.settings import DEV_ACCOUNT_SID
from simulator.carrier import Carrier, Message
from simulator.carrier.delivery import CallbackDelivery
from simulator.clock import Clock, VirtualClock
from simulator.server import BackgroundServer, RunningSimulator, start
from telephony.twilio_gateway import TwilioGateway

AUTH_TOKEN = "e2e-auth-token-0123456789"
HOTLINE_NUMBER = "+18005550100"


ServedApp = BackgroundServer


@dataclass
class Seen:
    """What the peer app received: path, form, and whether the signature checked out."""

    path: str
    form: dict[str, str]
    signature_valid: bool


@dataclass
class PeerApp:
    """A small voice app that checks X-Twilio-Signature with the SDK and records requests."""

    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def build(self, public_base_url: list[str]) -> Flask:
        app = Flask("peer")
        validator = RequestValidator(AUTH_TOKEN)

        def record() -> bool:
            url = public_base_url[0] + request.full_path.rstrip("?")
            valid = validator.validate(
                url, request.form, request.headers.get("X-Twilio-Signature", "")
            )
            with self.lock:
                self.seen.append(Seen(request.path, request.form.to_dict(), valid))
            return valid

        def twiml(response: VoiceResponse) -> Response:
            return Response(str(response), mimetype="text/xml")

        @app.post("/answer")
        @app.post("/dialer/answer")  # where the dialer's tick points a call's answer
        def answer() -> Response:
            if not record():
                return Response("bad signature", status=403)
            response = VoiceResponse()
            gather = response.gather(num_digits=1, action="/pressed", timeout=5)
            gather.say("This is a reminder from Example Bank. Press 1 to hear more.")
            response.say("We did not get your answer. Goodbye.")
            return twiml(response)

        @app.post("/pressed")
        def pressed() -> Response:
            if not record():
                return Response("bad signature", status=403)
            response = VoiceResponse()
            response.say(f"You pressed {request.form.get('Digits', 'nothing')}. Goodbye.")
            response.hangup()
            return twiml(response)

        @app.post("/menu")
        def menu() -> Response:
            record()
            response = VoiceResponse()
            gather = response.gather(
                input="dtmf speech", num_digits=1, action="choice", hints="pay, agent"
            )
            gather.say("Press 1 to pay, 2 for an agent, 3 to leave a message, 4 to transfer.")
            response.redirect("/menu")
            return twiml(response)

        @app.post("/choice")
        def choice() -> Response:
            record()
            digits = request.form.get("Digits") or ""
            speech = (request.form.get("SpeechResult") or "").lower()
            response = VoiceResponse()
            if digits == "1":
                response.pay(
                    charge_amount="10.00",
                    currency="usd",
                    action="/paid",
                    status_callback="/paystatus",
                    payment_connector=request.args.get("connector", "Default"),
                    max_attempts=2,
                )
            elif digits == "2" or "agent" in speech:
                response.enqueue("agents", wait_url="/hold", action="/after-queue")
            elif digits == "3":
                response.record(action="/recorded", max_length=30)
            elif digits == "5":
                response.enqueue("agents", wait_url="/hold-leave", action="/after-queue")
            elif digits == "4":
                dial = response.dial(action="/dialed", timeout=20)
                dial.number("+14155550199")
            else:
                response.redirect("/menu")
            return twiml(response)

        @app.post("/hold")
        def hold() -> Response:
            record()
            response = VoiceResponse()
            response.say(f"You are number {request.form.get('QueuePosition')} in line.")
            response.pause(length=10)
            return twiml(response)

        @app.post("/hold-leave")
        def hold_leave() -> Response:
            record()
            response = VoiceResponse()
            response.say("Nobody is free. Leaving the queue.")
            response.leave()
            return twiml(response)

        @app.post("/agent")
        def agent() -> Response:
            record()
            response = VoiceResponse()
            dial = response.dial(action="/dialed")
            dial.queue("agents")
            return twiml(response)

        @app.post("/reject")
        def reject() -> Response:
            record()
            response = VoiceResponse()
            response.reject(reason="busy")
            return twiml(response)

        for ending in ("/paid", "/after-queue", "/recorded", "/dialed", "/paystatus", "/amd"):

            def ended(ending: str = ending) -> Response:
                record()
                response = VoiceResponse()
                response.say(f"Done at {ending}.")
                response.hangup()
                return twiml(response)

            app.add_url_rule(ending, ending.strip("/"), ended, methods=["POST"])

        @app.post("/status")
        @app.post("/dialer/status")  # where the dialer's tick points a call's callbacks
        def status() -> Response:
            record()
            return Response("", status=204)

        @app.post("/broken")
        def broken() -> Response:
            record()
            return Response("<Response><Say>oops</Say>", mimetype="text/xml")

        @app.post("/fails")
        def fails() -> Response:
            record()
            return Response("server error", status=500)

        return app

    def paths(self) -> list[str]:
        with self.lock:
            return [s.path for s in self.seen]

    def forms(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [s.form for s in self.seen if s.path == path]

    def callbacks(self) -> list[dict[str, str]]:
        with self.lock:
            return [s.form for s in self.seen if s.path == "/status"]


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Clock:
    """Virtual time, unless the test is marked `realtime` (calls must overlap in time).

    Real time runs ten times faster than life: calls still wait for each other.
    """
    return Clock(speed=10) if request.node.get_closest_marker("realtime") else VirtualClock()


@pytest.fixture
def callback_delivery(request: pytest.FixtureRequest) -> CallbackDelivery:
    """In order, unless the run asked for `--sim-callbacks chaotic` (and a seed)."""
    return CallbackDelivery(
        mode=request.config.getoption("--sim-callbacks"),
        seed=request.config.getoption("--sim-callback-seed"),
    )


@pytest.fixture
def peer() -> Iterator[tuple[PeerApp, str]]:
    recorder = PeerApp()
    public = [""]
    served = ServedApp(recorder.build(public))
    public[0] = served.base_url
    yield recorder, served.base_url
    served.stop()


@pytest.fixture
def simulator(
    clock: Clock, peer: tuple[PeerApp, str], callback_delivery: CallbackDelivery
) -> Iterator[RunningSimulator]:
    carrier = Carrier(
        account_sid=DEV_ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        numbers=[HOTLINE_NUMBER],
        voice_url=peer[1] + "/answer",
        clock=clock,
        calls_per_second=1.0,
        callback_delivery=callback_delivery,
    )
    running = start(carrier)
    yield running
    running.stop()


@pytest.fixture
def gateway(simulator: RunningSimulator) -> Iterator[TwilioGateway]:
    gateway = TwilioGateway.from_settings(DEV_ACCOUNT_SID, AUTH_TOKEN, simulator.base_url)
    yield gateway
    gateway.client.http_client.session.close()


# --- the real Hotline app behind the simulator ---------------------------------------------


@dataclass
class LineUnderTest:
    app: Flask
    simulator: RunningSimulator
    base_url: str
    served: ServedApp

    @property
    def carrier(self) -> Carrier:
        return self.simulator.carrier

    def texts(self, count: int, timeout: float = 5.0) -> list[Message]:
        """The texts the carrier was asked to send, once there are `count` of them: the app
        sends them after the answer has gone out (ivr.turns), so they may trail the call."""
        give_up = time.monotonic() + timeout
        while len(self.carrier.messages) < count and time.monotonic() < give_up:
            time.sleep(0.02)
        time.sleep(0.05)  # and no more than that
        return list(self.carrier.messages)

    def call(self, keys: str = "", caller: str = "+14155550100", **script: object):
        """Ring the hotline as `caller`, keying `keys` ("94107#,1": one item per prompt)."""
        from simulator.callees import Party, Script

        party = Party(Script.from_dict({"keys": keys, **script}))
        call = self.carrier.start_inbound(caller, party=party)
        return self.carrier.wait(call.sid, timeout=60)

    def stop(self) -> None:
        self.simulator.stop()
        self.served.stop()
        self.app.extensions["hotline"].engine.dispose()


class _Deferred:
    """A WSGI app filled in after the server has its port (the app must know its own URL)."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict, start_response: object) -> object:
        assert self.app is not None
        return self.app(environ, start_response)


@pytest.fixture
def hotline_line(
    database_url: str, clock: Clock, callback_delivery: CallbackDelivery
) -> Iterator[Callable[..., LineUnderTest]]:
    from hotline.web import create_app
    from tests.conftest import TEST_SECRET_KEY, seed_demo

    running: list[LineUnderTest] = []

    def make(**overrides: object) -> LineUnderTest:
        deferred = _Deferred()
        served = ServedApp(deferred)  # type: ignore[arg-type]
        carrier = Carrier(
            account_sid=DEV_ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            numbers=[HOTLINE_NUMBER],
            voice_url=served.base_url + "/ivr/voice",
            sms_url=served.base_url + "/sms/inbound",
            clock=clock,
            callback_delivery=callback_delivery,
        )
        simulator = start(carrier)
        settings = {
            "database_url": database_url,
            "env": "test",
            "public_base_url": served.base_url,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_api_base_url": simulator.base_url,
            "agent_hours": "always",
            "secret_key": TEST_SECRET_KEY,
            "caller_ids": (HOTLINE_NUMBER,),
        }
        app = create_app({**settings, **overrides})
        deferred.app = app
        runtime = app.extensions["hotline"]
        seed_demo(runtime.Session, size=12)
        line = LineUnderTest(app, simulator, served.base_url, served)
        running.append(line)
        return line

    yield make
    for line in running:
        line.stop()


@pytest.fixture
def hotline_app(hotline_line: Callable[..., LineUnderTest]) -> LineUnderTest:
    return hotline_line()
