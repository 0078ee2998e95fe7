"""Running the simulator: as its own process (`hotline simulator`) or inside a test."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from hotline.settings import Settings
from simulator.carrier import Carrier
from simulator.clock import Clock, VirtualClock
from simulator.web import create_simulator_app

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

DEFAULT_PORT = 8900


def carrier_from_settings(
    settings: Settings,
    *,
    virtual: bool = False,
    calls_per_second: float = 1.0,
    voice_url: str | None = None,
    list_lag_seconds: float = 0.0,
    sms_url: str | None = None,
    messaging_service_sid: str | None = None,
) -> Carrier:
    """A carrier with the app's own credentials and numbers, pointed at the app's voice and
    SMS URLs."""
    base = settings.public_base_url.rstrip("/")
    return Carrier(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        numbers=settings.caller_ids,
        voice_url=voice_url or base + "/ivr/voice",
        sms_url=sms_url or base + "/sms/inbound",
        messaging_service_sid=messaging_service_sid,
        clock=VirtualClock() if virtual else Clock(),
        calls_per_second=calls_per_second,
        list_lag_seconds=list_lag_seconds,
    )


class _QuietPollingHandler(WSGIRequestHandler):
    """Werkzeug's request log, without the softphone's polling at INFO.

    `hotline call` asks for its call's new transcript lines five times a second; at INFO
    those GETs would bury everything else the simulator's terminal shows. They still log
    at DEBUG.
    """

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.command == "GET" and self.path.startswith("/sim/"):
            if logging.getLogger("werkzeug").isEnabledFor(logging.DEBUG):
                self.log("debug", '"%s" %s %s', self.requestline, code, size)
            return
        super().log_request(code, size)


class BackgroundServer:
    """A WSGI app served on a background thread (port 0: any free port)."""

    def __init__(
        self, app: WSGIApplication, host: str = "127.0.0.1", port: int = 0, name: str = "wsgi"
    ) -> None:
        self.server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_QuietPollingHandler
        )
        # A short poll interval, so stopping takes milliseconds rather than half a second.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        # An AF_INET/AF_INET6 socket's address; only AF_UNIX ones are bytes.
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


@dataclass
class RunningSimulator:
    carrier: Carrier
    served: BackgroundServer

    @property
    def base_url(self) -> str:
        return self.served.base_url

    @property
    def server(self) -> BaseWSGIServer:
        return self.served.server

    @property
    def thread(self) -> threading.Thread:
        return self.served.thread

    def stop(self) -> None:
        self.served.stop()
        self.carrier.shutdown()


def start(carrier: Carrier, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Serve the simulator on a background thread (port 0: any free port)."""
    served = BackgroundServer(create_simulator_app(carrier), host, port, name="simulator")
    return RunningSimulator(carrier, served)


@contextmanager
def running(carrier: Carrier, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningSimulator]:
    simulator = start(carrier, host, port)
    try:
        yield simulator
    finally:
        simulator.stop()
