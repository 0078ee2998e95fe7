"""`hotline serve`: the production server, started as an operator starts it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, text

from tests.conftest import TEST_SECRET_KEY, backend

THREADS = 12


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def _sessions_opened(engine: Engine) -> int:
    """Connections PostgreSQL has accepted into this database since its statistics began."""
    with engine.connect() as connection:
        count = connection.scalar(
            text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        )
    return int(count or 0)


@pytest.mark.skipif(backend() != "postgresql", reason="counts PostgreSQL's connections")
def test_a_busy_server_keeps_one_connection_per_thread_open(database_url, engine):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "HOTLINE_SECRET_KEY": TEST_SECRET_KEY,
        "HOTLINE_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "hotline.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", "1", "--threads", str(THREADS)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(150):
            try:
                if _get(port, "/healthz") == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("hotline serve did not start")
        before = _sessions_opened(engine)
        # Every thread busy at once, many times over: with a pool smaller than the thread
        # count, each round would open and close the connections beyond the pool.
        with ThreadPoolExecutor(THREADS * 2) as pool:
            statuses = list(pool.map(lambda _: _get(port, "/healthz"), range(THREADS * 40)))
        opened = _sessions_opened(engine) - before
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    assert statuses == [200] * (THREADS * 40)
    # At most one connection per thread (the pool warms up under load), plus ours for counting.
    assert opened <= THREADS + 1
