"""Texts to the line, through the simulator's Twilio keyword handling to /sms/inbound."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from hotline.models import Phone
from prompts.catalog import load

ALICE = "+14155550100"  # a demo cardholder's mobile


def opted_out(line, number: str = ALICE) -> bool:
    with line.app.extensions["hotline"].Session() as session:
        phones = session.scalars(select(Phone).where(Phone.e164 == number)).all()
        return bool(phones) and all(p.opted_out_at is not None for p in phones)


def replies(line, body: str, number: str = ALICE) -> list[str]:
    inbound, answers = line.carrier.text_line(number, body)
    assert not inbound.error_code, inbound  # the app answered, signed and well-formed
    return [m.body for m in answers]


def test_twilios_stop_stops_calls_and_texts_and_only_twilio_confirms(hotline_app):
    said = replies(hotline_app, "STOP")
    assert opted_out(hotline_app)
    assert len(said) == 1 and "unsubscribed" in said[0]  # Twilio's; the app adds nothing


@pytest.mark.parametrize(
    ("body", "language"),
    [("退订", "zh-CN"), ("不要再打电话了", "zh-CN"), ("please stop calling me", "en")],
)
def test_a_stop_in_other_words_is_honoured_and_confirmed_by_the_app(hotline_app, body, language):
    said = replies(hotline_app, body)
    assert opted_out(hotline_app)
    stopped = load(language).render("sms_stopped", {"bank": "X", "number": "N"})
    assert len(said) == 1 and stopped.split("X", 1)[1][:8] in said[0], said


@pytest.mark.parametrize("body", ["hello", "I will pay at the end of the month", "START"])
def test_anything_else_changes_nothing_and_gets_no_reply_from_the_app(hotline_app, body):
    said = replies(hotline_app, body)
    assert not opted_out(hotline_app)
    assert all("reminders" not in s for s in said)  # START: Twilio's own reply at most


def test_help_in_chinese_is_answered_by_the_app(hotline_app):
    [said] = replies(hotline_app, "帮助")
    assert "退订" in said and not opted_out(hotline_app)


def test_an_unsigned_text_is_refused(hotline_app):
    response = requests.post(
        hotline_app.base_url + "/sms/inbound",
        data={"From": ALICE, "Body": "STOP", "AccountSid": "AC" + "0" * 32},
        timeout=5,
    )
    assert response.status_code == 403
    assert not opted_out(hotline_app)
