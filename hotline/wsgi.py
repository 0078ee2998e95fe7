"""Gunicorn, embedded: `hotline serve` runs the app factory under a production server."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from hotline.settings import Settings


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
            "worker_class": "gthread",
            "accesslog": None,
            "timeout": 30,
            # gunicorn 27's control socket lives in ~/.gunicorn, shared by every server the
            # user runs (the second to stop removes the first's): not wanted here.
            "control_socket_disable": True,
        },
        # A connection for every thread of a worker, kept open between requests.
        app_overrides={"db_pool_size": max(settings.db_pool_size, threads)},
    ).run()
