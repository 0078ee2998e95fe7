"""The real `hotline` command against the test database."""

from sqlalchemy import func, select, text

from hotline.csvrows import COLUMNS
from hotline.models import CardAccount
from tests.conftest import backend
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
