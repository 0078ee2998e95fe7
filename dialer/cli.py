"""`hotline campaign ...`: load, list, start, pause, preview and plan campaigns.

Mounted by hotline/cli.py on its own group (`register`), which brings the app context and
the one-line errors; this module stays free of Flask. Each command owns its transaction.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from dialer import campaign_store, text_queue
from dialer.campaign_file import CampaignFileError, parse_campaign_file
from dialer.desk_port import DialerCampaigns
from dialer.planner import plan
from dialer.preview import pacing_limits, preview, summary
from hotline.campaign_port import StatusChange
from hotline.cli_errors import FileUnusable
from hotline.enums import CampaignStatus
from hotline.kpis import snapshot_tiers
from hotline.phones import mask_phone

if TYPE_CHECKING:
    from hotline.bootstrap import Runtime


NO_CAMPAIGNS = "no campaigns: load one with `hotline campaign load FILE.toml`"


def _console() -> Console:
    # Off a terminal rich assumes 80 columns and would cut the reasons short.
    return Console() if sys.stdout.isatty() else Console(width=160)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def register(group: click.Group, ready_runtime: Callable[[], Runtime]) -> None:
    """Add the campaign commands to `group` (an app-context group of the hotline CLI)."""

    @group.command("load")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def load(path: Path) -> None:
        """Check a campaigns file (TOML) and store its tiers and campaigns; nothing is stored
        unless the whole file is right (exit 2, every problem with its key and line)."""
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise FileUnusable(f"{path.name}: not UTF-8 text ({exc.reason})") from None
        current = ready_runtime()
        try:
            spec = parse_campaign_file(text, current.settings.caller_ids)
        except CampaignFileError as exc:
            for problem in exc.problems:
                click.echo(f"{path.name} {problem}", err=True)
            raise FileUnusable(
                f"{path.name}: {len(exc.problems)} problem(s), nothing stored"
            ) from None
        try:
            with current.Session.begin() as session:
                report = campaign_store.store_file(session, spec, actor="cli:campaign", now=_now())
        except campaign_store.CampaignError as exc:
            raise click.ClickException(f"{path.name}: {exc}; nothing stored") from None
        if report.tiers:
            click.echo(f"tiers: {', '.join(report.tiers)}")
        click.echo(
            f"{path.name}: {len(report.created)} campaign(s) created"
            f"{' (' + ', '.join(report.created) + ')' if report.created else ''}, "
            f"{len(report.updated)} updated"
            f"{' (' + ', '.join(report.updated) + ')' if report.updated else ''}"
        )
        for change in report.status_changes:
            click.echo(f"status set by the file: {change}")
        if report.not_in_file:
            click.echo(f"not in the file, left as they are: {', '.join(report.not_in_file)}")

    @group.command("list")
    def list_() -> None:
        """The stored campaigns: status, profile, audience, tiers, calls queued."""
        current = ready_runtime()
        with current.Session.begin() as session:
            campaigns = DialerCampaigns().campaigns(session)
        if not campaigns:
            click.echo(NO_CAMPAIGNS)
            return
        table = Table(title="campaigns")
        for heading in ("name", "status", "profile", "caller id", "audience", "tiers", "queued"):
            table.add_column(heading, justify="right" if heading == "queued" else "left")
        for c in campaigns:
            table.add_row(
                c.name,
                c.status,
                c.profile,
                c.caller_id,
                c.audience,
                ", ".join(c.tiers),
                str(c.queued),
            )
        _console().print(table)

    def _set(name: str, status: CampaignStatus) -> StatusChange:
        current = ready_runtime()
        try:
            with current.Session.begin() as session:
                return campaign_store.set_status(
                    session, name, status, actor="cli:campaign", now=_now()
                )
        except campaign_store.CampaignError as exc:
            raise click.ClickException(str(exc)) from None

    @group.command("start")
    @click.argument("name")
    def start(name: str) -> None:
        """Let the dialer work campaign NAME (the next planning run queues its calls)."""
        _set(name, CampaignStatus.ACTIVE)
        click.echo(f"campaign {name}: active")

    @group.command("pause")
    @click.argument("name")
    def pause(name: str) -> None:
        """Stop campaign NAME: its calls not yet dialled are cancelled (calls under way end),
        its queued texts held until it is started again."""
        change = _set(name, CampaignStatus.PAUSED)
        click.echo(f"campaign {name}: paused; {change.said() or 'nothing was queued'}")

    @group.command("plan")
    def plan_command() -> None:
        """Run the planning job once: refresh tiers, queue the calls due in the next 24 h,
        and keep the day's tiers for roll rates (as the dialer's daily job does)."""
        current = ready_runtime()
        now = _now()
        # Committed batch by batch (see plan's after_batch): a caller's account is never
        # held for the whole run.
        with current.Session() as session:
            report = plan(session, now, actor="cli:campaign", after_batch=session.commit)
            snapshot_tiers(session, now.date())
            session.commit()
        click.echo(
            f"tiers changed: {report.tiers_changed}; accounts considered: "
            f"{report.accounts_considered}; calls queued: {report.planned}; already open: "
            f"{report.already_open}; cancelled: {report.cancelled}"
        )
        for reason, count in sorted(report.not_due.items(), key=lambda kv: -kv[1]):
            click.echo(f"  not queued, {reason}: {count}")

    @group.command("preview")
    @click.option(
        "--date",
        "day",
        type=click.DateTime(["%Y-%m-%d"]),
        default=None,
        help="The day to preview, in each person's own time zone (default: today).",
    )
    @click.option("--campaign", "campaign_name", default=None, help="Only this campaign.")
    @click.option("--called-only", is_flag=True, help="Only the accounts that would be called.")
    def preview_command(
        day: dt.datetime | None, campaign_name: str | None, called_only: bool
    ) -> None:
        """Who would be called on a day, and for every other account why not and when next."""
        current = ready_runtime()
        now = _now()
        shown_day = day.date() if day else now.date()
        try:
            with current.Session.begin() as session:
                lines = preview(session, shown_day, now, campaign_name)
                # No line: is any campaign stored at all? (The desk's rows would also count
                # every campaign's queued calls, a scan of the attempts, for one yes or no.)
                stored = bool(lines) or bool(campaign_store.read_campaigns(session))
                limits = pacing_limits(session, lines)
                # Every zone's day has begun by the end of the UTC day + 14 h (UTC-12..+14).
                until = dt.datetime.combine(shown_day, dt.time(), dt.UTC) + dt.timedelta(days=1)
                texts = text_queue.queued_by(session, until + dt.timedelta(hours=14))
        except campaign_store.CampaignError as exc:
            raise click.ClickException(str(exc)) from None
        if not stored:
            # `hotline demo` rehearses the shipped campaigns in a scratch copy: none is stored.
            click.echo(NO_CAMPAIGNS)
            return
        table = Table(
            title=f"campaign preview for {(day.date() if day else now.date()).isoformat()}"
        )
        for heading in ("account", "campaign", "tier", "call", "when (local)", "number", "why"):
            table.add_column(heading, overflow="fold")
        for line in lines:
            if called_only and not line.called:
                continue
            campaign = line.campaign
            if line.campaign_status is not CampaignStatus.ACTIVE:
                campaign += f" ({line.campaign_status.value})"
            table.add_row(
                line.account_number,
                campaign,
                line.tier,
                "yes" if line.called else "no",
                line.when,
                line.number,
                line.reason,
            )
        console = _console()
        console.print(table)
        called = sum(1 for line in lines if line.called)
        console.print(f"{called} of {len(lines)} account(s) would be called")
        for limit in limits:
            console.print(f"  {limit.said()}")
        for reason, count in summary(lines).items():
            console.print(f"  not called, {reason}: {count}")
        if texts:
            listed = Table(title="texts queued (the policy is asked again when each is sent)")
            for heading in ("account", "kind", "due (UTC)", "number", "why it waits"):
                listed.add_column(heading, overflow="fold")
            for queued in texts:
                text = queued.text
                listed.add_row(
                    queued.account_number,
                    text.kind.value,
                    f"{text.due_at:%Y-%m-%d %H:%M}",
                    mask_phone(text.number),
                    queued.held or text.error_message or "",
                )
            console.print(listed)
        console.print(f"{len(texts)} text(s) queued")
