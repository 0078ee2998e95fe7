"""Status callbacks delivered as Twilio may, and webhooks retried as their URL fragment says.

Calls are placed with the real `twilio` SDK (through Hotline's adapter) against the
in-process simulator; a small receiver on loopback records every request it gets, with its
I-Twilio-Idempotency-Token, whether X-Twilio-Signature checks out with the SDK's validator
over the URL it was asked for, and the raw request line.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import requests
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from hotline.models import CallEvent
from hotline.settings import DEV_ACCOUNT_SID
from simulator.callees import Script
from simulator.carrier import Carrier
from simulator.carrier.delivery import CallbackDelivery
from simulator.clock import Clock, VirtualClock
from simulator.server import BackgroundServer, RunningSimulator, start
from telephony.gateway import CallRequest
from telephony.twilio_gateway import TwilioGateway
from tests.e2e.conftest import AUTH_TOKEN, HOTLINE_NUMBER
from tests.e2e.test_ivr import ALICE_DIGITS, rows

CHAOS = CallbackDelivery(
    mode="chaotic", seed=11, duplicate_rate=0.3, delay_rate=0.6, delay_max_seconds=8
)


@dataclass
class Got:
    path: str
    form: dict[str, str]
    token: str
    signature_valid: bool
    request_line: str


@dataclass
class Receiver:
    """The app side: answers TwiML on /answer..., 204 elsewhere, and fails on request.

    `failures[path] = n` makes the next n requests to that path answer `failure_status`;
    `slow[path] = s` makes every request to it wait s seconds before answering.
    """

    got: list[Got] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    failure_status: int = 500
    slow: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def build(self, public: list[str]) -> Flask:
        app = Flask("receiver")
        validator = RequestValidator(AUTH_TOKEN)

        @app.route("/<path:name>", methods=["GET", "POST"])
        def anything(name: str) -> Response:
            path = "/" + name
            url = public[0] + request.full_path.rstrip("?")
            params = request.form if request.method == "POST" else {}
            valid = validator.validate(url, params, request.headers.get("X-Twilio-Signature", ""))
            line = f"{request.method} {request.environ.get('RAW_URI') or request.full_path}"
            with self.lock:
                self.got.append(
                    Got(
                        path,
                        request.values.to_dict(),
                        request.headers.get("I-Twilio-Idempotency-Token", ""),
                        valid,
                        line,
                    )
                )
                failing = self.failures.get(path, 0)
                if failing:
                    self.failures[path] = failing - 1
            time.sleep(self.slow.get(path, 0.0))
            if failing:
                return Response("failing on purpose", status=self.failure_status)
            if path.startswith("/answer"):
                response = VoiceResponse()
                response.say("Hello from Example Bank.")
                response.pause(length=3)
                response.say("Goodbye.")
                return Response(str(response), mimetype="text/xml")
            return Response(status=204)

        return app

    def at(self, path: str) -> list[Got]:
        with self.lock:
            return [g for g in self.got if g.path == path]

    def callbacks_by_call(self) -> dict[str, list[Got]]:
        """Each callee's status callbacks, in the order they arrived."""
        calls: dict[str, list[Got]] = defaultdict(list)
        with self.lock:
            for g in self.got:
                if g.path == "/status":
                    calls[g.form["To"]].append(g)
        return calls


@dataclass
class Line:
    carrier: Carrier
    receiver: Receiver
    url: str
    gateway: TwilioGateway
    sim_url: str

    def place(self, to: str, answer: str = "/answer", status: str | None = "/status") -> str:
        info = self.gateway.place_call(
            CallRequest(
                to=to,
                from_=HOTLINE_NUMBER,
                url=self.url + answer,
                status_callback=self.url + status if status else None,
            )
        )
        return info.sid


@contextmanager
def line(clock: Clock, delivery: CallbackDelivery | None = None) -> Iterator[Line]:
    receiver = Receiver()
    public = [""]
    served = BackgroundServer(receiver.build(public), name="receiver")
    public[0] = served.base_url
    carrier = Carrier(
        account_sid=DEV_ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        numbers=[HOTLINE_NUMBER],
        voice_url=served.base_url + "/answer",
        clock=clock,
        calls_per_second=1.0,
        callback_delivery=delivery,
    )
    running: RunningSimulator = start(carrier)
    gateway = TwilioGateway.from_settings(DEV_ACCOUNT_SID, AUTH_TOKEN, running.base_url)
    try:
        yield Line(carrier, receiver, served.base_url, gateway, running.base_url)
    finally:
        gateway.client.http_client.session.close()
        running.stop()
        served.stop()


CALLEES = [f"+1415555{n:04d}" for n in range(8)]


def campaign(delivery: CallbackDelivery | None) -> dict[str, list[tuple[str, str]]]:
    """Eight calls on the virtual clock; per callee, what arrived: (path, status/sequence)."""
    with line(VirtualClock(), delivery) as current:
        for number in CALLEES:
            current.carrier.scripts[number] = Script(ring_seconds=3)
            current.place(number)
        current.carrier.wait_all()
        arrivals: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for g in current.receiver.got:
            what = f"{g.form.get('CallStatus')}/{g.form.get('SequenceNumber', '-')}"
            arrivals[g.form["To"]].append((g.path, what))
        return dict(arrivals)


def test_by_default_each_callback_arrives_once_in_order_before_the_next_fetch():
    with line(VirtualClock()) as current:
        current.place(CALLEES[0])
        current.carrier.wait_all()
        paths = [(g.path, g.form.get("CallStatus")) for g in current.receiver.got]
        assert paths == [
            ("/status", "initiated"),
            ("/status", "ringing"),
            ("/status", "in-progress"),
            ("/answer", "in-progress"),
            ("/status", "completed"),
        ]
        tokens = [g.token for g in current.receiver.got]
        assert len(set(tokens)) == 5 and all(tokens)


def test_chaotic_callbacks_come_late_out_of_order_and_some_twice_with_one_token():
    with line(VirtualClock(), CHAOS) as current:
        for number in CALLEES:
            current.carrier.scripts[number] = Script(ring_seconds=3)
            current.place(number)
        current.carrier.wait_all()
        assert current.carrier._callbacks.pending() == 0
        by_call = current.receiver.callbacks_by_call()
        assert set(by_call) == set(CALLEES)
        reordered = duplicated = 0
        for arrived in by_call.values():
            sequence = [int(g.form["SequenceNumber"]) for g in arrived]
            # Every event arrives (none is lost), all signed as Twilio signs them.
            assert set(sequence) == {0, 1, 2, 3}
            assert all(g.signature_valid for g in arrived)
            first_seen = list(dict.fromkeys(sequence))
            reordered += first_seen != sorted(first_seen)
            by_token: dict[str, list[Got]] = defaultdict(list)
            for g in arrived:
                by_token[g.token].append(g)
            # One token per event; a second delivery repeats the event's token and body.
            assert len(by_token) == 4
            for copies in by_token.values():
                assert len(copies) in (1, 2)
                assert all(c.form == copies[0].form for c in copies)
                duplicated += len(copies) == 2
        assert reordered >= 2 and duplicated >= 2
        # Some "answered" callback is still on its way when the call fetches its TwiML.
        late = 0
        for number in CALLEES:
            got = [g for g in current.receiver.got if g.form["To"] == number]
            answer_at = next(i for i, g in enumerate(got) if g.path == "/answer")
            late += any(
                g.path == "/status" and g.form["CallStatus"] == "in-progress"
                for g in got[answer_at:]
            )
        assert late >= 1


def test_the_same_seed_replays_the_same_deliveries_and_another_seed_does_not():
    first = campaign(CHAOS)
    assert campaign(CHAOS) == first
    other = campaign(CallbackDelivery(**{**CHAOS.as_dict(), "seed": 12}))
    assert other != first
    # The mode changes delivery only: the same events reach the app either way.
    in_order = campaign(None)
    for number in CALLEES:
        assert sorted(set(first[number])) == sorted(in_order[number])


@pytest.mark.realtime
def test_on_the_real_clock_deliveries_run_concurrently_and_wait_all_waits_for_them():
    delivery = CallbackDelivery(
        mode="chaotic", seed=3, duplicate_rate=0.5, delay_rate=1.0, delay_max_seconds=20
    )
    with line(Clock(speed=20), delivery) as current:
        for number in CALLEES[:3]:
            current.carrier.scripts[number] = Script(ring_seconds=1)
            current.place(number)
        current.carrier.wait_all(timeout=60)
        planned = sum(
            1
            for call in current.carrier.list_calls()
            for entry in call.transcript
            if entry.kind == "callback" and "delivery" in entry.detail
        )
        assert current.carrier._callbacks.pending() == 0
        received = current.receiver.at("/status")
        assert len(received) == planned > 12  # four events a call, and duplicates on top
        assert {(g.form["To"], g.form["SequenceNumber"]) for g in received} == {
            (n, str(s)) for n in CALLEES[:3] for s in range(4)
        }


def test_a_fetch_failing_with_5xx_is_retried_as_rc_says_with_one_token():
    with line(VirtualClock()) as current:
        current.receiver.failures["/answer"] = 2
        sid = current.place(CALLEES[0], answer="/answer#rc=2&rp=5xx", status=None)
        call = current.carrier.wait(sid)
        attempts = current.receiver.at("/answer")
        assert len(attempts) == 3
        assert len({g.token for g in attempts}) == 1 and attempts[0].token
        assert all(g.signature_valid for g in attempts)
        assert all("#" not in g.request_line and "rc=" not in g.request_line for g in attempts)
        # The third attempt succeeded: the caller heard the app, not an application error.
        said = [e.detail["text"] for e in call.transcript if e.kind == "say"]
        assert said == ["Hello from Example Bank.", "Goodbye."]
        assert call.error_code is None
        fetches = [e.detail for e in call.transcript if e.kind == "fetch"]
        assert [(f["attempt"], f["status"]) for f in fetches] == [(1, 500), (2, 500), (3, 200)]
        assert fetches[0]["url"] == current.url + "/answer"


def test_status_callback_retries_keep_the_events_token_and_end_at_rc():
    with line(VirtualClock()) as current:
        current.receiver.failures["/status"] = 5
        sid = current.place(CALLEES[0], status="/status#rc=3&rp=all")
        call = current.carrier.wait(sid)
        got = current.receiver.at("/status")
        # initiated: four attempts, all failing (rc=3); ringing: fails once, then answered.
        statuses = [g.form["CallStatus"] for g in got]
        assert statuses == ["initiated"] * 4 + ["ringing"] * 2 + ["in-progress", "completed"]
        assert len({g.token for g in got[:4]}) == 1
        assert len({g.token for g in got[4:6]}) == 1
        assert len({g.token for g in got}) == 4
        warnings = [e.detail["code"] for e in call.transcript if e.kind == "warning"]
        assert warnings == [15003]  # only initiated never got through


def test_without_overrides_twilios_defaults_apply():
    with line(VirtualClock()) as current:
        # rp defaults to ct: an HTTP error is not retried...
        current.receiver.failures["/status"] = 1
        call = current.carrier.wait(current.place(CALLEES[0]))
        assert [g.form["CallStatus"] for g in current.receiver.at("/status")] == [
            "initiated",
            "ringing",
            "in-progress",
            "completed",
        ]
        assert [e.detail["code"] for e in call.transcript if e.kind == "warning"] == [15003]
        # ...a refused connection is, once (rc defaults to 1), with the same token.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
        info = current.gateway.place_call(
            CallRequest(
                to=CALLEES[1],
                from_=HOTLINE_NUMBER,
                url=current.url + "/answer",
                status_callback=closed + "/status",
                status_events=("completed",),
            )
        )
        refused = current.carrier.wait(info.sid)
        attempts = [e.detail for e in refused.transcript if e.kind == "callback"]
        assert [(a.get("attempt"), a.get("error")) for a in attempts] == [
            (1, "ConnectionError"),
            (2, "ConnectionError"),
        ]


def test_rc_zero_means_one_attempt_and_an_unknown_policy_is_11243():
    with line(VirtualClock()) as current:
        current.receiver.failures["/answer"] = 1
        call = current.carrier.wait(current.place(CALLEES[0], answer="/answer#rc=0&rp=5xx"))
        assert len(current.receiver.at("/answer")) == 1
        assert call.error_code == 11200
        bad = current.carrier.wait(current.place(CALLEES[1], answer="/answer#rp=sometimes"))
        assert [g.form["To"] for g in current.receiver.at("/answer")] == [CALLEES[0]]
        assert 11243 in [e.detail.get("code") for e in bad.transcript if e.kind == "error"]


def test_a_read_timeout_is_retried_under_rt_within_the_total_time():
    with line(VirtualClock()) as current:
        current.receiver.slow["/answer"] = 1.0
        started = time.monotonic()
        call = current.carrier.wait(
            current.place(CALLEES[0], answer="/answer#rt=200&rc=5&rp=rt&tt=700", status=None)
        )
        took = time.monotonic() - started
        fetches = [e.detail for e in call.transcript if e.kind == "fetch"]
        # Each attempt gives up after 200 ms; 700 ms in all leaves room for 3 or 4, not 6.
        assert 2 <= len(fetches) <= 4
        assert all(f["error"] == "ReadTimeout" for f in fetches)
        assert took < 5
        assert call.error_code == 11200


def test_sim_config_turns_the_mode_on_and_refuses_a_bad_field():
    with line(VirtualClock()) as current:
        base, auth = current.sim_url, (DEV_ACCOUNT_SID, AUTH_TOKEN)
        put = requests.put(
            f"{base}/sim/config",
            json={"callbacks": {"mode": "chaotic", "seed": 5}},
            auth=auth,
            timeout=5,
        )
        assert put.status_code == 200
        assert put.json()["callbacks"]["mode"] == "chaotic"
        assert current.carrier.callback_delivery.seed == 5
        bad = requests.put(
            f"{base}/sim/config", json={"callbacks": {"mode": "shuffled"}}, auth=auth, timeout=5
        )
        assert bad.status_code == 400 and "mode" in bad.json()["message"]
        assert current.carrier.callback_delivery.mode == "chaotic"
        # All or nothing: a good lag beside a bad mode changes neither.
        mixed = requests.put(
            f"{base}/sim/config",
            json={"list_lag_seconds": 3, "callbacks": {"mode": "shuffled"}},
            auth=auth,
            timeout=5,
        )
        assert mixed.status_code == 400
        assert (
            requests.get(f"{base}/sim/config", auth=auth, timeout=5).json()["list_lag_seconds"] == 0
        )


@pytest.fixture
def callback_delivery() -> CallbackDelivery:
    """For the Hotline line below: every callback held back, and every one delivered twice."""
    return CallbackDelivery(
        mode="chaotic", seed=4, duplicate_rate=1.0, delay_rate=1.0, delay_max_seconds=30
    )


def test_the_line_keeps_a_recording_once_when_its_callback_comes_late_and_twice(hotline_line):
    line = hotline_line(record_calls=True)
    call = line.call(f"{ALICE_DIGITS}#,1")
    [recording] = call.recordings
    deliveries = [
        e.detail
        for e in call.transcript
        if e.kind == "callback" and e.detail.get("label") == "recording completed"
    ]
    assert [d["delivery"] for d in deliveries] == ["first", "duplicate"]
    assert deliveries[0]["delay_s"] > 0 and all(d["status"] == 204 for d in deliveries)
    [event] = rows(line, CallEvent, CallEvent.kind == "recording")
    assert event.sequence == f"{recording.sid}:completed"
