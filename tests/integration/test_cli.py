"""The real `hotline` command against the test database."""

import errno
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from hotline.csvrows import COLUMNS
from hotline.models import CardAccount, Cardholder
from tests.conftest import TEST_DATABASE_URL, TEST_SECRET_KEY, backend
from tests.integration.test_import import ALICE, WANG

HEADER = ",".join(COLUMNS)


def write_csv(path, *rows, header=HEADER):
    lines = [header] + [",".join(f'"{r[c]}"' for c in COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_import_accounts_prints_a_summary_and_exits_0(hotline, tmp_path, Session):
    result = hotline("import", "accounts", write_csv(tmp_path / "a.csv", ALICE, WANG))
    assert result.exit_code == 0, result.output
    assert "a.csv: 2 rows read, 2 created, 0 updated, 0 unchanged, 0 rejected" in result.stdout
    with Session() as session:
        assert session.scalar(select(func.count()).select_from(CardAccount)) == 2


def test_rejected_rows_are_listed_with_line_numbers_and_the_exit_status_says_so(
    hotline, tmp_path, Session
):
    path = write_csv(tmp_path / "a.csv", ALICE, {**WANG, "currency": "CNYY"})
    report = tmp_path / "rejected.csv"
    result = hotline("import", "accounts", path, "--report", str(report))
    assert result.exit_code == 1
    assert "1 created" in result.stdout and "1 rejected" in result.stdout
    assert "rejected: line 3, column currency: 'CNYY' is not an ISO 4217 currency code" in (
        result.stderr
    )
    assert report.read_text().splitlines()[1].startswith("3,currency,")
    with Session() as session:
        assert session.scalar(select(func.count()).select_from(CardAccount)) == 1


def test_unknown_columns_fail_the_file_naming_them(hotline, tmp_path):
    path = write_csv(tmp_path / "a.csv", header=",".join(COLUMNS) + ",favourite_colour")
    result = hotline("import", "accounts", path)
    assert result.exit_code == 2
    assert "unknown column(s): favourite_colour" in result.stderr


def test_seed_demo_is_deterministic_and_idempotent(hotline, Session):
    first = hotline("seed-demo", "--as-of", "2026-11-23")
    assert first.exit_code == 0, first.output
    assert "300 created" in first.stdout
    with Session() as session:
        snapshot = session.execute(
            select(CardAccount.account_number, CardAccount.balance_minor).order_by(
                CardAccount.account_number
            )
        ).all()
    again = hotline("seed-demo", "--as-of", "2026-11-23")
    assert "0 created, 0 updated, 300 unchanged" in again.stdout
    with Session() as session:
        assert (
            session.execute(
                select(CardAccount.account_number, CardAccount.balance_minor).order_by(
                    CardAccount.account_number
                )
            ).all()
            == snapshot
        )
        currencies = set(session.scalars(select(CardAccount.currency)))
        assert currencies == {"USD", "CNY"}


def test_demo_prints_accounts_and_balances_per_tier(hotline):
    result = hotline("demo")
    assert result.exit_code == 0, result.output
    for tier in ("current", "early", "mid", "late", "severe", "charge-off"):
        assert tier in result.stdout
    assert "$" in result.stdout and "¥" in result.stdout
    assert "+14155550100" in result.stdout  # the known demo caller


def test_audit_verify_reports_an_intact_chain_and_fails_on_a_broken_one(hotline, engine):
    hotline("seed-demo")
    ok = hotline("audit", "verify")
    assert ok.exit_code == 0 and "audit chain intact: 1 events" in ok.stdout
    with engine.begin() as connection:
        if backend() == "postgresql":
            connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_event_no_update"))
        connection.execute(text("UPDATE audit_event SET actor = 'mallory'"))
        if backend() == "postgresql":
            connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
    broken = hotline("audit", "verify")
    assert broken.exit_code == 1
    assert "seq 1: content does not match its hash (edited)" in broken.stderr


def test_db_current_shows_both_revisions(hotline, engine):
    from hotline import db

    head = db.head_revision(engine)  # the newest migration, whichever it is
    result = hotline("db", "current")
    assert f"database: {head}" in result.stdout and f"code:     {head}" in result.stdout


def test_a_bad_setting_stops_the_command_naming_the_variable(hotline):
    result = hotline("demo", env={"HOTLINE_PROFILE": "nowhere"})
    assert result.exit_code == 1
    assert "HOTLINE_PROFILE: 'nowhere' is not one of" in result.stderr


def test_serve_refuses_more_threads_than_a_pool_may_hold_before_starting(hotline):
    result = hotline("serve", "--threads", "500")
    assert result.exit_code == 2
    assert "--threads" in result.stderr and "1<=x<=200" in result.stderr


def test_serve_names_a_bad_setting_before_starting_any_worker(hotline):
    result = hotline("serve", "--workers", "1", env={"HOTLINE_PROFILE": "nowhere"})
    assert result.exit_code == 1
    assert "configuration: HOTLINE_PROFILE: 'nowhere' is not one of" in result.stderr


# --- errors a user can cause: one line on stderr, a non-zero exit, never a traceback -----


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program is listening on, for as long as the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _missing_postgres_database() -> str:
    """A database on the test server that does not exist (the test's own name + _missing)."""
    url = make_url(TEST_DATABASE_URL)
    return url.set(database=f"{url.database}_missing").render_as_string(hide_password=False)


def run_hotline(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed command in a process of its own, as a person at a terminal runs it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", *args],
        env={**clean, "HOTLINE_ENV": "test", "HOTLINE_SECRET_KEY": TEST_SECRET_KEY, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(stderr: str, exit_code: int, *fragments: str) -> None:
    assert exit_code != 0
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0]


DATABASE_COMMANDS = [
    ("demo",),
    ("seed-demo",),
    ("db", "upgrade"),
    ("db", "current"),
    ("db", "downgrade", "base"),
    ("audit", "verify"),
    ("import", "accounts", "__CSV__"),
]


def _args(command: tuple[str, ...], tmp_path: Path) -> list[str]:
    csv_path = write_csv(tmp_path / "a.csv", ALICE)
    return [csv_path if part == "__CSV__" else part for part in command]


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_every_database_command_says_a_closed_postgresql_port_in_one_line(
    hotline, tmp_path, command
):
    url = f"postgresql+psycopg://postgres:pw@127.0.0.1:{_closed_port()}/hotline"
    result = hotline(*_args(command, tmp_path), env={"DATABASE_URL": url})
    assert_one_line_error(
        result.stderr,
        result.exit_code,
        "cannot use the database postgresql+psycopg://postgres:***@127.0.0.1:",
        "Connection refused",
    )
    assert "pw@" not in result.stderr  # the password is never printed


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_every_database_command_names_a_sqlite_folder_that_does_not_exist(
    hotline, tmp_path, command
):
    missing = tmp_path / "no-such-folder" / "hotline.db"
    result = hotline(*_args(command, tmp_path), env={"DATABASE_URL": f"sqlite:///{missing}"})
    assert_one_line_error(
        result.stderr,
        result.exit_code,
        "unable to open database file",
        f"the folder {missing.parent} does not exist",
    )
    assert not missing.parent.exists()


@pytest.mark.skipif(backend() != "postgresql", reason="needs a PostgreSQL server to ask")
def test_a_missing_postgresql_database_is_named_with_how_to_create_it(tmp_path):
    url = _missing_postgres_database()
    result = run_hotline("demo", env={"DATABASE_URL": url}, cwd=tmp_path)
    parts = make_url(url)
    name = parts.database
    # The URL's server and user, so that the hint works as written (not libpq's defaults).
    flags = (("-h", parts.host), ("-p", parts.port), ("-U", parts.username))
    createdb = " ".join(["createdb", *(f"{f} {v}" for f, v in flags if v), str(name)])
    assert_one_line_error(
        result.stderr, result.returncode, f'database "{name}" does not exist', createdb
    )


@pytest.mark.parametrize("kind", ["postgresql down", "sqlite folder missing"])
def test_serve_checks_the_database_before_starting_any_worker(tmp_path, kind):
    # In a process of its own, with a timeout: a serve that did not check would run on.
    if kind == "postgresql down":
        url, fragment = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/x", "refused"
    else:
        url, fragment = f"sqlite:///{tmp_path}/nowhere/hotline.db", "does not exist"
    port = str(_closed_port())
    result = run_hotline("serve", "--port", port, env={"DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(result.stderr, result.returncode, fragment)
    assert "gunicorn" not in result.stdout + result.stderr


def test_postgresql_down_is_one_line_from_the_real_process(tmp_path):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/hotline"
    result = run_hotline("db", "current", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(result.stderr, result.returncode, "Connection refused")


def test_a_sqlite_file_in_a_missing_folder_is_one_line_from_the_real_process(tmp_path):
    url = f"sqlite:///{tmp_path}/nowhere/hotline.db"
    result = run_hotline("demo", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(result.stderr, result.returncode, f"{tmp_path}/nowhere does not exist")


def test_downgrading_to_an_unknown_revision_names_the_known_ones(hotline, engine):
    from alembic.script import ScriptDirectory

    from hotline import db

    head = db.head_revision(engine)
    # Read from the migrations themselves (oldest first), not assumed to be 0001..head: a
    # branch may carry a revision whose predecessor lands with another branch.
    scripts = ScriptDirectory.from_config(db.alembic_config(engine))
    known = ", ".join(reversed([s.revision for s in scripts.walk_revisions()]))
    result = hotline("db", "downgrade", "0999")
    assert_one_line_error(
        result.stderr,
        result.exit_code,
        "Can't locate revision identified by '0999'",
        f"known revisions: {known}, base, head",
    )
    assert f"database: {head}" in hotline("db", "current").stdout  # nothing was touched


def test_downgrading_upwards_is_refused_in_one_line(hotline):
    hotline("db", "downgrade", "0001")
    try:
        result = hotline("db", "downgrade", "0002")
    finally:
        hotline("db", "upgrade")  # the next test expects the schema at head
    assert_one_line_error(result.stderr, result.exit_code, "migration refused")


@pytest.mark.parametrize(("command", "what"), [("serve", "server"), ("simulator", "simulator")])
def test_a_busy_port_is_named_with_the_way_out(database_url, tmp_path, held_port, command, what):
    result = run_hotline(
        command, "--port", str(held_port), env={"DATABASE_URL": database_url}, cwd=tmp_path
    )
    assert_one_line_error(
        result.stderr,
        result.returncode,
        f"port {held_port} on 127.0.0.1 is already in use (is another {what} running?)",
        "--port",
    )


def test_a_reader_leaving_the_pipe_is_not_said_to_be_the_commands_error(capsys):
    """`hotline ... | head -1`: the write that fails once head has its line ends the command
    quietly, as click ends it, not with 'Error: Broken pipe' blaming the command."""
    from hotline.cli import HotlineGroup

    group = HotlineGroup(name="hotline", add_default_commands=False)

    @group.command("listing", with_appcontext=False)
    def listing() -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    with pytest.raises(SystemExit) as ended:
        group.main(["listing"], prog_name="hotline")
    assert ended.value.code == 1
    assert "Error" not in capsys.readouterr().err


@pytest.mark.parametrize("told", [False, True], ids=["not told", "told"])
def test_a_simulator_on_another_port_says_what_the_app_must_be_told(tmp_path, told):
    port = _closed_port()
    url = f"http://127.0.0.1:{port}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    env = {**clean, "HOTLINE_ENV": "test", "HOTLINE_SECRET_KEY": TEST_SECRET_KEY}
    env |= {"PYTHONUNBUFFERED": "1"} | ({"TWILIO_API_BASE_URL": url} if told else {})
    with subprocess.Popen(
        [sys.executable, "-m", "hotline.cli", "simulator", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            first = process.stdout.readline()
            assert first.startswith(f"simulator on {url} (real time)"), first
            second = "" if told else process.stdout.readline()
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        # Through the same buffered streams (communicate() would skip what readline held).
        rest, errors = process.stdout.read(), process.stderr.read()
    hint = (
        "the app and `hotline call` look for the carrier at http://127.0.0.1:8900: "
        f"run them with TWILIO_API_BASE_URL={url}"
    )
    assert second.rstrip("\n") == ("" if told else hint)
    assert rest == "stopping\n", (rest, errors)
    assert "Traceback" not in errors


@pytest.mark.parametrize(
    "command", [("call",), ("call", "--keys", "94107#,1"), ("simulator", "calls")], ids=" ".join
)
def test_the_softphone_without_a_simulator_says_how_to_start_one(tmp_path, command):
    url = f"http://127.0.0.1:{_closed_port()}"
    result = run_hotline(*command, env={"TWILIO_API_BASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(
        result.stderr,
        result.returncode,
        f"no simulator answering at {url} (Connection refused)",
        "`hotline simulator`",
    )


def test_a_file_that_is_not_utf8_is_refused_naming_its_line(hotline, tmp_path, Session):
    text = "\n".join([HEADER] + [",".join(f'"{r[c]}"' for c in COLUMNS) for r in (ALICE, WANG)])
    path = tmp_path / "gbk.csv"
    path.write_bytes(text.encode("gb18030"))  # 王芳 on line 3 is not UTF-8
    result = hotline("import", "accounts", str(path))
    assert result.exit_code == 2
    assert_one_line_error(
        result.stderr, result.exit_code, "gbk.csv: line 3 is not utf-8", "--encoding"
    )
    with Session() as session:
        assert session.scalar(select(func.count()).select_from(CardAccount)) == 0


def test_a_gb18030_file_imports_with_its_encoding_named(hotline, tmp_path, Session):
    text = "\n".join([HEADER] + [",".join(f'"{r[c]}"' for c in COLUMNS) for r in (ALICE, WANG)])
    path = tmp_path / "gbk.csv"
    path.write_bytes(text.encode("gb18030"))
    result = hotline("import", "accounts", str(path), "--encoding", "gb18030")
    assert result.exit_code == 0, result.output
    with Session() as session:
        names = set(session.scalars(select(Cardholder.name)))
    assert names == {"Alice Example", "王芳"}


def test_an_unknown_encoding_is_one_line(hotline, tmp_path):
    result = hotline("import", "accounts", write_csv(tmp_path / "a.csv"), "--encoding", "klingon")
    assert_one_line_error(result.stderr, result.exit_code, "'klingon' is not an encoding")


def test_an_unclosed_quote_is_reported_on_its_line_and_the_rows_after_it_import(
    hotline, tmp_path, Session
):
    rows = [{**ALICE, "account_number": f"40000000000001{i:02d}"} for i in range(4)]
    lines = [HEADER] + [",".join(r[c] for c in COLUMNS) for r in rows]
    lines[2] = lines[2].replace("Alice Example", '"Alice Example')  # line 3: never closed
    path = tmp_path / "a.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = hotline("import", "accounts", str(path))
    assert result.exit_code == 1
    assert "a.csv: 4 rows read, 3 created, 0 updated, 0 unchanged, 1 rejected" in result.stdout
    assert result.stderr.splitlines() == [
        "rejected: line 3, column (row): a quote opened on this line is never closed; "
        "the row is skipped and reading resumes on the next line"
    ]
    with Session() as session:
        numbers = set(session.scalars(select(CardAccount.account_number)))
    assert numbers == {
        rows[0]["account_number"],
        rows[2]["account_number"],
        rows[3]["account_number"],
    }


def test_env_file_settings_are_used(tmp_path):
    database = tmp_path / "from-env-file.db"
    env_file = tmp_path / "hotline.env"
    env_file.write_text(f"DATABASE_URL=sqlite:///{database}\nHOTLINE_LOG_LEVEL=WARNING\n")
    result = run_hotline("--env-file", str(env_file), "db", "upgrade", env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("database at revision 00")
    assert database.exists() and not (tmp_path / "hotline.db").exists()


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / "hotline.env"
    env_file.write_text(f"DATABASE_URL=sqlite:///{tmp_path}/file.db\n")
    result = run_hotline(
        "--env-file",
        str(env_file),
        "db",
        "upgrade",
        env={"DATABASE_URL": f"sqlite:///{tmp_path}/shell.db"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "shell.db").exists() and not (tmp_path / "file.db").exists()


def test_a_command_used_wrongly_says_so_in_one_line_with_exit_status_2(hotline):
    for args, said in [
        (("accounts", "unlock"), "Missing argument 'ACCOUNT_NUMBER'."),
        (("no-such-command",), "No such command 'no-such-command'."),
        (("accounts", "unlock", "4000123412341234", "--by", "  "), "Invalid value for '--by'"),
    ]:
        result = hotline(*args)
        assert result.exit_code == 2, (args, result.output)
        [line] = result.stderr.splitlines()
        assert line.startswith("Error: ") and said in line, line
        assert "--help`)" in line


def test_a_demo_larger_than_its_fictional_numbers_allow_is_refused_in_one_line(
    database_url, tmp_path
):
    result = run_hotline(
        "seed-demo", "--size", "800", env={"DATABASE_URL": database_url}, cwd=tmp_path
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "800 is not in the range 1<=x<=750" in result.stderr
