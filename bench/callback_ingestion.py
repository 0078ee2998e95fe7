"""Benchmark: status-callback ingestion under `hotline serve` on PostgreSQL, with replays.

    python bench/callback_ingestion.py --database-url URL [--calls 3000] [--replay 0.1]
                                       [--concurrency 32] [--threads 8] [--workers N]

Creates CALLS placed outbound attempts (each with its CallSid, as the tick leaves them),
starts `hotline serve` (gunicorn) on a free loopback port, then fires the status callbacks a
carrier sends for them, signed as Twilio signs them (X-Twilio-Signature, computed with
twilio's RequestValidator), from CONCURRENCY keep-alive clients with no pause:

- 70 % answered calls: initiated, ringing, in-progress (answered, AnsweredBy), completed
  (CallDuration); 15 % no-answer (initiated, ringing, no-answer); 10 % busy (initiated,
  ringing, busy); 5 % failed (initiated, failed, SIP 500). SequenceNumber 0, 1, 2, ...
- The callbacks go out in the order a dialer placing 100 calls a second would receive
  them (call n placed at n/100 s; ringing 1 s later, answered at 6 s, completed at 48 s; no
  answer at 30 s; busy at 4 s; failed at 0.5 s), but as fast as the server takes them: the
  calls' ends are spread among the other calls' starts as in a steady campaign.
- REPLAY of all callbacks are sent a second time (Twilio retries one it saw fail),
  later in the stream and as often as not while the original is still in flight.

Afterwards it checks in the database that every attempt ended in exactly its final status
and disposition (answered and completed: `unconfirmed`, as no answer webhook ran), with
its duration and AnsweredBy, that call_event holds exactly one row per (CallSid,
SequenceNumber) sent (none lost, none doubled) and the audit chain one `attempt-ended` per
attempt; then measures /healthz the same way. Prints callbacks/s, p50/p99 latency, the
ratio to /healthz, and whether the target (>= 500 callbacks/s: what a dialer placing 100
calls a second receives) was met. The database named must be your own: its public schema
is dropped and recreated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import urlencode

from ivr_balance_call import Load, Request, free_port, percentile, wait_until_up
from sqlalchemy import Engine, func, select, text
from twilio.request_validator import RequestValidator

from hotline import db
from hotline.enums import AttemptStatus, Direction
from hotline.models import AuditEvent, CallEvent, ContactAttempt, table_of
from hotline.settings import DEV_ACCOUNT_SID

TOKEN = "bench-auth-token-0123456789"
SETTINGS = {
    "TWILIO_AUTH_TOKEN": TOKEN,
    "HOTLINE_SECRET_KEY": "bench-secret-key-0123456789abcdef",
    "HOTLINE_LOG_LEVEL": "WARNING",
    "HOTLINE_SMS_CONFIRMATIONS": "false",
}
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Outcome:
    """One kind of call: the events its callbacks report (each with its seconds after the
    call was placed), and what the attempt must end as."""

    share: float
    events: tuple[tuple[float, dict[str, str]], ...]
    status: AttemptStatus
    disposition: str
    answered_by: str | None = None
    duration: int | None = None


OUTCOMES = (
    Outcome(
        0.70,
        (
            (0.0, {"CallStatus": "initiated"}),
            (1.0, {"CallStatus": "ringing"}),
            (6.0, {"CallStatus": "in-progress", "AnsweredBy": "human"}),
            (48.0, {"CallStatus": "completed", "AnsweredBy": "human", "CallDuration": "42"}),
        ),
        AttemptStatus.COMPLETED,
        "unconfirmed",
        "human",
        42,
    ),
    Outcome(
        0.15,
        (
            (0.0, {"CallStatus": "initiated"}),
            (1.0, {"CallStatus": "ringing"}),
            (30.0, {"CallStatus": "no-answer"}),
        ),
        AttemptStatus.NO_ANSWER,
        "no-answer",
    ),
    Outcome(
        0.10,
        (
            (0.0, {"CallStatus": "initiated"}),
            (1.0, {"CallStatus": "ringing"}),
            (4.0, {"CallStatus": "busy"}),
        ),
        AttemptStatus.BUSY,
        "busy",
    ),
    Outcome(
        0.05,
        (
            (0.0, {"CallStatus": "initiated"}),
            (0.5, {"CallStatus": "failed", "SipResponseCode": "500"}),
        ),
        AttemptStatus.FAILED,
        "failed",
    ),
)


def sid(n: int) -> str:
    return f"CA{n:032x}"


def prepare(url: str) -> Engine:
    engine = db.make_engine(url)
    if engine.dialect.name != "postgresql":
        raise SystemExit("--database-url must name a PostgreSQL database of your own")
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    db.upgrade(engine)
    return engine


def seed(engine: Engine, calls: int, rng: random.Random) -> list[tuple[int, Outcome]]:
    """CALLS attempts placed and not yet heard of (status queued, CallSid stored); each
    attempt's id and the outcome its callbacks will report."""
    weights = [o.share for o in OUTCOMES]
    plan = [rng.choices(OUTCOMES, weights)[0] for _ in range(calls)]
    rows = [
        {
            "direction": Direction.OUTBOUND,
            "number": f"+1415{2000000 + n:07d}",
            "provider_call_sid": sid(n),
            "status": AttemptStatus.QUEUED,
            "due_at": NOW,
            "started_at": NOW,
            "placed_at": NOW,
            "created_at": NOW,
        }
        for n in range(calls)
    ]
    table = table_of(ContactAttempt)
    with engine.begin() as connection:
        connection.execute(table.insert(), rows)
        ids = dict(connection.execute(select(table.c.provider_call_sid, table.c.id)).all())
    return [(ids[sid(n)], outcome) for n, outcome in enumerate(plan)]


def callbacks(
    base: str, attempts: list[tuple[int, Outcome]], replay: float, rng: random.Random
) -> tuple[list[Request], int]:
    """The signed requests in the order sent (as received from a 100 calls/s dialer,
    replays among them), and how many distinct (CallSid, SequenceNumber) they carry."""
    validator = RequestValidator(TOKEN)
    timed: list[tuple[float, Request]] = []
    for n, (attempt_id, outcome) in enumerate(attempts):
        path = f"/dialer/status?{urlencode({'attempt': str(attempt_id)})}"
        for sequence, (after, event) in enumerate(outcome.events):
            form = {
                "AccountSid": DEV_ACCOUNT_SID,
                "CallSid": sid(n),
                "SequenceNumber": str(sequence),
                "Timestamp": NOW.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "CallbackSource": "call-progress-events",
                "From": "+18005550100",
                "To": f"+1415{2000000 + n:07d}",
                "Direction": "outbound-api",
                "ApiVersion": "2010-04-01",
                **event,
            }
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(base + path, form),
            }
            timed.append((n / 100 + after, (path, urlencode(form).encode(), headers)))
    timed.sort(key=lambda item: item[0])
    sent = [request for _, request in timed]
    distinct = len(sent)
    for index in rng.sample(range(distinct), int(distinct * replay)):
        # Soon after the original: often while it is still being handled.
        sent.insert(min(len(sent), index + rng.randint(1, 64)), sent[index])
    return sent, distinct


def check(engine: Engine, attempts: list[tuple[int, Outcome]], distinct: int) -> list[str]:
    """What is wrong in the database after the run (nothing: an empty list)."""
    problems: list[str] = []
    expected = dict(attempts)
    table = table_of(ContactAttempt)
    with engine.connect() as connection:
        for attempt_id, status, disposition, answered_by, duration, ended_at in connection.execute(
            select(
                table.c.id,
                table.c.status,
                table.c.disposition,
                table.c.answered_by,
                table.c.duration_seconds,
                table.c.ended_at,
            )
        ):
            want = expected[attempt_id]
            got = (status, disposition, answered_by, duration, ended_at is not None)
            if got != (want.status, want.disposition, want.answered_by, want.duration, True):
                problems.append(f"attempt {attempt_id}: {got}, expected {want.status}")
        events = connection.scalar(select(func.count()).select_from(CallEvent))
        keys = connection.scalar(
            select(func.count()).select_from(
                select(CallEvent.call_sid, CallEvent.sequence).distinct().subquery()
            )
        )
        ended = connection.execute(
            select(AuditEvent.entity_id, func.count())
            .where(AuditEvent.action == "dialer.attempt-ended")
            .group_by(AuditEvent.entity_id)
        ).all()
    if events != distinct or keys != distinct:
        problems.append(f"call_event: {events} rows, {keys} distinct, {distinct} sent")
    if len(ended) != len(attempts) or any(count != 1 for _, count in ended):
        doubled = sum(1 for _, count in ended if count != 1)
        problems.append(f"attempt-ended audit: {len(ended)} attempts, {doubled} not once")
    return problems


def server_cpu(group: int) -> float:
    """CPU seconds used so far by the processes of the server's process group (gunicorn's
    arbiter and workers): the server's own cost per request, whatever else runs here."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL: your own database")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--replay", type=float, default=0.1, help="share of callbacks sent twice")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--port", type=int, default=None, help="default: a free one")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    engine = prepare(args.database_url)
    attempts = seed(engine, args.calls, rng)
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    sent, distinct = callbacks(base, attempts, args.replay, rng)
    env = {**os.environ, "DATABASE_URL": args.database_url, "PUBLIC_BASE_URL": base, **SETTINGS}
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
        Load(port, args.concurrency).through([("/healthz", b"", {})] * 500)  # warm the workers
        load = Load(port, args.concurrency, expect=204)
        cpu = server_cpu(server.pid)
        seconds, latencies, errors = load.through(sent)
        cpu = (server_cpu(server.pid) - cpu) / len(sent)
        rate = len(sent) / seconds
        bare = Load(port, args.concurrency)
        bare_cpu = server_cpu(server.pid)
        bare_seconds, bare_latencies, bare_errors = bare.through([("/healthz", b"", {})] * 5000)
        bare_cpu = (server_cpu(server.pid) - bare_cpu) / 5000
        bare_rate = 5000 / bare_seconds
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    problems = check(engine, attempts, distinct)
    engine.dispose()
    print(
        f"{args.calls:,} calls, {distinct:,} callbacks + {len(sent) - distinct:,} replays, "
        f"{args.concurrency} clients, hotline serve ({args.workers or 'default'} workers x "
        f"{args.threads} threads)"
    )
    print(
        f"status callbacks: {rate:,.0f}/s   p50 {percentile(latencies, 0.5) * 1000:.1f} ms   "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms   errors {errors}   "
        f"server CPU {cpu * 1000:.2f} ms each"
    )
    print(
        f"/healthz:         {bare_rate:,.0f}/s   p50 {percentile(bare_latencies, 0.5) * 1000:.1f}"
        f" ms   p99 {percentile(bare_latencies, 0.99) * 1000:.1f} ms   errors {bare_errors}   "
        f"server CPU {bare_cpu * 1000:.2f} ms each"
    )
    print(f"ratio to /healthz: {rate / bare_rate:.2f}")
    for problem in problems[:20]:
        print("PROBLEM:", problem)
    verdict = "none lost or doubled" if not problems else f"{len(problems)} problems"
    print(
        f"database: {verdict}; target >= 500 callbacks/s: "
        f"{'met' if rate >= 500 and not problems and not errors else 'MISSED'} ({rate:,.0f}/s)"
    )
    if problems or errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
