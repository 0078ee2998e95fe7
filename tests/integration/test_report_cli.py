"""`hotline report kpis`: the table, the CSV, and one-line errors for a bad range."""

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

from hotline import arrangements
from hotline.demo import ensure_default_tiers
from hotline.enums import Source
from hotline.origin import Origin
from tests.integration.dialer_fixtures import add_account

NY = ZoneInfo("America/New_York")


def _promise_today(Session):
    now = dt.datetime.now(dt.UTC)
    with Session.begin() as session:
        ensure_default_tiers(session)
        account = add_account(session, "4000000000000009", dpd=45)
        account.tier_id = None  # as an import leaves it before the planner runs
        arrangements.save_promise(
            session,
            account,
            amount_minor=75_00,
            date=now.date() + dt.timedelta(days=3),
            origin=Origin(Source.AGENT, "agent:test"),
            now=now,
        )
    return now.astimezone(NY).date()


def test_the_table_shows_each_day_and_the_days_promise(hotline, Session):
    today = _promise_today(Session)
    result = hotline("report", "kpis", "--zone", "America/New_York")
    assert result.exit_code == 0, result.output
    assert (
        f"KPIs {(today - dt.timedelta(days=6)).isoformat()} to {today.isoformat()}" in result.output
    )
    line = next(
        row for row in result.output.splitlines() if today.isoformat() in row and "current" in row
    )
    assert "│        1 │" in line  # the promise, on the day it was made, current (no tier yet)
    assert "roll rates: no two days running" in result.output


def test_the_csv_has_a_row_per_day_and_tier_and_a_days_total(hotline, Session):
    today = _promise_today(Session)
    result = hotline(
        "report",
        "kpis",
        "--from",
        today.isoformat(),
        "--to",
        today.isoformat(),
        "--format",
        "csv",
        "--zone",
        "America/New_York",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["day"], r["tier"], r["promises"]) for r in rows] == [
        (today.isoformat(), "current", "1"),
        (today.isoformat(), "all", "1"),
    ]
    assert rows[0]["connect_rate"] == ""  # no attempts: no rate, not 0


def test_bad_dates_and_a_backwards_range_are_one_line_errors(hotline):
    for args, words in (
        (("--from", "2026-02-30"), "--from '2026-02-30' is not a date like 2026-12-01"),
        (("--to", "soon"), "--to 'soon' is not a date"),
        (
            ("--from", "2026-12-05", "--to", "2026-12-01"),
            "--from 2026-12-05 is after --to 2026-12-01",
        ),
        (("--zone", "Mars/Olympus"), "--zone 'Mars/Olympus' is not an IANA time zone"),
    ):
        result = hotline("report", "kpis", *args)
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and words in lines[0], result.output


def test_a_payments_file_imported_today_shows_on_the_day_the_bank_posted_it(
    hotline, Session, tmp_path
):
    from hotline.paymentrows import PAYMENT_COLUMNS

    with Session.begin() as session:
        ensure_default_tiers(session)
        add_account(session, "4000000000000009", dpd=45)
    today = dt.datetime.now(dt.UTC).astimezone(NY).date()
    booked = today - dt.timedelta(days=2)
    path = tmp_path / "payments.csv"
    path.write_text(
        f"{','.join(PAYMENT_COLUMNS)}\n4000000000000009,40.00,USD,{booked.isoformat()},B1\n",
        encoding="utf-8",
    )
    assert hotline("import", "payments", str(path)).exit_code == 0
    result = hotline(
        "report",
        "kpis",
        "--from",
        booked.isoformat(),
        "--to",
        today.isoformat(),
        "--format",
        "csv",
        "--zone",
        "America/New_York",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    collected = {(r["day"], r["tier"]): r["collected_USD"] for r in rows}
    assert collected[(booked.isoformat(), "all")] == "40.00"
    assert all(
        v in ("0", "0.00") for (day, _t), v in collected.items() if day != booked.isoformat()
    )
