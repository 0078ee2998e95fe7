"""`hotline users`, `hotline agencies` and `hotline import placements`, as a person runs them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from hotline.models import AuditEvent, CardAccount, DeskUser, Placement
from tests.conftest import seed_demo

pytestmark = pytest.mark.usefixtures("cheap_passwords")
PASSWORD = "correct horse battery staple\n"


def _users(Session) -> dict[str, DeskUser]:
    with Session.begin() as session:
        return {u.username: u for u in session.scalars(select(DeskUser))}


def test_the_first_admin_is_added_with_the_password_on_stdin(hotline, Session):
    from click.testing import CliRunner

    from hotline.cli import cli

    result = CliRunner().invoke(
        cli,
        ["users", "add", "Root.Admin", "--role", "admin", "--name", "Ada", "--password-stdin"],
        input=PASSWORD,
        env=hotline.env,
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("user root.admin added: admin")
    admin = _users(Session)["root.admin"]
    assert admin.display_name == "Ada" and admin.password_hash.startswith("$argon2id$")
    assert "correct horse" not in result.output


def test_agencies_list_says_when_there_are_none_and_lists_them_once_added(hotline):
    empty = hotline("agencies", "list")
    assert empty.exit_code == 0
    assert (
        empty.stdout.strip()
        == "no agencies yet: add one with `hotline agencies add CODE --name NAME`"
    )
    assert hotline("agencies", "add", "acme", "--name", "Acme Collections").exit_code == 0
    assert hotline("agencies", "list").stdout.strip() == "ACME\tAcme Collections"


def test_a_user_with_agency_phone_language_zone_and_waiver_limit(hotline, Session):
    assert hotline("agencies", "add", "acme", "--name", "Acme Collections").exit_code == 0
    result = _add(
        hotline,
        "li.wei",
        "--role",
        "agent",
        "--agency",
        "ACME",
        "--phone",
        "(415) 555-0133",
        "--language",
        "zh-CN",
        "--time-zone",
        "Asia/Shanghai",
        "--waiver-limit",
        "25.50",
    )
    assert result.exit_code == 0, result.output
    li = _users(Session)["li.wei"]
    assert (li.phone, li.language, li.time_zone) == ("+14155550133", "zh-CN", "Asia/Shanghai")
    assert (li.waiver_limit_minor, li.waiver_currency) == (2550, "USD")
    assert li.agency_id is not None


def _add(hotline, *args: str):
    from click.testing import CliRunner

    from hotline.cli import cli

    return CliRunner().invoke(
        cli, ["users", "add", *args, "--password-stdin"], input=PASSWORD, env=hotline.env
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ann", "--role", "agent", "--agency", "NOPE"), "Error: no agency 'NOPE' (known: none"),
        (("ann", "--role", "agent", "--phone", "12"), "Error: phone: "),
        (("ann", "--role", "agent", "--time-zone", "Mars/Base"), "is not an IANA time zone"),
        (("ann", "--role", "agent", "--waiver-limit", "1.234"), "more than 2 decimal places"),
        (("a b", "--role", "agent"), "Error: user name 'a b': 2 to 64 letters"),
        (("ann", "--role", "boss"), "Error: Invalid value for '--role'"),
        (("ann", "--role", "admin", "--agency", "X"), "an admin belongs to no agency"),
    ],
)
def test_a_wrong_value_is_said_in_one_line(hotline, args, message):
    result = _add(hotline, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_duplicate_user_or_a_short_password_is_refused_in_one_line(hotline):
    from click.testing import CliRunner

    from hotline.cli import cli

    assert _add(hotline, "ann", "--role", "agent").exit_code == 0
    again = _add(hotline, "ANN", "--role", "agent")
    assert again.exit_code == 1 and again.output.strip() == "Error: user ann exists already"
    short = CliRunner().invoke(
        cli,
        ["users", "add", "bob", "--role", "agent", "--password-stdin"],
        input="short\n",
        env=hotline.env,
    )
    assert short.output.strip() == "Error: the password must have at least 12 characters"


def test_a_password_is_never_taken_from_the_command_line(hotline):
    result = hotline("users", "add", "ann", "--role", "agent", "--password", "hunter2hunter2")
    assert result.exit_code == 2 and "No such option '--password'" in result.output


def test_the_password_prompt_asks_twice_on_a_terminal(hotline, Session):
    """The real command on a pseudo-terminal: asked twice, nothing echoed."""
    import os
    import pty
    import subprocess
    import sys
    import time
    from pathlib import Path

    main, terminal = pty.openpty()
    command = Path(sys.executable).with_name("hotline")
    process = subprocess.Popen(
        [str(command), "users", "add", "ann", "--role", "agent"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, **hotline.env},
        close_fds=True,
    )
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 60
    for prompt in (b"Password: ", b"Repeat for confirmation: "):
        while prompt not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(main, 1024)
            except OSError:
                break
        assert prompt in seen, seen
        os.write(main, b"correct horse battery staple\n")
    assert process.wait(timeout=60) == 0
    try:
        while chunk := os.read(main, 1024):
            seen += chunk
    except OSError:
        pass  # the terminal closed with the process
    os.close(main)
    assert b"correct horse" not in seen and b"may be echoed" not in seen
    ann = _users(Session)["ann"]
    assert ann.role == "agent" and ann.password_hash.startswith("$argon2")


def test_a_password_piped_without_password_stdin_is_one_clear_line(hotline, Session):
    from click.testing import CliRunner

    from hotline.cli import cli

    result = CliRunner().invoke(
        cli,
        ["users", "add", "ann", "--role", "agent"],
        input="correct horse battery staple\ncorrect horse battery staple\n",
        env=hotline.env,
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: no terminal to ask the password on: give it on standard input with "
        "--password-stdin\n"
    )
    assert _users(Session) == {}


def test_reset_password_disable_and_list(hotline, Session):
    from click.testing import CliRunner

    from hotline.cli import cli

    assert _add(hotline, "ann", "--role", "supervisor").exit_code == 0
    reset = CliRunner().invoke(
        cli,
        ["users", "reset-password", "ann", "--password-stdin"],
        input="another long password\n",
        env=hotline.env,
    )
    assert reset.exit_code == 0 and "password of ann reset" in reset.output
    assert hotline("users", "disable", "ann").output.strip() == "user ann disabled"
    assert hotline("users", "disable", "ann").output.strip() == "user ann was disabled already"
    missing = hotline("users", "disable", "nobody")
    assert missing.exit_code == 1 and missing.output.strip() == "Error: no user 'nobody'"
    listing = hotline("users", "list").output
    assert "ann" in listing and "supervisor" in listing and "disabled" in listing
    with Session.begin() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity_type == "desk_user")
                .order_by(AuditEvent.seq)
            )
        )
    assert actions == ["user.added", "user.password_reset", "user.disabled"]


# --- placements ---------------------------------------------------------------------------


@pytest.fixture
def accounts(Session, hotline) -> list[str]:
    seed_demo(Session, size=4)
    assert hotline("agencies", "add", "ACME").exit_code == 0
    assert hotline("agencies", "add", "BETA").exit_code == 0
    with Session.begin() as session:
        return list(session.scalars(select(CardAccount.account_number).order_by(CardAccount.id)))


def _placements(Session) -> set[tuple[str, str, dt.date, dt.date | None]]:
    from hotline.models import Agency

    with Session.begin() as session:
        return {
            (number, code, start, end)
            for number, code, start, end in session.execute(
                select(
                    CardAccount.account_number, Agency.code, Placement.starts_on, Placement.ends_on
                )
                .join(CardAccount, CardAccount.id == Placement.account_id)
                .join(Agency, Agency.id == Placement.agency_id)
            )
        }


def test_placements_are_imported_bad_rows_named_by_line_and_a_rerun_changes_nothing(
    hotline, Session, accounts, tmp_path
):
    a, b, c, d = accounts
    path = tmp_path / "placements.csv"
    path.write_text(
        "account,agency,from,to\n"
        f"{a},ACME,2026-11-01,\n"
        f"{b},acme,2026-11-01,2026-12-31\n"
        f"{c},BETA,2026-11-01,2026-11-30\n"
        f"{c},ACME,2026-11-15,\n"  # overlaps BETA's
        "9999,ACME,2026-11-01,\n"
        f"{d},NOPE,2026-11-01,\n"
        f"{d},BETA,2026-12-01,2026-11-01\n"
        f"{d},BETA,2026-12-01,\n"
        f"{d},BETA,2026-12-01,\n"
    )
    first = hotline("import", "placements", str(path))
    assert first.exit_code == 1
    assert first.output.splitlines()[0] == (
        "placements.csv: 9 rows read, 4 placed, 0 changed, 0 unchanged, 5 rejected"
    )
    for expected in (
        "rejected: line 5, column from: overlaps the account's placement with BETA from "
        "2026-11-01 to 2026-11-30",
        "rejected: line 6, column account: no account '9999'",
        "rejected: line 7, column agency: no agency 'NOPE' (known: ACME, BETA)",
        "rejected: line 8, column to: 2026-11-01 is before the start 2026-12-01",
        "rejected: line 10, column (row): repeats the placement on line 9",
    ):
        assert expected in first.output
    placed = _placements(Session)
    assert placed == {
        (a, "ACME", dt.date(2026, 11, 1), None),
        (b, "ACME", dt.date(2026, 11, 1), dt.date(2026, 12, 31)),
        (c, "BETA", dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        (d, "BETA", dt.date(2026, 12, 1), None),
    }
    again = hotline("import", "placements", str(path))
    assert again.output.splitlines()[0] == (
        "placements.csv: 9 rows read, 0 placed, 0 changed, 4 unchanged, 5 rejected"
    )
    assert _placements(Session) == placed


def test_a_later_file_ends_a_placement_and_another_agency_takes_over(
    hotline, Session, accounts, tmp_path
):
    a = accounts[0]
    path = tmp_path / "p.csv"
    path.write_text(f"account,agency,from,to\n{a},ACME,2026-11-01,\n")
    assert hotline("import", "placements", str(path)).exit_code == 0
    path.write_text(
        f"account,agency,from,to\n{a},ACME,2026-11-01,2026-11-30\n{a},BETA,2026-12-01,\n"
    )
    result = hotline("import", "placements", str(path))
    assert result.exit_code == 0, result.output
    assert "1 placed, 1 changed, 0 unchanged, 0 rejected" in result.output
    assert _placements(Session) == {
        (a, "ACME", dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        (a, "BETA", dt.date(2026, 12, 1), None),
    }
    with Session.begin() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("%placement%"))
                .order_by(AuditEvent.seq)
            )
        )
    assert actions == [
        "placement.added",
        "import.placements",
        "placement.changed",
        "placement.added",
        "import.placements",
    ]


def test_a_file_that_is_not_a_placements_file_is_refused_with_status_2(hotline, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("account,agency,from\n1,ACME,2026-01-01\n")
    result = hotline("import", "placements", str(path))
    assert result.exit_code == 2
    assert result.output.strip() == "Error: p.csv: missing column(s): to"
