"""Answering machine detection's rule (simulator.amd): every greeting, every threshold."""

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.amd import (
    DETECT_MESSAGE_END,
    ENABLE,
    GREETING_ENDS,
    Greeting,
    Thresholds,
    detect,
)
from simulator.callees import CalleeMix, Script, ScriptError

DEFAULTS = Thresholds()
MACHINE_END = {"machine_end_beep", "machine_end_silence", "machine_end_other"}

thresholds = st.builds(
    Thresholds,
    timeout_seconds=st.integers(3, 60).map(float),
    speech_ms=st.integers(1000, 6000),
    speech_end_ms=st.integers(500, 5000),
    silence_ms=st.integers(2000, 10000),
)
greetings = st.builds(
    Greeting,
    speech_seconds=st.floats(0, 40).map(lambda s: round(s, 1)),
    end=st.sampled_from(GREETING_ENDS),
    fax=st.booleans(),
)
modes = st.sampled_from([ENABLE, DETECT_MESSAGE_END])


@pytest.mark.parametrize(
    ("greeting", "mode", "answered_by", "seconds"),
    [
        (Greeting(1.0), ENABLE, "human", 2.2),  # "Hello?", then 1.2 s of silence
        (Greeting(1.0), DETECT_MESSAGE_END, "human", 2.2),
        (Greeting(0.0), ENABLE, "unknown", 5.0),  # answers and says nothing
        (Greeting(3.0), ENABLE, "machine_start", 2.4),  # a long human greeting
        (Greeting(3.0), DETECT_MESSAGE_END, "machine_end_silence", 4.2),
        (Greeting(8.0, "beep"), ENABLE, "machine_start", 2.4),
        (Greeting(8.0, "beep"), DETECT_MESSAGE_END, "machine_end_beep", 8.5),
        (Greeting(8.0, "silence"), DETECT_MESSAGE_END, "machine_end_silence", 9.2),
        (Greeting(8.0, "other"), DETECT_MESSAGE_END, "machine_end_other", 9.2),
        (Greeting(2.0, "beep"), DETECT_MESSAGE_END, "machine_end_beep", 2.5),
        (Greeting(2.0, "silence"), DETECT_MESSAGE_END, "human", 3.2),  # too short to tell
        (Greeting(40.0, "beep"), DETECT_MESSAGE_END, "unknown", 30.0),  # past the timeout
        (Greeting(8.0, fax=True), ENABLE, "fax", 3.0),
    ],
)
def test_twilios_defaults_decide_each_kind_of_greeting(greeting, mode, answered_by, seconds):
    verdict = detect(greeting, mode, DEFAULTS)
    assert (verdict.answered_by, verdict.seconds) == (answered_by, pytest.approx(seconds))
    assert verdict.duration_ms == round(seconds * 1000)


def test_each_threshold_moves_the_decision():
    hello = Greeting(2.0)
    assert detect(hello, ENABLE, Thresholds(speech_ms=1500)).answered_by == "machine_start"
    assert detect(hello, ENABLE, Thresholds(speech_end_ms=500)).seconds == pytest.approx(2.5)
    assert detect(Greeting(0.0), ENABLE, Thresholds(silence_ms=2000)).seconds == 2.0
    assert detect(Greeting(0.0), ENABLE, Thresholds(timeout_seconds=3)).seconds == 3.0
    greeting = Greeting(12.0, "silence")
    assert detect(greeting, DETECT_MESSAGE_END, Thresholds(speech_end_ms=3000)).seconds == 15.0
    timed_out = detect(greeting, DETECT_MESSAGE_END, Thresholds(timeout_seconds=10))
    assert (timed_out.answered_by, timed_out.seconds) == ("unknown", 10.0)


@given(greetings, modes, thresholds)
def test_a_verdict_is_one_of_twilios_values_and_never_after_the_timeout(greeting, mode, limits):
    verdict = detect(greeting, mode, limits)
    if mode == ENABLE:
        assert verdict.answered_by in {"human", "machine_start", "fax", "unknown"}
    else:
        assert verdict.answered_by in {"human", "fax", "unknown"} | MACHINE_END
    assert 0 < verdict.seconds <= limits.timeout_seconds
    assert detect(greeting, mode, limits) == verdict  # deterministic


@given(greetings, thresholds)
def test_the_end_of_a_message_is_never_reported_before_the_greeting_ends(greeting, limits):
    verdict = detect(greeting, DETECT_MESSAGE_END, limits)
    if verdict.answered_by in MACHINE_END:
        assert verdict.seconds > greeting.speech_seconds
        assert verdict.answered_by == f"machine_end_{greeting.end}"


@given(greetings, thresholds)
def test_a_person_is_short_speech_followed_by_no_beep(greeting, limits):
    verdict = detect(greeting, ENABLE, limits)
    if verdict.answered_by == "human":
        assert not greeting.fax and greeting.end != "beep"
        assert 0 < greeting.speech_seconds <= limits.speech_ms / 1000
        assert verdict.seconds == pytest.approx(
            greeting.speech_seconds + limits.speech_end_ms / 1000
        )
    if greeting.speech_seconds == 0 and not greeting.fax:
        assert verdict.answered_by == "unknown"


@pytest.mark.parametrize(
    ("data", "greeting"),
    [
        ({}, Greeting(1.0, "silence")),
        ({"greeting_seconds": 3.5}, Greeting(3.5, "silence")),
        ({"silent": True}, Greeting(0.0, "silence")),
        ({"answer": "machine"}, Greeting(8.0, "beep")),
        ({"answer": "machine", "greeting_end": "other"}, Greeting(8.0, "other")),
        ({"answer": "machine", "beep": False}, Greeting(8.0, "silence")),
        ({"answer": "fax"}, Greeting(8.0, "silence", fax=True)),
    ],
)
def test_a_script_says_what_the_callee_sends_on_answering(data, greeting):
    assert Script.from_dict(data).greeting() == greeting


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"greeting_end": "music"}, "greeting_end"),
        ({"greeting_seconds": -1}, "greeting_seconds"),
        ({"silent": True, "greeting_seconds": 2}, "silent"),
        ({"beep": True, "greeting_end": "silence"}, "not both"),
    ],
)
def test_bad_greetings_are_refused_naming_the_field(data, message):
    with pytest.raises(ScriptError, match=message):
        Script.from_dict(data)


def test_the_mix_exercises_every_amd_branch_and_replays_per_number():
    mix = CalleeMix(seed=7)
    numbers = [f"+1415555{n:04d}" for n in range(3000)]
    scripts = [mix.script_for(n) for n in numbers]
    assert scripts == [CalleeMix(seed=7).script_for(n) for n in reversed(numbers)][::-1]
    assert scripts != [CalleeMix(seed=8).script_for(n) for n in numbers]
    answered = [s for s in scripts if s.answer in ("human", "machine")]
    by_mode = {
        mode: Counter(detect(s.greeting(), mode, DEFAULTS).answered_by for s in answered)
        for mode in (ENABLE, DETECT_MESSAGE_END)
    }
    assert set(by_mode[DETECT_MESSAGE_END]) == {"human", "unknown"} | MACHINE_END
    assert set(by_mode[ENABLE]) == {"human", "machine_start", "unknown"}
    people = [s for s in scripts if s.answer == "human"]
    machines = [s for s in scripts if s.answer == "machine"]
    assert 0.05 < sum(s.silent for s in people) / len(people) < 0.15
    assert len({s.greeting_seconds for s in machines}) > 100  # varied lengths
    ends = Counter(s.greeting_end for s in machines)
    assert ends["beep"] > ends["silence"] > ends["other"] > 0
    # Most people are taken for people, most machines for machines.
    human_verdicts = Counter(detect(s.greeting(), ENABLE, DEFAULTS).answered_by for s in people)
    assert human_verdicts["human"] / len(people) > 0.7
