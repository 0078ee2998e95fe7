"""Gunicorn, embedded: `hotline serve` runs the app factory under a production server."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from hotline.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# The environ key under which a request carries when it reached the server (time.monotonic()).
RECEIVED_AT = "hotline.received_at"


class StampedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, telling the app when each request arrived.

    A request waits in the worker's queue while every thread is busy (a burst of turns on
    one locked account holds them all). That wait is part of the 5 s Twilio allows a
    webhook, so the app's database budget counts from the arrival (`RECEIVED_AT`), not from
    when a thread took the request: one that waited out its budget in the queue apologises
    at once instead of waiting its full budget again.
    """

    def enqueue_req(self, conn: Any) -> None:
        # Called when a connection is accepted or a kept-alive one has a request to read.
        conn.hotline_received_at = time.monotonic()
        super().enqueue_req(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        _arrival.received_at = getattr(conn, "hotline_received_at", None)
        try:
            return super().handle_request(req, conn)
        finally:
            _arrival.received_at = None

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = _stamp(self.wsgi)


class _Arrival(threading.local):
    received_at: float | None = None


_arrival = _Arrival()


def _stamp(app: Any) -> Any:  # gunicorn's and typeshed's WSGI types differ
    def stamped(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if _arrival.received_at is not None:
            environ[RECEIVED_AT] = _arrival.received_at
        answer: Iterable[bytes] = app(environ, start_response)
        return answer

    return stamped


class HotlineServer(BaseApplication):
    def __init__(
        self, options: dict[str, Any], app_overrides: dict[str, Any] | None = None
    ) -> None:
        self.options = options
        self.app_overrides = app_overrides or {}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from hotline.web import create_app

        return create_app(self.app_overrides)


def serve(settings: Settings, *, host: str, port: int, workers: int, threads: int) -> None:
    """Run gunicorn; `settings` were read and checked by the caller (each worker reads its
    own from the same environment)."""
    HotlineServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "hotline.wsgi.StampedThreadWorker",
            "accesslog": None,
            "timeout": 30,
            # gunicorn 27's control socket lives in ~/.gunicorn, shared by every server the
            # user runs (the second to stop removes the first's): not wanted here.
            "control_socket_disable": True,
        },
        # A connection for every thread of a worker, kept open between requests.
        app_overrides={"db_pool_size": max(settings.db_pool_size, threads)},
    ).run()
