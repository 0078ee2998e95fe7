"""Benchmark: each kind of IVR turn, in-process and under `hotline serve`, against a bare route.

    python bench/ivr_balance_call.py [--backend sqlite|postgresql] [--calls 2000]
                                     [--accounts 300] [--concurrency 32] [--listen 1.0]

Seeds a demo portfolio of ACCOUNTS cardholders (each a caller id on file) and measures the
four kinds of turn a call is made of, each on CALLS distinct CallSids from distinct callers:

- answer:      the voice URL of a new call (identify by caller id, ask for the digits)
- verify:      the verification digits (checked under the account's lock; the menu)
- menu:        "1" at the menu (balance, minimum, past due, last payment read back)
- pay result:  <Pay>'s success callback (the payment posted exactly once, the menu)

1. in-process: the Flask app called directly (no HTTP, no server), one turn at a time:
   milliseconds per turn (median and p99), what the webhook itself costs.
2. capacity: `hotline serve` (gunicorn) on a free loopback port, CONCURRENCY clients with
   no pause, each kind of turn over all CALLS calls: turns per second, with p50/p99, and
   the ratio to a bare route (/healthz, which asks the same database for SELECT 1) measured
   the same way. Target: the answer turn >= 400/s.
3. callers: CONCURRENCY callers each listening LISTEN seconds to every answer (0.5-1.5 x,
   seeded) before keying the next, making whole balance calls for SECONDS: p50 and p99 of
   the answers. Target: p99 < 25 ms at 32 callers.

Requests are signed in advance so that the client costs little. PostgreSQL runs use (and
recreate) the database `hotline_bench` on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import create_engine, text

from hotline import db
from hotline.demo import demo_rows, load_demo
from simulator.signing import signature

TOKEN = "bench-auth-token-0123456789"
SECRET = "bench-secret-key-0123456789abcdef"
HOTLINE_NUMBER = "+18005550100"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/hotline_bench"
SETTINGS = {
    "TWILIO_AUTH_TOKEN": TOKEN,
    "HOTLINE_SECRET_KEY": SECRET,
    "HOTLINE_AGENT_HOURS": "always",
    "HOTLINE_LOG_LEVEL": "WARNING",
    "HOTLINE_SMS_CONFIRMATIONS": "false",
}

Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_database(backend: str, scratch: Path, accounts: int) -> str:
    if backend == "postgresql":
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("DROP DATABASE IF EXISTS hotline_bench WITH (FORCE)"))
            connection.execute(text("CREATE DATABASE hotline_bench"))
        admin.dispose()
        url = PG_BENCH
    else:
        url = f"sqlite:///{scratch / 'bench.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    with db.make_sessionmaker(engine).begin() as session:
        load_demo(
            session, as_of=now.date(), size=accounts, secret_key=SECRET, now=now, actor="bench"
        )
    engine.dispose()
    return url


@dataclass(frozen=True)
class Caller:
    phone: str
    digits: str


def callers(accounts: int) -> list[Caller]:
    rows = demo_rows(dt.datetime.now(dt.UTC).date(), accounts)
    return [Caller(row["phone"], row["verify_digits"]) for row in rows]


class Calls:
    """Signed requests for many distinct calls, turn by turn."""

    def __init__(self, base: str, people: Sequence[Caller], prefix: int) -> None:
        self.base, self.people, self.prefix = base, people, prefix

    def sid(self, n: int) -> str:
        return f"CA{self.prefix:08x}{n:024x}"

    def turn(self, n: int, path: str, **params: str) -> Request:
        caller = self.people[n % len(self.people)]
        form = {
            "CallSid": self.sid(n),
            "AccountSid": "AC" + "0" * 32,
            "From": caller.phone,
            "To": HOTLINE_NUMBER,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **params,
        }
        body = urlencode(form).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature(TOKEN, self.base + path, form.items()),
        }
        return path, body, headers

    def answer(self, n: int) -> Request:
        return self.turn(n, "/ivr/voice", CallStatus="ringing")

    def verify(self, n: int) -> Request:
        digits = self.people[n % len(self.people)].digits
        return self.turn(n, "/ivr/step/verify", Digits=digits, FinishedOnKey="#")

    def menu(self, n: int, key: str = "1") -> Request:
        return self.turn(n, "/ivr/step/menu", Digits=key, FinishedOnKey="")

    def to_pay(self, n: int) -> list[Request]:
        """From the menu to <Pay> for the minimum (turns not measured: the setup)."""
        return [
            self.menu(n, "2"),
            self.turn(n, "/ivr/step/pay-choice", Digits="1", FinishedOnKey=""),
            self.turn(n, "/ivr/step/pay-confirm", Digits="1", FinishedOnKey=""),
        ]

    def pay_result(self, n: int) -> Request:
        return self.turn(
            n,
            "/ivr/pay?pay=1",
            Result="success",
            PaymentConfirmationCode=f"ch_{self.prefix:x}{n:08x}",
            PaymentCardType="visa",
            PaymentCardNumber="xxxx-xxxx-xxxx-4242",
        )


KINDS: dict[str, Callable[[Calls, int], Request]] = {
    "answer": Calls.answer,
    "verify": Calls.verify,
    "menu": Calls.menu,
    "pay result": Calls.pay_result,
}


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)]


# --- 1. in-process --------------------------------------------------------------------------


def in_process(url: str, people: Sequence[Caller], calls: int) -> dict[str, float]:
    """Milliseconds per turn of each kind with the app called directly."""
    from hotline.web import create_app

    base = "http://127.0.0.1:8000"
    app = create_app(
        {
            "database_url": url,
            "env": "test",
            "public_base_url": base,
            "twilio_auth_token": TOKEN,
            "secret_key": SECRET,
            "agent_hours": "always",
            "sms_confirmations": False,
            "log_level": "WARNING",
        }
    )
    client = app.test_client()
    made = Calls(base, people, prefix=0xFFFF)

    def send(request: Request) -> float:
        path, body, headers = request
        started = time.perf_counter()
        response = client.post(path, data=body, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or b"something went wrong" in response.data:
            raise SystemExit(f"{path} answered {response.status_code}: {response.data[:300]!r}")
        return elapsed

    costs: dict[str, float] = {}
    print(f"1. in-process, one turn at a time, {calls} distinct calls each:")
    for kind, build in KINDS.items():
        if kind == "pay result":
            for n in range(calls):
                for request in made.to_pay(n):
                    send(request)
        times = [send(build(made, n)) for n in range(calls)]
        costs[kind] = statistics.median(times) * 1000
        p99 = percentile(times, 0.99) * 1000
        print(f"   {kind:<12} {costs[kind]:6.2f} ms a turn (p99 {p99:5.2f})")
    app.extensions["hotline"].engine.dispose()
    return costs


# --- 2 and 3. under hotline serve -------------------------------------------------------------


class Load:
    """CONCURRENCY keep-alive clients working through a list of requests, each expected to
    answer `expect` (200; a status callback answers 204)."""

    def __init__(self, port: int, concurrency: int, expect: int = 200) -> None:
        self.port, self.concurrency, self.expect = port, concurrency, expect

    def through(self, requests: Sequence[Request]) -> tuple[float, list[float], int]:
        """Send every request once, CONCURRENCY at a time: (seconds, latencies, errors)."""
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        cursor = iter(range(len(requests)))

        def worker() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            mine: list[float] = []
            bad = 0
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    break
                elapsed, ok, connection = self._send(connection, requests[index])
                mine.append(elapsed)
                bad += not ok
            connection.close()
            with lock:
                latencies.extend(mine)
                errors[0] += bad

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(self.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started, latencies, errors[0]

    def paced(
        self, seconds: float, listen: float, call: Callable[[int, int], list[Request]]
    ) -> tuple[list[float], int]:
        """Callers making whole calls, listening to each answer before the next key."""
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        deadline = time.perf_counter() + seconds

        def worker(index: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            rng = random.Random(index)  # callers out of step, the same way every run
            time.sleep(rng.uniform(0, listen))
            mine: list[float] = []
            bad = 0
            n = 0
            while time.perf_counter() < deadline:
                for request in call(index, n):
                    elapsed, ok, connection = self._send(connection, request)
                    mine.append(elapsed)
                    bad += not ok
                    time.sleep(listen * rng.uniform(0.5, 1.5))
                n += 1
            connection.close()
            with lock:
                latencies.extend(mine)
                errors[0] += bad

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(self.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return latencies, errors[0]

    def _send(
        self, connection: http.client.HTTPConnection, request: Request
    ) -> tuple[float, bool, http.client.HTTPConnection]:
        path, body, headers = request
        started = time.perf_counter()
        try:
            connection.request("POST" if body else "GET", path, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            ok = response.status == self.expect and b"something went wrong" not in payload
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return time.perf_counter() - started, ok, connection


def wait_until_up(port: int) -> bool:
    for _ in range(150):
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            probe.request("GET", "/healthz")
            if probe.getresponse().status == 200:
                return True
        except OSError:
            time.sleep(0.1)
    return False


def report(name: str, count: int, seconds: float, latencies: list[float], errors: int) -> float:
    rate = count / seconds
    print(
        f"   {name:<12} {rate:7.0f} turns/s   p50 {statistics.median(latencies) * 1000:5.1f} ms"
        f"   p99 {percentile(latencies, 0.99) * 1000:5.1f} ms   errors {errors}"
    )
    return rate


def under_serve(args: argparse.Namespace, url: str, people: Sequence[Caller]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": url, "PUBLIC_BASE_URL": base, **SETTINGS}
    workers = ["--workers", str(args.workers)] if args.workers else []
    command = [sys.executable, "-m", "hotline.cli", "serve", "--port", str(port)]
    command += ["--threads", str(args.threads), *workers]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        if not wait_until_up(port):
            assert server.stderr is not None
            raise SystemExit(f"hotline serve did not start: {server.stderr.read()!r}")
        load = Load(port, args.concurrency)
        warm = Calls(base, people, prefix=1)
        load.through([warm.answer(n) for n in range(200)])  # imports, pools, caches
        print(
            f"2. capacity under hotline serve ({args.workers or 'default'} workers x "
            f"{args.threads} threads), {args.concurrency} clients at once, no pause, "
            f"{args.calls} distinct calls:"
        )
        made = Calls(base, people, prefix=2)
        bare: list[Request] = [("/healthz", b"", {})] * args.calls
        rates: dict[str, float] = {}
        for kind, build in KINDS.items():
            if kind == "pay result":
                load.through([r for n in range(args.calls) for r in made.to_pay(n)])
            seconds, latencies, errors = load.through([build(made, n) for n in range(args.calls)])
            rates[kind] = report(kind, args.calls, seconds, latencies, errors)
        seconds, latencies, errors = load.through(bare)
        rates["bare"] = report("/healthz", args.calls, seconds, latencies, errors)
        print(
            "   ratio to the bare route: "
            + ", ".join(f"{k} {rates[k] / rates['bare']:.2f}" for k in KINDS)
        )

        paced = Calls(base, people, prefix=3)

        def balance_call(index: int, n: int) -> list[Request]:
            call = index * 100_000 + n
            return [paced.answer(call), paced.verify(call), paced.menu(call), paced.menu(call, "*")]

        latencies, errors = load.paced(args.seconds, args.listen, balance_call)
        p99 = percentile(latencies, 0.99) * 1000
        print(
            f"3. {args.concurrency} callers making balance calls, listening {args.listen:g} s "
            f"to each answer, {args.seconds:.0f} s:"
        )
        report("answers", len(latencies), args.seconds, latencies, errors)
        print(
            f"targets: answer turn >= 400/s: {'met' if rates['answer'] >= 400 else 'MISSED'} "
            f"({rates['answer']:.0f}/s); p99 < 25 ms with {args.concurrency} callers: "
            f"{'met' if p99 < 25 else 'MISSED'} ({p99:.1f} ms)"
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument(
        "--accounts", type=int, default=300, help="at most ~300 (the demo's fictional numbers)"
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--listen", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--skip-in-process", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = prepare_database(args.backend, Path(scratch), args.accounts)
        people = callers(args.accounts)
        print(f"{args.backend}, {args.accounts} accounts")
        if not args.skip_in_process:
            in_process(url, people, min(args.calls, 500))
        under_serve(args, url, people)


if __name__ == "__main__":
    main()
