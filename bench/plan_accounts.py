"""Benchmark: the planning job over a large portfolio, against a bare indexed scan of it.

    python bench/plan_accounts.py [--accounts 100000] [--database-url URL] [--profile]

Loads the shipped example campaigns with the US and Chinese ones started and the dialer's
default pacing set (one call a second, as `hotline dialer` sets it at its start: each
campaign's queue then takes what that places in the planning horizon, dialer/queue_room.py).
Then builds ACCOUNTS accounts as the bank's file brings them (one cardholder and one number
each; 90 % US across the states, 10 % China; days past due 0-120, so about 4 in 5 fall in
a tier, written with them as the importer writes it; 3 % with a hard-block flag, 10 %
mobiles without consent, 10 % called yesterday without an answer), and times:

1. scan: a bare indexed scan of the same rows (accounts in the campaigns' tiers with their
   cardholder and phone), fetched to Python: the floor any planner pays to read them;
2. plan, first run: the tiers checked (all current: none to move); the plain accounts (no
   recent contact) planned as sets in SQL, one schedule per shape (dialer/plan_sets.py), the rest
   one by one (facts read in bulk, the policy and the tier's pacing evaluated); the due
   calls each campaign's queue has room for inserted with their decisions;
3. plan, again: nothing has left the queues, so nothing new goes in: the cost of the job
   on an ordinary tick.

Prints seconds, accounts per second and the ratio of each run to the scan. Target: a
first run over 1,000,000 accounts under 20 s on PostgreSQL. Without --database-url a
temporary SQLite file is used; a PostgreSQL URL must name a database of your own: its
public schema is dropped and recreated.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text

from dialer.campaign_file import parse_campaign_file
from dialer.campaign_store import set_status, store_file
from dialer.claims import set_global_limits
from dialer.pacing import Limits
from dialer.planner import plan
from dialer.queue_room import QUEUE_FULL
from hotline import db
from hotline.accounts import tier_id_for
from hotline.enums import AttemptStatus, CampaignStatus, Direction
from hotline.models import (
    AccountFlagRow,
    CardAccount,
    Cardholder,
    ContactAttempt,
    DelinquencyTier,
    Phone,
    table_of,
)
from hotline.phones import stored_zones
from hotline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.UTC)  # a Wednesday, 10:00 in Los Angeles
STATES = {
    "CA": "415",
    "NY": "212",
    "TX": "512",
    "FL": "305",
    "IL": "312",
    "WA": "206",
    "GA": "404",
    "OH": "614",
}
CHUNK = 20_000


def prepare(url: str | None, scratch: Path) -> Engine:
    if url is None:
        url = f"sqlite:///{scratch / 'bench.db'}"
    engine = db.make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    db.upgrade(engine)
    return engine


def generate(engine: Engine, accounts: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    with db.make_sessionmaker(engine)() as session:
        tier_id_of = tier_id_for(session)  # what the importer writes (hotline/importer.py)
    by_prefix: dict[str, dict[str, str]] = {}

    def zones_of(number: str) -> dict[str, str]:
        prefix = number[:8]
        if prefix not in by_prefix:
            by_prefix[prefix] = stored_zones(number)
        return by_prefix[prefix]

    Rows = list[dict[str, object]]
    holders: Rows = []
    cards: Rows = []
    phones: Rows = []
    flags: Rows = []
    calls: Rows = []
    for i in range(1, accounts + 1):
        chinese = rng.random() < 0.1
        state = rng.choice(list(STATES))
        dpd = rng.randint(0, 120)
        holders.append(
            {
                "id": i,
                "name": f"Holder {i}",
                "language": "zh-CN" if chinese else "en",
                "address_region": "BJ" if chinese else state,
                "postal_code": "10001",
                "country": "CN" if chinese else "US",
                "verify_salt": "s" * 32,
                "verify_hash": "h" * 64,
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        cards.append(
            {
                "id": i,
                "account_number": f"B{i:012d}",
                "cardholder_id": i,
                "currency": "CNY" if chinese else "USD",
                "balance_minor": 500_00,
                "minimum_due_minor": 50_00 if dpd else 0,
                "past_due_minor": 50_00 if dpd else 0,
                "due_date": NOW.date() - dt.timedelta(days=dpd),
                "days_past_due": dpd,
                "tier_id": tier_id_of(dpd),
                "credit_minor": 0,
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        number = f"+86138{i:08d}" if chinese else f"+1{STATES[state]}{2000000 + i % 8000000:07d}"
        mobile = chinese or rng.random() < 0.6
        phones.append(
            {
                "id": i,
                "cardholder_id": i,
                "e164": number,
                "phone_type": "mobile" if mobile else "home",
                "is_primary": True,
                "autodial_consent": not (mobile and rng.random() < 0.17),
                "bad_number": False,
                "created_at": NOW,
                # Stored as the importer stores them (hotline.phones.stored_zones); looked up
                # once per area code and exchange here (all the numbering plan's zone data
                # goes by), so a million numbers are seeded in seconds.
                **zones_of(number),
            }
        )
        if rng.random() < 0.03:
            flags.append({"account_id": i, "flag": "bankruptcy", "source": "import", "set_at": NOW})
        if rng.random() < 0.1:
            yesterday = NOW - dt.timedelta(days=1)
            calls.append(
                {
                    "direction": Direction.OUTBOUND.value,
                    "account_id": i,
                    "phone_id": i,
                    "number": number,
                    "status": AttemptStatus.NO_ANSWER.value,
                    "started_at": yesterday,
                    "due_at": yesterday,
                    "created_at": yesterday,
                }
            )
    for model, rows in (
        (Cardholder, holders),
        (CardAccount, cards),
        (Phone, phones),
        (AccountFlagRow, flags),
        (ContactAttempt, calls),
    ):
        _bulk_insert(engine, model, rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for table in ("cardholder", "card_account", "phone"):
                connection.execute(
                    text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                )
            connection.execute(text("ANALYZE"))


def _bulk_insert(engine: Engine, model: type, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    table = table_of(model)
    if engine.dialect.name == "postgresql":
        # COPY: the fastest way in, so the benchmark's set-up does not dwarf what it times.
        columns = list(rows[0])
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
            raw.commit()
        finally:
            raw.close()
        return
    with engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(table), rows[start : start + CHUNK])


def load_campaigns(engine: Engine) -> list[int]:
    Session = db.make_sessionmaker(engine)
    with Session.begin() as session:
        spec = parse_campaign_file((ROOT / "campaigns.example.toml").read_text(encoding="utf-8"))
        store_file(session, spec, actor="bench", now=NOW)
        for name in ("us-reminders", "cn-reminders"):
            set_status(session, name, CampaignStatus.ACTIVE, actor="bench", now=NOW)
        defaults = Settings()
        limits = Limits(defaults.dialer_calls_per_second, defaults.dialer_max_concurrent)
        set_global_limits(session, limits, NOW)
        return list(session.scalars(select(DelinquencyTier.id)))


def bare_scan(engine: Engine, tier_ids: list[int]) -> tuple[float, int]:
    """The same rows, by the same index, with nothing done to them."""
    query = (
        select(
            CardAccount.id,
            CardAccount.account_number,
            CardAccount.past_due_minor,
            CardAccount.days_past_due,
            CardAccount.reminders_paused_until,
            Cardholder.country,
            Cardholder.address_region,
            Phone.e164,
            Phone.phone_type,
            Phone.autodial_consent,
            Phone.opted_out_at,
        )
        .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
        .join(Phone, Phone.cardholder_id == Cardholder.id)
        .where(CardAccount.tier_id.in_(tier_ids))
    )
    started = time.perf_counter()
    with engine.connect() as connection:
        rows = len(connection.execute(query).all())
    return time.perf_counter() - started, rows


def timed_plan(engine: Engine, profile: bool) -> tuple[float, object]:
    Session = db.make_sessionmaker(engine)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    with Session.begin() as session:
        if profiler:
            profiler.enable()
        report = plan(session, NOW)
        if profiler:
            profiler.disable()
    elapsed = time.perf_counter() - started
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
        print(out.getvalue(), file=sys.stderr)
    return elapsed, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL: your own database")
    parser.add_argument("--profile", action="store_true", help="cProfile both runs (stderr)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        engine = prepare(args.database_url, Path(scratch))
        tier_ids = load_campaigns(engine)
        started = time.perf_counter()
        generate(engine, args.accounts)
        print(
            f"{engine.dialect.name}: {args.accounts:,} accounts generated in "
            f"{time.perf_counter() - started:.1f} s"
        )
        first, report = timed_plan(engine, args.profile)
        scan, rows = bare_scan(engine, tier_ids)  # after the first run has set the tiers
        again, report_again = timed_plan(engine, args.profile)
        with engine.connect() as connection:
            queued = connection.scalar(
                select(func.count())
                .select_from(ContactAttempt)
                .where(ContactAttempt.status == AttemptStatus.PLANNED)
            )
        print(f"bare indexed scan of the {rows:,} rows in a tier: {scan:.2f} s")
        for label, seconds, r in (
            ("plan, first run", first, report),
            ("plan, again", again, report_again),
        ):
            considered = getattr(r, "accounts_considered", 0)
            print(
                f"{label}: {seconds:.2f} s, {considered / seconds:,.0f} accounts/s, "
                f"{seconds / scan:.1f}x the scan; tiers moved {getattr(r, 'tiers_changed', 0):,}, "
                f"queued {getattr(r, 'planned', 0):,}, "
                f"already open {getattr(r, 'already_open', 0):,}, waiting for room "
                f"{getattr(r, 'not_due', {}).get(QUEUE_FULL, 0):,}; as sets "
                f"{getattr(r, 'considered_as_sets', 0):,} of {considered:,}"
            )
        print(f"calls queued in all: {queued:,}")
        engine.dispose()


if __name__ == "__main__":
    main()
