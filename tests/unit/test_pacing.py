"""Pacing and carrier refusals, as pure rules."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer import pacing
from dialer.retry import Refusal, backoff, classify

T0 = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
rates = st.sampled_from([0.5, 1.0, 3.0, 7.0, 10.0, 30.0, 100.0])


def take_slots(requests: list[float], rates_by_scope: list[float]) -> list[dt.datetime]:
    """Each request draws on every scope, as a claim draws on global and campaign rows."""
    free: list[dt.datetime | None] = [None] * len(rates_by_scope)
    slots = []
    for offset in requests:
        now = T0 + dt.timedelta(seconds=offset)
        taken = pacing.slot(now, free)
        free = [pacing.next_free(taken, rate) for rate in rates_by_scope]
        slots.append(taken)
    return slots


@settings(max_examples=300)
@given(
    requests=st.lists(st.floats(0, 60, allow_nan=False), min_size=1, max_size=80).map(sorted),
    rate=rates,
    campaign_rate=st.none() | rates,
)
def test_no_stretch_of_calls_ever_runs_above_the_limit(requests, rate, campaign_rate):
    scopes = [rate] if campaign_rate is None else [rate, campaign_rate]
    slots = take_slots(requests, scopes)
    limit = min(scopes)
    for i in range(len(slots)):
        for j in range(i + 1, len(slots)):
            span = (slots[j] - slots[i]).total_seconds()
            # j - i calls started after the one at i: never faster than the limit allows.
            assert span >= (j - i) / limit - 1e-6


@given(requests=st.lists(st.floats(0, 60, allow_nan=False), min_size=1, max_size=80), rate=rates)
def test_a_call_is_deferred_to_its_slot_never_refused_nor_placed_early(requests, rate):
    ordered = sorted(requests)
    slots = take_slots(ordered, [rate])
    assert len(slots) == len(ordered)
    for offset, taken in zip(ordered, slots, strict=True):
        assert taken >= T0 + dt.timedelta(seconds=offset)


@given(rate=rates, count=st.integers(2, 200))
def test_a_backlog_goes_at_exactly_the_limit(rate, count):
    slots = take_slots([0.0] * count, [rate])
    span = (slots[-1] - slots[0]).total_seconds()
    assert span >= (count - 1) / rate - 1e-9  # never above the rate (float division aside)
    assert (count - 1) / span >= rate * 0.999  # rounding the interval up costs under 1 µs


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError):
        pacing.Limits(0, 1)
    with pytest.raises(ValueError):
        pacing.Limits(1, 0)
    assert pacing.Limits(4, 1).interval == dt.timedelta(milliseconds=250)
    assert pacing.interval(3) == dt.timedelta(microseconds=333_334)


def test_room_is_counted_against_max_concurrent():
    limits = pacing.Limits(1, 2)
    assert pacing.has_room(1, limits)
    assert not pacing.has_room(2, limits)


@pytest.mark.parametrize(
    ("code", "status", "refusal"),
    [
        (21211, 400, Refusal.INVALID_NUMBER),
        (21214, 400, Refusal.INVALID_NUMBER),
        (21215, 400, Refusal.REFUSED),
        (21216, 400, Refusal.REFUSED),
        (20429, 429, Refusal.RETRY),
        (21210, 400, Refusal.RETRY),  # our caller id: not the callee's fault
        (20500, 500, Refusal.UNKNOWN),
        (None, 503, Refusal.UNKNOWN),
        (None, None, Refusal.UNKNOWN),  # no answer at all: the call may exist
    ],
)
def test_carrier_refusals_are_classified(code, status, refusal):
    assert classify(code, status) is refusal


def test_backoff_doubles_up_to_half_an_hour():
    assert [backoff(n).total_seconds() for n in range(7)] == [30, 60, 120, 240, 480, 960, 1800]
    assert backoff(50) == dt.timedelta(minutes=30)
