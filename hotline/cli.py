"""The `hotline` command: Flask's CLI with Hotline's commands mounted on it.

Each command is an entry point: it owns its transaction (`with Session.begin():`) and
turns domain errors into a message and an exit status.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, ScriptInfo
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.cli import register as register_campaign_commands
from hotline import audit, db, logs, payments, users, verification
from hotline.cli_errors import FileUnusable, check_port_free, describe
from hotline.csvrows import HeaderError, RowError, decode
from hotline.demo import (
    DEMO_MAX_SIZE,
    DEMO_SIZE,
    KNOWN_CALLERS,
    ensure_default_tiers,
    load_demo,
    portfolio_by_tier,
)
from hotline.enums import DeskRole, Language
from hotline.importer import ImportReport, import_accounts
from hotline.models import Agency, utcnow
from hotline.money import MoneyError, format_money, normalise_currency, parse_major
from hotline.payment_import import import_payments
from hotline.report_cli import register as register_report_commands
from hotline.settings import SettingsError
from hotline.web import create_app, runtime
from simulator.campaign import DEMO_INBOUND, simulate
from simulator.campaign import Options as SimulationOptions
from simulator.campaign_cli import print_summary, print_transcripts, progress_bar
from simulator.campaign_cli import register as register_simulate
from simulator.cli import call as call_command
from simulator.cli import simulator as simulator_group
from simulator.cli import sms as sms_command

if TYPE_CHECKING:
    from rich.console import JustifyMethod
    from sqlalchemy.orm import Session

    from hotline.bootstrap import Runtime

log = logging.getLogger(__name__)
R = TypeVar("R")

# Show a progress bar only for files worth waiting on, and only on a terminal.
PROGRESS_MIN_LINES = 5000
ERRORS_SHOWN = 50


def _create_app() -> Flask:
    try:
        app = create_app()
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    # A command is a whole process's work: release its connections when it ends.
    click.get_current_context().call_on_close(app.extensions["hotline"].engine.dispose)
    return app


class HotlineGroup(FlaskGroup):
    """Flask's CLI group, with every command's operational errors said in one line.

    The one place that turns what a user can cause (database down or missing, an unknown
    revision, a busy port, no simulator; see hotline.cli_errors) into `Error: ...` on stderr
    and exit status 1, for every command mounted here, including the simulator's.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # The group's own options (--env-file, --app) are parsed here, before invoke.
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _OneLineUsage(exc.format_message(), exc.ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _OneLineUsage(exc.format_message(), exc.ctx) from None
        except click.exceptions.ClickException:
            raise
        except BrokenPipeError:
            # Piped into `head`: the reader left. Click ends quietly (status 1), where an
            # "Error: Broken pipe" would blame the command.
            raise
        except Exception as exc:
            message = describe(exc, _database_url(ctx))
            if message is None:
                raise
            log.debug("command failed", exc_info=True)
            raise click.ClickException(message) from None


class _OneLineUsage(click.UsageError):
    """A command used wrongly, in one line with where to read more (exit status 2), rather
    than click's usage block, hint and error on three."""

    def show(self, file: Any = None) -> None:
        where = f" (see `{self.ctx.command_path} --help`)" if self.ctx is not None else ""
        click.echo(f"Error: {self.format_message()}{where}", err=True, file=file)


def _database_url(ctx: click.Context) -> str | None:
    """The database the command was using, to name it in the message (password hidden)."""
    info = ctx.find_object(ScriptInfo)
    app = getattr(info, "_loaded_app", None) if info is not None else None
    if app is not None:
        return str(app.extensions["hotline"].settings.database_url)
    from hotline.bootstrap import settings_from_environment

    try:
        return settings_from_environment().database_url
    except SettingsError:
        return None


cli = HotlineGroup(
    name="hotline",
    help="Hotline: the collections phone line of a card issuer.",
    create_app=_create_app,
    add_version_option=False,
    load_dotenv=False,
)


cli.add_command(simulator_group)
cli.add_command(call_command)
cli.add_command(sms_command)


def main() -> None:
    cli.main(prog_name="hotline")


@cli.command("serve", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Processes (default: 2; 1 on SQLite, which has one writer at a time).",
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    # Each thread keeps a database connection of its own (HOTLINE_DB_POOL_SIZE's range).
    type=click.IntRange(1, 200),
    help="Threads per process, each with a database connection kept open.",
)
def serve(host: str, port: int, workers: int | None, threads: int) -> None:
    """Serve the web app with gunicorn (a production WSGI server)."""
    from hotline.bootstrap import settings_from_environment
    from hotline.wsgi import serve as run_gunicorn

    # Fail here, once, with the variable's name, rather than in every worker.
    try:
        settings = settings_from_environment()
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    if workers is None:
        workers = 1 if settings.database_url.startswith("sqlite") else 2
    check_port_free(host, port, "server")
    # The schema, once, before any worker: as every other command does (an empty database
    # or the SQLite file is brought to head), and never by workers racing each other.
    logs.configure(settings.log_level)
    engine = db.make_engine(settings.database_url)
    try:
        db.ensure_schema(engine)
    except db.SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    run_gunicorn(settings, host=host, port=port, workers=workers, threads=threads)


def _ready_runtime() -> Runtime:
    """The runtime, with the schema brought to head where safe (see db.ensure_schema)."""
    current = runtime()
    try:
        db.ensure_schema(current.engine)
    except db.SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    return current


# --- hotline db -------------------------------------------------------------------------

db_group = AppGroup("db", help="Create and upgrade the database schema (Alembic).")
cli.add_command(db_group)


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    engine = runtime().engine
    db.upgrade(engine, revision)
    click.echo(f"database at revision {db.current_revision(engine)}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION ('base' drops every table)."""
    engine = runtime().engine
    db.downgrade(engine, revision)
    click.echo(f"database at revision {db.current_revision(engine) or 'base'}")


@db_group.command("current")
def db_current() -> None:
    """Print the schema revision of the database and of this code."""
    engine = runtime().engine
    click.echo(f"database: {db.current_revision(engine) or 'empty'}")
    click.echo(f"code:     {db.head_revision(engine)}")


# --- hotline import ---------------------------------------------------------------------

import_group = AppGroup("import", help="Load data from the bank's files.")
cli.add_command(import_group)


_REPORT_OPTION = click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every rejected field to this CSV (line, column, reason).",
)
_ENCODING_OPTION = click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    help="The file's character encoding, e.g. gb18030; a byte not in it refuses the file.",
)


def _read_import_file(
    path: Path, report_path: Path | None, encoding: str
) -> tuple[str, dict[str, Any]]:
    """The file's text and what the audit trail keeps of it; FileUnusable if it cannot be
    read in `encoding`. The report's folder is checked first: found out after the import,
    the rows would be in and the report lost."""
    if report_path is not None and not report_path.parent.is_dir():
        raise click.BadParameter(
            f"the folder {report_path.parent} does not exist", param_hint="--report"
        )
    return _read_csv(path, encoding)


def _run_import(
    path: Path,
    text: str,
    run: Callable[[Runtime, Session, io.StringIO, Callable[[int], None] | None], R],
) -> R:
    """Run one file's import in a session of its own, with the progress bar; FileUnusable
    if its header is wrong. The import commits chunk by chunk (`after_chunk`: each is
    idempotent, so a run cut short is run again): a single transaction would hold the
    audit chain's lock for the whole file, and every payment, lock and promise on the line
    would wait on it."""
    current = _ready_runtime()
    try:
        with current.Session() as session, _progress(text.count("\n")) as advance:
            report = run(current, session, io.StringIO(text, newline=""), advance)
            session.commit()
    except HeaderError as exc:
        raise FileUnusable(f"{path.name}: {exc}") from None
    return report


@import_group.command("accounts")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_REPORT_OPTION
@_ENCODING_OPTION
@click.pass_context
def import_accounts_command(
    ctx: click.Context, path: Path, report_path: Path | None, encoding: str
) -> None:
    """Upsert accounts from a CSV file; exit 1 if any row was rejected, 2 if the file is
    unusable."""
    text, source = _read_import_file(path, report_path, encoding)
    report = _run_import(
        path,
        text,
        lambda current, session, stream, advance: import_accounts(
            session,
            stream,
            secret_key=current.settings.secret_key,
            now=utcnow(),
            actor="cli:import",
            source=source,
            on_progress=advance,
            after_chunk=session.commit,
        ),
    )
    _print_import_report(path.name, report, report_path)
    if report.rejected:
        ctx.exit(1)


def _read_csv(path: Path, encoding: str) -> tuple[str, dict[str, Any]]:
    """A bank file's text, and what the audit records of it; FileUnusable if it cannot be
    decoded."""
    raw = path.read_bytes()
    try:
        text = decode(raw, encoding)
    except HeaderError as exc:
        raise FileUnusable(f"{path.name}: {exc}") from None
    source = {
        "name": path.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "bytes": len(raw),
        "encoding": encoding,
    }
    return text, source


@import_group.command("payments")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_REPORT_OPTION
@_ENCODING_OPTION
@click.pass_context
def import_payments_command(
    ctx: click.Context, path: Path, report_path: Path | None, encoding: str
) -> None:
    """Post the bank's payments file (account_number, amount, currency, posted_date,
    reference), each reference once; exit 1 if any row was rejected, 2 if the file is
    unusable."""
    text, source = _read_import_file(path, report_path, encoding)
    report = _run_import(
        path,
        text,
        lambda _current, session, stream, advance: import_payments(
            session,
            stream,
            now=utcnow(),
            actor="cli:import",
            source=source,
            on_progress=advance,
            after_chunk=session.commit,
        ),
    )
    s = report.summary()
    click.echo(
        f"{path.name}: {s['rows_read']} rows read, {s['posted']} posted, "
        f"{s['already_posted']} already posted, {s['rejected']} rejected"
    )
    _print_rejections(report.rejected, report_path)
    if report.rejected:
        ctx.exit(1)


class _progress:
    """A rich progress bar on a terminal for large files; a no-op otherwise."""

    def __init__(self, total_lines: int) -> None:
        self.enabled = total_lines >= PROGRESS_MIN_LINES and sys.stderr.isatty()
        self.total = max(total_lines - 1, 0)
        self.bar: Progress | None = None

    def __enter__(self) -> Callable[[int], None] | None:
        if not self.enabled:
            return None
        self.bar = Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task("rows", total=self.total)
        bar = self.bar
        return lambda n: bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_import_report(name: str, report: ImportReport, report_path: Path | None) -> None:
    s = report.summary()
    click.echo(
        f"{name}: {s['rows_read']} rows read, {s['created']} created, {s['updated']} updated, "
        f"{s['unchanged']} unchanged, {s['rejected']} rejected"
    )
    for note in report.notes[:ERRORS_SHOWN]:
        click.echo(f"note: {note}")
    _print_rejections(report.rejected, report_path)


def _print_rejections(rejected: list[RowError], report_path: Path | None) -> None:
    """The first rejections on stderr, and all of them in `report_path` if given."""
    for error in rejected[:ERRORS_SHOWN]:
        click.echo(f"rejected: {error}", err=True)
    hidden = len(rejected) - ERRORS_SHOWN
    if hidden > 0:
        click.echo(f"... and {hidden} more (use --report FILE for all)", err=True)
    if report_path is not None:
        with report_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "column", "reason"])
            writer.writerows((e.line, e.column, e.reason) for e in rejected)


@import_group.command("placements")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    help="The file's character encoding; a byte not in it refuses the file.",
)
@click.pass_context
def import_placements_command(ctx: click.Context, path: Path, encoding: str) -> None:
    """Place accounts with agencies from a CSV (account, agency, from, to); idempotent.
    Exit 1 if any row was rejected, 2 if the file is unusable."""
    from hotline.placements import import_placements

    text, source = _read_csv(path, encoding)
    current = _ready_runtime()
    try:
        with current.Session.begin() as session:
            report = import_placements(
                session,
                io.StringIO(text, newline=""),
                actor="cli:import",
                now=utcnow(),
                source=source,
            )
    except HeaderError as exc:
        raise FileUnusable(f"{path.name}: {exc}") from None
    s = report.summary()
    click.echo(
        f"{path.name}: {s['rows_read']} rows read, {s['created']} placed, {s['updated']} "
        f"changed, {s['unchanged']} unchanged, {s['rejected']} rejected"
    )
    for error in report.rejected[:ERRORS_SHOWN]:
        click.echo(f"rejected: {error}", err=True)
    if len(report.rejected) > ERRORS_SHOWN:
        click.echo(f"... and {len(report.rejected) - ERRORS_SHOWN} more", err=True)
    if report.rejected:
        ctx.exit(1)


# --- desk users and agencies --------------------------------------------------------------

users_group = AppGroup("users", help="People who sign in to the desk: agents, supervisors, admins.")
cli.add_command(users_group)
agencies_group = AppGroup("agencies", help="Outside collection agencies accounts are placed with.")
cli.add_command(agencies_group)


def _new_password(from_stdin: bool) -> str:
    """A password read from stdin (one line) or asked for twice; never from argv."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.ClickException("--password-stdin: no password on standard input")
        return line
    if not sys.stdin.isatty():
        # click would warn that the password may be echoed, then abort at the second prompt.
        raise click.ClickException(
            "no terminal to ask the password on: give it on standard input with --password-stdin"
        )
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


_PASSWORD_STDIN = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (no prompt).",
)


@users_group.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in DeskRole]))
@click.option("--name", "display_name", default="", help="Shown on the desk (default: USERNAME).")
@click.option("--agency", default=None, help="The agency's code: sees only its placed accounts.")
@click.option("--phone", default=None, help="The phone Accept bridges callers to (E.164).")
@click.option(
    "--language", default="en", show_default=True, type=click.Choice([v.value for v in Language])
)
@click.option("--time-zone", default=None, help="IANA zone (default: HOTLINE_DEFAULT_TIMEZONE).")
@click.option(
    "--waiver-limit",
    default="0",
    show_default=True,
    help="Late fees the user may waive without approval, in major units (e.g. 25.00).",
)
@click.option("--currency", default="USD", show_default=True, help="The waiver limit's currency.")
@_PASSWORD_STDIN
def users_add(
    username: str,
    role: str,
    display_name: str,
    agency: str | None,
    phone: str | None,
    language: str,
    time_zone: str | None,
    waiver_limit: str,
    currency: str,
    password_stdin: bool,
) -> None:
    """Add a desk user; the password is asked for (or read with --password-stdin)."""
    current = _ready_runtime()
    try:
        code = normalise_currency(currency)
        limit = parse_major(waiver_limit, code)
    except MoneyError as exc:
        raise click.BadParameter(str(exc), param_hint="--waiver-limit/--currency") from None
    new = users.NewUser(
        username=username,
        role=DeskRole(role),
        display_name=display_name,
        language=Language(language),
        time_zone=time_zone or current.settings.default_timezone,
        phone=phone,
        agency=agency,
        waiver_limit_minor=limit,
        waiver_currency=code,
        phone_region=current.settings.default_region,
    )
    try:
        users.check_username(username)
        password = _new_password(password_stdin)
        with current.Session.begin() as session:
            user = users.add_user(session, new, password, actor="cli:users", now=utcnow())
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    where = f", agency {agency.upper()}" if agency else ""
    click.echo(f"user {user.username} added: {user.role}{where}")


@users_group.command("reset-password")
@click.argument("username")
@_PASSWORD_STDIN
def users_reset_password(username: str, password_stdin: bool) -> None:
    """Set a user's password; their sessions end and failed sign-ins stop counting."""
    current = _ready_runtime()
    try:
        with current.Session.begin() as session:
            users.get_user(session, username)  # an unknown name fails before the prompt
        password = _new_password(password_stdin)
        with current.Session.begin() as session:
            user = users.reset_password(
                session, username, password, actor="cli:users", now=utcnow()
            )
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password of {user.username} reset; their sessions are ended")


@users_group.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Refuse a user's sign-ins from now on and end their sessions."""
    current = _ready_runtime()
    try:
        with current.Session.begin() as session:
            changed = users.disable_user(session, username, actor="cli:users", now=utcnow())
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    name = users.normalise_username(username)
    click.echo(f"user {name} disabled" if changed else f"user {name} was disabled already")


@users_group.command("list")
def users_list() -> None:
    """Every desk user: role, agency, language, phone, waiver limit, status, last seen."""
    current = _ready_runtime()
    with current.Session.begin() as session:
        rows = users.list_users(session)
        codes = {a.id: a.code for a in session.scalars(select(Agency))}
    table = Table(title="Desk users")
    for heading in (
        "user",
        "name",
        "role",
        "agency",
        "language",
        "phone",
        "waiver limit",
        "status",
        "last seen (UTC)",
    ):
        table.add_column(heading)
    for user in rows:
        table.add_row(
            user.username,
            user.display_name,
            str(user.role),
            codes.get(user.agency_id, "") if user.agency_id else "",
            str(user.language),
            user.phone or "",
            format_money(user.waiver_limit_minor, user.waiver_currency, "en_US"),
            f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active",
            f"{user.last_seen_at:%Y-%m-%d %H:%M}" if user.last_seen_at else "never",
        )
    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(table)


@agencies_group.command("add")
@click.argument("code")
@click.option("--name", default="", help="The agency's name (default: CODE).")
def agencies_add(code: str, name: str) -> None:
    """Add an agency that accounts can be placed with and users belong to."""
    current = _ready_runtime()
    try:
        with current.Session.begin() as session:
            agency = users.add_agency(session, code, name, actor="cli:agencies", now=utcnow())
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"agency {agency.code} added ({agency.name})")


@agencies_group.command("list")
def agencies_list() -> None:
    """Every agency with its code and name."""
    current = _ready_runtime()
    with current.Session.begin() as session:
        agencies = session.scalars(select(Agency).order_by(Agency.code)).all()
    if not agencies:
        click.echo("no agencies yet: add one with `hotline agencies add CODE --name NAME`")
    for agency in agencies:
        click.echo(f"{agency.code}\t{agency.name}")


# --- demo ---------------------------------------------------------------------------------


@cli.command("seed-demo")
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Date the portfolio is as of (default: today, UTC).",
)
@click.option(
    "--size",
    default=DEMO_SIZE,
    show_default=True,
    type=click.IntRange(1, DEMO_MAX_SIZE),
    help="Number of accounts.",
)
def seed_demo(as_of: dt.datetime | None, size: int) -> None:
    """Load the deterministic demo portfolio (idempotent: re-running changes nothing)."""
    report = _seed(as_of.date() if as_of else utcnow().date(), size)
    click.echo(
        f"demo portfolio: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged"
    )


def _seed(as_of: dt.date, size: int) -> ImportReport:
    current = _ready_runtime()
    with current.Session.begin() as session:
        ensure_default_tiers(session)
        report = load_demo(
            session,
            as_of=as_of,
            size=size,
            now=utcnow(),
            secret_key=current.settings.secret_key,
            actor="cli:seed-demo",
        )
    if report.rejected:  # the generator and the format have drifted apart: a bug
        raise click.ClickException(f"demo rows rejected: {report.rejected[:3]}")
    return report


# The demo's rehearsal: short enough to finish within a minute on two cores.
DEMO_DAYS = 2
DEMO_PLAN_EVERY_S = 3600


@cli.command("demo")
@click.option(
    "--days",
    default=DEMO_DAYS,
    show_default=True,
    type=click.IntRange(0, 31),
    help="Days of simulated campaign to run after seeding (0: none).",
)
def demo(days: int) -> None:
    """Seed the demo portfolio and show it by tier; then rehearse the campaigns on it for a
    couple of simulated days and ring the IVR as the demo callers, all offline through the
    simulator (nothing of the rehearsal is kept), and print what happened."""
    current = _ready_runtime()
    _seed(utcnow().date(), DEMO_SIZE)
    with current.Session.begin() as session:
        lines = portfolio_by_tier(session)
    table = Table(title="Hotline demo portfolio by delinquency tier")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("tier", "left"),
        ("days past due", "right"),
        ("currency", "left"),
        ("accounts", "right"),
        ("balance", "right"),
        ("past due", "right"),
    )
    for heading, justify in columns:
        table.add_column(heading, justify=justify)
    for line in lines:
        locale = "zh_CN" if line.currency == "CNY" else "en_US"
        if line.tier is None:
            name, band = "current", "0"
        else:
            upper = line.tier.max_days_past_due
            name = line.tier.code
            band = (
                f"{line.tier.min_days_past_due}-{upper}"
                if upper is not None
                else (f"{line.tier.min_days_past_due}+")
            )
        table.add_row(
            name,
            band,
            line.currency,
            str(line.accounts),
            format_money(line.balance_minor, line.currency, locale),
            format_money(line.past_due_minor, line.currency, locale),
        )
    # Off a terminal rich assumes 80 columns and would cut the money columns short.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    console.print(table)
    console.print(f"database: {current.settings.database_url}")
    console.print("try these demo callers (number, account, digits to verify):")
    for caller in KNOWN_CALLERS:
        console.print(
            f"  {caller.phone}  {caller.account_number}  {caller.verify_digits}"
            f"  ({caller.language})"
        )
    if days:
        _demo_rehearsal(current, days, console)


def _demo_rehearsal(current: Runtime, days: int, console: Console) -> None:
    """A simulated campaign over the demo portfolio, then the demo callers ring the IVR."""
    console.print(
        f"\n[bold]Rehearsing the campaigns for {days} simulated day(s)[/bold] (those loaded, "
        "or the shipped campaigns.example.toml when none is; the real dialer and webhooks, "
        "the simulator as the carrier, a virtual clock; the database is copied, never changed)"
    )
    options = SimulationOptions(days=days, seed=1, plan_every_s=DEMO_PLAN_EVERY_S)
    with progress_bar(sys.stderr.isatty()) as advance:
        result = simulate(
            current.settings, options, progress=advance, inbound=DEMO_INBOUND, transcripts=3
        )
    print_summary(result, console)
    console.print("\n[bold]A few of the calls, as the callee heard them[/bold]")
    print_transcripts(result, console)
    console.print("\n[bold]The demo callers ring the line[/bold]")
    for what, lines in result.inbound:
        console.print(f"\n[bold]{what}[/bold]", highlight=False)
        for text in lines:
            console.print(text, markup=False, highlight=False)
    console.print(
        "\nrun it yourself (as the README installs it): .venv/bin/hotline campaign simulate "
        "--days 7 --out sim (attempts.csv; a few minutes); .venv/bin/hotline serve, "
        ".venv/bin/hotline simulator and .venv/bin/hotline call to ring the line live"
    )


# --- campaigns ----------------------------------------------------------------------------

campaign_group = AppGroup("campaign", help="Outbound campaigns: load, list, start, pause, preview.")
cli.add_command(campaign_group)
register_campaign_commands(campaign_group, _ready_runtime)
register_simulate(campaign_group, _ready_runtime)


# --- reports ------------------------------------------------------------------------------

report_group = AppGroup("report", help="Collections reports: the dashboard's KPIs.")
cli.add_command(report_group)


def _preview_lines(session: Session, day: dt.date, now: dt.datetime) -> list[tuple[str, bool, str]]:
    """(tier, called, reason) of the campaign preview of `day` (what holds each account)."""
    from dialer.desk_port import DialerCampaigns

    lines = DialerCampaigns().preview(session, day, now)
    return [(line.tier, line.called, line.reason) for line in lines]


register_report_commands(report_group, _ready_runtime, _preview_lines)


# --- accounts -----------------------------------------------------------------------------

accounts_group = AppGroup("accounts", help="Work on single accounts.")
cli.add_command(accounts_group)


def _actor(value: str) -> str:
    """Who did it, for the audit chain: a name that says someone, never empty or unprintable."""
    name = value.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise click.BadParameter("give who acts, e.g. --by j.smith (1 to 64 printable characters)")
    return name


@accounts_group.command("unlock")
@click.argument("account_number")
@click.option(
    "--by",
    "actor",
    default="cli",
    show_default=True,
    callback=lambda _ctx, _param, value: _actor(value),
    help="Who unlocks (audited): a name or staff id.",
)
def accounts_unlock(account_number: str, actor: str) -> None:
    """Let a cardholder locked out after failed verifications use phone self-service again."""
    current = _ready_runtime()
    try:
        with current.Session.begin() as session:
            was_locked = verification.unlock(
                session, account_number, actor=f"cli:{actor}", now=utcnow()
            )
    except verification.UnknownAccount:
        raise click.ClickException(f"no account {account_number!r}") from None
    click.echo(
        f"account {account_number}: phone self-service unlocked"
        if was_locked
        else f"account {account_number} was not locked; its failure count starts afresh"
    )


# --- payments ---------------------------------------------------------------------------

payments_group = AppGroup("payments", help="Card payments taken by phone.")
cli.add_command(payments_group)


@payments_group.command("reconcile")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366))
def payments_reconcile(days: int) -> None:
    """Post every charged <Pay> result kept in the last DAYS days that no payment records
    (its turn failed, e.g. the database was locked); safe to run as often as wished."""
    current = _ready_runtime()
    now = utcnow()
    with current.Session.begin() as session:
        posted, already = payments.reconcile(session, since=now - dt.timedelta(days=days), now=now)
    click.echo(f"posted {posted} payment(s) from kept results; {already} were posted already")


# --- dialer -------------------------------------------------------------------------------


@cli.command("dialer")
def dialer_command() -> None:
    """Run the outbound dialer until SIGTERM: place due campaign calls within pacing, and
    ask the carrier about calls whose outcome is not known (several may run on PostgreSQL;
    one on SQLite)."""
    from dialer.process import DialerAlreadyRunning, run

    current = _ready_runtime()
    try:
        run(current)
    except DialerAlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None
    # Stopped cleanly; the process only exits now. Python puts the default actions back
    # while it shuts down, so a second signal landing then (Ctrl-C twice, a supervisor's
    # SIGTERM and SIGINT a few ms apart) killed it after a clean stop (exit -2). Ignored
    # handlers are left as they are.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)


# --- audit --------------------------------------------------------------------------------

audit_group = AppGroup("audit", help="The hash-chained audit trail.")
cli.add_command(audit_group)


@audit_group.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Check every audit row's hash and link; exit 1 if the chain is broken."""
    current = _ready_runtime()
    with current.Session.begin() as session:
        report = audit.verify_chain(session)
    if report.ok:
        click.echo(
            f"audit chain intact: {report.rows_checked} events, "
            f"head seq {report.head_seq} hash {report.head_hash}"
        )
        return
    click.echo(f"audit chain BROKEN after checking {report.rows_checked} events:", err=True)
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)
    ctx.exit(1)


if __name__ == "__main__":
    main()
