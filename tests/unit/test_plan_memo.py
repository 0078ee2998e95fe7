"""The planning job's memo (dialer/plan_memo.py) rests on two facts about a schedule: with
the account's facts unchanged, a later start finds the same due time while it has not
passed, and finds nothing due while the horizon has not reached what bounded it. Held to
random accounts, numbers, contact histories and profiles."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.campaigns import RetryOutcome
from dialer.plan_memo import PlanMemo
from dialer.planner import _not_due_reason
from dialer.policy import Attempt
from dialer.schedule import PastCall, schedule
from hotline.profiles import PROFILES, AttemptOutcome
from tests.unit.test_schedule import (
    ACCOUNT,
    NOON,
    PHONES,
    PROFILE,
    TIER,
    accounts,
    phone_facts,
    with_zones,
)

HORIZON = dt.timedelta(hours=24)


@st.composite
def cases(draw):
    account = draw(accounts)
    phones = with_zones(
        draw(st.lists(phone_facts, min_size=1, max_size=2, unique_by=lambda p: p.e164))
    )
    history, past = [], []
    for _ in range(draw(st.integers(0, 8))):
        when = NOON + dt.timedelta(minutes=draw(st.integers(-8 * 24 * 60, 0)))
        outcome = draw(st.sampled_from(list(AttemptOutcome)))
        conversation = outcome is AttemptOutcome.CONNECTED and draw(st.booleans())
        number = draw(st.sampled_from([p.e164 for p in phones]))
        history.append(
            Attempt(
                when,
                number,
                outcome,
                frozenset({account.account_number}),
                conversation=conversation,
            )
        )
        if draw(st.booleans()):  # a campaign's own call, for its pacing
            past.append(PastCall(when, outcome))
    profile = PROFILES[draw(st.sampled_from(sorted(PROFILES)))]
    return account, phones, history, past, profile


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.integers(0, 48 * 60), st.integers(0, 48 * 60))
def test_a_later_start_changes_a_schedule_only_as_the_memo_assumes(case, minutes, later):
    account, phones, history, past, profile = case
    t0 = NOON + dt.timedelta(minutes=minutes)
    t1 = t0 + dt.timedelta(minutes=later)
    first = schedule(account, phones, history, past, profile, TIER, t0, t0 + HORIZON, bounded=True)
    again = schedule(account, phones, history, past, profile, TIER, t1, t1 + HORIZON, bounded=True)
    memo = PlanMemo()
    memo.remember(1, 7, first, t0, None if first.due_at else _not_due_reason(first))
    if memo.still_due(1, 7, t1, HORIZON):
        assert again.due_at == first.due_at
    elif (counted := memo.not_due_reason(1, 7, t1, HORIZON)) is not None:
        # Not due, and counted under the reason planning afresh gives.
        assert again.due_at is None and counted == _not_due_reason(again)
    if (first.due_at is not None and t1 <= first.due_at) or first.first.timeless:
        assert memo.skipped == 1  # the memo does use what it knows


def test_a_remembered_answer_is_given_only_for_the_same_fingerprint_and_a_later_start():
    due = schedule(ACCOUNT, PHONES, [], [], PROFILE, TIER, NOON, NOON + HORIZON, bounded=True)
    assert due.due_at == NOON
    memo = PlanMemo()
    memo.remember(1, 7, due, NOON, None)
    assert not memo.still_due(1, 8, NOON, HORIZON)  # the case changed
    assert not memo.still_due(2, 7, NOON, HORIZON)  # another account
    assert not memo.still_due(1, 7, NOON - dt.timedelta(seconds=1), HORIZON)  # earlier
    assert not memo.still_due(1, 7, NOON + dt.timedelta(seconds=1), HORIZON)  # passed
    assert memo.not_due_reason(1, 7, NOON, HORIZON) is None  # it was due
    assert memo.skipped == 0
    assert memo.still_due(1, 7, NOON, HORIZON)
    assert memo.skipped == 1


def test_a_denial_no_time_lifts_is_known_for_good():
    paid = dataclasses.replace(ACCOUNT, past_due_minor=0)
    nothing = schedule(paid, PHONES, [], [], PROFILE, TIER, NOON, NOON + HORIZON, bounded=True)
    assert nothing.due_at is None and nothing.first.timeless
    memo = PlanMemo()
    memo.remember(1, 7, nothing, NOON, "nothing-due")
    assert memo.not_due_reason(1, 7, NOON + dt.timedelta(days=300), HORIZON) == "nothing-due"
    assert not memo.still_due(1, 7, NOON, HORIZON)


def test_a_pause_is_known_until_the_horizon_reaches_its_end():
    # Paused through 9 December (Chicago): the planner's search stops at its horizon, but
    # nothing is allowed before the pause ends, 10 December 00:00 Chicago.
    paused = dataclasses.replace(ACCOUNT, reminders_paused_until=dt.date(2026, 12, 9))
    cut = schedule(paused, PHONES, [], [], PROFILE, TIER, NOON, NOON + HORIZON, bounded=True)
    assert cut.due_at is None and cut.next_eligible is None
    resume = dt.datetime(2026, 12, 10, 6, 0, tzinfo=dt.UTC)
    assert cut.not_before == resume
    memo = PlanMemo()
    memo.remember(1, 7, cut, NOON, "reminders-paused")
    almost = resume - HORIZON - dt.timedelta(seconds=1)
    assert memo.not_due_reason(1, 7, almost, HORIZON) == "reminders-paused"
    assert memo.not_due_reason(1, 7, resume - HORIZON, HORIZON) is None


def test_outside_the_window_past_the_horizon_is_not_known():
    # 21:30 in Chicago with a half-hour horizon: the search stops at its end, and nothing
    # is known past it (tomorrow 08:00 is not looked for).
    night = dt.datetime(2026, 12, 3, 3, 30, tzinfo=dt.UTC)
    half_hour = dt.timedelta(minutes=30)
    result = schedule(
        ACCOUNT, PHONES, [], [], PROFILE, TIER, night, night + half_hour, bounded=True
    )
    assert result.due_at is None and result.not_before == night + half_hour
    memo = PlanMemo()
    memo.remember(1, 7, result, night, "outside-window")
    assert memo.not_due_reason(1, 7, night, half_hour) is None


def test_a_retry_delay_past_the_horizon_is_computed_again_its_reason_changing():
    """The review's case: at 21:30 a voicemail's two-day retry delay is found past the
    horizon, the reason then "outside-window"; at noon the next day the reason is the
    delay. Not remembered, so the run counts the reason it finds."""
    slow = dataclasses.replace(
        TIER, retry_delay={**TIER.retry_delay, RetryOutcome.VOICEMAIL: dt.timedelta(days=2)}
    )
    voicemail = [PastCall(dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC), AttemptOutcome.VOICEMAIL)]
    night = dt.datetime(2026, 12, 3, 3, 30, tzinfo=dt.UTC)  # Wed 21:30 Chicago
    noon = dt.datetime(2026, 12, 3, 18, 0, tzinfo=dt.UTC)  # Thu 12:00 Chicago
    args = (ACCOUNT, PHONES, [], voicemail, PROFILE, slow)
    first = schedule(*args, night, night + HORIZON, bounded=True)
    fresh = schedule(*args, noon, noon + HORIZON, bounded=True)
    assert first.due_at is None and fresh.due_at is None
    assert _not_due_reason(first) != _not_due_reason(fresh)
    memo = PlanMemo()
    memo.remember(1, 7, first, night, _not_due_reason(first))
    assert memo.not_due_reason(1, 7, noon, HORIZON) is None
