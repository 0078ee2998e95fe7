"""Running the simulator: as its own process (`hotline simulator`) or inside a test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.serving import BaseWSGIServer, make_server

from hotline.settings import Settings
from simulator.carrier import Carrier
from simulator.clock import Clock, VirtualClock
from simulator.web import create_simulator_app

DEFAULT_PORT = 8900


def carrier_from_settings(
    settings: Settings,
    *,
    virtual: bool = False,
    calls_per_second: float = 1.0,
    voice_url: str | None = None,
) -> Carrier:
    """A carrier with the app's own credentials and numbers, pointed at the app's voice URL."""
    return Carrier(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        numbers=settings.caller_ids,
        voice_url=voice_url or settings.public_base_url.rstrip("/") + "/ivr/voice",
        clock=VirtualClock() if virtual else Clock(),
        calls_per_second=calls_per_second,
    )


@dataclass
class RunningSimulator:
    carrier: Carrier
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.carrier.shutdown()
        self.server.server_close()


def start(carrier: Carrier, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Serve the simulator on a background thread (port 0: any free port)."""
    server = make_server(host, port, create_simulator_app(carrier), threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="simulator", daemon=True
    )
    thread.start()
    return RunningSimulator(carrier, server, thread)


@contextmanager
def running(carrier: Carrier, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningSimulator]:
    simulator = start(carrier, host, port)
    try:
        yield simulator
    finally:
        simulator.stop()
