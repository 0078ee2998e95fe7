"""When a campaign call is due: the policy and the tier's pacing, both, at once. Pure."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.campaigns import AmdMode, RetryOutcome, TierSettings
from dialer.history import is_conversation, outcome_of
from dialer.policy import AccountFacts, LocalHours, PhoneFacts, decide
from dialer.schedule import PastCall, ScheduleMemo, schedule
from hotline.enums import AccountFlag, AttemptStatus, PhoneType
from hotline.phones import time_zones_for
from hotline.profiles import PROFILES, AttemptOutcome

ACCOUNT = AccountFacts(
    account_number="A1",
    flags=frozenset(),
    open_dispute=False,
    past_due_minor=100_00,
    days_past_due=40,
    reminders_paused_until=None,
    country="US",
    address_region="IL",
)
PHONES = (PhoneFacts("+13125550100", PhoneType.HOME, autodial_consent=False),)
TIER = TierSettings(
    tier="mid",
    script=("reminder_mid",),
    attempts_per_day=2,
    spacing=dt.timedelta(hours=2),
    retry_delay={
        RetryOutcome.NO_ANSWER: dt.timedelta(hours=3),
        RetryOutcome.BUSY: dt.timedelta(minutes=30),
        RetryOutcome.VOICEMAIL: dt.timedelta(days=1),
        RetryOutcome.FAILED: dt.timedelta(hours=1),
    },
    amd=AmdMode.DETECT_MESSAGE_END,
    offer_agent=True,
    sms_after_voicemail=True,
    sms_after_no_answer=False,
    courtesy_reminder_days=None,
    thank_you_sms=False,
)
NOON = dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.UTC)  # 12:00 in Chicago, a Wednesday
PROFILE = PROFILES["us-regf"]


def test_allowed_now_is_due_now():
    result = schedule(ACCOUNT, PHONES, [], [], PROFILE, TIER, NOON, NOON + dt.timedelta(days=1))
    assert result.due_at == NOON and result.number == "+13125550100"
    assert result.decision is not None and result.decision.allowed


def test_a_busy_line_is_retried_after_its_delay_and_the_spacing():
    past = [PastCall(NOON - dt.timedelta(minutes=10), AttemptOutcome.BUSY)]
    result = schedule(ACCOUNT, PHONES, [], past, PROFILE, TIER, NOON, NOON + dt.timedelta(days=1))
    # max(spacing 2 h, busy 30 min) after the call
    assert result.due_at == NOON + dt.timedelta(hours=1, minutes=50)
    assert result.campaign_reason == "retry delay after busy"


def test_a_delay_ending_after_the_window_moves_to_the_next_morning():
    evening = dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC)  # 19:00 Chicago
    past = [PastCall(evening, AttemptOutcome.NO_ANSWER)]
    result = schedule(
        ACCOUNT, PHONES, [], past, PROFILE, TIER, evening, evening + dt.timedelta(days=1)
    )
    assert result.due_at == dt.datetime(2026, 12, 3, 14, 0, tzinfo=dt.UTC)  # 08:00 Chicago


def test_a_hard_block_is_never_due():
    blocked = AccountFacts(**{**ACCOUNT.__dict__, "open_dispute": True})
    result = schedule(blocked, PHONES, [], [], PROFILE, TIER, NOON, NOON + dt.timedelta(days=9))
    assert result.due_at is None and result.next_eligible is None
    assert result.first.explanation == "open dispute; not called"


past_calls = st.lists(
    st.builds(
        PastCall,
        st.integers(-3 * 24 * 60, 0).map(lambda m: NOON + dt.timedelta(minutes=m)),
        st.sampled_from(list(AttemptOutcome)),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(past_calls, st.integers(0, 48 * 60))
def test_a_due_time_is_allowed_by_the_policy_and_keeps_the_tier_s_pacing(past, minutes):
    start = NOON + dt.timedelta(minutes=minutes)
    result = schedule(ACCOUNT, PHONES, [], past, PROFILE, TIER, start, start + dt.timedelta(days=3))
    assert result.due_at is not None  # nothing here blocks for days
    due = result.due_at
    assert due >= start
    assert decide(ACCOUNT, PHONES, [], PROFILE, due).allowed
    if past:
        last = max(past, key=lambda c: c.placed_at)
        assert due >= last.placed_at + TIER.spacing
    chicago = due.astimezone(dt.timezone(dt.timedelta(hours=-6))).date()
    same_day = [
        c
        for c in past
        if c.placed_at.astimezone(dt.timezone(dt.timedelta(hours=-6))).date() == chicago
    ]
    assert len(same_day) < TIER.attempts_per_day


def test_attempt_rows_read_as_the_caps_count_them():
    assert outcome_of(AttemptStatus.PLANNED, None, None) is None
    assert outcome_of(AttemptStatus.CANCELED, None, None) is None
    assert outcome_of(AttemptStatus.RINGING, None, None) is AttemptOutcome.NO_ANSWER
    assert outcome_of(AttemptStatus.BUSY, None, None) is AttemptOutcome.BUSY
    assert outcome_of(AttemptStatus.FAILED, None, "invalid-number") is AttemptOutcome.INVALID
    assert outcome_of(AttemptStatus.COMPLETED, "machine_end_beep", None) is AttemptOutcome.VOICEMAIL
    assert outcome_of(AttemptStatus.COMPLETED, "human", "wrong-party") is AttemptOutcome.CONNECTED
    assert not is_conversation(AttemptOutcome.CONNECTED, "wrong-party")
    # A person answered and nothing says who: the pause applies (the cautious reading).
    assert is_conversation(AttemptOutcome.CONNECTED, None)
    assert not is_conversation(AttemptOutcome.VOICEMAIL, None)


numbers = st.sampled_from(
    ["+13125550100", "+13125550101", "+12125550100", "+14155550100", "+8613800138000"]
)
phone_facts = st.builds(
    PhoneFacts,
    numbers,
    st.sampled_from(list(PhoneType)),
    st.booleans(),
    opted_out=st.booleans(),
    under_review=st.just(False),
    allowed_hours=st.sampled_from([None, LocalHours(dt.time(18), dt.time(20))]),
)
accounts = st.builds(
    AccountFacts,
    account_number=st.sampled_from(["A1", "A2"]),
    flags=st.sampled_from([frozenset(), frozenset({AccountFlag.CEASE})]),
    open_dispute=st.just(False),
    past_due_minor=st.sampled_from([0, 100_00]),
    days_past_due=st.integers(1, 100),
    reminders_paused_until=st.sampled_from([None, dt.date(2026, 12, 3)]),
    country=st.sampled_from(["US", "CN"]),
    address_region=st.sampled_from(["IL", "NY", None]),
)


def with_zones(phones):
    return [dataclasses.replace(p, zones=time_zones_for(p.e164)) for p in phones]


@settings(max_examples=80, deadline=None)
@given(
    accounts,
    st.lists(phone_facts, min_size=1, max_size=2, unique_by=lambda p: p.e164),
    st.integers(0, 48 * 60),
    st.data(),
)
def test_the_memo_gives_each_account_what_computing_it_would(account, phones, minutes, data):
    """A second account of the same shape, other numbers: the memo's answer for it is the
    one schedule would give, numbers and explanation included."""
    start = NOON + dt.timedelta(minutes=minutes)
    until = start + dt.timedelta(days=1)
    memo = ScheduleMemo()
    first = with_zones(phones)
    memo.schedule(account, first, [], [], PROFILE, TIER, start, until)
    # The same shape: each number swapped for one with the same zones.
    others = [
        dataclasses.replace(p, e164=p.e164[:-4] + f"{(int(p.e164[-4:]) + 7) % 10000:04d}")
        for p in first
    ]
    other = dataclasses.replace(account, account_number="B9")
    remembered = memo.schedule(other, others, [], [], PROFILE, TIER, start, until)
    assert memo.hits == 1
    assert remembered == schedule(other, others, [], [], PROFILE, TIER, start, until)
