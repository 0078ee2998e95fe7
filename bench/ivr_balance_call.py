"""Benchmark: a verified balance call under `hotline serve`, against a bare route.

    python bench/ivr_balance_call.py [--backend sqlite|postgresql] [--concurrency 32]
                                     [--seconds 10] [--listen 1.0]

Seeds a demo portfolio and starts `hotline serve` (gunicorn) on a free loopback port. A
call is four signed webhooks: the voice URL (identify by caller id), the verification
digits, the menu choice with the balance read back, and the menu again. Requests are signed
in advance so the client costs little. Two measurements:

1. callers: CONCURRENCY callers on the line at once, each listening LISTEN seconds to
   every answer before keying the next (real prompts take 5-20 s; 1 s is harsh), for
   SECONDS: p50 and p99 latency of the IVR's answers. Target: p99 < 25 ms at 32 callers.
2. capacity: the same CONCURRENCY with no listening at all, on the IVR and on /healthz (a
   route that only asks the same database for SELECT 1), alternating in ROUNDS short
   rounds so that a slow spell of a shared machine does not land on one side only:
   requests/s (median of the rounds) and the ratio IVR/bare. Target: ratio >= 0.5.

PostgreSQL runs use (and recreate) the database `hotline_bench` on 127.0.0.1:5432.
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
PORTFOLIO = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_database(backend: str, scratch: Path) -> str:
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
            session, as_of=now.date(), size=PORTFOLIO, secret_key=SECRET, now=now, actor="bench"
        )
    engine.dispose()
    return url


def callers() -> list[tuple[str, str]]:
    """(phone, verification digits) for each demo cardholder."""
    return [
        (row["phone"], row["verify_digits"])
        for row in demo_rows(dt.datetime.now(dt.UTC).date(), PORTFOLIO)
    ]


def signed(base: str, path: str, params: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
    body = urlencode(params).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature(TOKEN, base + path, params.items()),
    }
    return path, body, headers


def balance_call(base: str, sid: str, phone: str, digits: str) -> list[tuple[str, bytes, dict]]:
    common = {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": phone,
        "To": HOTLINE_NUMBER,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    return [
        signed(base, "/ivr/voice", {**common, "CallStatus": "ringing"}),
        signed(base, "/ivr/step/verify", {**common, "Digits": digits, "FinishedOnKey": "#"}),
        signed(base, "/ivr/step/menu", {**common, "Digits": "1", "FinishedOnKey": ""}),
        signed(base, "/ivr/step/menu", {**common, "Digits": "*", "FinishedOnKey": ""}),
    ]


def run_load(
    port: int, concurrency: int, seconds: float, work: object, listen: float = 0.0
) -> tuple[list[float], int]:
    """Each thread repeats `work(index, n)`, pausing `listen` s after each answer."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        n = 0
        # Callers are not in step: each starts at its own moment and listens for its own
        # time (0.5 to 1.5 x listen), drawn from a seeded RNG so runs repeat.
        rng = random.Random(index)
        if listen:
            time.sleep(rng.uniform(0, listen))
        while time.perf_counter() < deadline:
            for path, body, headers in work(index, n):  # type: ignore[operator]
                started = time.perf_counter()
                try:
                    connection.request("POST" if body else "GET", path, body=body, headers=headers)
                    response = connection.getresponse()
                    payload = response.read()
                    ok = response.status == 200 and payload
                except (OSError, http.client.HTTPException):
                    ok = False
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                mine.append(time.perf_counter() - started)
                if not ok:
                    with lock:
                        errors[0] += 1
                if listen:
                    time.sleep(listen * rng.uniform(0.5, 1.5))
            n += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


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


def summary(name: str, latencies: list[float], errors: int, seconds: float) -> float:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    rps = len(ordered) / seconds
    print(f"{name:<28} {rps:8.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   errors {errors}")
    return rps, p99  # type: ignore[return-value]


def capacity(name: str, rounds: list[tuple[list[float], int]], seconds: float) -> float:
    """Print the rounds' median requests/s, their spread and latencies; return the median."""
    rates = sorted(len(latencies) / seconds for latencies, _ in rounds)
    latencies = sorted(t for round_latencies, _ in rounds for t in round_latencies)
    errors = sum(e for _, e in rounds)
    rps = statistics.median(rates)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"{name:<28} {rps:8.0f} req/s (rounds {rates[0]:.0f}-{rates[-1]:.0f})   "
        f"p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   errors {errors}"
    )
    return rps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--listen", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        url = prepare_database(args.backend, Path(scratch))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "PUBLIC_BASE_URL": base,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "HOTLINE_SECRET_KEY": SECRET,
            "HOTLINE_AGENT_HOURS": "always",
            "HOTLINE_LOG_LEVEL": "WARNING",
            "HOTLINE_SMS_CONFIRMATIONS": "false",
        }
        workers = ["--workers", str(args.workers)] if args.workers else []
        command = [
            sys.executable,
            "-m",
            "hotline.cli",
            "serve",
            "--port",
            str(port),
            "--threads",
            str(args.threads),
            *workers,
        ]
        server = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            if not wait_until_up(port):
                raise SystemExit(f"hotline serve did not start: {server.stderr.read()!r}")
            people = callers()
            print(
                f"hotline serve ({args.workers or 'default'} workers x {args.threads} "
                f"threads), {args.backend}, {args.concurrency} at once, "
                f"{args.seconds:.0f} s a phase"
            )

            def ivr(index: int, n: int) -> list:
                phone, digits = people[(index * 7919 + n) % len(people)]
                return balance_call(base, f"CA{index:08x}{n:08x}{'0' * 16}", phone, digits)

            def bare(index: int, n: int) -> list:
                return [("/healthz", b"", {})]

            run_load(port, args.concurrency, 2.0, ivr)  # warm up: imports, pools, caches
            paced, paced_errors = run_load(
                port, args.concurrency, args.seconds, ivr, listen=args.listen
            )
            print(f"1. {args.concurrency} callers, listening {args.listen:g} s to each answer:")
            _, paced_p99 = summary("   IVR answers", paced, paced_errors, args.seconds)
            per_round = args.seconds / args.rounds
            rounds: dict[str, list[tuple[list[float], int]]] = {"ivr": [], "bare": []}
            for _ in range(args.rounds):
                rounds["ivr"].append(run_load(port, args.concurrency, per_round, ivr))
                rounds["bare"].append(run_load(port, args.concurrency, per_round, bare))
            print(
                f"2. capacity, {args.concurrency} at once with no listening, "
                f"{args.rounds} alternating rounds of {per_round:.1f} s:"
            )
            ivr_rps = capacity("   IVR balance call requests", rounds["ivr"], per_round)
            bare_rps = capacity("   bare route (/healthz)", rounds["bare"], per_round)
            ratio = ivr_rps / bare_rps
            print(f"   {ivr_rps / 4:.0f} balance calls/s; ratio IVR/bare = {ratio:.2f}")
            print(
                f"targets: p99 < 25 ms with {args.concurrency} callers: "
                f"{'met' if paced_p99 < 25 else 'MISSED'} ({paced_p99:.1f} ms); "
                f"ratio >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'} ({ratio:.2f})"
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
