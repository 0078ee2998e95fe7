"""`hotline campaign simulate` end to end: the real planner, policy, tick, reconcile, Twilio
adapter and /dialer webhooks against the simulator, on a virtual clock, over a copy of the
test database (SQLite, or PostgreSQL with HOTLINE_TEST_DATABASE_URL)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hotline.models import AuditEvent, ContactAttempt, Phone
from simulator.campaign import COLUMNS

# A Wednesday with no US or Chinese holiday on it or the day after.
START = "2026-12-02"
DAYS = "2"
RIGHT_PARTY = {"right-party", "promise", "paid", "opted-out", "transferred"}
DISPOSITIONS = {
    "right-party",
    "wrong-party",
    "unconfirmed",
    "voicemail-left",
    "fax",
    "no-answer",
    "busy",
    "failed",
    "invalid-number",
    "promise",
    "paid",
    "opted-out",
    "transferred",
}


@pytest.fixture
def portfolio(hotline, Session):
    """The first 20 accounts of the demo portfolio, as of the first simulated day."""
    result = hotline("seed-demo", "--as-of", START, "--size", "20")
    assert result.exit_code == 0, result.output
    return Session


def simulate(hotline, out: Path, *extra: str):
    result = hotline(
        "campaign",
        "simulate",
        "--days",
        DAYS,
        "--start",
        START,
        "--out",
        str(out),
        "--plan-every",
        "900",
        *extra,
    )
    assert result.exit_code == 0, result.output
    with (out / "attempts.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return result.output, rows


def figure(output: str, name: str) -> int:
    found = re.search(rf"│ {re.escape(name)}\s*│\s*(\d+) │", output)
    assert found, f"{name!r} not in the summary:\n{output}"
    return int(found.group(1))


def counts(Session) -> tuple[int, int, int]:
    with Session() as session:
        return (
            session.scalar(select(func.count()).select_from(ContactAttempt)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            session.scalar(select(func.count()).where(Phone.opted_out_at.is_not(None))),
        )


def test_a_simulated_campaign_writes_every_attempt_and_a_summary_equal_to_its_rows(
    hotline, portfolio, tmp_path
):
    before = counts(portfolio)
    output, rows = simulate(hotline, tmp_path / "run", "--seed", "3", "--transcripts", "2")

    with (tmp_path / "run" / "attempts.csv").open(encoding="utf-8") as handle:
        assert handle.readline().strip() == ",".join(COLUMNS)
    assert rows, output
    assert all(row["placed_at"].endswith("Z") for row in rows)
    assert all(f"{START}T" <= row["placed_at"] < "2026-12-04T" for row in rows)
    assert all(row["phone"].startswith("+") and row["account_number"] for row in rows)
    assert {row["disposition"] for row in rows} <= DISPOSITIONS
    assert {row["status"] for row in rows} <= {"completed", "busy", "no-answer", "failed"}
    assert len({row["attempt_id"] for row in rows}) == len(rows)
    answered = [row for row in rows if row["status"] == "completed"]
    assert all(row["duration_s"].isdigit() and row["answered_by"] for row in answered)
    # A voicemail gets the limited-content message only; a payment was heard as accepted.
    for row in rows:
        if row["disposition"] == "voicemail-left":
            assert "$" not in row["said"] and "debt" not in row["said"]
        if row["disposition"] == "paid":
            assert "was accepted" in row["said"] or "已受理" in row["said"]
    # The summary counts the rows.
    assert figure(output, "attempts") == len(rows)
    assert figure(output, "connects (answered)") == sum(
        1 for row in rows if row["duration_s"] not in ("", "0")
    )
    for name, disposition in (
        ("promises", "promise"),
        ("payments", "paid"),
        ("voicemails left", "voicemail-left"),
    ):
        assert figure(output, name) == sum(1 for r in rows if r["disposition"] == disposition)
    assert figure(output, "right-party contacts") == sum(
        1 for r in rows if r["disposition"] in RIGHT_PARTY
    )
    assert figure(output, "accounts called") == len({r["account_number"] for r in rows})
    assert figure(output, "accounts called") + figure(output, "accounts not called") == 20
    # A seeded mix of behaviour, call to call: voicemails, no answers and people.
    assert {"voicemail-left", "no-answer"} <= {r["disposition"] for r in rows}
    assert "Accounts not called, by reason" in output
    reasons = output.split("Accounts not called, by reason")[1].split("\nattempt ")[0]
    assert sum(int(n) for n in re.findall(r"│ [^│]+? +│ +(\d+) │", reasons)) == figure(
        output, "accounts not called"
    )
    assert "attempt " in output and "SAY" in output  # a transcript
    # Nothing of the rehearsal is in the database it read.
    assert counts(portfolio) == before


def test_the_same_seed_replays_the_same_attempts_and_another_seed_does_not(
    hotline, portfolio, tmp_path
):
    _, first = simulate(hotline, tmp_path / "a", "--seed", "5")
    _, again = simulate(hotline, tmp_path / "b", "--seed", "5")
    _, other = simulate(hotline, tmp_path / "c", "--seed", "6")
    assert (tmp_path / "a" / "attempts.csv").read_bytes() == (
        tmp_path / "b" / "attempts.csv"
    ).read_bytes()
    assert first == again
    assert [r["disposition"] for r in other] != [r["disposition"] for r in first]


def called_again_after_a_conversation(rows: list[dict[str, str]]) -> tuple[int, int]:
    """Accounts the cardholder spoke with on the first day, and how many were dialled again
    on the second."""
    spoke = {
        r["account_number"]
        for r in rows
        if r["placed_at"] < "2026-12-03T" and r["disposition"] in RIGHT_PARTY
    }
    again = {r["account_number"] for r in rows if r["placed_at"] >= "2026-12-03T"} & spoke
    return len(spoke), len(again)


def test_profile_overrides_the_campaigns_profile_for_the_run(hotline, portfolio, tmp_path):
    _, regf = simulate(hotline, tmp_path / "regf", "--profile", "us-regf")
    _, china = simulate(hotline, tmp_path / "cn", "--profile", "cn-default")
    # Reg F pauses calls for 7 days after a conversation; cn-default caps calls a day instead.
    spoke, again = called_again_after_a_conversation(regf)
    assert spoke > 0 and again == 0
    spoke, again = called_again_after_a_conversation(china)
    assert spoke > 0 and again > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days"),
        (["--days", "abc"], "--days"),
        (["--days", "2", "--profile", "us-nowhere"], "--profile"),
        (["--days", "2", "--plan-every", "5"], "--plan-every"),
        (["--days", "1", "--start", "9999-12-31"], "--start"),
        (["--days", "1", "--start", "0001-01-01"], "--start"),
        (["--days", "1", "--transcripts", "-1"], "--transcripts"),
    ],
)
def test_bad_options_are_one_line_errors(hotline, args, message):
    result = hotline("campaign", "simulate", *args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], lines


def test_an_out_folder_that_cannot_be_written_is_a_one_line_error(hotline, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = hotline("campaign", "simulate", "--days", "1", "--out", str(blocker / "out"))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--out" in lines[0] and "cannot create" in lines[0], lines


def test_the_demo_seeds_rehearses_a_campaign_rings_the_line_and_prints_it(hotline):
    """The README's run command (its time, a minute or less, is measured in the README's
    *Measured*, not here: a timed test fails on a busy machine, not on slow code)."""
    result = hotline("demo")
    assert result.exit_code == 0, result.output
    output = result.output
    assert "Hotline demo portfolio by delinquency tier" in output
    assert figure(output, "attempts") > 0 and figure(output, "payments") > 0
    assert "A few of the calls, as the callee heard them" in output
    assert 'SAY   "Hello, this is Example Bank, calling for' in output  # an outbound call
    assert "balance, in English (+14155550100" in output  # the demo callers ring the IVR
    assert "Your current balance is" in output
    assert "was accepted" in output
