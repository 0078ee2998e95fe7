"""The simulator's pure parts: TwiML checks with Twilio's codes, scripts, the seeded mix."""

from collections import Counter

import pytest

from simulator.callees import CalleeMix, Party, Script, ScriptError, Step
from simulator.carrier import _collect_digits, speech_seconds
from simulator.twiml import TwimlError, parse


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"<Response><Say>hi</Say>", "text/xml", 12100),
        (b"  <?xml version='1.0'?><Response/>", "text/xml", 12100),
        (b"<Reply><Say>hi</Say></Reply>", "text/xml", 12102),
        (b"<Response/>", None, 12300),
        (b"<Response/>", "application/json", 12300),
        (b"<Response>" + b"<Pause/>" * 9000 + b"</Response>", "text/xml", 11750),
    ],
)
def test_documents_twilio_cannot_run_fail_with_its_error_code(body, content_type, code):
    with pytest.raises(TwimlError) as excinfo:
        parse(body, content_type)
    assert excinfo.value.code == code


def test_unknown_verbs_are_skipped_with_a_warning():
    document = parse(b"<Response><Shout>hi</Shout><Say>ok</Say></Response>", "text/xml; utf-8")
    assert [v.tag for v in document.verbs] == ["Say"]
    assert document.warnings == ("12200: schema validation warning: unknown verb <Shout>",)


@pytest.mark.parametrize(
    ("pressed", "finish", "num", "expected"),
    [
        ("1234#", "#", 0, ("1234", "#")),
        ("#", "#", 0, ("", "#")),
        ("12345", "", 3, ("123", "")),
        ("12", "#", 0, ("12", "")),
        ("9*", "*", 0, ("9", "*")),
    ],
)
def test_digits_are_handed_over_as_twilio_does(pressed, finish, num, expected):
    assert _collect_digits(pressed, finish, num) == expected


def test_chinese_takes_time_to_say_by_characters():
    assert speech_seconds("请按一") > 0.5
    assert speech_seconds("one two three four five") == pytest.approx(2.0)


def test_keys_become_one_step_per_prompt_and_silence_is_allowed():
    script = Script.from_dict({"keys": "1234#,,1"})
    assert [s.press for s in script.steps] == ["1234#", "", "1"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"answer": "maybe"}, "answer"),
        ({"keys": "12a"}, "not 0-9"),
        ({"volume": 3}, "volume"),
        ({"card": {"outcome": "stolen"}}, "card.outcome"),
    ],
)
def test_bad_scripts_are_refused_naming_the_field(data, message):
    with pytest.raises(ScriptError, match=message):
        Script.from_dict(data)


def test_a_step_with_when_waits_for_the_matching_prompt():
    party = Party(Script(steps=(Step(press="1", when="account number"),)))
    assert party.respond("Welcome. Press 1 for English.", 5) is None
    assert party.respond("Please enter your account number.", 5).press == "1"
    assert party.exhausted


def test_the_mix_is_stable_per_number_and_follows_its_weights():
    mix = CalleeMix(seed=7)
    assert mix.script_for("+14155550100") == CalleeMix(seed=7).script_for("+14155550100")
    answers = Counter(mix.script_for(f"+1415555{n:04d}").answer for n in range(2000))
    assert set(answers) == {"human", "machine", "no-answer", "busy", "failed"}
    assert 0.30 < answers["human"] / 2000 < 0.40
    assert 0.02 < answers["failed"] / 2000 < 0.06
