"""The IVR end to end: the real app over HTTP, called through the simulator."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select

from hotline import audit
from hotline.enums import AccountFlag, AttemptStatus
from hotline.models import (
    AuditEvent,
    CardAccount,
    Case,
    ContactAttempt,
    IvrCall,
    Payment,
    Phone,
    PromiseToPay,
    RepaymentPlan,
    VerificationAttempt,
)
from hotline.phones import time_zones_for
from hotline.settings import DEV_ACCOUNT_SID
from prompts.catalog import load
from simulator.callees import Card, Step
from simulator.signing import signature
from tests.e2e.conftest import AUTH_TOKEN, HOTLINE_NUMBER

ALICE, ALICE_ACCOUNT, ALICE_DIGITS = "+14155550100", "4000123400000001", "94107"
WANG, WANG_ACCOUNT, WANG_DIGITS = "+8613800138000", "6200123400000002", "100086"
STRANGER = "+14155550177"
CALLERS = {
    "en": (ALICE, ALICE_ACCOUNT, ALICE_DIGITS),
    "zh-CN": (WANG, WANG_ACCOUNT, WANG_DIGITS),
}


def local_today(caller: str) -> dt.date:
    """Today in the caller's own time zone (the line speaks and checks dates in it)."""
    [zone] = time_zones_for(caller)
    return dt.datetime.now(ZoneInfo(zone)).date()


def said(call) -> list[str]:
    return [e.detail["text"] for e in call.transcript if e.kind == "say"]


def heard(call, fragment: str) -> bool:
    return any(fragment in text for text in said(call))


def account(line, number=ALICE_ACCOUNT) -> CardAccount:
    with line.app.extensions["hotline"].Session() as session:
        row = session.scalars(select(CardAccount).where(CardAccount.account_number == number)).one()
        session.expunge_all()
        return row


def rows(line, model, *where):
    with line.app.extensions["hotline"].Session() as session:
        found = session.scalars(select(model).where(*where)).all()
        session.expunge_all()
        return found


def ring(line, language: str, keys: str, **script):
    """The demo caller of `language` keys their digits then `keys` (one item per prompt);
    returns the call, what it heard, and the catalogue it should have heard it from."""
    caller, _, digits = CALLERS[language]
    call = line.call(f"{digits}#,{keys}", caller=caller, **script)
    return call, said(call), load(language)


# --- identify and verify ------------------------------------------------------------------

VERIFY_FAILED = "We could not verify those details. Please try again."


@pytest.mark.parametrize(
    ("language", "balance_fragment"),
    [("en", "Your current balance is $"), ("zh-CN", "您当前的欠款余额为")],
)
def test_an_identified_caller_verifies_and_hears_balance_and_due_date(
    hotline_app, language, balance_fragment
):
    caller, number, digits = CALLERS[language]
    call = hotline_app.call(f"{digits}#,1", caller=caller)
    texts = said(call)
    at = next(i for i, t in enumerate(texts) if balance_fragment in t)
    balance = " ".join(texts[at : at + 2])  # the balance, then the minimum and its date
    row = account(hotline_app, number)
    if language == "en":
        assert f"${row.balance_minor // 100:,}.{row.balance_minor % 100:02d}" in balance
        assert texts[0] == "Thank you for calling Example Bank."
    else:
        assert f"{row.balance_minor // 100:,}.{row.balance_minor % 100:02d}元" in balance
        assert texts[0] == "感谢致电Example Bank。"
        assert "年" in balance and "月" in balance  # the due date, said the Chinese way
    assert call.error_code is None


def test_nothing_about_the_debt_is_said_before_verification(hotline_app):
    call = hotline_app.call("11111#,22222#")
    assert not heard(call, "$")
    assert not heard(call, "balance is")


def test_the_first_verified_call_gets_the_debt_collector_disclosure(hotline_app):
    first = hotline_app.call(f"{ALICE_DIGITS}#")
    assert heard(first, "This is an attempt to collect a debt")
    second = hotline_app.call(f"{ALICE_DIGITS}#")
    assert not heard(second, "attempt to collect a debt")


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_an_unknown_number_chooses_a_language_and_keys_the_account(hotline_app, language):
    _, number, digits = CALLERS[language]
    choice = "1" if language == "en" else "2"
    call = hotline_app.call(f"{choice},{number}#,{digits}#,1", caller=STRANGER)
    assert said(call)[:3] == [
        "Thank you for calling Example Bank.",
        "For English, press 1.",
        "中文服务请按2。",
    ]
    assert heard(call, "Your current balance" if language == "en" else "您当前的欠款余额")


def test_an_unknown_account_number_sounds_like_any_other_until_the_digits(hotline_app):
    """No account oracle: a missing account number is asked for its digits like a real one,
    fails with the wording of wrong digits, and three failures end in a transfer."""
    call = hotline_app.call("1,999#,11111#,998#,22222#,997#,33333#", caller=STRANGER)
    texts = said(call)
    assert texts.count(VERIFY_FAILED) == 2
    assert texts.count("Please enter your account number, then press the pound key.") == 3
    end = texts.index("We could not confirm your identity.")
    assert texts[end + 1] == "Please hold while we transfer you to an agent."
    assert not heard(call, "could not find")


def test_three_wrong_entries_end_in_a_transfer_and_never_reach_the_menu(hotline_app):
    call = hotline_app.call("11111#,22222#,33333#,1")
    assert said(call).count(VERIFY_FAILED) == 2
    assert heard(call, "We could not confirm your identity.")
    assert heard(call, "Please hold while we transfer you to an agent.")
    assert not heard(call, "For your balance")
    attempts = rows(hotline_app, VerificationAttempt, VerificationAttempt.succeeded.is_(False))
    assert len(attempts) == 3 and {a.call_sid for a in attempts} == {call.sid}


def test_outside_agent_hours_too_many_wrong_entries_say_goodbye(hotline_line):
    line = hotline_line(agent_hours="never")
    call = line.call("11111#,22222#,33333#")
    assert said(call)[-2:] == [
        "Our agents are not available right now.",
        "Thank you for calling. Goodbye.",
    ]


def test_five_failures_in_a_day_lock_self_service_until_an_agent_unlocks_it(hotline_app):
    hotline_app.call("11111#,22222#,33333#")
    call = hotline_app.call("44444#,55555#")
    assert said(call).count(VERIFY_FAILED) == 2  # the lock is not announced: no oracle
    assert account(hotline_app).self_service_locked_at is not None
    later = hotline_app.call(f"{ALICE_DIGITS}#,1")  # even the right digits now
    assert heard(later, VERIFY_FAILED) and not heard(later, "balance is")
    with hotline_app.app.extensions["hotline"].Session() as session:
        assert [
            e.action
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "self-service.locked")
            )
        ] == ["self-service.locked"]


# --- the menu -----------------------------------------------------------------------------


def test_star_repeats_and_bad_keys_are_asked_again_twice_then_an_agent(hotline_app):
    call = hotline_app.call(f"{ALICE_DIGITS}#,*,7,8,6")
    texts = said(call)
    menus = [t for t in texts if t.startswith("For your balance and due date")]
    assert len(menus) == 4  # first, after *, after 7, after 8
    assert texts.count("Sorry, I did not understand that.") == 2
    assert heard(call, "Let me connect you with an agent.")


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_silence_at_the_menu_is_asked_again_twice_then_an_agent(hotline_app, language):
    # Three silences (a script that has run out hangs up, hence one to spare).
    call, texts, catalog = ring(hotline_app, language, ",,,", hold_patience=20)
    assert texts.count(catalog.render("no_input")) == 2
    assert texts.count(catalog.render("menu")) == 3
    assert catalog.render("offer_agent") in texts
    assert any(e.kind == "enqueue" for e in call.transcript)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_star_in_each_sub_menu_goes_back_to_the_main_menu(hotline_app, language):
    _, texts, catalog = ring(hotline_app, language, "2,*,3,*,4,*,1")
    assert texts.count(catalog.render("menu")) == 5  # first, after each *, after the balance
    assert catalog.render("arrangement_menu") in texts and catalog.render("cases_menu") in texts
    assert rows(hotline_app, Payment) == [] and rows(hotline_app, Case) == []


def test_speech_at_the_menu_works_like_keys(hotline_app):
    call = hotline_app.carrier.wait(
        hotline_app.carrier.start_inbound(
            ALICE,
            party=_party(
                Step(press=f"{ALICE_DIGITS}#"), Step(say="what is my balance", confidence=0.9)
            ),
        ).sid
    )
    assert heard(call, "Your current balance is")


def test_mumbled_speech_is_asked_again(hotline_app):
    call = hotline_app.carrier.wait(
        hotline_app.carrier.start_inbound(
            ALICE, party=_party(Step(press=f"{ALICE_DIGITS}#"), Step(say="balance", confidence=0.2))
        ).sid
    )
    assert heard(call, "Sorry, I did not catch that clearly.")
    assert not heard(call, "Your current balance is")


def test_chinese_speech_reaches_an_agent(hotline_app):
    call = hotline_app.carrier.wait(
        hotline_app.carrier.start_inbound(
            WANG,
            party=_party(Step(press=f"{WANG_DIGITS}#"), Step(say="我要转人工", confidence=0.8)),
        ).sid
    )
    assert heard(call, "请稍候，正在为您转接人工客服。")


def _party(*steps):
    from simulator.callees import Party, Script

    return Party(Script(steps=steps, hold_patience=30))


# --- payments -----------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_paying_the_minimum_due_posts_once_and_reduces_the_balance(hotline_app, language):
    caller, number, digits = CALLERS[language]
    before = account(hotline_app, number)
    call = hotline_app.call(f"{digits}#,2,1,1", caller=caller)
    [payment] = rows(hotline_app, Payment)
    assert payment.amount_minor == before.minimum_due_minor
    assert payment.card_last4 == "1111" and payment.card_brand == "visa"
    after = account(hotline_app, number)
    assert after.balance_minor == before.balance_minor - before.minimum_due_minor
    assert after.minimum_due_minor == 0
    code = payment.processor_confirmation[-6:].upper()
    assert heard(call, " ".join(code))
    pay = next(e for e in call.transcript if e.kind == "pay" and e.detail.get("stage") == "start")
    assert (
        pay.detail["amount"] == f"{before.minimum_due_minor // 100}."
        f"{before.minimum_due_minor % 100:02d}"
    )
    assert pay.detail["currency"] == before.currency.lower()
    with hotline_app.app.extensions["hotline"].Session() as session:
        assert audit.verify_chain(session).ok
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "payment.posted")
            )
            == 1
        )


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize(
    ("key", "field"), [("2", "past_due_minor"), ("3", "balance_minor")], ids=["past-due", "full"]
)
def test_the_past_due_amount_or_the_full_balance_can_be_paid(hotline_app, language, key, field):
    caller, number, digits = CALLERS[language]
    before = account(hotline_app, number)
    due = getattr(before, field)
    assert due > 0
    # Change the amount once at the read-back (2), then choose the same option and confirm.
    call = hotline_app.call(f"{digits}#,2,{key},2,{key},1", caller=caller)
    read_back = load(language).prompts["pay_confirm"].split("{")[0]
    assert sum(1 for text in said(call) if text.startswith(read_back)) == 2
    [payment] = rows(hotline_app, Payment)
    assert payment.amount_minor == due
    pay = next(e for e in call.transcript if e.kind == "pay" and e.detail.get("stage") == "start")
    assert pay.detail["amount"] == f"{due // 100}.{due % 100:02d}"
    assert account(hotline_app, number).balance_minor == before.balance_minor - due


def test_another_amount_is_checked_against_the_minimum_and_the_balance(hotline_app):
    balance = account(hotline_app).balance_minor
    call = hotline_app.call(f"{ALICE_DIGITS}#,2,4,50#,{balance + 1}#,2500#,1")
    assert heard(call, "The amount must be at least $1.00.")
    assert heard(call, "The amount cannot be more than your balance")
    assert heard(call, "You are paying $25.00.")
    [payment] = rows(hotline_app, Payment)
    assert payment.amount_minor == 2500


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize(
    ("outcome", "key"),
    [
        ("declined", "pay_declined"),
        ("too-many-failed-attempts", "pay_too_many_attempts"),
        ("caller-interrupted-with-star", "pay_interrupted"),
        ("connector-error", "pay_connector_error"),
    ],
)
def test_each_payment_failure_has_its_own_words_and_a_way_to_retry(
    hotline_app, language, outcome, key
):
    _, texts, catalog = ring(hotline_app, language, "2,1,1", card=Card(outcome=outcome).__dict__)
    assert catalog.render(key) in texts
    assert catalog.render("pay_retry") in texts
    assert rows(hotline_app, Payment) == []


def test_pressing_1_after_a_failure_starts_pay_again(hotline_app):
    call = hotline_app.call(f"{ALICE_DIGITS}#,2,1,1,1", card={"outcome": "declined"})
    # The script's card declines every time: two <Pay> sessions, two declines.
    assert said(call).count("Your card was declined.") == 2
    assert sum(1 for e in call.transcript if e.kind == "pay" and e.detail["stage"] == "start") == 2


def test_a_caller_hanging_up_during_pay_posts_nothing(hotline_app):
    hotline_app.call(f"{ALICE_DIGITS}#,2,1,1", card={"outcome": "caller-hung-up"})
    assert rows(hotline_app, Payment) == []


def _signed_post(line, path, params):
    url = line.base_url + path
    return requests.post(
        url,
        data=params,
        timeout=30,
        headers={"X-Twilio-Signature": signature(AUTH_TOKEN, url, params.items())},
    )


def _pay_params(call_sid, code="ch_replayed000001"):
    return {
        "CallSid": call_sid,
        "AccountSid": DEV_ACCOUNT_SID,
        "From": ALICE,
        "To": HOTLINE_NUMBER,
        "CallStatus": "in-progress",
        "Result": "success",
        "PaymentConfirmationCode": code,
        "PaymentCardNumber": "xxxx-xxxx-xxxx-4242",
        "PaymentCardType": "visa",
    }


def _call_waiting_for_pay_result(line):
    """A call that reached <Pay> and whose result Twilio has not reported yet.

    A real call always reports (even a hang-up), so the call is driven to <Pay> and its
    state put back to where it stood when <Pay> began.
    """
    import json

    call = line.call(f"{ALICE_DIGITS}#,2,1,1", card={"outcome": "caller-hung-up"})
    with line.app.extensions["hotline"].Session.begin() as session:
        row = session.scalars(select(IvrCall).where(IvrCall.call_sid == call.sid)).one()
        state = json.loads(row.state)
        minimum = session.scalars(
            select(CardAccount.minimum_due_minor).where(CardAccount.account_number == ALICE_ACCOUNT)
        ).one()
        state.update(step="pay-result", pending={"amount_minor": minimum})
        state.pop("last_twiml")
        row.state, row.step = json.dumps(state), "pay-result"
    return call.sid


def test_a_replayed_pay_callback_changes_nothing(hotline_app):
    sid = _call_waiting_for_pay_result(hotline_app)
    before = account(hotline_app).balance_minor
    first = _signed_post(hotline_app, "/ivr/pay", _pay_params(sid))
    again = _signed_post(hotline_app, "/ivr/pay", _pay_params(sid))
    assert first.status_code == again.status_code == 200
    assert first.text == again.text and "Your payment of" in first.text
    assert len(rows(hotline_app, Payment)) == 1
    minimum = account(hotline_app)
    assert minimum.balance_minor < before


def test_concurrent_replays_of_one_payment_post_it_exactly_once(hotline_app):
    sid = _call_waiting_for_pay_result(hotline_app)
    before = account(hotline_app)
    responses = []

    def replay():
        responses.append(_signed_post(hotline_app, "/ivr/pay", _pay_params(sid)))

    threads = [threading.Thread(target=replay) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in responses] == [200] * 8
    assert all("Your payment of" in r.text for r in responses)
    [payment] = rows(hotline_app, Payment)
    assert account(hotline_app).balance_minor == before.balance_minor - payment.amount_minor


# --- arrangements -------------------------------------------------------------------------


def test_a_promise_to_pay_is_saved_pauses_reminders_and_is_confirmed_by_sms(hotline_app):
    row = account(hotline_app)
    promised = local_today(ALICE) + dt.timedelta(days=10)
    amount = max(row.minimum_due_minor, 100)
    call = hotline_app.call(f"{ALICE_DIGITS}#,3,1,{amount}#,{promised:%Y%m%d}#,1")
    assert heard(call, "Your promise to pay is recorded.")
    [promise] = rows(hotline_app, PromiseToPay)
    assert (promise.amount_minor, promise.promised_date, promise.status) == (
        amount,
        promised,
        "pending",
    )
    assert account(hotline_app).reminders_paused_until == promised
    [sms] = hotline_app.texts(1)
    assert sms.to == ALICE and promised.isoformat() in sms.body


def test_a_promise_outside_the_window_or_below_the_minimum_is_refused(hotline_app):
    row = account(hotline_app)
    too_late = local_today(ALICE) + dt.timedelta(days=45)
    call = hotline_app.call(
        f"{ALICE_DIGITS}#,3,1,{row.minimum_due_minor - 1}#,{row.minimum_due_minor}#,"
        f"{too_late:%Y%m%d}#,20261399#"
    )
    assert heard(call, "The amount must be at least")
    assert said(call).count("That date is not valid, or it is outside the allowed window.") == 2
    assert rows(hotline_app, PromiseToPay) == []


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_an_instalment_plan_is_offered_read_back_and_saved(hotline_app, language):
    caller, number, digits = CALLERS[language]
    call = hotline_app.call(f"{digits}#,3,2,2,1", caller=caller)
    offers = [t for t in said(call) if "monthly payments of" in t or "每月还款" in t]
    assert len(offers) >= 3
    [plan] = rows(hotline_app, RepaymentPlan)
    assert plan.instalment_count == 6 and plan.status == "active"
    row = account(hotline_app, number)
    assert plan.total_minor == row.balance_minor
    assert row.reminders_paused_until is not None
    assert len(hotline_app.texts(1)) == 1


# --- cases, opt-out, agents ---------------------------------------------------------------


def test_a_dispute_opens_a_case_and_blocks_collection_calls(hotline_app):
    call = hotline_app.call(f"{ALICE_DIGITS}#,4,2,2")
    [case] = rows(hotline_app, Case)
    assert case.kind == "dispute" and case.status == "open" and case.call_sid == call.sid
    assert heard(call, f"Your reference number is {' '.join(f'{case.id:06d}')}.")
    assert heard(call, "We will not call you about this debt while your dispute is reviewed.")
    with hotline_app.app.extensions["hotline"].Session() as session:
        flags = (
            session.scalars(select(CardAccount).where(CardAccount.account_number == ALICE_ACCOUNT))
            .one()
            .flag_set
        )
        assert AccountFlag.DISPUTE in flags


@pytest.mark.parametrize(("key", "kind"), [("1", "hardship"), ("3", "complaint")])
def test_hardship_and_complaints_open_cases_and_offer_an_agent(hotline_app, key, kind):
    call = hotline_app.call(f"{ALICE_DIGITS}#,4,{key},1", hold_patience=20)
    [case] = rows(hotline_app, Case)
    assert case.kind == kind
    assert heard(call, "Please hold while we transfer you to an agent.")
    [ivr_call] = rows(hotline_app, IvrCall)
    assert ivr_call.case_id == case.id and ivr_call.intent == kind


def test_stop_calls_marks_the_number_opted_out_at_once(hotline_app):
    call = hotline_app.call(f"{ALICE_DIGITS}#,9,1")
    assert heard(call, "We will no longer call the number ending in 0100.")
    [phone] = rows(hotline_app, Phone, Phone.e164 == ALICE)
    assert phone.opted_out_at is not None and phone.opted_out_source == "ivr"
    assert phone.autodial_consent is False


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_answering_2_at_the_opt_out_read_back_keeps_the_calls(hotline_app, language):
    caller = CALLERS[language][0]
    _, texts, catalog = ring(hotline_app, language, "9,2")
    assert catalog.render("optout_confirm", {"last4": caller[-4:]}) in texts
    assert catalog.render("optout_saved", {"last4": caller[-4:]}) not in texts
    assert texts[-1] == catalog.render("menu")
    [phone] = rows(hotline_app, Phone, Phone.e164 == caller)
    assert phone.opted_out_at is None


def test_zero_reaches_an_agent_with_the_callers_context_kept(hotline_line):
    line = hotline_line()
    line.carrier.configure_queue("collections", agent_answers_after=15)
    call = line.call(f"{ALICE_DIGITS}#,1,0")
    assert any(e.kind == "enqueue" and e.detail["queue"] == "collections" for e in call.transcript)
    assert any(e.kind == "bridged" for e in call.transcript)
    assert heard(call, "You are number 1 in line.")
    [ivr_call] = rows(line, IvrCall)
    assert ivr_call.verified and ivr_call.account_id == account(line).id
    assert "menu" in ivr_call.state and ivr_call.intent == "balance"


def test_zero_works_even_before_verification(hotline_app):
    call = hotline_app.call("0", hold_patience=20)
    assert heard(call, "Please hold while we transfer you to an agent.")


def test_outside_agent_hours_a_callback_is_taken_instead(hotline_line):
    line = hotline_line(agent_hours="never")
    call = line.call(f"{ALICE_DIGITS}#,0,1")
    assert heard(call, "An agent will call you back during business hours.")
    [attempt] = rows(line, ContactAttempt, ContactAttempt.disposition == "callback-requested")
    assert attempt.status == AttemptStatus.PLANNED and attempt.number == ALICE


# --- the webhook contract ------------------------------------------------------------------


def test_unsigned_or_wrongly_signed_requests_get_403_and_nothing_else(hotline_app):
    url = hotline_app.base_url + "/ivr/voice"
    params = {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": DEV_ACCOUNT_SID,
        "From": ALICE,
        "To": HOTLINE_NUMBER,
    }
    missing = requests.post(url, data=params, timeout=5)
    wrong = requests.post(
        url,
        data=params,
        timeout=5,
        headers={"X-Twilio-Signature": signature("not-the-token", url, params.items())},
    )
    assert missing.status_code == wrong.status_code == 403
    assert rows(hotline_app, IvrCall) == []


def test_responses_are_twiml_served_as_xml(hotline_app):
    params = {
        "CallSid": "CA" + "2" * 32,
        "AccountSid": DEV_ACCOUNT_SID,
        "From": ALICE,
        "To": HOTLINE_NUMBER,
    }
    response = _signed_post(hotline_app, "/ivr/voice", params)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response>')


def test_a_database_failure_is_an_apology_in_twiml_not_a_500(hotline_app):
    engine = hotline_app.app.extensions["hotline"].engine
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE verification_attempt RENAME TO gone_away")
    try:
        response = _signed_post(
            hotline_app,
            "/ivr/voice",
            {
                "CallSid": "CA" + "3" * 32,
                "AccountSid": DEV_ACCOUNT_SID,
                "From": ALICE,
                "To": HOTLINE_NUMBER,
            },
        )
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE gone_away RENAME TO verification_attempt")
    assert response.status_code == 200
    assert "We are sorry, something went wrong on our side." in response.text
    assert "<Enqueue" in response.text


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_after_paying_the_balance_includes_the_last_payment(hotline_app, language):
    caller, number, digits = CALLERS[language]
    minimum = account(hotline_app, number).minimum_due_minor
    call = hotline_app.call(f"{digits}#,2,1,1,1", caller=caller)
    today = local_today(caller)  # the day as the caller lives it, not the UTC day
    if language == "en":
        expected = f"Your last payment was ${minimum // 100:,}.{minimum % 100:02d} on "
        assert heard(call, expected + f"{today:%B} {today.day}, {today.year}.")
    else:
        assert heard(
            call,
            f"您最近一次还款为{minimum // 100:,}.{minimum % 100:02d}元，日期"
            f"{today.year}年{today.month}月{today.day}日",
        )


def test_a_flagged_account_is_offered_no_plan_by_phone(hotline_app):
    from hotline.enums import Source
    from hotline.models import AccountFlagRow

    with hotline_app.app.extensions["hotline"].Session.begin() as session:
        session.add(
            AccountFlagRow(
                account_id=account(hotline_app).id,
                flag=AccountFlag.FRAUD,
                source=Source.AGENT,
                set_at=dt.datetime.now(dt.UTC),
            )
        )
    call = hotline_app.call(f"{ALICE_DIGITS}#,3,2")
    assert heard(call, "No instalment plan is available for this account by phone.")
    assert rows(hotline_app, RepaymentPlan) == []
