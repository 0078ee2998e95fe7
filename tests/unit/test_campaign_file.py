"""The campaigns file: what it means, and every mistake named by its key and line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.campaign_file import CampaignFileError, KeyLines, parse_campaign_file
from dialer.campaigns import AmdMode, RetryOutcome, TierSettings
from dialer.history import HISTORY_DAYS
from hotline.enums import CampaignStatus
from hotline.profiles import PROFILES

EXAMPLE = (Path(__file__).resolve().parents[2] / "campaigns.example.toml").read_text()

GOOD = """\
[tiers.early]
days_past_due = "1-29"
[tiers.late]
name = "Late"
days_past_due = "30+"

[campaigns.us]
profile = "us-regf"
caller_id = "+18005550100"
countries = ["US"]

[campaigns.us.tiers.early]
script = ["reminder_early"]
attempts_per_day = 2
spacing = "1h30m"
retry_delay = { no_answer = "4h", busy = "30m", voicemail = "1d", failed = "2h" }
amd = "detect-message-end"
offer_agent = true
sms_after = ["voicemail"]
courtesy_reminder_days = 2
thank_you_sms = true
"""


def problems(text: str, **kwargs) -> list[str]:
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign_file(text, **kwargs)
    return [str(p) for p in caught.value.problems]


def test_the_shipped_example_loads():
    spec = parse_campaign_file(EXAMPLE)
    assert [t.code for t in spec.tiers or ()] == ["early", "mid", "late", "severe"]
    assert spec.tiers is not None and spec.tiers[-1].max_days_past_due is None
    assert {c.name: c.profile for c in spec.campaigns} == {
        "us-reminders": "us-regf",
        "us-massachusetts": "us-ma",
        "cn-reminders": "cn-default",
    }


def test_a_tier_s_settings_are_read_as_written():
    [campaign] = parse_campaign_file(GOOD).campaigns
    [early] = campaign.tiers
    assert campaign.status is None and campaign.audience.countries == ("US",)
    assert early.script == ("reminder_early",)
    assert early.attempts_per_day == 2
    assert early.spacing == dt.timedelta(hours=1, minutes=30)
    assert early.delay_after(RetryOutcome.VOICEMAIL) == dt.timedelta(days=1)
    assert early.delay_after(RetryOutcome.BUSY) == dt.timedelta(minutes=30)
    assert early.amd is AmdMode.DETECT_MESSAGE_END
    assert early.sms_after_voicemail and not early.sms_after_no_answer
    assert early.courtesy_reminder_days == 2 and early.thank_you_sms and early.offer_agent


def test_settings_survive_the_database_s_json_unchanged():
    [campaign] = parse_campaign_file(GOOD).campaigns
    [early] = campaign.tiers
    assert TierSettings.from_json(early.to_json()) == early


def test_a_wrong_value_is_named_by_its_key_and_line():
    text = GOOD.replace("attempts_per_day = 2", "attempts_per_day = 0")
    assert problems(text) == [
        "line 14: campaigns.us.tiers.early.attempts_per_day: 0 is out of range; "
        "a whole number from 1 to 10"
    ]


def test_every_problem_is_reported_at_once_in_line_order():
    text = (
        GOOD.replace('spacing = "1h30m"', 'spacing = "soon"')
        .replace('profile = "us-regf"', 'profile = "us-ny"')
        .replace('amd = "detect-message-end"', "amd = true")
        .replace("offer_agent = true", "offer_agent = true\ncolour = 3")
    )
    found = problems(text)
    assert [p.split(":")[0] for p in found] == ["line 8", "line 15", "line 17", "line 19"]
    assert found[0].startswith("line 8: campaigns.us.profile: 'us-ny' is not one of us-regf")
    assert found[1].startswith("line 15: campaigns.us.tiers.early.spacing: 'soon' is not a")
    assert found[2].startswith("line 17: campaigns.us.tiers.early.amd: True is not one of")
    assert found[3].startswith("line 19: campaigns.us.tiers.early.colour: unknown key")


def test_a_missing_key_is_reported_at_its_table():
    text = GOOD.replace('caller_id = "+18005550100"\n', "")
    assert problems(text) == ['line 7: campaigns.us.caller_id: missing; E.164, e.g. "+18005550100"']


def test_a_key_inside_an_inline_table_is_reported_on_that_table_s_line():
    text = GOOD.replace('busy = "30m"', 'busy = "-5m"')
    assert problems(text) == [
        "line 16: campaigns.us.tiers.early.retry_delay.busy: '-5m' is not a duration; "
        'a duration, e.g. "4h"'
    ]


def test_a_retry_delay_past_the_history_the_planner_reads_is_refused():
    # The planner sees the last 10 days of calls: an 11-day delay would be cut to 10.
    parse_campaign_file(GOOD.replace('busy = "30m"', 'busy = "10d"'))
    assert problems(GOOD.replace('busy = "30m"', 'busy = "10d1m"')) == [
        "line 16: campaigns.us.tiers.early.retry_delay.busy: '10d1m' is longer than 10 days "
        '(the calls the planner looks back on); a duration, e.g. "4h"'
    ]


def test_every_shipped_profile_looks_back_no_further_than_the_history_read():
    for profile in PROFILES.values():
        looks = [cap.days for cap in profile.caps] + [profile.conversation_pause_days or 0]
        assert max(looks) < HISTORY_DAYS, profile.name


def test_a_caller_id_the_settings_do_not_list_is_refused():
    assert problems(GOOD, caller_ids=("+18005550199",)) == [
        "line 9: campaigns.us.caller_id: +18005550100 is not among HOTLINE_CALLER_IDS "
        "(+18005550199)"
    ]


def test_a_campaign_tier_the_tier_table_lacks_is_refused():
    text = GOOD.replace("[campaigns.us.tiers.early]", "[campaigns.us.tiers.mid]")
    assert problems(text) == [
        "line 12: campaigns.us.tiers.mid: no such tier in [tiers] (early, late)"
    ]


def test_overlapping_tiers_are_refused():
    text = GOOD.replace('days_past_due = "30+"', 'days_past_due = "20+"')
    assert problems(text) == ["line 1: tiers: tiers 'early' and 'late' overlap"]


def test_two_campaigns_claiming_the_same_accounts_are_refused():
    second = GOOD.split("[campaigns.us]")[1].replace("campaigns.us.", "campaigns.us2.")
    text = GOOD + "\n[campaigns.us2]" + second
    [found] = problems(text)
    assert found.startswith("line 26: campaigns.us2.countries: covers the same addresses as")
    # Naming regions makes the second the more specific one: allowed.
    regional = text.replace(
        'countries = ["US"]\n\n[campaigns.us2.tiers',
        'countries = ["US"]\nregions = ["MA"]\n\n[campaigns.us2.tiers',
    )
    assert len(parse_campaign_file(regional).campaigns) == 2


def test_a_status_is_one_of_the_campaign_states():
    text = GOOD.replace('countries = ["US"]', 'countries = ["US"]\nstatus = "running"')
    [found] = problems(text)
    assert found.startswith("line 11: campaigns.us.status: 'running' is not one of draft")
    ok = parse_campaign_file(text.replace('"running"', '"active"'))
    assert ok.campaigns[0].status is CampaignStatus.ACTIVE


def test_text_that_is_not_toml_names_its_line():
    [found] = problems(GOOD.replace("attempts_per_day = 2", "attempts_per_day = = 2"))
    assert found.startswith("line 14: (file): not valid TOML")


@given(
    st.lists(st.sampled_from(["a", "b-c", "d_e", '"q.r"']), min_size=1, max_size=4),
    st.integers(0, 5),
)
def test_key_lines_find_each_key_under_its_table(parts, blank):
    table = ".".join(parts)
    text = "\n" * blank + f"[{table}]\nx = 1\narr = [\n  1,\n  2,\n]\ny = {{ z = 1 }}\n"
    lines = KeyLines(text)
    name = ".".join(p.strip('"') for p in parts)
    assert lines.of(name) == blank + 1
    assert lines.of(f"{name}.x") == blank + 2
    assert lines.of(f"{name}.y") == blank + 7
    assert lines.of(f"{name}.y.z") == blank + 7
    assert lines.of(f"{name}.missing") == blank + 1
