"""adv15: odd but plausible rows in the bank's files."""

from __future__ import annotations

from hotline.csvrows import COLUMNS
from tests.integration.test_import import ALICE


def _accounts_file(tmp_path, **changes):
    row = {**ALICE, **changes}
    lines = [",".join(COLUMNS), ",".join(f'"{row[c]}"' for c in COLUMNS)]
    path = tmp_path / "accounts.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_days_past_due_in_superscript_digits_is_a_row_error_not_a_traceback(hotline, tmp_path):
    """'²'.isdigit() is True, int('²') raises: the import dies instead of rejecting the row."""
    path = _accounts_file(tmp_path, days_past_due="²")
    try:
        result = hotline("import", "accounts", str(path))
    except ValueError as crash:  # what happens: an uncaught ValueError, a traceback
        raise AssertionError(f"the import crashed: {crash!r}") from None
    assert result.exit_code == 1, result.output
    assert "days_past_due" in result.output


def test_full_width_verify_digits_from_a_chinese_file_still_verify_a_caller(Session):
    """'９４１０７' (full-width, common in files typed with a Chinese IME) passes the
    isdigit() check and is hashed as-is: the caller pressing 9 4 1 0 7 is never verified."""
    import datetime as dt
    import io

    from sqlalchemy import select

    from hotline.importer import import_accounts
    from hotline.models import Cardholder
    from hotline.secrets import verify_digits_match
    from tests.conftest import TEST_SECRET_KEY

    row = {**ALICE, "verify_digits": "９４１０７"}
    text = "\n".join([",".join(COLUMNS), ",".join(f'"{row[c]}"' for c in COLUMNS)]) + "\n"
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    with Session.begin() as session:
        report = import_accounts(
            session,
            io.StringIO(text, newline=""),
            secret_key=TEST_SECRET_KEY,
            now=now,
            actor="test",
            source={},
        )
    with Session() as session:
        holders = session.scalars(select(Cardholder)).all()
    if report.rejected:  # refusing the row with its reason is fine too
        return
    (holder,) = holders
    assert verify_digits_match(TEST_SECRET_KEY, holder.verify_salt, "94107", holder.verify_hash)


def test_report_kpis_to_the_last_day_of_the_calendar_is_one_line_not_a_traceback(hotline):
    try:
        result = hotline("report", "kpis", "--from", "9999-12-30", "--to", "9999-12-31")
    except OverflowError as crash:
        raise AssertionError(f"traceback: {crash!r}") from None
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) <= 3, result.output


def test_report_kpis_with_a_zone_spelled_with_dots_is_a_usage_error(hotline):
    try:
        result = hotline("report", "kpis", "--zone", "../../etc/passwd")
    except Exception as crash:
        raise AssertionError(f"traceback: {crash!r}") from None
    assert result.exit_code == 2, result.output


def test_users_add_with_an_absurd_waiver_limit_is_one_line_not_a_traceback(hotline):
    """A limit past BIGINT reaches PostgreSQL: DataError (numeric value out of range)."""
    from click.testing import CliRunner

    from hotline.cli import cli

    try:
        result = CliRunner().invoke(
            cli,
            [
                "users",
                "add",
                "amy",
                "--role",
                "agent",
                "--waiver-limit",
                "99999999999999999999999",
                "--password-stdin",
            ],
            input="correct horse battery staple\n",
            env=hotline.env,
            catch_exceptions=False,
        )
    except Exception as crash:
        raise AssertionError(f"traceback: {type(crash).__name__}") from None
    assert result.exit_code in (1, 2), result.output
    assert "waiver limit is larger than any balance" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_campaign_simulate_starting_on_the_calendars_last_day_is_one_line(hotline):
    try:
        result = hotline("campaign", "simulate", "--days", "1", "--start", "9999-12-31")
    except OverflowError as crash:
        raise AssertionError(f"traceback: {crash!r}") from None
    assert result.exit_code == 2, result.output
