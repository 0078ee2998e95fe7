"""A sick database: every webhook still answers within 5 s, with the apology and a way to an
agent, and the line recovers by itself when the database is back.

PostgreSQL is made sick by a TCP proxy on loopback that the app connects through: it can
stop forwarding without closing anything (a hung server: the kernel still ACKs, nothing
answers) or refuse new connections. Locks are held by a second, real connection.
"""

from __future__ import annotations

import socket
import sqlite3
import statistics
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from prompts.catalog import load
from simulator.server import BackgroundServer
from simulator.signing import signature
from tests.conftest import TEST_SECRET_KEY, backend, seed_demo

AUTH_TOKEN = "sick-db-auth-token-0123456789"
ALICE = "+14155550100"  # a demo cardholder, identified by caller id
HOTLINE_NUMBER = "+18005550100"
WEBHOOK_LIMIT_S = 5.0
# A broken build must fail the test, not hang it: well past the limit, well short of forever.
CLIENT_TIMEOUT_S = 20.0
APOLOGY = load("en").render("error_apology")
TRANSFER = load("en").render("transfer_notice")

postgresql_only = pytest.mark.skipif(
    backend() != "postgresql", reason="needs PostgreSQL (a network server to hang, row locks)"
)


# --- a TCP proxy that can hang -----------------------------------------------------------


class Proxy:
    """Forwards 127.0.0.1:port to the database until told to hang or refuse.

    hang(): nothing more is forwarded in either direction and nothing is closed; new
    connections are accepted (by the kernel) and left unanswered. refuse(): new connections
    are reset. forward(): everything held is passed on and forwarding resumes.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.refusing = False
        self.closed = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def hang(self) -> None:
        self.flowing.clear()

    def refuse(self) -> None:
        self.refusing = True

    def forward(self) -> None:
        self.refusing = False
        self.flowing.set()

    def close(self) -> None:
        self.closed = True
        self.forward()
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                sock.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                # SO_LINGER 0: close with a RST, as a port nobody listens on would.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                client.close()
                continue
            with self.lock:
                self.sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self.flowing.wait()  # a connection made while hung waits, unanswered
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        with self.lock:
            self.sockets.append(upstream)
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                self.flowing.wait()
                data = source.recv(65536)
                # Read while flowing but hung since: hold it, as a stalled server would.
                self.flowing.wait()
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
        except OSError:
            for sock in (source, sink):
                sock.close()


# --- the app, served over HTTP -------------------------------------------------------------


@dataclass
class Answer:
    path: str
    status: int
    seconds: float
    xml: str

    @property
    def says(self) -> list[str]:
        return [e.text or "" for e in ET.fromstring(self.xml).iter("Say")]

    @property
    def enqueues(self) -> bool:
        return ET.fromstring(self.xml).find("Enqueue") is not None

    @property
    def apologised(self) -> bool:
        return APOLOGY in self.says


class Served:
    def __init__(self, database_url: str, **overrides: object) -> None:
        from hotline.web import create_app

        self.deferred = _Deferred()
        self.server = BackgroundServer(self.deferred)  # type: ignore[arg-type]
        self.app = create_app(
            {
                "database_url": database_url,
                "env": "test",
                "public_base_url": self.server.base_url,
                "twilio_auth_token": AUTH_TOKEN,
                "agent_hours": "always",
                "secret_key": TEST_SECRET_KEY,
                "sms_confirmations": False,
                **overrides,
            }
        )
        self.deferred.app = self.app
        self.runtime = self.app.extensions["hotline"]

    def post(self, path: str, **form: str) -> Answer:
        url = self.server.base_url + path
        form = {"AccountSid": "AC" + "0" * 32, "To": HOTLINE_NUMBER, **form}
        headers = {"X-Twilio-Signature": signature(AUTH_TOKEN, url, form.items())}
        started = time.monotonic()
        response = requests.post(url, data=form, headers=headers, timeout=CLIENT_TIMEOUT_S)
        return Answer(path, response.status_code, time.monotonic() - started, response.text)

    def ring(self, call_sid: str | None = None) -> Answer:
        return self.post("/ivr/voice", CallSid=call_sid or new_sid(), From=ALICE)

    def stop(self) -> None:
        self.server.stop()
        self.runtime.engine.dispose()


class _Deferred:
    def __init__(self) -> None:
        self.app: object = None

    def __call__(self, environ: dict, start_response: object) -> object:
        return self.app(environ, start_response)  # type: ignore[operator]


def new_sid() -> str:
    return "CA" + uuid.uuid4().hex


@pytest.fixture
def serve(database_url: str) -> Iterator[Callable[..., Served]]:
    running: list[Served] = []

    def make(url: str = database_url, **overrides: object) -> Served:
        served = Served(url, **overrides)
        running.append(served)
        return served

    yield make
    for served in running:
        served.stop()


@pytest.fixture
def proxy(database_url: str) -> Iterator[Proxy]:
    url = make_url(database_url)
    running = Proxy(url.host or "127.0.0.1", url.port or 5432)
    yield running
    running.close()


def through(database_url: str, proxy: Proxy) -> str:
    return make_url(database_url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


def answered_normally(answer: Answer) -> bool:
    return answer.status == 200 and not answer.apologised and bool(answer.says)


def assert_apology_in_time(answer: Answer, *, enqueue: bool = True) -> None:
    assert answer.status == 200, answer
    assert answer.seconds < WEBHOOK_LIMIT_S, answer
    assert APOLOGY in answer.says, answer.xml
    if enqueue:
        assert TRANSFER in answer.says and answer.enqueues, answer.xml


def report(label: str, answers: list[Answer]) -> None:
    times = [a.seconds for a in answers]
    each = ", ".join(f"{a.path} {a.seconds:.2f}" for a in answers)
    print(
        f"\n{label}: {len(times)} answers, max {max(times):.2f} s, "
        f"median {statistics.median(times):.2f} s: {each}"
    )


# --- PostgreSQL hung, refusing, back -------------------------------------------------------


@postgresql_only
def test_a_hung_postgresql_gets_the_apology_within_5_s_and_the_line_recovers(
    serve, proxy, database_url
):
    line = serve(through(database_url, proxy), db_pool_size=4)
    seed_demo(line.runtime.Session, size=3)
    ongoing = new_sid()
    assert answered_normally(line.ring(ongoing))
    # Several pooled connections, so that the hang catches idle ones as well as busy ones.
    with ThreadPoolExecutor(4) as pool:
        assert all(answered_normally(a) for a in pool.map(lambda _: line.ring(), range(8)))

    proxy.hang()
    sequential = [
        line.ring(),
        line.post("/ivr/step/verify", CallSid=ongoing, From=ALICE, Digits="94107"),
        line.ring(),
    ]
    with ThreadPoolExecutor(6) as pool:
        concurrent = list(pool.map(lambda _: line.ring(), range(6)))
    hold = line.post("/ivr/hold", CallSid=ongoing, QueuePosition="2")
    started = time.monotonic()
    health = requests.get(line.server.base_url + "/healthz", timeout=CLIENT_TIMEOUT_S)
    health_s = time.monotonic() - started
    report("hung", [*sequential, *concurrent, hold])
    print(f"hung: /healthz {health.status_code} in {health_s:.2f} s")
    assert health.status_code == 503 and health_s < WEBHOOK_LIMIT_S
    for answer in [*sequential, *concurrent]:
        assert_apology_in_time(answer)
    # The queue's wait URL only needs the call's language: it keeps the caller on hold.
    assert hold.status == 200 and hold.seconds < WEBHOOK_LIMIT_S
    assert "You are number 2 in line." in " ".join(hold.says)
    assert ET.fromstring(hold.xml).find("Pause") is not None

    proxy.forward()
    back = line.ring()
    print(f"back: first call answered in {back.seconds:.2f} s")
    assert answered_normally(back), back.xml
    assert back.seconds < WEBHOOK_LIMIT_S
    # The call that was on the line when the database hung goes on where it was.
    verified = line.post("/ivr/step/verify", CallSid=ongoing, From=ALICE, Digits="94107")
    assert answered_normally(verified), verified.xml
    assert load("en").render("menu") in verified.says  # verified: the menu


@postgresql_only
def test_postgresql_refusing_connections_gets_the_apology_at_once_then_recovers(
    serve, proxy, database_url
):
    line = serve(through(database_url, proxy))
    seed_demo(line.runtime.Session, size=3)
    assert answered_normally(line.ring())
    proxy.refuse()
    # The pooled connections are still there and work; close them, as a restarted server
    # would have, so that every request must connect anew and is refused.
    line.runtime.engine.dispose()
    refused = [line.ring() for _ in range(3)]
    report("refused", refused)
    for answer in refused:
        assert_apology_in_time(answer)
        assert answer.seconds < 1.5  # no waiting out the 2 s budget
    proxy.forward()
    assert answered_normally(line.ring())


@postgresql_only
def test_a_call_row_locked_by_another_transaction_gets_the_apology_within_5_s(serve, database_url):
    line = serve()
    seed_demo(line.runtime.Session, size=3)
    call_sid = new_sid()
    assert answered_normally(line.ring(call_sid))
    holder = create_engine(database_url)
    try:
        with holder.connect() as connection:
            connection.execute(
                text("SELECT 1 FROM ivr_call WHERE call_sid = :sid FOR UPDATE"), {"sid": call_sid}
            ).one()
            waited = line.post("/ivr/step/verify", CallSid=call_sid, From=ALICE, Digits="94107")
            other = line.ring()  # another caller is not held up by that lock
            connection.rollback()
        report("locked", [waited, other])
        assert_apology_in_time(waited)
        assert answered_normally(other)
        # The lock gone, the same call goes on (the pool's connection survived the timeout).
        again = line.post("/ivr/step/verify", CallSid=call_sid, From=ALICE, Digits="94107")
        assert answered_normally(again), again.xml
    finally:
        holder.dispose()


@postgresql_only
def test_the_server_holds_the_time_left_as_statement_and_lock_timeouts(serve):
    from hotline import db

    line = serve()
    engine = line.runtime.engine
    with db.deadline(1.5), engine.connect() as connection:
        statement = connection.execute(text("SHOW statement_timeout")).scalar_one()
        lock = connection.execute(text("SHOW lock_timeout")).scalar_one()
        idle = connection.execute(text("SHOW idle_in_transaction_session_timeout")).scalar_one()
    # The time left at checkout (a loaded machine may take a while to connect).
    assert statement.endswith("ms") and 500 < int(statement[:-2]) <= 1500
    assert lock.endswith("ms") and int(lock[:-2]) == int(statement[:-2]) * 3 // 4
    assert idle == "30s"
    with engine.connect() as connection:  # outside a request, no per-request limit
        assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "0"
    raw = engine.raw_connection()
    try:
        params = raw.driver_connection.info.get_parameters()  # type: ignore[union-attr]
    finally:
        raw.close()
    assert params["tcp_user_timeout"] == "10000" and params["keepalives"] == "1"


# --- SQLite busy --------------------------------------------------------------------------


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's file lock")
def test_sqlite_locked_by_another_writer_gets_the_apology_within_5_s(serve, database_url):
    line = serve()
    seed_demo(line.runtime.Session, size=3)
    assert answered_normally(line.ring())
    other = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        waited = [line.ring(), line.ring()]
        other.execute("ROLLBACK")
    finally:
        other.close()
    report("sqlite busy", waited)
    for answer in waited:
        assert_apology_in_time(answer)
    assert answered_normally(line.ring())


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's in-process write queue")
def test_sqlite_writer_stuck_in_the_same_process_gets_the_apology_within_5_s(serve):
    line = serve()
    seed_demo(line.runtime.Session, size=3)
    holding, done = threading.Event(), threading.Event()

    def stuck_writer() -> None:
        # Say, a dialer thread of the same process inside a slow transaction.
        with line.runtime.Session.begin() as session:
            session.execute(text("SELECT 1"))
            holding.set()
            done.wait(CLIENT_TIMEOUT_S)

    writer = threading.Thread(target=stuck_writer)
    writer.start()
    try:
        assert holding.wait(5)
        waited = line.ring()
    finally:
        done.set()
        writer.join()
    report("sqlite queued", [waited])
    assert_apology_in_time(waited)
    assert answered_normally(line.ring())


# --- a carrier that does not answer -------------------------------------------------------


def test_a_carrier_that_never_answers_the_pause_for_pay_costs_a_turn_two_seconds(serve):
    """Pausing the recording for <Pay> is the one REST call a turn waits for: against a
    carrier that takes the connection and never answers, the caller hears that payment is
    unavailable within the webhook's limit (the SDK would otherwise wait 10 s)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing ever reads them
    try:
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        line = serve(twilio_api_base_url=base, record_calls=True)
        seed_demo(line.runtime.Session, size=3)
        call = new_sid()
        assert answered_normally(line.ring(call))
        for path, digits in [("verify", "94107"), ("menu", "2"), ("pay-choice", "1")]:
            assert answered_normally(
                line.post(f"/ivr/step/{path}", CallSid=call, From=ALICE, Digits=digits)
            )
        confirmed = line.post("/ivr/step/pay-confirm", CallSid=call, From=ALICE, Digits="1")
    finally:
        silent.close()
    report("carrier silent", [confirmed])
    assert confirmed.status == 200
    assert confirmed.seconds < WEBHOOK_LIMIT_S
    assert "Pay" not in confirmed.xml
    assert "We could not reach the payment service." in " ".join(confirmed.says)
