"""The outbound call end to end: an attempt placed through the twilio SDK (TwilioGateway)
with dialer.urls' URLs, carried by the simulator, answered by the real app over HTTP."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from dialer.urls import call_request
from hotline.enums import AttemptStatus, Direction, Disposition
from hotline.models import (
    AuditEvent,
    CallEvent,
    CardAccount,
    ContactAttempt,
    Payment,
    Phone,
    PromiseToPay,
)
from hotline.phones import time_zones_for
from hotline.settings import DEV_ACCOUNT_SID
from simulator.callees import Script
from simulator.signing import signature
from telephony.twilio_gateway import TwilioGateway
from tests.conftest import backend
from tests.e2e.conftest import AUTH_TOKEN, HOTLINE_NUMBER

ALICE, ALICE_ACCOUNT = "+14155550100", "4000123400000001"
WANG, WANG_ACCOUNT = "+8613800138000", "6200123400000002"


def plan_attempt(line, number: str, account_number: str) -> int:
    """A planned outbound attempt, as the dialer's planning would leave it."""
    with line.app.extensions["hotline"].Session.begin() as session:
        account = session.scalars(
            select(CardAccount).where(CardAccount.account_number == account_number)
        ).one()
        phone = session.scalars(
            select(Phone).where(Phone.e164 == number, Phone.cardholder_id == account.cardholder_id)
        ).one()
        attempt = ContactAttempt(
            direction=Direction.OUTBOUND,
            account_id=account.id,
            phone_id=phone.id,
            number=number,
            status=AttemptStatus.DIALING,
            due_at=dt.datetime.now(dt.UTC),
        )
        session.add(attempt)
        session.flush()
        return attempt.id


def dial(line, script: dict, number: str = ALICE, account_number: str = ALICE_ACCOUNT):
    """Place one attempt as the dialer's tick would, and wait for its outcome."""
    attempt_id = plan_attempt(line, number, account_number)
    line.carrier.scripts[number] = Script.from_dict(script)
    gateway = TwilioGateway.from_settings(DEV_ACCOUNT_SID, AUTH_TOKEN, line.simulator.base_url)
    try:
        info = gateway.place_call(
            call_request(line.base_url, attempt_id, to=number, from_=HOTLINE_NUMBER)
        )
    finally:
        gateway.client.http_client.session.close()
    with line.app.extensions["hotline"].Session.begin() as session:
        placed = session.get(ContactAttempt, attempt_id)
        placed.provider_call_sid = placed.provider_call_sid or info.sid  # the tick stores it
    call = line.carrier.wait(info.sid, timeout=60)
    return call, ended(line, attempt_id)


def ended(line, attempt_id: int, timeout: float = 10.0) -> ContactAttempt:
    """The attempt once its final status callback has been kept."""
    give_up = time.monotonic() + timeout
    while True:
        with line.app.extensions["hotline"].Session() as session:
            attempt = session.get(ContactAttempt, attempt_id)
            session.expunge_all()
        if attempt.ended_at is not None or time.monotonic() > give_up:
            return attempt
        time.sleep(0.05)


def said(call) -> str:
    return " ".join(e.detail["text"] for e in call.transcript if e.kind == "say")


def count(line, statement) -> int:
    with line.app.extensions["hotline"].Session() as session:
        return session.scalar(statement) or 0


def account_row(line, number=ALICE_ACCOUNT) -> CardAccount:
    with line.app.extensions["hotline"].Session() as session:
        row = session.scalars(select(CardAccount).where(CardAccount.account_number == number)).one()
        session.expunge_all()
        return row


def test_a_right_party_pays_by_card_and_the_payment_posts_exactly_once(hotline_app):
    line = hotline_app
    before = account_row(line)
    call, attempt = dial(line, {"keys": "1,1,1,1"})  # I am Alice; pay; the minimum; confirm
    text = said(call)
    assert text.startswith("Hello, this is Example Bank, calling for Alice.")
    assert "This is an attempt to collect a debt" in text
    minimum = f"${before.minimum_due_minor / 100:,.2f}"
    assert f"Thank you. Your payment of {minimum} was accepted." in text
    pays = [e for e in call.transcript if e.kind == "pay" and e.detail["stage"] == "start"]
    assert len(pays) == 1  # one <Pay>, one charge
    payments = count(line, select(func.count()).select_from(Payment))
    assert payments == 1
    with line.app.extensions["hotline"].Session() as session:
        payment = session.scalars(select(Payment)).one()
        assert payment.amount_minor == before.minimum_due_minor
        assert payment.source == "dialer" and payment.call_sid == call.sid
    assert account_row(line).balance_minor == before.balance_minor - before.minimum_due_minor
    assert attempt.disposition == Disposition.PAID
    assert attempt.status == AttemptStatus.COMPLETED and attempt.answered_by == "human"
    assert attempt.duration_seconds == call.duration and attempt.ended_at is not None
    assert "was accepted" in attempt.said and "calling for Alice" in attempt.said
    # One row per status callback, in Twilio's numbering; the outcome in the audit chain.
    sequences = count(
        line,
        select(func.count())
        .select_from(CallEvent)
        .where(CallEvent.call_sid == call.sid, CallEvent.kind == "status"),
    )
    assert sequences == 4
    with line.app.extensions["hotline"].Session() as session:
        actions = set(session.scalars(select(AuditEvent.action)).all())
    assert {"payment.posted", "dialer.outcome", "dialer.attempt-ended"} <= actions


def test_a_right_party_promises_to_pay(hotline_app):
    line = hotline_app
    before = account_row(line)
    [zone] = time_zones_for(ALICE)
    day = dt.datetime.now(ZoneInfo(zone)).date() + dt.timedelta(days=5)
    amount = str(before.minimum_due_minor)
    call, attempt = dial(line, {"keys": f"1,2,{amount}#,{day:%Y%m%d}#,1"})
    assert "Your promise to pay is recorded" in said(call)
    with line.app.extensions["hotline"].Session() as session:
        promise = session.scalars(select(PromiseToPay)).one()
        assert (promise.amount_minor, promise.promised_date) == (int(amount), day)
        assert promise.source == "dialer" and promise.call_sid == call.sid
    assert attempt.disposition == Disposition.PROMISE


def test_a_wrong_party_hears_nothing_of_the_debt_and_the_number_is_marked_for_review(hotline_app):
    line = hotline_app
    before = account_row(line)
    call, attempt = dial(line, {"keys": "2"})
    text = said(call)
    assert text.endswith("Thank you, and sorry to have disturbed you. Goodbye.")
    spoken_amounts = {
        f"{minor / 100:,.2f}" for minor in (before.balance_minor, before.minimum_due_minor)
    }
    assert not any(amount in text for amount in spoken_amounts)
    assert "debt" not in text.lower() and "$" not in text
    assert attempt.disposition == Disposition.WRONG_PARTY
    assert "$" not in attempt.said
    with line.app.extensions["hotline"].Session() as session:
        phone = session.scalars(select(Phone).where(Phone.e164 == ALICE)).one()
        assert phone.under_review_at is not None and phone.review_source == "dialer"
        assert phone.opted_out_at is None and not phone.bad_number


def test_a_machine_gets_only_the_limited_content_message_after_the_beep(hotline_app):
    line = hotline_app
    call, attempt = dial(line, {"answer": "machine", "greeting_seconds": 6})
    amd = next(e for e in call.transcript if e.kind == "amd")
    first_say = next(i for i, e in enumerate(call.transcript) if e.kind == "say")
    assert call.transcript.index(amd) < first_say  # detected (after the beep) before a word
    assert said(call) == (
        "Hello, this message is for Alice. This is Example Bank. Please call us back at "
        "8 0 0, 5 5 5, 0 1 0 0. Again, our number is 8 0 0, 5 5 5, 0 1 0 0. Thank you."
    )
    assert attempt.answered_by == "machine_end_beep"
    assert attempt.disposition == Disposition.VOICEMAIL_LEFT
    assert attempt.said == said(call)


def test_a_chinese_machine_hears_the_message_in_chinese_under_the_voicemail_name(hotline_line):
    line = hotline_line(voicemail_name_zh="示例服务中心")
    call, attempt = dial(line, {"answer": "machine"}, number=WANG, account_number=WANG_ACCOUNT)
    text = said(call)
    assert text.startswith("您好，这是给王芳的留言。这里是示例服务中心。")
    assert not any(word in text for word in ("欠", "还款", "逾期", "催收", "元"))
    assert attempt.disposition == Disposition.VOICEMAIL_LEFT


def test_a_chinese_cardholder_is_asked_by_full_name_and_hears_the_menu_in_chinese(hotline_app):
    line = hotline_app
    call, attempt = dial(line, {"keys": "1"}, number=WANG, account_number=WANG_ACCOUNT)
    text = said(call)
    assert text.startswith("您好，这里是Example Bank，找王芳。如果您是王芳本人，请按1")
    assert "本次通话目的是催收欠款" in text and "立即付款，请按1" in text
    assert attempt.disposition == Disposition.RIGHT_PARTY


def test_key_9_stops_calls_to_the_number(hotline_app):
    line = hotline_app
    call, attempt = dial(line, {"keys": "1,9,1"})
    assert "We will no longer call the number ending in 0100." in said(call)
    with line.app.extensions["hotline"].Session() as session:
        phone = session.scalars(select(Phone).where(Phone.e164 == ALICE)).one()
        assert phone.opted_out_at is not None and phone.opted_out_source == "dialer"
        assert not phone.autodial_consent
    assert attempt.disposition == Disposition.OPTED_OUT


def test_key_0_puts_the_right_party_in_the_agents_queue(hotline_app):
    line = hotline_app
    call, attempt = dial(line, {"keys": "1,0", "hold_patience": 5})
    assert any(e.kind == "enqueue" and e.detail["queue"] == "collections" for e in call.transcript)
    assert "Please hold while we transfer you to an agent." in said(call)
    assert attempt.disposition == Disposition.TRANSFERRED
    with line.app.extensions["hotline"].Session() as session:
        transfer = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "call.transferred")
        ).one()
        assert call.sid in transfer.entity_id


def test_an_unanswered_call_is_a_no_answer_and_a_dead_number_is_marked_bad(hotline_app):
    line = hotline_app
    _, unanswered = dial(line, {"answer": "no-answer"})
    assert (unanswered.status, unanswered.disposition) == ("no-answer", Disposition.NO_ANSWER)
    assert unanswered.said is None and unanswered.duration_seconds == 0
    _, dead = dial(line, {"answer": "invalid"})
    assert (dead.status, dead.disposition, dead.error_code) == (
        "failed",
        Disposition.INVALID_NUMBER,
        "404",
    )
    with line.app.extensions["hotline"].Session() as session:
        assert session.scalars(select(Phone.bad_number).where(Phone.e164 == ALICE)).one()


def post_signed(line, path: str, form: dict[str, str]) -> requests.Response:
    url = line.base_url + path
    return requests.post(
        url,
        data=form,
        headers={"X-Twilio-Signature": signature(AUTH_TOKEN, url, form.items())},
        timeout=5,
    )


def test_a_replayed_status_callback_changes_nothing_and_an_unknown_call_is_ignored(hotline_app):
    line = hotline_app
    call, attempt = dial(line, {"keys": "2"})
    events = count(line, select(func.count()).select_from(CallEvent))
    audits = count(line, select(func.count()).select_from(AuditEvent))
    replay = {
        "CallSid": call.sid,
        "AccountSid": DEV_ACCOUNT_SID,
        "CallStatus": "ringing",
        "SequenceNumber": "1",
    }
    assert post_signed(line, f"/dialer/status?attempt={attempt.id}", replay).status_code == 204
    late = {**replay, "SequenceNumber": "9"}  # new, but a ringing after the end
    assert post_signed(line, f"/dialer/status?attempt={attempt.id}", late).status_code == 204
    after = ended(line, attempt.id)
    assert (after.status, after.disposition) == (attempt.status, attempt.disposition)
    assert count(line, select(func.count()).select_from(CallEvent)) == events + 1
    assert count(line, select(func.count()).select_from(AuditEvent)) == audits
    stranger = {**replay, "CallSid": "CA" + "f" * 32}
    assert post_signed(line, "/dialer/status", stranger).status_code == 204
    assert count(line, select(func.count()).select_from(CallEvent)) == events + 1


def test_an_unknown_attempt_or_another_calls_is_hung_up_on_and_unsigned_is_refused(hotline_app):
    line = hotline_app
    form = {"CallSid": "CA" + "e" * 32, "AccountSid": DEV_ACCOUNT_SID, "AnsweredBy": "human"}
    for path in ("/dialer/answer?attempt=999999", "/dialer/answer", "/dialer/step/menu?attempt=1"):
        response = post_signed(line, path, form)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(
            "text/xml"
        )
        assert "<Hangup />" in response.text and "<Say" not in response.text
    _, attempt = dial(line, {"keys": "2"})
    hijack = post_signed(line, f"/dialer/answer?attempt={attempt.id}", form)  # another CallSid
    assert "<Hangup />" in hijack.text and "Alice" not in hijack.text
    unsigned = requests.post(
        line.base_url + f"/dialer/answer?attempt={attempt.id}", data=form, timeout=5
    )
    assert unsigned.status_code == 403


@pytest.mark.skipif(backend() != "sqlite", reason="SQLite's file lock")
def test_a_locked_database_gets_an_apology_and_a_hangup_in_time_never_a_500(
    hotline_app, database_url
):
    line = hotline_app
    attempt_id = plan_attempt(line, ALICE, ALICE_ACCOUNT)
    form = {"CallSid": "CA" + "d" * 32, "AccountSid": DEV_ACCOUNT_SID, "AnsweredBy": "human"}
    other = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        answer = post_signed(line, f"/dialer/answer?attempt={attempt_id}", form)
        took = time.monotonic() - started
        status = post_signed(
            line,
            f"/dialer/status?attempt={attempt_id}",
            {**form, "CallStatus": "ringing", "SequenceNumber": "1"},
        )
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
    assert "something went wrong on our side" in answer.text and "<Hangup />" in answer.text
    assert "Alice" not in answer.text and "<Enqueue" not in answer.text  # nobody confirmed
    assert status.status_code == 204
    assert took < 5  # inside the 5 s Twilio allows
