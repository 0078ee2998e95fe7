"""Benchmark: the agent desk's account page under `hotline serve`, many agents at once.

    python bench/desk_account_page.py [--backend sqlite|postgresql] [--agents 16]
                                      [--requests 2000] [--history 50] [--threads 8]

Seeds the demo portfolio, gives one account a contact history of HISTORY calls (each with
what was said), a promise, a plan, a case, notes and a waiver, and creates AGENTS desk
users. Starts `hotline serve` on a free loopback port, signs every agent in through the
sign-in form (a real session cookie each, CSRF token and all), then has the AGENTS clients
open /desk/accounts/<id>:

1. agents at work: each agent reads every page THINK seconds (0.5-1.5 x, seeded) before
   opening the next, for SECONDS: p50 and p99 of the page, against /healthz (which asks
   the same database for SELECT 1) asked the same way, and their ratio.
   Target: p99 < 100 ms at 16 agents.
2. capacity: the same agents with no pause, REQUESTS pages in all: pages per second, p50
   and p99 (latency here is mostly waiting for the server: 16 clients on a 2-core machine).

PostgreSQL runs use (and recreate) the database `hotline_bench_desk` on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode

from argon2 import PasswordHasher
from sqlalchemy import create_engine, select, text

from hotline import db, users
from hotline.demo import load_demo
from hotline.enums import (
    AttemptStatus,
    CaseKind,
    CaseStatus,
    DeskRole,
    Direction,
    Language,
    PlanStatus,
    PromiseStatus,
    Source,
)
from hotline.models import (
    CardAccount,
    Case,
    ContactAttempt,
    DeskNote,
    FeeWaiver,
    PromiseToPay,
    RepaymentPlan,
)

SECRET = "bench-secret-key-0123456789abcdef"
PASSWORD = "bench password for the desk"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/hotline_bench_desk"
SETTINGS = {"HOTLINE_SECRET_KEY": SECRET, "HOTLINE_LOG_LEVEL": "WARNING"}
_CSRF = re.compile(rb'<meta name="csrf-token" content="([^"]+)">')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(backend: str, scratch: Path, agents: int, history: int) -> tuple[str, int]:
    """The database, seeded: its URL and the id of the account with the long history."""
    if backend == "postgresql":
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("DROP DATABASE IF EXISTS hotline_bench_desk WITH (FORCE)"))
            connection.execute(text("CREATE DATABASE hotline_bench_desk"))
        admin.dispose()
        url = PG_BENCH
    else:
        url = f"sqlite:///{scratch / 'desk.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    Session = db.make_sessionmaker(engine)
    with Session.begin() as session:
        load_demo(session, as_of=now.date(), size=200, secret_key=SECRET, now=now, actor="bench")
    hasher = users.HASHER
    # The sign-in below still uses the server's own hasher: the bench's users are cheap
    # to create only.
    users.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        with Session.begin() as session:
            for n in range(agents):
                users.add_user(
                    session,
                    users.NewUser(
                        username=f"agent{n}",
                        role=DeskRole.AGENT,
                        display_name=f"Agent {n}",
                        language=Language.EN,
                        time_zone="America/New_York",
                        phone=f"+1415555{n:04d}",
                        agency=None,
                        waiver_limit_minor=25_00,
                    ),
                    PASSWORD,
                    actor="bench",
                    now=now,
                )
    finally:
        users.HASHER = hasher
    with Session.begin() as session:
        account = session.scalars(select(CardAccount).order_by(CardAccount.id)).first()
        assert account is not None
        number = account.cardholder.phones[0].e164
        for n in range(history):
            at = now - dt.timedelta(hours=6 * n)
            session.add(
                ContactAttempt(
                    direction=Direction.OUTBOUND if n % 3 else Direction.INBOUND,
                    account_id=account.id,
                    number=number,
                    status=AttemptStatus.COMPLETED,
                    started_at=at,
                    answered_at=at,
                    ended_at=at + dt.timedelta(minutes=2),
                    duration_seconds=120,
                    answered_by="human",
                    disposition="right-party",
                    said="Hello, this is Example Bank.\nYour balance is due.\nPress 1 to pay.",
                    created_at=at,
                )
            )
        session.add(
            PromiseToPay(
                account_id=account.id,
                amount_minor=100_00,
                currency=account.currency,
                promised_date=now.date(),
                status=PromiseStatus.PENDING,
                source=Source.AGENT,
            )
        )
        session.add(
            RepaymentPlan(
                account_id=account.id,
                instalment_count=6,
                total_minor=600_00,
                currency=account.currency,
                start_date=now.date(),
                status=PlanStatus.BROKEN,
                source=Source.IVR,
            )
        )
        session.add(
            Case(
                account_id=account.id,
                kind=CaseKind.COMPLAINT,
                status=CaseStatus.OPEN,
                summary="Called three times in one day",
                source=Source.AGENT,
            )
        )
        for n in range(10):
            session.add(
                DeskNote(
                    account_id=account.id, author="agent0", disposition="other", body=f"note {n}"
                )
            )
        session.add(
            FeeWaiver(
                account_id=account.id,
                amount_minor=15_00,
                currency=account.currency,
                reason="late fee",
                status="applied",
                requested_by="agent0",
            )
        )
        account_id = account.id
    engine.dispose()
    return url, account_id


def sign_in(port: int, username: str) -> str:
    """Sign in through the form; the session cookie ("name=value")."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/desk/login")
    response = connection.getresponse()
    page = response.read()
    cookie = (response.getheader("Set-Cookie") or "").split(";")[0]
    found = _CSRF.search(page)
    assert found, "no CSRF token on the sign-in page"
    body = urlencode(
        {"username": username, "password": PASSWORD, "csrf_token": found.group(1).decode()}
    )
    connection.request(
        "POST",
        "/desk/login",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    response = connection.getresponse()
    response.read()
    if response.status != 302:
        raise SystemExit(f"sign-in of {username} answered {response.status}")
    connection.close()
    return (response.getheader("Set-Cookie") or cookie).split(";")[0]


def load(
    port: int,
    path: str,
    cookies: Sequence[str],
    *,
    total: int = 0,
    seconds: float = 0.0,
    think: float = 0.0,
    seed: int = 7,
) -> tuple[list[float], int, float]:
    """len(cookies) clients, each its own connection and session: `total` requests in all
    with no pause, or for `seconds` with each client reading every page THINK x 0.5-1.5
    seconds (seeded) before opening the next. The latencies, the errors, the wall time."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    each = total // len(cookies) if total else 0
    began = time.perf_counter()

    def client(index: int, cookie: str) -> None:
        rng = random.Random(seed * 1000 + index)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        if think:  # agents do not all open a page at the same instant
            time.sleep(rng.uniform(0, think))
        done = 0
        while (done < each) if each else (time.perf_counter() - began < seconds):
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
                response = connection.getresponse()
                body = response.read()
                ok = response.status == 200 and (not cookie or b'data-testid="history"' in body)
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - started)
            done += 1
            if not ok:
                with lock:
                    errors[0] += 1
            if think:
                time.sleep(think * rng.uniform(0.5, 1.5))
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i, c)) for i, c in enumerate(cookies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - began


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def report(name: str, latencies: list[float], errors: int, wall: float) -> tuple[float, float]:
    p50, p99 = statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000
    print(
        f"   {name:<22} {len(latencies) / wall:6.0f} pages/s   p50 {p50:6.1f} ms"
        f"   p99 {p99:6.1f} ms   errors {errors}"
    )
    return p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--history", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="agents at work, how long")
    parser.add_argument("--think", type=float, default=1.0, help="seconds an agent reads a page")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--workers", type=int, default=0, help="default: hotline serve's")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url, account_id = prepare(args.backend, Path(folder), args.agents, args.history)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
        env.update(SETTINGS)
        command = [sys.executable, "-m", "hotline.cli", "serve", "--port", str(port)]
        command += ["--threads", str(args.threads)]
        if args.workers:
            command += ["--workers", str(args.workers)]
        server = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            for _ in range(150):
                try:
                    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    probe.request("GET", "/healthz")
                    if probe.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                assert server.stderr is not None
                raise SystemExit(f"hotline serve did not start: {server.stderr.read()!r}")
            cookies = [sign_in(port, f"agent{n}") for n in range(args.agents)]
            path = f"/desk/accounts/{account_id}"
            bare = [""] * args.agents
            load(port, path, cookies, total=args.agents * 10)  # warm: imports, pools, templates
            print(
                f"the account page ({args.history} contacts) under hotline serve "
                f"({args.backend}, {args.threads} threads), {args.agents} signed-in agents:"
            )
            print(
                f"1. agents at work: each reads every page {args.think:.1f} s (0.5-1.5 x) "
                f"before opening the next, for {args.seconds:.0f} s:"
            )
            p50, p99 = report(
                "account page", *load(port, path, cookies, seconds=args.seconds, think=args.think)
            )
            b50, b99 = report(
                "/healthz", *load(port, "/healthz", bare, seconds=args.seconds, think=args.think)
            )
            print(
                f"   ratio to /healthz: p50 x{p50 / b50:.1f}, p99 x{p99 / b99:.1f}"
                f"   target p99 < 100 ms: {'met' if p99 < 100 else 'NOT met'}"
            )
            print(f"2. capacity: the same agents with no pause, {args.requests} pages:")
            p50, p99 = report("account page", *load(port, path, cookies, total=args.requests))
            b50, b99 = report("/healthz", *load(port, "/healthz", bare, total=args.requests))
            print(f"   ratio to /healthz: p50 x{p50 / b50:.1f}, p99 x{p99 / b99:.1f}")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
