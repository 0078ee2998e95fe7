"""Errors a user can cause, said in one line: what every command prints instead of a traceback.

A database that is down or missing, a SQLite file in a folder that does not exist, an
unknown migration revision, a port another program holds, a simulator that is not running:
none of these is a bug, and the person at the terminal needs the cause and the next step,
not a stack. `describe` turns each such exception into that line; the `hotline` group
(hotline.cli) applies it to every command, so a new command gets it for free. Anything not
recognised here is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import click
import requests
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError


class FileUnusable(click.ClickException):
    """An input file that cannot be read at all (exit status 2, as documented)."""

    exit_code = 2


def one_line(text: str) -> str:
    """Collapse a multi-line driver message into one line."""
    return "; ".join(" ".join(part.split()) for part in text.splitlines() if part.strip())


def describe(exc: BaseException, database_url: str | None = None) -> str | None:
    """The line to print for a known operational error; None for anything else (a bug)."""
    if isinstance(exc, OperationalError | InterfaceError):
        return _database_message(exc, database_url)
    if isinstance(exc, CommandError | RevisionError):
        return _migration_message(exc)
    if isinstance(exc, requests.RequestException):
        return f"HTTP request failed: {one_line(str(exc))}"
    if isinstance(exc, OSError):
        if exc.errno == errno.EADDRINUSE:
            return f"address already in use ({exc.strerror}): choose another with --port"
        if exc.strerror and exc.filename:
            return f"{exc.strerror}: {exc.filename}"
        if exc.strerror:
            return exc.strerror
    return None


def _database_message(exc: OperationalError | InterfaceError, database_url: str | None) -> str:
    reason = one_line(str(exc.orig)) if exc.orig is not None else one_line(str(exc))
    if database_url is None:
        return f"database unavailable: {reason}"
    try:
        url = make_url(database_url)
    except ArgumentError:
        return f"database unavailable: {reason}"
    shown = url.render_as_string(hide_password=True)
    hint = ""
    if url.get_backend_name() == "sqlite" and url.database:
        folder = Path(url.database).expanduser().parent
        if not folder.is_dir():
            hint = f" (the folder {folder} does not exist: create it or change DATABASE_URL)"
    elif "does not exist" in reason and url.database:
        where = "".join(
            f" {flag} {value}"
            for flag, value in (("-h", url.host), ("-p", url.port), ("-U", url.username))
            if value
        )
        hint = f" (create it with `createdb{where} {url.database}` or change DATABASE_URL)"
    elif "refused" in reason.lower():
        hint = " (is PostgreSQL running there? check DATABASE_URL)"
    return f"cannot use the database {shown}: {reason}{hint}"


def _migration_message(exc: BaseException) -> str:
    message = one_line(str(exc))
    if "Can't locate revision" in message or "No such revision" in message:
        return f"{message} (known revisions: {', '.join(known_revisions())}, base, head)"
    return f"migration refused: {message}"


def known_revisions() -> list[str]:
    """The package's migration revisions, oldest first."""
    from importlib import resources

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(resources.files("hotline") / "migrations"))
    script = ScriptDirectory.from_config(config)
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def check_port_free(host: str, port: int, what: str) -> None:
    """Fail in one line, before any server starts, if `host:port` cannot be listened on.

    Gunicorn would retry for five seconds and log ten lines; werkzeug prints two lines and
    exits. Binding once here (with SO_REUSEADDR, as both servers do) gives the reason and
    the way out. Another program could still take the port in the instant between this
    check and the server's own bind; the server then reports it in its own words.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is already in use (is another {what} running?): "
                    f"stop it or choose another port with --port"
                ) from None
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
