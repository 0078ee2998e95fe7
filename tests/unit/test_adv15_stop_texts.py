"""adv15: ways people in China say "stop" by text that the line does not hear."""

from __future__ import annotations

import pytest

from dialer.texts import Ask, read_text


@pytest.mark.parametrize(
    "body",
    [
        "TD",  # the industry's own unsubscribe reply in China ("回复TD退订")
        "td",
        "不要联系我",  # don't contact me
        "别联系我了",  # stop contacting me
        "请勿打扰",  # do not disturb
        "以后不要发短信给我",  # don't text me any more
    ],
)
def test_a_chinese_stop_is_an_opt_out(body):
    assert read_text(body).ask is Ask.STOP, body


@pytest.mark.parametrize("body", ["STOP", "Stop.", "please stop calling", "退订", "不要再打了"])
def test_what_held(body):
    assert read_text(body).ask is Ask.STOP


@pytest.mark.parametrize(
    "body", ["TD Bank is my bank", "no, I will pay friday", "No", "我不要发愁", "not today"]
)
def test_td_or_no_in_a_sentence_is_not_a_stop(body):
    assert read_text(body).ask is not Ask.STOP


def test_td_is_answered_by_the_app_in_chinese():
    read = read_text("td")
    assert (read.language, read.twilio_answers) == ("zh-CN", False)
