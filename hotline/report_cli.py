"""`hotline report kpis`: the supervisor dashboard's figures on the command line.

Mounted by hotline/cli.py (`register`), which brings the app context, the one-line errors
and the preview of today's blocked accounts (a dialer reading this module may not import).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from hotline import kpi_rules
from hotline.campaign_port import CampaignError
from hotline.kpi_rules import Counts, RangeError
from hotline.kpis import KpiReport, kpis
from hotline.money import format_money, to_major

if TYPE_CHECKING:
    from hotline.bootstrap import Runtime

# (tier, called, reason) for every account a campaign works, as the preview says for a day.
PreviewLines = Callable[[Session, dt.date, dt.datetime], Iterable[tuple[str, bool, str]]]

CSV_COLUMNS = (
    "day",
    "tier",
    "attempts",
    "connects",
    "connect_rate",
    "right_party_contacts",
    "promises",
    "promises_kept",
    "promises_broken",
    "promise_kept_rate",
    "payments",
)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def money_text(amounts: dict[str, int], locale: str = "en_US") -> str:
    if not amounts:
        return "—"
    return "; ".join(format_money(v, c, locale) for c, v in sorted(amounts.items()))


def rows_of(report: KpiReport) -> list[tuple[dt.date, str, Counts]]:
    """Each day's tiers in band order, then the day's total (tier "all")."""
    order = {code: n for n, code in enumerate(report.tiers)}
    days = kpi_rules.by_day(report.table)
    rows: list[tuple[dt.date, str, Counts]] = []
    for day in kpi_rules.days(report.start, report.end):
        cells = sorted(
            ((tier, c) for (d, tier), c in report.table.items() if d == day),
            key=lambda tc: order.get(tc[0], len(order)),
        )
        rows.extend((day, tier, c) for tier, c in cells)
        rows.append((day, "all", days.get(day, Counts())))
    return rows


def csv_lines(report: KpiReport) -> list[list[str]]:
    """The report as CSV rows: one per day and tier and a day's total, money per currency
    in major units (collected_USD ...)."""
    rows = rows_of(report)
    currencies = sorted({cur for _d, _t, c in rows for cur in c.collected_minor})
    lines = [[*CSV_COLUMNS, *(f"collected_{cur}" for cur in currencies)]]
    for day, tier, c in rows:
        lines.append(
            [
                day.isoformat(),
                tier,
                str(c.attempts),
                str(c.connects),
                _ratio(c.connect_rate),
                str(c.right_party),
                str(c.promises),
                str(c.promises_kept),
                str(c.promises_broken),
                _ratio(c.promise_kept_rate),
                str(c.payments),
                *(str(to_major(c.collected_minor.get(cur, 0), cur)) for cur in currencies),
            ]
        )
    return lines


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def register(
    group: click.Group, ready_runtime: Callable[[], Runtime], preview: PreviewLines
) -> None:
    """Add the report commands to `group` (an app-context group of the hotline CLI)."""

    @group.command("kpis")
    @click.option(
        "--from",
        "raw_from",
        default=None,
        help="First day, YYYY-MM-DD (default: a week before --to).",
    )
    @click.option("--to", "raw_to", default=None, help="Last day, YYYY-MM-DD (default: today).")
    @click.option(
        "--format",
        "form",
        type=click.Choice(["table", "csv"]),
        default="table",
        show_default=True,
        help="A table to read, or CSV for a spreadsheet (one row per day and tier).",
    )
    @click.option(
        "--zone", default=None, help="Time zone of the days (default: HOTLINE_DEFAULT_TIMEZONE)."
    )
    def kpis_command(raw_from: str | None, raw_to: str | None, form: str, zone: str | None) -> None:
        """Collections KPIs per day and tier: attempts, connect rate, right-party contacts,
        promises, promise-kept rate, amount collected; roll rates; today's blocked accounts."""
        current = ready_runtime()
        name = zone or current.settings.default_timezone
        try:
            where = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise click.UsageError(f"--zone {name!r} is not an IANA time zone") from None
        now = dt.datetime.now(dt.UTC)
        try:
            start, end = kpi_rules.parse_range(raw_from, raw_to, now.astimezone(where).date())
        except RangeError as exc:
            raise click.UsageError(str(exc)) from None
        today = now.astimezone(where).date()
        with current.Session.begin() as session:
            report = kpis(session, start, end, where)
            try:
                blocked = (
                    kpi_rules.blocked_by_reason(preview(session, today, now))
                    if start <= today <= end
                    else {}
                )
            except CampaignError as exc:
                raise click.ClickException(str(exc)) from None
        if form == "csv":
            from hotline.kpis import csv_line

            sys.stdout.write("".join(csv_line(row) for row in csv_lines(report)))
            return
        _print_tables(report, blocked)


def _print_tables(report: KpiReport, blocked: dict[tuple[str, str], int]) -> None:
    console = Console() if sys.stdout.isatty() else Console(width=160)
    table = Table(
        title=f"KPIs {report.start.isoformat()} to {report.end.isoformat()} ({report.zone})"
    )
    headings: Sequence[str] = (
        "day",
        "tier",
        "attempts",
        "connect rate",
        "right-party",
        "promises",
        "kept rate",
        "collected",
    )
    for heading in headings:
        table.add_column(heading, justify="left" if heading in ("day", "tier") else "right")
    for day, tier, c in rows_of(report):
        style = "bold" if tier == "all" else None
        table.add_row(
            day.isoformat(),
            tier,
            str(c.attempts),
            percent(c.connect_rate),
            str(c.right_party),
            str(c.promises),
            percent(c.promise_kept_rate),
            money_text(c.collected_minor),
            style=style,
        )
    console.print(table)
    if report.rolls:
        rolls = Table(title="roll rates (tier the day before -> tier that day)")
        for heading in ("day", "from", "to", "accounts", "rate"):
            rolls.add_column(
                heading, justify="right" if heading in ("accounts", "rate") else "left"
            )
        for r in report.rolls:
            rolls.add_row(
                r.day.isoformat(), r.source, r.target, f"{r.accounts}/{r.out_of}", percent(r.rate)
            )
        console.print(rolls)
    else:
        console.print("roll rates: no two days running with tier snapshots in the range")
    if blocked:
        held = Table(title="accounts not called today, by reason (campaign preview)")
        for heading in ("tier", "reason", "accounts"):
            held.add_column(heading, justify="right" if heading == "accounts" else "left")
        for (tier, reason), count in blocked.items():
            held.add_row(tier, reason, str(count))
        console.print(held)
