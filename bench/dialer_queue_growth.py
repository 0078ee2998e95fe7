"""Benchmark: what the dialer's recurring queries cost as the contact history grows.

    python bench/dialer_queue_growth.py [--accounts 10000] [--days 30] [--database-url URL]

The dialer runs some statements on every tick whatever it finds (claiming and the
policy's facts of the accounts claimed, reconcile's two looks, the texts job's look for
texts owed, a rehearsal's next attempt due), and status callbacks look their call up. None
of them should cost more as the contact history grows: each reads what is due or in
flight, or a few accounts' own history, never the whole of it. This builds ACCOUNTS
accounts (bench/plan_accounts.py's), each with a planned call and a few calls in flight,
times each job's look with one day of history behind it, then adds DAYS more days (about a
call an account a day: most placed and ended, some skipped at their slot; texts after the
voicemails and no-answers, some skipped; promises, some kept) and times them again.
Prints milliseconds per run at both sizes and the ratio (about 1: independent of the
history; DAYS: a scan of it). With --explain, each statement's plan (EXPLAIN QUERY PLAN on
SQLite, EXPLAIN on PostgreSQL). Without --database-url a temporary SQLite file is used; a
PostgreSQL URL must name a database of your own: its public schema is dropped and made
anew.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from plan_accounts import NOW, _bulk_insert, generate, load_campaigns, prepare
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from dialer import claims, text_queue
from dialer.config import DialerConfig
from dialer.facts import load_cases
from dialer.outcomes import _attempt_for
from dialer.pacing import Limits
from dialer.reconcile import reconcile_overdue, resolve_unknown_placements
from hotline import audit, db
from hotline.enums import AttemptStatus, Direction
from hotline.models import Campaign, CampaignTier, ContactAttempt, TextMessage
from simulator.campaign import _next_attempt_due
from telephony.gateway import CallGateway

REPEAT = 30
IN_FLIGHT = 8


class _Unasked:
    """Reconcile finds nothing to ask about here; asking would be a mistake."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the carrier was asked ({name})")


def _no_carrier() -> CallGateway:
    return cast(CallGateway, _Unasked())


def _campaign_and_tier(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        row = connection.execute(
            select(CampaignTier.campaign_id, CampaignTier.tier_id)
            .join(Campaign, Campaign.id == CampaignTier.campaign_id)
            .where(Campaign.name == "us-reminders")
            .order_by(CampaignTier.id)
            .limit(1)
        ).one()
    return row[0], row[1]


def add_queue(engine: Engine, accounts: int, campaign: int, tier: int, now: dt.datetime) -> None:
    """A planned call for every account but a few, due over the next day; their calls in
    flight (one open attempt an account)."""
    rows: list[dict[str, object]] = []
    for i in range(IN_FLIGHT + 1, accounts + 1):
        rows.append(
            _attempt(i, campaign, tier, AttemptStatus.PLANNED, now + dt.timedelta(seconds=8 * i))
        )
    for i in range(1, IN_FLIGHT + 1):
        row = _attempt(i, campaign, tier, AttemptStatus.IN_PROGRESS, now - dt.timedelta(seconds=30))
        row |= {"provider_call_sid": f"CAlive{i:028d}", "placed_at": now - dt.timedelta(seconds=30)}
        rows.append(row)
    _bulk_insert(engine, ContactAttempt, rows)


def _attempt(
    account: int, campaign: int, tier: int, status: AttemptStatus, due: dt.datetime
) -> dict[str, object]:
    return {
        "direction": Direction.OUTBOUND.value,
        "account_id": account,
        "phone_id": account,
        "number": f"+1415{account:07d}",
        "campaign_id": campaign,
        "tier_id": tier,
        "status": status.value,
        "due_at": due,
        "created_at": due,
        "decision": '{"allowed": true, "explanation": "' + "x" * 300 + '"}',
        # Every row has every column the others have (one executemany).
        **dict.fromkeys(
            ("provider_call_sid", "placed_at", "started_at", "ended_at", "duration_seconds"),
        ),
        "disposition": None,
    }


def add_history(
    engine: Engine,
    accounts: int,
    days: int,
    campaign: int,
    tier: int,
    now: dt.datetime,
    rng: random.Random,
    first_day: int,
) -> None:
    """`days` days of history ending `first_day` days before now (a day is 1 before)."""
    attempts: list[dict[str, object]] = []
    with engine.connect() as connection:
        next_id = (connection.scalar(select(func.max(ContactAttempt.id))) or 0) + 1
        next_text = (connection.scalar(select(func.max(TextMessage.id))) or 0) + 1
    texts: list[dict[str, object]] = []
    for day in range(first_day, first_day + days):
        for i in range(1, accounts + 1):
            if rng.random() > 0.95:
                continue
            at = now - dt.timedelta(days=day, seconds=rng.randint(0, 36_000))
            row = _attempt(i, campaign, tier, AttemptStatus.SKIPPED, at)
            row["id"] = next_id
            if rng.random() < 0.2:  # refused at its slot: never placed, no CallSid
                row |= {"disposition": "not-callable", "ended_at": at}
            else:
                status, disposition = rng.choice(
                    [
                        (AttemptStatus.COMPLETED, "voicemail-left"),
                        (AttemptStatus.COMPLETED, "right-party"),
                        (AttemptStatus.NO_ANSWER, "no-answer"),
                        (AttemptStatus.BUSY, "busy"),
                    ]
                )
                ended = at + dt.timedelta(seconds=rng.randint(20, 120))
                row |= {
                    "status": status.value,
                    "disposition": disposition,
                    "provider_call_sid": f"CA{next_id:032d}",
                    "placed_at": at,
                    "started_at": at,
                    "ended_at": ended,
                    "duration_seconds": 40,
                }
                if disposition in ("voicemail-left", "no-answer"):
                    sent = rng.random() < 0.7
                    texts.append(
                        {
                            "id": next_text,
                            "account_id": i,
                            "phone_id": i,
                            "number": row["number"],
                            "campaign_id": campaign,
                            "kind": "follow-up",
                            "source_key": f"attempt:{next_id}",
                            "body_key": "sms_follow_up",
                            "language": "en",
                            "params": "{}",
                            "status": "sent" if sent else "skipped",
                            "due_at": ended,
                            "claimed_at": ended if sent else None,
                            "sent_at": ended if sent else None,
                            "provider_sid": f"SM{next_text:032d}" if sent else None,
                            "retries": 0,
                            "created_at": ended,
                        }
                    )
                    next_text += 1
            attempts.append(row)
            next_id += 1
    _bulk_insert(engine, ContactAttempt, attempts)
    _bulk_insert(engine, TextMessage, texts)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def looks(
    Session: sessionmaker[Session], config: DialerConfig, now: dt.datetime
) -> dict[str, Callable[[], object]]:
    """Each recurring look, run as the dialer runs it; what writes is rolled back."""

    def rolled_back(work: Callable[[Any], object]) -> Callable[[], object]:
        def run() -> object:
            with Session() as session:
                try:
                    return work(session)
                finally:
                    session.rollback()

        return run

    sid = "CAlive" + f"{IN_FLIGHT // 2:028d}"
    return {
        "tick: claim_due": rolled_back(
            lambda s: claims.claim_due(
                s,
                worker_id="bench",
                clock=lambda: now,
                lease=config.lease,
                horizon=now + config.tick,
                limit=2,
            )
        ),
        # The policy's facts of a tick's claims (two accounts), as the re-check reads them.
        "tick: a batch's facts": rolled_back(lambda s: load_cases(s.connection(), [1, 2], now)),
        "reconcile: unknown placements": lambda: resolve_unknown_placements(
            Session, _no_carrier(), now, config, worker_id="bench", alone_since=now
        ),
        "reconcile: overdue calls": lambda: reconcile_overdue(Session, _no_carrier(), now, config),
        "texts: queue_due": rolled_back(lambda s: text_queue.queue_due(s, now)),
        "texts: unknown sendings": rolled_back(
            lambda s: text_queue.unknown(s, now, dt.timedelta(seconds=5))
        ),
        "next attempt due": lambda: _next_attempt_due(Session),
        "status callback: its attempt": rolled_back(lambda s: _attempt_for(s, sid, None)),
        "audit: the chain's head": rolled_back(lambda s: audit._locked_head(s)),
    }


def timed(run: Callable[[], object]) -> float:
    run()  # warm: the statement compiled, the pages cached
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def explain(engine: Engine, name: str, run: Callable[[], object]) -> None:
    statements: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE")):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    print(f"-- {name}")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            if "pg_advisory" in statement or "set_config" in statement:
                continue
            prefix = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
            cursor.execute(prefix + statement, parameters)
            column = 0 if engine.dialect.name == "postgresql" else -1
            lines = [str(row[column]) for row in cursor.fetchall()]
            print("   ", " ".join(statement.split())[:150])
            for line in lines:
                print("       ", line)
        raw.rollback()
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--database-url", default=None, help="an empty database of your own")
    parser.add_argument("--explain", action="store_true", help="print each statement's plan")
    args = parser.parse_args()

    started = time.perf_counter()
    engine = prepare(args.database_url, Path(tempfile.mkdtemp(prefix="bench-growth-")))
    generate(engine, args.accounts)
    load_campaigns(engine)
    campaign, tier = _campaign_and_tier(engine)
    now = NOW
    Session = db.make_sessionmaker(engine)
    config = DialerConfig(Limits(1.0, 100), "http://127.0.0.1:8000", "+18005550100")
    with Session.begin() as session:
        claims.set_global_limits(session, config.limits, now)
    rng = random.Random(7)
    add_queue(engine, args.accounts, campaign, tier, now)
    add_history(engine, args.accounts, 1, campaign, tier, now, rng, first_day=0)
    built = time.perf_counter() - started
    print(f"{args.accounts} accounts, 1 day of history, built in {built:.1f} s")
    small = {name: timed(run) for name, run in looks(Session, config, now).items()}
    started = time.perf_counter()
    add_history(engine, args.accounts, args.days, campaign, tier, now, rng, first_day=1)
    with engine.connect() as connection:
        attempts = connection.scalar(select(func.count()).select_from(ContactAttempt))
        texts = connection.scalar(select(func.count()).select_from(TextMessage))
    print(
        f"{args.days} more days added in {time.perf_counter() - started:.1f} s: "
        f"{attempts} attempts, {texts} texts"
    )
    large = {name: timed(run) for name, run in looks(Session, config, now).items()}
    print(f"{'look':32} {'1 day':>9} {f'{args.days + 1} days':>9}  ratio")
    for name in small:
        ratio = large[name] / small[name]
        print(f"{name:32} {small[name]:7.2f}ms {large[name]:7.2f}ms  {ratio:5.1f}")
    if args.explain:
        for name, run in looks(Session, config, now).items():
            explain(engine, name, run)
    engine.dispose()


if __name__ == "__main__":
    main()
