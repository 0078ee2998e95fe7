"""Benchmark: calls per second achieved by `hotline dialer` against its limit, 1 and 2 processes.

    python bench/dialer_pacing.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB
                                  [--cps 10] [--calls 100] [--processes 1,2]

Starts the simulator in-process (real time, a callee that hangs up at once), plans CALLS
attempts in one campaign, runs PROCESSES `hotline dialer` processes at HOTLINE_DIALER_CPS
= CPS until every attempt is placed, then stops them with SIGTERM. For each run it prints
the rate achieved over the whole run ((calls - 1) / the time from the first call to the
last), its ratio to the limit (target: 0.95 to 1.00), and the highest rate over any CPS
consecutive calls (about one second), as the dialers sent them (placed_at) and as the
carrier received them. Target: within 5 % of the limit and never above it. Slots are
exactly 1/CPS apart; a call leaves within 10 ms of its slot or gives the slot back, so as
sent the bound is CPS calls in 1 s less 10 ms; the carrier's figures add the way there
(no bound: printed for comparison, "ok" only if never above the limit at all).

The database's public schema is dropped and recreated: name a database of its own. Two
processes need PostgreSQL (SQLite takes one dialer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dialer.tick import LATE_SEND_LIMIT
from hotline import db
from hotline.settings import DEV_ACCOUNT_SID
from simulator.carrier import Carrier
from simulator.clock import Clock
from simulator.server import BackgroundServer, start
from tests.dialer_support import make_campaign, reachable_now
from tests.dialer_support import plan as plan_attempts

TOKEN = "bench-auth-token-0123456789"
SECRET = "bench-secret-key-0123456789abcdef"
HOTLINE_NUMBER = "+18005550100"
HANGUP = b"<Response><Hangup/></Response>"
LATE_SEND_LIMIT_S = LATE_SEND_LIMIT.total_seconds()


def hangup_app(environ: dict[str, object], start_response):  # type: ignore[no-untyped-def]
    """The answer and status URLs: end the call at once; accept every callback."""
    if str(environ.get("PATH_INFO", "")).endswith("/answer"):
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [HANGUP]
    start_response("204 No Content", [])
    return [b""]


def recreate_schema(url: str) -> None:
    engine = db.make_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    if engine.dialect.name == "sqlite":
        database = make_url(url).database
        engine.dispose()
        if database:
            Path(database).unlink(missing_ok=True)
        engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()


def plan(url: str, calls: int, run: int) -> None:
    """CALLS attempts due now in campaign bench-RUN, each for an account of its own whose
    cardholder lives where the contact policy (asked again at every slot) allows calls for
    the next quarter of an hour, as the dialer tests' helpers make them."""
    try:
        place = reachable_now(minutes=15)
    except pytest.skip.Exception as exc:
        raise SystemExit(f"cannot run now: {exc}") from None
    engine = db.make_engine(url)
    session_factory = db.make_sessionmaker(engine)
    campaign = make_campaign(
        session_factory, f"bench-{run}", caller_id=HOTLINE_NUMBER, profile=place.profile
    )
    due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    plan_attempts(session_factory, campaign, place.numbers(calls, run * 1000), due, place=place)
    engine.dispose()


def sent_times(url: str, run: int) -> list[dt.datetime]:
    engine = db.make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT a.placed_at FROM contact_attempt a JOIN campaign c "
                "ON c.id = a.campaign_id WHERE c.name = :name AND a.placed_at IS NOT NULL"
            ),
            {"name": f"bench-{run}"},
        ).scalars()
        moments = sorted(db_moment(m) for m in rows)
    engine.dispose()
    return moments


def db_moment(value: object) -> dt.datetime:
    if isinstance(value, str):  # SQLite through text(): no type to convert it
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def rates(moments: Sequence[dt.datetime], cps: float) -> tuple[float, float]:
    """(whole-run rate, the highest rate over any `cps` consecutive gaps)."""
    span = (moments[-1] - moments[0]).total_seconds()
    whole = (len(moments) - 1) / span
    k = max(1, min(int(cps), len(moments) - 1))
    peak = max(k / (moments[i + k] - moments[i]).total_seconds() for i in range(len(moments) - k))
    return whole, peak


def run_once(
    url: str,
    carrier: Carrier,
    carrier_url: str,
    app_url: str,
    processes: int,
    cps: float,
    calls: int,
    run: int,
) -> None:
    plan(url, calls, run)
    before = {c.sid for c in carrier.list_calls()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    env.update(
        DATABASE_URL=url,
        HOTLINE_ENV="test",
        HOTLINE_SECRET_KEY=SECRET,
        PUBLIC_BASE_URL=app_url,
        TWILIO_API_BASE_URL=carrier_url,
        TWILIO_AUTH_TOKEN=TOKEN,
        HOTLINE_CALLER_IDS=HOTLINE_NUMBER,
        HOTLINE_DIALER_CPS=str(cps),
        HOTLINE_DIALER_MAX_CONCURRENT="100000",
        HOTLINE_DIALER_TICK_SECONDS="1",
        HOTLINE_DIALER_RECONCILE_AFTER_S="5",
        # The bench plans the calls itself (no tiers): the planning job would cancel them.
        HOTLINE_DIALER_PLAN_EVERY_S="0",
        HOTLINE_LOG_LEVEL="WARNING",
    )
    logs = Path(tempfile.mkdtemp(prefix="dialer-bench-"))
    dialers = []
    for n in range(processes):
        with (logs / f"dialer{n}.log").open("wb") as log:
            dialers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "hotline.cli", "dialer"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    deadline = time.monotonic() + 60 + calls / cps * 2
    while time.monotonic() < deadline:
        if len([c for c in carrier.list_calls() if c.sid not in before]) >= calls:
            break
        time.sleep(0.2)
    for dialer in dialers:
        dialer.send_signal(signal.SIGTERM)
    for dialer in dialers:
        dialer.wait(timeout=30)
    received = sorted(c.created_at for c in carrier.list_calls() if c.sid not in before)
    sent = sent_times(url, run)
    if len(sent) < calls:
        print(f"  only {len(sent)} of {calls} calls placed; logs in {logs}")
    label = f"{processes} process{'es' if processes > 1 else ''}"
    for what, moments, jitter in (("sent", sent, LATE_SEND_LIMIT_S), ("carrier", received, 0.0)):
        whole, peak = rates(moments, cps)
        k = max(1, min(int(cps), len(moments) - 1))
        # A call leaves within LATE_SEND_LIMIT of its slot or not at all (dialer/tick.py):
        # over k gaps the sends can be that much closer together than the slots.
        peak_bound = k / (k / cps - jitter)
        span = (moments[-1] - moments[0]).total_seconds()
        whole_bound = (len(moments) - 1) / (span - jitter) if jitter else cps
        ok = 0.95 * cps <= whole <= max(cps, whole_bound) and peak <= peak_bound
        print(
            f"{label:12} {what:8} {len(moments):5} calls  {whole:7.3f}/s  "
            f"ratio {whole / cps:6.3f}  peak over {k} calls {peak:7.3f}/s"
            f" (bound {peak_bound:.3f})  {'ok' if ok else 'MISSED'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--cps", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--processes", default="1,2")
    args = parser.parse_args()
    counts = [int(p) for p in args.processes.split(",")]
    if make_url(args.database_url).get_backend_name() != "postgresql" and max(counts) > 1:
        parser.error("two dialer processes need PostgreSQL (SQLite takes one dialer)")
    recreate_schema(args.database_url)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    served = BackgroundServer(hangup_app)
    carrier = Carrier(
        account_sid=DEV_ACCOUNT_SID,
        auth_token=TOKEN,
        numbers=[HOTLINE_NUMBER],
        voice_url=served.base_url + "/dialer/answer",
        # Calls end ten times faster than life (their creation times are still the wall
        # clock's), so none is cut short when the simulator stops.
        clock=Clock(speed=10),
        calls_per_second=100_000.0,
    )
    simulator = start(carrier)
    print(f"limit {args.cps} calls/s, {args.calls} calls a run")
    try:
        for run, processes in enumerate(counts):
            run_once(
                args.database_url,
                carrier,
                simulator.base_url,
                served.base_url,
                processes,
                args.cps,
                args.calls,
                run,
            )
    finally:
        simulator.stop()
        served.stop()


if __name__ == "__main__":
    main()
