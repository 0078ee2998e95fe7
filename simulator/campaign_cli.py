"""`hotline campaign simulate`: the command over simulator/campaign.py, and its printout.

Mounted by hotline/cli.py on the campaign group (the dialer's own commands live in
dialer/cli.py, which may not import the simulator: product code never does).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.campaign import Options, Result, SimulationError, simulate, write_attempts

if TYPE_CHECKING:
    from hotline.bootstrap import Runtime


def console() -> Console:
    # Off a terminal rich assumes 80 columns and would cut the reasons short.
    return Console() if sys.stdout.isatty() else Console(width=160)


def writable_folder(path: Path) -> Path:
    """The folder for attempts.csv, created if missing; a one-line error if it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot create {path}: {exc.strerror}", param_hint="--out"
        ) from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise click.BadParameter(f"{path} is not a writable folder", param_hint="--out")
    return path


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[float], None] | None]:
    """A rich bar over the simulated days on a terminal (stderr); nothing when piped."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}% of the days"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task("days", total=1.0)
        yield lambda share: bar.update(task, completed=share)


def print_summary(result: Result, out: Console) -> None:
    s = result.summary
    days = (s.end - s.start).days
    out.print(
        f"simulated {days} day(s) from {s.start:%Y-%m-%d %H:%M} UTC over {s.accounts} "
        f"account(s); campaigns {', '.join(s.campaigns) or 'none'} (from "
        f"{s.campaigns_loaded_from})"
    )
    table = Table(title="Campaign simulation")
    table.add_column("figure")
    table.add_column("count", justify="right")
    for name, value in (
        ("attempts", s.attempts),
        ("connects (answered)", s.connects),
        ("right-party contacts", s.right_party),
        ("promises", s.promises),
        ("payments", s.payments),
        ("voicemails left", s.voicemails),
        ("texts sent", s.texts),
        ("accounts called", s.accounts_called),
        ("accounts not called", s.accounts - s.accounts_called),
    ):
        table.add_row(name, str(value))
    out.print(table)
    if s.dispositions:
        out.print(
            "dispositions: "
            + ", ".join(f"{name or '(none)'} {count}" for name, count in s.dispositions.items())
        )
    if s.not_called:
        reasons = Table(title="Accounts not called, by reason (as of the last day)")
        reasons.add_column("reason")
        reasons.add_column("accounts", justify="right")
        for reason, count in s.not_called.items():
            reasons.add_row(reason, str(count))
        out.print(reasons)


def print_transcripts(result: Result, out: Console) -> None:
    for row, lines in result.transcripts:
        out.print(
            f"\n[bold]attempt {row['attempt_id']}[/bold] {row['phone']} at {row['placed_at']}: "
            f"{row['disposition'] or row['status']}",
            highlight=False,
        )
        for text in lines:
            out.print(text, markup=False, highlight=False)


# The days a rehearsal may start on: the calendar's last days would overflow the
# simulated clock (days ahead, and the planner's look-ahead beyond them).
FIRST_START = dt.date(1970, 1, 1)
LAST_START = dt.date(2999, 12, 31)


def register(group: click.Group, ready_runtime: Callable[[], Runtime]) -> None:
    """Add `simulate` to the campaign group."""

    @group.command("simulate")
    @click.option(
        "--days", required=True, type=click.IntRange(1, 366), help="Simulated days to run."
    )
    @click.option("--profile", default=None, help="Contact-rule profile for every campaign.")
    @click.option("--seed", default=1, show_default=True, type=int, help="The callee mix's seed.")
    @click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Folder for attempts.csv (default: a new temporary folder).",
    )
    @click.option(
        "--start",
        type=click.DateTime(["%Y-%m-%d"]),
        default=None,
        help="First simulated day, 00:00 UTC (default: today).",
    )
    @click.option(
        "--plan-every",
        type=int,
        default=None,
        help="Seconds between planning runs, simulated (default HOTLINE_DIALER_PLAN_EVERY_S).",
    )
    @click.option(
        "--transcripts",
        default=0,
        show_default=True,
        type=click.IntRange(min=0),
        help="Calls to print in full.",
    )
    def simulate_command(
        days: int,
        profile: str | None,
        seed: int,
        out_dir: Path | None,
        start: dt.datetime | None,
        plan_every: int | None,
        transcripts: int,
    ) -> None:
        """Rehearse the campaigns over the accounts in the database, on a virtual clock,
        against the simulator (nothing in the database changes): writes attempts.csv and
        prints what happened."""
        if start is not None and not FIRST_START <= start.date() <= LAST_START:
            raise click.BadParameter(
                f"must be a day from {FIRST_START} to {LAST_START}", param_hint="'--start'"
            )
        # A named folder is checked before the run; a temporary one made after it, so a
        # run that fails leaves no empty folder behind.
        named = writable_folder(out_dir) if out_dir else None
        current = ready_runtime()
        options = Options(
            days=days,
            seed=seed,
            profile=profile,
            start=start.replace(tzinfo=dt.UTC) if start else None,
            plan_every_s=plan_every,
        )
        try:
            with progress_bar(sys.stderr.isatty()) as advance:
                result = simulate(
                    current.settings, options, progress=advance, transcripts=transcripts
                )
        except SimulationError as exc:
            raise click.BadParameter(str(exc)) from None
        folder = named or Path(tempfile.mkdtemp(prefix="sim-"))
        path = folder / "attempts.csv"
        write_attempts(result.rows, path)
        out = console()
        print_summary(result, out)
        print_transcripts(result, out)
        out.print(f"attempts: {path}", highlight=False)
