"""Twilio's messaging rules in the simulator: keywords, segments, reply TwiML, scripts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.callees import Script, ScriptError
from simulator.carrier.sms_rules import (
    HELP,
    OPT_IN,
    OPT_OUT,
    ReplyError,
    ReplyMessage,
    keyword,
    parse_reply,
    segments,
    well_formed_service_sid,
)

KEYWORDS = [(word, "STOP") for word in OPT_OUT]
KEYWORDS += [(word, "START") for word in OPT_IN] + [(word, "HELP") for word in HELP]
SPACE = st.text(alphabet=" \t\n\r", max_size=3)


@given(st.sampled_from(KEYWORDS), SPACE, SPACE, st.randoms())
def test_a_keyword_counts_whatever_its_case_and_surrounding_space(pair, before, after, rng):
    word, kind = pair
    mixed = "".join(c.lower() if rng.random() < 0.5 else c for c in word)
    assert keyword(before + mixed + after) == kind


@given(st.sampled_from(KEYWORDS), st.text(min_size=1).filter(lambda s: s.strip()))
def test_a_keyword_with_anything_more_is_just_a_text(pair, more):
    word, _ = pair
    assert keyword(f"{word} {more}") is None
    assert keyword(f"{more} {word}") is None


@pytest.mark.parametrize("body", ["退订", "取消", "TD", "ARRET", "STOP!", "S T O P", ""])
def test_words_twilio_does_not_know_are_not_keywords(body):
    assert keyword(body) is None


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # an extension character takes two septets
        ("€" * 81, 2),
        ("您" * 70, 1),  # outside GSM-7: UCS-2, 70 in one segment, 67 a part
        ("您" * 71, 2),
        ("您" * 134, 2),
        ("您" * 135, 3),
        ("😀" * 35, 1),  # two UTF-16 code units each
        ("😀" * 36, 2),
    ],
)
def test_segments_follow_gsm7_and_ucs2_limits(body, count):
    assert segments(body) == count


@given(st.text(max_size=2000))
def test_segments_grow_with_the_body_and_never_drop_below_one(body):
    assert segments(body) >= 1
    assert segments(body) <= segments(body + "a" * 160)


def test_the_apps_reply_twiml_gives_its_messages():
    text = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        "<Message>Your balance is $12.34.</Message>"
        '<Message to="+14155550100" action="/status"><Body>您已退订。</Body></Message>'
        "<Redirect>/elsewhere</Redirect></Response>"
    )
    assert parse_reply(text) == [
        ReplyMessage("Your balance is $12.34."),
        ReplyMessage("您已退订。", to="+14155550100", action="/status"),
    ]
    assert parse_reply("<Response/>") == []
    assert parse_reply("") == []


@pytest.mark.parametrize(("text", "code"), [("<Response>", 12100), ("<Reply/>", 12102)])
def test_a_reply_twilio_cannot_read_has_its_error_code(text, code):
    with pytest.raises(ReplyError) as caught:
        parse_reply(text)
    assert caught.value.code == code


def test_a_messaging_service_sid_is_mg_and_32_hex_digits():
    assert well_formed_service_sid("MG" + "0a" * 16)
    assert not well_formed_service_sid("MG" + "0A" * 16)
    assert not well_formed_service_sid("MG123")
    assert not well_formed_service_sid("PN" + "0a" * 16)


def test_a_script_says_how_texts_to_the_number_go():
    script = Script.from_dict({"sms": "undelivered", "line": "landline", "sms_replies": ["STOP"]})
    assert (script.sms, script.line, script.sms_replies) == ("undelivered", "landline", ("STOP",))
    assert Script.from_dict(script.to_dict()) == script


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sms": "read"}, "sms"),
        ({"line": "fax"}, "line"),
        ({"sms_replies": "STOP"}, "sms_replies"),
        ({"sms_replies": [1]}, "sms_replies"),
    ],
)
def test_bad_sms_fields_are_refused_naming_the_field(data, message):
    with pytest.raises(ScriptError, match=message):
        Script.from_dict(data)
