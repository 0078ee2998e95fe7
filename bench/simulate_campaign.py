"""Benchmark: `hotline campaign simulate` over a large portfolio, on the virtual clock.

    python bench/simulate_campaign.py [--accounts 10000] [--days 30] [--plan-every 3600]

Loads ACCOUNTS generated accounts (bench/plan_accounts.py's: US states and China, days
past due 0-120, some without consent, some in bankruptcy, a tenth called yesterday) into a
fresh SQLite file (in a temporary folder; --database-url for your own database, whose
public schema is dropped and made anew), then runs the simulation exactly
as the command does (the shipped example campaigns, the real planner, policy, tick,
reconcile, Twilio adapter, /dialer webhooks and the simulator). Prints simulated calls per
wall-clock second (target: 50 or more), the ratio of simulated to real time, and where
the wall time went, part by part.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

from plan_accounts import generate, prepare

from hotline.settings import Settings
from simulator.campaign import Options, simulate, write_attempts

TARGET_CALLS_PER_SECOND = 50
SECRET_KEY = "bench-secret-key-0123456789abcdef"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--plan-every",
        type=int,
        default=3600,
        help="simulated seconds between planning runs (the dialer's default is 300)",
    )
    parser.add_argument("--start", default="2026-12-02", help="first day, 00:00 UTC")
    parser.add_argument("--database-url", default=None, help="an empty database of your own")
    parser.add_argument("--out", type=Path, default=None, help="write DIR/attempts.csv")
    args = parser.parse_args()

    start = dt.datetime.fromisoformat(args.start).replace(tzinfo=dt.UTC)
    folder = Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"  # as prepare() makes it
    loading = time.perf_counter()
    engine = prepare(args.database_url, folder)
    generate(engine, args.accounts)
    engine.dispose()
    print(f"portfolio: {args.accounts} accounts loaded in {time.perf_counter() - loading:.1f} s")

    settings = Settings().with_overrides(database_url=url, secret_key=SECRET_KEY)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = simulate(
        settings,
        Options(days=args.days, seed=args.seed, start=start, plan_every_s=args.plan_every),
    )
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if args.out is not None:  # to compare two versions' calls for one seed
        args.out.mkdir(parents=True, exist_ok=True)
        write_attempts(result.rows, args.out / "attempts.csv")
    s = result.summary
    calls = s.attempts
    simulated = (s.end - s.start).total_seconds()
    rate = calls / elapsed
    print(
        f"{args.days} simulated days over {s.accounts} accounts: {calls} calls in "
        f"{elapsed:.1f} s wall: {rate:.1f} simulated calls per wall-clock second "
        f"(target {TARGET_CALLS_PER_SECOND}: ratio {rate / TARGET_CALLS_PER_SECOND:.2f}; "
        f"{'met' if rate >= TARGET_CALLS_PER_SECOND else 'not met'})"
    )
    print(
        f"CPU {cpu:.1f} s ({cpu / elapsed:.0%} of the wall time: the rest is waiting for a "
        f"core on a shared machine): {calls / cpu:.1f} simulated calls per CPU second"
    )
    print(
        f"simulated/real time {simulated / elapsed:.0f}x; connects {s.connects}, right party "
        f"{s.right_party}, promises {s.promises}, payments {s.payments}, voicemails "
        f"{s.voicemails}, texts {s.texts}; accounts called {s.accounts_called}"
    )
    print(f"planning every {args.plan_every} simulated s; where the wall time went:")
    measured = sum(result.timings.values())
    for part, seconds in sorted(result.timings.items(), key=lambda kv: -kv[1]):
        per_call = f", {seconds / calls * 1000:.1f} ms a call" if calls else ""
        print(f"  {part:24} {seconds:8.1f} s  {seconds / elapsed:6.1%}{per_call}")
    print(f"  {'(copy, start, the rest)':24} {elapsed - measured:8.1f} s")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
