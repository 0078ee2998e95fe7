"""Adversarial probe of dialer/plan_memo.py's two time-invariance claims: harder inputs than
tests/unit/test_plan_memo.py (many zones, DST weeks, holidays, China, random tier pacing,
allowed hours, conversation pauses, reminder pauses, random horizons, long gaps)."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dialer.campaigns import AmdMode, RetryOutcome, TierSettings
from dialer.plan_memo import PlanMemo
from dialer.policy import AccountFacts, Attempt, LocalHours, PhoneFacts
from dialer.schedule import PastCall, schedule
from hotline.enums import AccountFlag, PhoneType
from hotline.phones import time_zones_for
from hotline.profiles import PROFILES, AttemptOutcome

# Around US DST (8 Mar, 1 Nov 2026), Thanksgiving, Christmas/New Year, July 4 (a Saturday),
# Spring Festival (17 Feb 2026), National Day (1 Oct), Chile/Paraguay DST changes.
BASES = [
    dt.datetime(2026, 3, 7, 12, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 10, 31, 12, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 24, 20, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 7, 2, 15, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 2, 14, 1, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 9, 29, 23, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 4, 4, 2, 0, tzinfo=dt.UTC),  # Chile leaves DST 5 Apr
    dt.datetime(2026, 9, 5, 2, 0, tzinfo=dt.UTC),  # Chile enters DST 6 Sep
]
NUMBERS = [
    "+13125550100",  # Chicago
    "+12125550100",  # New York
    "+14155550100",  # Los Angeles
    "+19075550100",  # Alaska
    "+18085550100",  # Hawaii
    "+16025550100",  # Arizona
    "+8613800138000",  # China
    "+56221234567",  # Chile (DST at midnight)
    "+59521234567",  # Paraguay
    "+15555550100",  # no zones
]
HOURS = [
    None,
    LocalHours(dt.time(18), dt.time(20)),
    LocalHours(dt.time(7), dt.time(9)),
    LocalHours(dt.time(0, 30), dt.time(2, 30)),
    LocalHours(dt.time(1), dt.time(3)),
]

phone_facts = st.builds(
    PhoneFacts,
    st.sampled_from(NUMBERS),
    st.sampled_from(list(PhoneType)),
    st.booleans(),
    opted_out=st.sampled_from([False, False, False, True]),
    under_review=st.just(False),
    allowed_hours=st.sampled_from(HOURS),
)
delays = st.sampled_from([0, 60, 1800, 3 * 3600, 20 * 3600, 86400, 3 * 86400]).map(
    lambda s: dt.timedelta(seconds=s)
)
tiers = st.builds(
    lambda apd, spacing, d: TierSettings(
        tier="t",
        script=("s",),
        attempts_per_day=apd,
        spacing=spacing,
        retry_delay=dict(zip(RetryOutcome, d, strict=True)),
        amd=AmdMode.OFF,
        offer_agent=False,
        sms_after_voicemail=False,
        sms_after_no_answer=False,
        courtesy_reminder_days=None,
        thank_you_sms=False,
    ),
    st.integers(1, 3),
    delays,
    st.tuples(delays, delays, delays, delays),
)


@st.composite
def cases(draw):
    base = draw(st.sampled_from(BASES))
    country = draw(st.sampled_from(["US", "US", "CN"]))
    region = draw(st.sampled_from(["IL", "NY", "FL", "AZ", "AK", "HI", "IN", "CA", None]))
    paused = draw(
        st.one_of(
            st.none(), st.integers(-2, 12).map(lambda d: (base + dt.timedelta(days=d)).date())
        )
    )
    account = AccountFacts(
        "A1",
        draw(st.sampled_from([frozenset(), frozenset(), frozenset({AccountFlag.CEASE})])),
        False,
        draw(st.sampled_from([0, 100_00, 100_00, 100_00])),
        draw(st.integers(1, 100)),
        paused,
        country,
        region,
    )
    phones = [
        PhoneFacts(**{**p.__dict__, "zones": time_zones_for(p.e164)})
        for p in draw(st.lists(phone_facts, min_size=1, max_size=3, unique_by=lambda p: p.e164))
    ]
    history, past = [], []
    for _ in range(draw(st.integers(0, 10))):
        when = base + dt.timedelta(minutes=draw(st.integers(-9 * 24 * 60, 0)))
        outcome = draw(st.sampled_from(list(AttemptOutcome)))
        conversation = outcome is AttemptOutcome.CONNECTED and draw(st.booleans())
        number = draw(st.sampled_from([p.e164 for p in phones]))
        about = draw(st.sampled_from([frozenset({"A1"}), frozenset({"A2"})]))
        history.append(Attempt(when, number, outcome, about, conversation=conversation))
        if "A1" in about and draw(st.booleans()):
            past.append(PastCall(when, outcome))
    profile = PROFILES[draw(st.sampled_from(sorted(PROFILES)))]
    return base, account, phones, history, past, profile, draw(tiers)


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    cases(),
    st.integers(0, 36 * 60),
    st.one_of(st.integers(0, 180), st.integers(0, 12 * 24 * 60)),
    st.sampled_from([1, 30, 60, 6 * 60, 24 * 60, 3 * 24 * 60, 8 * 24 * 60]),
    st.sampled_from([1, 30, 60, 6 * 60, 24 * 60, 3 * 24 * 60, 8 * 24 * 60]),
)
def test_memo_claims_hold_on_harder_inputs(case, minutes, later, h0, h1):
    base, account, phones, history, past, profile, tier = case
    horizon0, horizon1 = dt.timedelta(minutes=h0), dt.timedelta(minutes=h1)
    t0 = base + dt.timedelta(minutes=minutes)
    t1 = t0 + dt.timedelta(minutes=later)
    first = schedule(account, phones, history, past, profile, tier, t0, t0 + horizon0, bounded=True)
    again = schedule(account, phones, history, past, profile, tier, t1, t1 + horizon1, bounded=True)
    memo = PlanMemo()
    memo.remember(1, 7, first, t0, "why")
    if memo.still_due(1, 7, t1, horizon1):
        event("still due")
        # The planner keeps the open attempt: planning afresh must find it due too.
        assert again.due_at is not None, (first, again)
        assert again.due_at == first.due_at, (first, again)
    elif memo.not_due_reason(1, 7, t1, horizon1) is not None:
        event(
            "not due, timeless"
            if first.first.timeless
            else "not due, bounded: "
            + ("next_eligible" if first.next_eligible else "pause not_before")
        )
        assert again.due_at is None, (first, again)
    else:
        event("computed")


@st.composite
def skewed_cases(draw):
    """As `cases`, but contacts may lie after the start (a dialer's clock ahead of the
    planner's, or the planner's clock gone back)."""
    base, account, phones, history, past, profile, tier = draw(cases())
    later = []
    for _ in range(draw(st.integers(0, 4))):
        when = base + dt.timedelta(minutes=draw(st.integers(1, 30 * 60)))
        outcome = draw(st.sampled_from(list(AttemptOutcome)))
        conversation = outcome is AttemptOutcome.CONNECTED and draw(st.booleans())
        later.append(
            Attempt(when, phones[0].e164, outcome, frozenset({"A1"}), conversation=conversation)
        )
        if draw(st.booleans()):
            past.append(PastCall(when, outcome))
    return base, account, phones, history + later, past, profile, tier


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    skewed_cases(),
    st.integers(-12 * 60, 36 * 60),
    st.one_of(st.integers(0, 180), st.integers(0, 6 * 24 * 60)),
    st.sampled_from([1, 60, 24 * 60, 3 * 24 * 60]),
)
def test_memo_claims_hold_with_contacts_after_the_start(case, minutes, later, h):
    base, account, phones, history, past, profile, tier = case
    horizon = dt.timedelta(minutes=h)
    t0 = base + dt.timedelta(minutes=minutes)
    t1 = t0 + dt.timedelta(minutes=later)
    first = schedule(account, phones, history, past, profile, tier, t0, t0 + horizon, bounded=True)
    again = schedule(account, phones, history, past, profile, tier, t1, t1 + horizon, bounded=True)
    memo = PlanMemo()
    memo.remember(1, 7, first, t0, "why")
    if memo.still_due(1, 7, t1, horizon):
        assert again.due_at == first.due_at, (first, again)
    elif memo.not_due_reason(1, 7, t1, horizon) is not None:
        assert again.due_at is None, (first, again)


@st.composite
def callable_cases(draw):
    """Accounts most often callable (consent, something due, one or two nearby zones), so
    that the due and the next-eligible branches are reached often."""
    base = draw(st.sampled_from(BASES))
    region = draw(st.sampled_from(["IL", "NY", "FL", "AZ", "IN", "CA", "AK"]))
    paused = draw(
        st.one_of(
            st.none(),
            st.none(),
            st.none(),
            st.integers(-2, 3).map(lambda d: (base + dt.timedelta(days=d)).date()),
        )
    )
    china = draw(st.booleans()) and draw(st.booleans())
    account = AccountFacts(
        "A1", frozenset(), False, 100_00, 40, paused, "CN" if china else "US", region
    )
    pool = ["+8613800138000"] if china else [*NUMBERS[:6], "+56221234567"]
    numbers = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
    phones = [
        PhoneFacts(
            e,
            PhoneType.MOBILE,
            True,
            allowed_hours=draw(st.sampled_from([*HOURS[:3], None, None])),
            zones=time_zones_for(e),
        )
        for e in numbers
    ]
    history, past = [], []
    for _ in range(draw(st.integers(0, 8))):
        when = base + dt.timedelta(minutes=draw(st.integers(-8 * 24 * 60, 0)))
        outcome = draw(st.sampled_from(list(AttemptOutcome)))
        conversation = outcome is AttemptOutcome.CONNECTED and draw(st.booleans())
        history.append(
            Attempt(when, numbers[0], outcome, frozenset({"A1"}), conversation=conversation)
        )
        if draw(st.booleans()):
            past.append(PastCall(when, outcome))
    profile = PROFILES[draw(st.sampled_from(sorted(PROFILES)))]
    return base, account, phones, history, past, profile, draw(tiers)


@settings(
    max_examples=800,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    callable_cases(),
    st.integers(0, 36 * 60),
    st.one_of(st.integers(0, 180), st.integers(0, 4 * 24 * 60)),
    st.sampled_from([1, 30, 60, 6 * 60, 24 * 60, 3 * 24 * 60]),
    st.sampled_from([1, 30, 60, 6 * 60, 24 * 60, 3 * 24 * 60]),
)
def test_memo_claims_hold_on_callable_accounts(case, minutes, later, h0, h1):
    base, account, phones, history, past, profile, tier = case
    horizon0, horizon1 = dt.timedelta(minutes=h0), dt.timedelta(minutes=h1)
    t0 = base + dt.timedelta(minutes=minutes)
    t1 = t0 + dt.timedelta(minutes=later)
    first = schedule(account, phones, history, past, profile, tier, t0, t0 + horizon0, bounded=True)
    again = schedule(account, phones, history, past, profile, tier, t1, t1 + horizon1, bounded=True)
    memo = PlanMemo()
    memo.remember(1, 7, first, t0, "why")
    if memo.still_due(1, 7, t1, horizon1):
        event("still due")
        assert again.due_at == first.due_at, (first, again)
    elif memo.not_due_reason(1, 7, t1, horizon1) is not None:
        event(
            "not due, timeless"
            if first.first.timeless
            else "not due, bounded: "
            + ("next_eligible" if first.next_eligible else "pause not_before")
        )
        assert again.due_at is None, (first, again)
    else:
        event("computed")
