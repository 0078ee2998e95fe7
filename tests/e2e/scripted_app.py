"""A voice app whose TwiML each test writes: path -> document, every request recorded.

The dial and queue tests need many small documents (whispers, wait URLs, agents' dials);
writing each as a string next to its assertion keeps a test readable on its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from simulator.callees import Party, Script
from simulator.carrier import SimCall
from simulator.server import BackgroundServer, RunningSimulator
from tests.e2e.conftest import AUTH_TOKEN

Document = str | Callable[[dict[str, str]], str]


@dataclass
class Hit:
    path: str
    form: dict[str, str]
    signature_valid: bool


@dataclass
class ScriptedApp:
    base_url: str = ""
    docs: dict[str, Document] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base_url + path

    def forms(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [h.form for h in self.hits if h.path == path]

    def build(self) -> Flask:
        app = Flask("scripted")
        validator = RequestValidator(AUTH_TOKEN)

        @app.route("/<path:name>", methods=["GET", "POST"])
        def serve(name: str) -> Response:
            path = "/" + name
            form = request.form.to_dict() if request.method == "POST" else request.args.to_dict()
            url = self.base_url + request.full_path.rstrip("?")
            signature = request.headers.get("X-Twilio-Signature", "")
            signed = request.form if request.method == "POST" else {}
            valid = validator.validate(url, signed, signature)
            with self.lock:
                self.hits.append(Hit(path, form, valid))
            doc = self.docs.get(path, "<Response/>")
            if path.startswith("/fail"):
                return Response("server error", status=500)
            body = doc(form) if callable(doc) else doc
            return Response(f"<Response>{body}</Response>", mimetype="text/xml")

        return app


@pytest.fixture(name="app")
def scripted_app() -> Iterator[ScriptedApp]:
    """Import `scripted_app` into a test module to use the `app` fixture there."""
    scripted = ScriptedApp()
    served = BackgroundServer(scripted.build(), name="scripted-app")
    scripted.base_url = served.base_url
    yield scripted
    served.stop()


def ring(simulator: RunningSimulator, app: ScriptedApp, path: str, caller: str, **script: object):
    """An inbound call from `caller` (scripted) to the document at `path`; not waited for."""
    carrier = simulator.carrier
    carrier.voice_url = app.url(path)
    return carrier.start_inbound(caller, party=Party(Script.from_dict(script)))


def wait_until(check: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def said(call: SimCall) -> list[str]:
    return [e.detail["text"] for e in call.transcript if e.kind == "say"]


def children(simulator: RunningSimulator, parent: SimCall) -> list[SimCall]:
    calls = simulator.carrier.list_calls()
    return sorted((c for c in calls if c.parent_call_sid == parent.sid), key=lambda c: c.seq)
