"""The simulator's pure delivery rules: connection overrides and the seeded callback schedule."""

import datetime as dt

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from simulator.carrier.connection import (
    DEFAULTS,
    OverrideError,
    exception_failure,
    settings_for,
    split,
    status_failure,
)
from simulator.carrier.delivery import CallbackDelivery, CallbackScheduler, schedule
from simulator.clock import VirtualClock


def test_no_fragment_means_twilios_defaults():
    assert split("https://app.example/status") == ("https://app.example/status", "")
    assert settings_for("") == DEFAULTS
    assert (DEFAULTS.connect_timeout_ms, DEFAULTS.read_timeout_ms, DEFAULTS.total_time_ms) == (
        5000,
        15000,
        15000,
    )
    assert DEFAULTS.retry_count == 1 and DEFAULTS.retry_policy == {"ct"}


def test_a_fragment_sets_each_override_and_is_split_off_the_url():
    url, fragment = split(
        "https://app.example/voice?lang=en#ct=1000&rt=2000&tt=9000&rc=3&rp=5xx,rt"
    )
    assert url == "https://app.example/voice?lang=en"
    settings = settings_for(fragment)
    assert (settings.connect_timeout_ms, settings.read_timeout_ms) == (1000, 2000)
    assert (settings.total_time_ms, settings.retry_count) == (9000, 3)
    assert settings.retry_policy == {"5xx", "rt"}
    assert settings.retries("5xx") and settings.retries("rt")
    assert not settings.retries("4xx") and not settings.retries("ct")
    assert not settings.retries(None)


@given(st.integers(min_value=-1000, max_value=1000))
def test_retry_counts_are_brought_into_twilios_range(rc):
    assert settings_for(f"rc={rc}").retry_count == max(0, min(5, rc))


@given(st.integers(min_value=-100_000, max_value=100_000))
def test_timeouts_are_brought_into_twilios_range(ms):
    settings = settings_for(f"ct={ms}&rt={ms}&tt={ms}")
    assert settings.connect_timeout_ms == max(100, min(10_000, ms))
    assert settings.read_timeout_ms == max(100, min(15_000, ms))
    assert settings.total_time_ms == max(100, min(15_000, ms))


def test_all_retries_every_failure_and_an_unknown_policy_is_11243():
    assert all(settings_for("rp=all").retries(f) for f in ("4xx", "5xx", "ct", "rt", "other"))
    with pytest.raises(OverrideError) as excinfo:
        settings_for("rc=2&rp=sometimes")
    assert excinfo.value.code == 11243
    assert settings_for("rc=two").retry_count == 1  # unreadable: the default


def test_failures_are_classed_as_the_retry_policy_names_them():
    assert [status_failure(s) for s in (200, 204, 302, 404, 429, 500, 503)] == [
        None,
        None,
        None,
        "4xx",
        "4xx",
        "5xx",
        "5xx",
    ]
    assert exception_failure(requests.ConnectTimeout()) == "ct"
    assert exception_failure(requests.ConnectionError()) == "ct"
    assert exception_failure(requests.ReadTimeout()) == "rt"
    assert exception_failure(requests.TooManyRedirects()) == "other"


def test_in_order_delivery_is_one_delivery_at_once():
    assert schedule(CallbackDelivery(), "outbound-api/+1/+2/0/status/0") == (0.0,)


@given(
    seed=st.integers(min_value=0, max_value=10**6),
    key=st.text(min_size=1, max_size=40),
    duplicate_rate=st.floats(min_value=0, max_value=1),
    delay_rate=st.floats(min_value=0, max_value=1),
    delay_max=st.floats(min_value=0, max_value=60),
)
def test_a_chaotic_schedule_replays_per_seed_and_stays_in_bounds(
    seed, key, duplicate_rate, delay_rate, delay_max
):
    config = CallbackDelivery(
        mode="chaotic",
        seed=seed,
        duplicate_rate=duplicate_rate,
        delay_rate=delay_rate,
        delay_max_seconds=delay_max,
    )
    delays = schedule(config, key)
    assert delays == schedule(config, key)
    assert 1 <= len(delays) <= 2
    assert 0 <= delays[0] <= delay_max
    if len(delays) == 2:
        assert delays[0] <= delays[1] <= 2 * delay_max


def test_the_rates_show_over_many_callbacks():
    config = CallbackDelivery(mode="chaotic", seed=1, duplicate_rate=0.2, delay_rate=0.5)
    plans = [schedule(config, f"call/{n}") for n in range(2000)]
    assert 0.15 < sum(len(p) == 2 for p in plans) / 2000 < 0.25
    assert 0.45 < sum(p[0] > 0 for p in plans) / 2000 < 0.55


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"mode": "shuffled"}, "mode"),
        ({"duplicate_rate": 2}, "duplicate_rate"),
        ({"delay_max_seconds": -1}, "delay_max_seconds"),
        ({"seed": "x"}, "seed"),
        ({"jitter": 1}, "jitter"),
    ],
)
def test_a_bad_delivery_setting_is_refused_naming_the_field(data, field):
    with pytest.raises(ValueError, match=field):
        CallbackDelivery.from_dict(data)


def test_the_transcript_shows_retries_and_late_or_second_deliveries():
    from simulator.softphone import describe

    retry = {"kind": "fetch", "t": 0, "method": "POST", "url": "http://app/v", "status": 200}
    assert "(attempt 2)" in describe({**retry, "attempt": 2})
    late = {"kind": "callback", "t": 9, "method": "POST", "url": "http://app/s", "status": 204}
    line = describe({**late, "label": "ringing", "delivery": "duplicate", "delay_s": 3.5})
    assert "[ringing] (duplicate, +3.5 s) -> 204" in line


def test_the_next_delivery_that_ends_a_call_is_told_apart_from_the_rest():
    """A rehearsal with every call slot in use waits for the next final status (the only
    delivery that frees a slot), not for every ringing or answered callback on the way."""
    start = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)
    held = CallbackScheduler(VirtualClock(start))
    made: list[str] = []
    try:
        at = [start + dt.timedelta(seconds=s) for s in (1, 2, 3)]
        held.submit("CA1", at[0], 0.0, lambda: made.append("ringing"))
        held.submit("CA2", at[2], 0.0, lambda: made.append("completed 2"), ends_call=True)
        held.submit("CA1", at[1], 0.0, lambda: made.append("completed 1"), ends_call=True)
        assert held.next_due() == at[0]
        assert held.next_due(ending=True) == at[1]
        held.ended("CA1")
        held.ended("CA2")
        held.release(at[1])
        assert made == ["ringing", "completed 1"]
        assert held.next_due(ending=True) == held.next_due() == at[2]
        held.release(at[2])
        assert held.next_due(ending=True) is None and held.next_due() is None
    finally:
        held.shutdown()


def test_a_call_is_delivering_while_a_callback_of_it_is_held_and_not_after():
    """What the carrier may forget of a call (Carrier.forget_ended): nothing while one of its
    callbacks is still to be delivered."""
    start = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)
    held = CallbackScheduler(VirtualClock(start))
    try:
        at = start + dt.timedelta(seconds=5)
        held.submit("CA1", at, 0.0, lambda: None, ends_call=True)
        held.submit("CA2", start, 0.0, lambda: None, ends_call=True)
        held.ended("CA1")
        held.ended("CA2")
        assert held.delivering() == {"CA1", "CA2"}
        held.release(start)
        assert held.delivering() == {"CA1"}
        held.forget(["CA2"])
        held.release(at)
        assert held.delivering() == set() and held.next_due() is None
    finally:
        held.shutdown()
