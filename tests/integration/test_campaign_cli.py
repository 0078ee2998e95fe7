"""`hotline campaign ...` against the test database, as a collections manager runs it."""

from __future__ import annotations

import datetime as dt
import tempfile

from sqlalchemy import select

from dialer.claims import set_campaign_limits, set_global_limits
from dialer.pacing import Limits
from hotline.enums import AttemptStatus, CampaignStatus
from hotline.models import Campaign, ContactAttempt, DelinquencyTier
from tests.conftest import seed_demo
from tests.integration.dialer_fixtures import EXAMPLE, ONE_CAMPAIGN, add_account


def statuses(Session) -> dict[str, CampaignStatus]:
    with Session() as session:
        return {c.name: c.status for c in session.scalars(select(Campaign))}


def test_load_stores_the_example_s_tiers_and_campaigns_as_drafts(hotline, Session, tmp_path):
    result = hotline("campaign", "load", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "tiers: early, mid, late, severe",
        "campaigns.example.toml: 3 campaign(s) created (us-reminders, us-massachusetts, "
        "cn-reminders), 0 updated",
    ]
    assert statuses(Session) == dict.fromkeys(
        ("us-reminders", "us-massachusetts", "cn-reminders"), CampaignStatus.DRAFT
    )
    with Session() as session:
        bands = session.execute(
            select(
                DelinquencyTier.code,
                DelinquencyTier.min_days_past_due,
                DelinquencyTier.max_days_past_due,
            ).order_by(DelinquencyTier.min_days_past_due)
        ).all()
    assert bands == [("early", 1, 29), ("mid", 30, 59), ("late", 60, 89), ("severe", 90, None)]
    hotline("campaign", "start", "us-reminders")
    again = hotline("campaign", "load", str(EXAMPLE))
    # The same file again changes nothing (README: "Running either a second time is safe").
    assert "0 campaign(s) created, 0 updated" in again.stdout
    changed = EXAMPLE.read_text().replace('profile = "us-regf"', 'profile = "us-wa"', 1)
    assert changed != EXAMPLE.read_text()
    edited = tmp_path / "edited.toml"
    edited.write_text(changed)
    assert "0 campaign(s) created, 1 updated" in hotline("campaign", "load", str(edited)).stdout
    # The example leaves status out: a started campaign stays started.
    assert statuses(Session)["us-reminders"] is CampaignStatus.ACTIVE


def test_a_status_written_in_the_file_is_set_at_each_load_and_said(hotline, tmp_path, Session):
    path = tmp_path / "c.toml"
    path.write_text(ONE_CAMPAIGN, encoding="utf-8")  # status = "active"
    hotline("campaign", "load", str(path))
    hotline("campaign", "pause", "us")
    result = hotline("campaign", "load", str(path))
    assert "status set by the file: us: paused -> active" in result.stdout
    assert statuses(Session)["us"] is CampaignStatus.ACTIVE


def test_a_bad_file_lists_every_problem_by_key_and_line_and_stores_nothing(
    hotline, tmp_path, Session
):
    bad = tmp_path / "campaigns.toml"
    bad.write_text(
        ONE_CAMPAIGN.replace("attempts_per_day = 2", "attempts_per_day = 20").replace(
            'amd = "detect-message-end"\noffer_agent = false', 'amd = "guess"\noffer_agent = false'
        ),
        encoding="utf-8",
    )
    result = hotline("campaign", "load", str(bad))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "campaigns.toml line 18: campaigns.us.tiers.early.amd: 'guess' is not one of off, "
        "detect, detect-message-end; off, detect or detect-message-end",
        "campaigns.toml line 23: campaigns.us.tiers.mid.attempts_per_day: 20 is out of "
        "range; a whole number from 1 to 10",
        "Error: campaigns.toml: 2 problem(s), nothing stored",
    ]
    assert statuses(Session) == {}


def test_a_caller_id_outside_the_settings_is_refused(hotline, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(ONE_CAMPAIGN, encoding="utf-8")
    result = hotline("campaign", "load", str(path), env={"HOTLINE_CALLER_IDS": "+18005550199"})
    assert result.exit_code == 2
    assert "c.toml line 9: campaigns.us.caller_id: +18005550100 is not among" in result.stderr


def test_list_start_and_pause(hotline, Session):
    assert hotline("campaign", "list").stdout.strip() == (
        "no campaigns: load one with `hotline campaign load FILE.toml`"
    )
    hotline("campaign", "load", str(EXAMPLE))
    started = hotline("campaign", "start", "us-reminders")
    assert started.exit_code == 0 and started.stdout.strip() == "campaign us-reminders: active"
    listed = hotline("campaign", "list").stdout
    row = next(line for line in listed.splitlines() if "us-reminders" in line)
    assert "active" in row and "us-regf" in row and "early, mid, late, severe" in row
    with Session.begin() as session:
        add_account(session, "4000000000000009")
    planned = hotline("campaign", "plan")
    assert planned.exit_code == 0, planned.output
    assert "calls queued: 1" in planned.stdout
    paused = hotline("campaign", "pause", "us-reminders")
    assert paused.stdout.strip() == "campaign us-reminders: paused; 1 queued call(s) cancelled"
    assert statuses(Session)["us-reminders"] is CampaignStatus.PAUSED
    with Session() as session:
        [attempt] = session.scalars(select(ContactAttempt))
    assert attempt.status is AttemptStatus.CANCELED and attempt.disposition == "campaign-paused"


def test_an_unknown_campaign_is_one_line_naming_the_known_ones(hotline):
    hotline("campaign", "load", str(EXAMPLE))
    result = hotline("campaign", "start", "us-remindrs")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: no campaign 'us-remindrs' (known: cn-reminders, us-massachusetts, us-reminders)"
    )


def test_a_preview_of_an_unknown_campaign_is_one_line_naming_the_known_ones(hotline):
    hotline("campaign", "load", str(EXAMPLE))
    result = hotline("campaign", "preview", "--campaign", "us-remindrs")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: no campaign 'us-remindrs' that is not finished "
        "(known: cn-reminders, us-massachusetts, us-reminders)"
    )


def test_a_simulation_refused_leaves_no_empty_folder_behind(hotline, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = hotline("campaign", "simulate", "--days", "1", "--profile", "us-nowhere")
    assert result.exit_code == 2, result.output
    assert "us-nowhere" in result.stderr
    assert list(tmp_path.glob("sim-*")) == []


def _next_working_day() -> dt.date:
    """Tomorrow or the first weekday after it that is not Christmas: a day calls go out."""
    day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date()
    while day.weekday() >= 5 or (day.month == 12 and day.day == 25):
        day += dt.timedelta(days=1)
    return day


def test_preview_lists_who_would_be_called_and_why_the_others_are_not(hotline, Session):
    seed_demo(Session, 40)
    hotline("campaign", "load", str(EXAMPLE))
    tomorrow = _next_working_day()
    result = hotline("campaign", "preview", "--date", tomorrow.isoformat())
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"campaign preview for {tomorrow.isoformat()}" in out
    # The demo's first caller (45 days past due, no flags) would be called once the
    # window opens in every zone of theirs.
    alice = next(line for line in out.splitlines() if "4000123400000001" in line)
    assert "us-reminders (draft)" in alice and "mid" in alice and "yes" in alice
    assert f"{tomorrow.isoformat()} " in alice
    assert "would be called" in out
    assert "not called, " in out  # the demo has flagged accounts


def test_preview_with_no_campaign_stored_says_how_to_load_one(hotline, Session):
    # After `hotline demo` (its rehearsal uses the shipped file in a scratch copy) a
    # newcomer's preview printed an empty table and "0 of 0".
    seed_demo(Session, 5)
    result = hotline("campaign", "preview")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no campaigns: load one with `hotline campaign load FILE.toml`"


def test_preview_of_a_past_day_is_one_line(hotline):
    hotline("campaign", "load", str(EXAMPLE))
    hotline("seed-demo", "--size", "5")
    result = hotline("campaign", "preview", "--date", "2020-01-01")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: 2020-01-01 is past: preview today or a later day"


def test_a_day_over_in_shanghai_but_not_in_new_york_is_previewed_not_refused(hotline, Session):
    """From 16:00 UTC Shanghai's day is over while New York's runs on: the Chinese accounts
    say so on their lines; the rest of the preview is as ever."""
    from dialer.preview import preview

    hotline("campaign", "load", str(EXAMPLE))
    hotline("seed-demo", "--size", "40")
    day = dt.date(2026, 12, 2)
    now = dt.datetime(2026, 12, 2, 17, 0, tzinfo=dt.UTC)
    with Session() as session:
        lines = preview(session, day, now)
    over = [line for line in lines if line.reason == "2026-12-02 is already over in Asia/Shanghai"]
    assert over and all(line.campaign == "cn-reminders" and not line.called for line in over)
    assert any(line.campaign != "cn-reminders" for line in lines)


def test_preview_says_when_a_campaign_has_more_to_call_than_its_pacing_places(hotline, Session):
    seed_demo(Session, 40)
    hotline("campaign", "load", str(EXAMPLE))
    tomorrow = _next_working_day()
    before = hotline("campaign", "preview", "--date", tomorrow.isoformat()).stdout
    assert "places at most" not in before  # no dialer has set its pacing yet
    with Session.begin() as session:
        set_global_limits(session, Limits(0.01, 10), dt.datetime.now(dt.UTC))
        campaign_id = session.scalar(select(Campaign.id).where(Campaign.name == "us-reminders"))
        set_campaign_limits(session, campaign_id, Limits(2.5 / 86_400, 10), dt.datetime.now(dt.UTC))
    out = hotline("campaign", "preview", "--date", tomorrow.isoformat()).stdout
    called = sum(
        1 for line in out.splitlines() if "us-reminders" in line and " yes " in f" {line} "
    )
    assert called > 3
    assert (
        f"us-reminders: {called} would be called, but its pacing (2.89352e-05 a second) "
        "places at most 3 a day: the earliest due, then by account, go first; the rest wait "
        "for a later day"
    ) in " ".join(out.split())
    assert "cn-reminders: " not in out  # 864 a day at 0.01 a second: room for all
