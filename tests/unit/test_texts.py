"""What a text to the line asks for (dialer/texts.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.texts import TWILIO_STOP, Ask, read_text


@given(
    word=st.sampled_from(sorted(TWILIO_STOP)),
    case=st.sampled_from([str.lower, str.upper, str.title]),
    pad=st.sampled_from(["", " ", "\n", "  \t"]),
)
def test_twilios_stop_keywords_alone_stop_and_twilio_answers_them(word, case, pad):
    read = read_text(pad + case(word) + pad)
    assert read.ask == Ask.STOP and read.twilio_answers


@given(before=st.text(max_size=30), after=st.text(max_size=30))
def test_a_stop_word_anywhere_in_a_text_stops(before, after):
    for word in ("stop", "unsubscribe", "退订"):
        assert read_text(f"{before} {word} {after}").ask == Ask.STOP


@pytest.mark.parametrize(
    ("body", "ask", "twilio"),
    [
        ("Stop please", Ask.STOP, False),  # Twilio matches the word alone only
        ("don't call me again", Ask.STOP, False),
        ("no more texts", Ask.STOP, False),
        ("别再打了", Ask.STOP, False),
        ("cancel", Ask.STOP, True),
        ("cancel my promise", Ask.OTHER, False),
        ("see you at the end of the month", Ask.OTHER, False),
        ("HELP", Ask.HELP, True),
        ("帮助", Ask.HELP, False),
        ("yes", Ask.START, True),
        ("", Ask.OTHER, False),
    ],
)
def test_what_a_text_asks_for(body, ask, twilio):
    read = read_text(body)
    assert (read.ask, read.twilio_answers) == (ask, twilio)


def test_the_reply_is_in_the_texters_language():
    assert read_text("退订").language == "zh-CN"
    assert read_text("stop calling").language == "en"
