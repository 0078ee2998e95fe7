"""The Calls resource's pure rules: its create parameters, its list filters and its pages."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.callees import Script, ScriptError
from simulator.carrier import ApiError, SimCall
from simulator.carrier.call_list import CallQuery, DayRange, page_envelope
from simulator.carrier.call_params import call_options, digit_timing, refusal

KEYS = "0123456789ABCD*#wW"
T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@given(st.text(alphabet=KEYS, min_size=1, max_size=32))
def test_send_digits_of_twilios_keys_are_accepted_and_timed(digits):
    assert call_options({"SendDigits": [digits]}).send_digits == digits
    seconds = sum(s for _, s in digit_timing(digits))
    expected = 0.5 * digits.count("w") + 1.0 * digits.count("W")
    expected += 0.2 * (len(digits) - digits.count("w") - digits.count("W"))
    assert seconds == pytest.approx(expected)


@given(
    st.text(alphabet=KEYS, max_size=16),
    st.characters().filter(lambda c: c not in KEYS),
    st.text(alphabet=KEYS, max_size=15),
)
def test_send_digits_with_any_other_character_are_refused_with_21206(before, other, after):
    with pytest.raises(ApiError) as refused:
        call_options({"SendDigits": [before + other + after]})
    assert refused.value.code == 21206


def test_defaults_are_twilios():
    options = call_options({})
    assert (options.method, options.timeout, options.time_limit) == ("POST", 60, 14400)
    assert options.status_events == {"completed"} and options.machine_detection is None
    assert options.machine_detection_timeout == 30 and options.send_digits is None


def test_refusals_follow_the_script():
    assert refusal("+15005550009", Script()) is None
    geo = refusal("+15005550009", Script(refuse="geo-permissions"))
    blocked = refusal("+15005550009", Script(refuse="blocked"))
    assert geo is not None and (geo.status, geo.code) == (400, 21215)
    assert blocked is not None and (blocked.status, blocked.code) == (400, 21216)
    with pytest.raises(ScriptError, match="refuse"):
        Script.from_dict({"refuse": "maybe"})


def _call(n: int, to: str, status: str) -> SimCall:
    return SimCall(
        sid=f"CA{n:032x}",
        account_sid="AC" + "0" * 32,
        to=to,
        from_="+18005550100",
        direction="outbound-api",
        url="https://example.test/a",
        status=status,
        created_at=T0 + dt.timedelta(minutes=n),
        start_time=T0 + dt.timedelta(minutes=n) if status != "queued" else None,
        seq=n,
    )


CALLS = st.lists(
    st.tuples(
        st.sampled_from(["+14155550001", "+14155550002"]),
        st.sampled_from(["queued", "busy", "completed"]),
    ),
    max_size=25,
)


@given(CALLS, st.integers(min_value=1, max_value=7), st.sampled_from(["+14155550001", ""]))
def test_following_next_page_uris_lists_every_matching_call_once_newest_first(specs, page_size, to):
    calls = [_call(n, number, status) for n, (number, status) in enumerate(specs)][::-1]
    args = {"PageSize": str(page_size), **({"To": to} if to else {})}
    seen: list[str] = []
    while True:
        envelope = page_envelope(calls, args, "/Calls.json", lambda c: {"sid": c.sid})
        assert len(envelope["calls"]) <= page_size
        seen += [c["sid"] for c in envelope["calls"]]
        if envelope["next_page_uri"] is None:
            break
        args = dict(parse_qsl(urlsplit(envelope["next_page_uri"]).query))
    assert seen == [c.sid for c in calls if not to or c.to == to]


def test_a_token_still_marks_its_place_when_its_call_no_longer_matches():
    calls = [_call(n, "+14155550001", "queued") for n in range(4)][::-1]
    first = page_envelope(calls, {"Status": "queued", "PageSize": "2"}, "/C", lambda c: {})
    token = dict(parse_qsl(urlsplit(first["next_page_uri"]).query))["PageToken"]
    calls[1].status = "completed"  # the last call of page one moved on
    args = {"Status": "queued", "PageSize": "2", "PageToken": token}
    second = page_envelope(calls, args, "/C", lambda c: {"sid": c.sid})
    assert [c["sid"] for c in second["calls"]] == [calls[2].sid, calls[3].sid]


@pytest.mark.parametrize(
    ("args", "start"),
    [
        ({"StartTime": "2026-11-30"}, DayRange(on=dt.date(2026, 11, 30))),
        ({"StartTime<": "2026-11-30T23:59:59Z"}, DayRange(before=dt.date(2026, 11, 30))),
        ({"StartTime>": "2026-11-30 08:00"}, DayRange(on_or_after=dt.date(2026, 11, 30))),
    ],
)
def test_time_filters_keep_only_the_day(args, start):
    assert CallQuery.from_args(args).start == start


def test_a_call_not_started_matches_no_start_filter():
    queued = _call(1, "+14155550001", "queued")
    assert CallQuery.from_args({}).matches(queued)
    assert not CallQuery.from_args({"StartTime>": "2000-01-01"}).matches(queued)


@pytest.mark.parametrize(
    ("name", "low", "high", "default"),
    [
        ("MachineDetectionSpeechThreshold", 1000, 6000, 2400),
        ("MachineDetectionSpeechEndThreshold", 500, 5000, 1200),
        ("MachineDetectionSilenceTimeout", 2000, 10000, 5000),
    ],
)
def test_amd_thresholds_are_taken_within_twilios_ranges_and_refused_outside(
    name, low, high, default
):
    attribute = {
        "MachineDetectionSpeechThreshold": "machine_detection_speech_threshold",
        "MachineDetectionSpeechEndThreshold": "machine_detection_speech_end_threshold",
        "MachineDetectionSilenceTimeout": "machine_detection_silence_timeout",
    }[name]
    assert getattr(call_options({}), attribute) == default
    for value in (low, high):
        assert getattr(call_options({name: [str(value)]}), attribute) == value
    for value in (low - 1, high + 1, "2.5", "soon"):
        with pytest.raises(ApiError) as refused:
            call_options({name: [str(value)]})
        assert refused.value.code == 21234
