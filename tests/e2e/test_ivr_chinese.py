"""Every menu path in Chinese, end to end: the caller hears the zh-CN catalogue and the line
does what it does in English (test_ivr.py holds the rules, and the paths it already runs in
both languages; this holds the rest in Chinese)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from hotline.enums import AccountFlag, AttemptStatus
from hotline.models import (
    AccountFlagRow,
    CardAccount,
    Case,
    ContactAttempt,
    IvrCall,
    Payment,
    Phone,
    PromiseToPay,
    VerificationAttempt,
)
from prompts.catalog import load
from tests.e2e.test_ivr import (
    WANG,
    WANG_ACCOUNT,
    WANG_DIGITS,
    account,
    heard,
    local_today,
    rows,
    said,
)

ZH = load("zh-CN")


def zh(key: str, **params: object) -> str:
    return ZH.render(key, params)


def wang(line, keys: str, **script: object):
    return line.call(keys, caller=WANG, **script)


def wang_account(line) -> CardAccount:
    return account(line, WANG_ACCOUNT)


def test_star_repeats_and_bad_keys_are_asked_again_twice_then_an_agent(hotline_app):
    call = wang(hotline_app, f"{WANG_DIGITS}#,*,7,8,6")
    texts = said(call)
    assert texts.count(zh("menu")) == 4  # first, after *, after 7, after 8
    assert texts.count(zh("not_understood")) == 2
    assert zh("offer_agent") in texts
    assert not heard(call, "press")


def test_three_wrong_entries_end_in_a_transfer_and_never_reach_the_menu(hotline_app):
    call = wang(hotline_app, "11111#,22222#,33333#,1")
    texts = said(call)
    assert texts.count(zh("verify_failed")) == 2
    assert zh("too_many_attempts") in texts and zh("transfer_notice") in texts
    assert zh("menu") not in texts
    failures = rows(hotline_app, VerificationAttempt, VerificationAttempt.succeeded.is_(False))
    assert len(failures) == 3


def test_five_failures_in_a_day_lock_self_service(hotline_app):
    wang(hotline_app, "11111#,22222#,33333#")
    call = wang(hotline_app, "44444#,55555#")
    assert said(call).count(zh("verify_failed")) == 2  # the lock is not announced
    assert wang_account(hotline_app).self_service_locked_at is not None


def test_another_amount_is_checked_and_read_back_in_yuan(hotline_app):
    balance = wang_account(hotline_app).balance_minor
    call = wang(hotline_app, f"{WANG_DIGITS}#,2,4,50#,{balance + 1}#,2500#,1")
    texts = said(call)
    assert zh("pay_amount_too_small", minimum="1.00元") in texts
    assert any(t.startswith("还款金额不能超过您的欠款余额") for t in texts)
    assert zh("pay_confirm", amount="25.00元") in texts
    [payment] = rows(hotline_app, Payment)
    assert payment.amount_minor == 2500


def test_a_promise_to_pay_is_saved_and_confirmed_by_sms_in_chinese(hotline_app):
    row = wang_account(hotline_app)
    promised = local_today(WANG) + dt.timedelta(days=10)
    amount = max(row.minimum_due_minor, 100)
    call = wang(hotline_app, f"{WANG_DIGITS}#,3,1,{amount}#,{promised:%Y%m%d}#,1")
    assert zh("promise_saved") in said(call)
    [promise] = rows(hotline_app, PromiseToPay)
    assert (promise.amount_minor, promise.promised_date) == (amount, promised)
    assert wang_account(hotline_app).reminders_paused_until == promised
    [sms] = hotline_app.texts(1)
    assert sms.to == WANG and "您承诺于" in sms.body and promised.isoformat() in sms.body


def _disputed(line) -> set[int]:
    return {
        flag.account_id
        for flag in rows(line, AccountFlagRow, AccountFlagRow.flag == AccountFlag.DISPUTE)
    }


def test_a_dispute_opens_a_case_and_blocks_collection_calls(hotline_app):
    assert wang_account(hotline_app).id not in _disputed(hotline_app)
    call = wang(hotline_app, f"{WANG_DIGITS}#,4,2,2")
    [case] = rows(hotline_app, Case)
    assert case.kind == "dispute" and case.call_sid == call.sid
    texts = said(call)
    assert zh("case_opened", reference=" ".join(f"{case.id:06d}")) in texts
    assert zh("dispute_note") in texts
    assert wang_account(hotline_app).id in _disputed(hotline_app)


@pytest.mark.parametrize(("key", "kind"), [("1", "hardship"), ("3", "complaint")])
def test_hardship_and_complaints_open_cases_and_transfer(hotline_app, key, kind):
    call = wang(hotline_app, f"{WANG_DIGITS}#,4,{key},1", hold_patience=20)
    [case] = rows(hotline_app, Case)
    assert case.kind == kind
    assert zh("transfer_notice") in said(call)


def test_stop_calls_marks_the_number_opted_out(hotline_app):
    assert rows(hotline_app, Phone, Phone.e164 == WANG, Phone.opted_out_at.is_not(None)) == []
    call = wang(hotline_app, f"{WANG_DIGITS}#,9,1")
    texts = said(call)
    assert zh("optout_confirm", last4="8000") in texts
    assert zh("optout_saved", last4="8000") in texts
    [phone] = rows(hotline_app, Phone, Phone.e164 == WANG)
    assert phone.opted_out_at is not None


def test_zero_reaches_an_agent_holding_in_chinese(hotline_line):
    line = hotline_line()
    line.carrier.configure_queue("collections", agent_answers_after=15)
    call = wang(line, f"{WANG_DIGITS}#,0")
    assert zh("queue_hold", position="1") in said(call)
    assert any(e.kind == "bridged" for e in call.transcript)
    [ivr_call] = rows(line, IvrCall)
    assert ivr_call.language == "zh-CN" and ivr_call.verified


def test_outside_agent_hours_a_callback_is_taken_in_chinese(hotline_line):
    line = hotline_line(agent_hours="never")
    call = wang(line, f"{WANG_DIGITS}#,0,1")
    texts = said(call)
    assert zh("agents_closed") in texts and zh("callback_saved") in texts
    [attempt] = rows(line, ContactAttempt, ContactAttempt.disposition == "callback-requested")
    assert attempt.status == AttemptStatus.PLANNED and attempt.number == WANG


def test_the_account_of_a_chinese_caller_is_never_read_in_english(hotline_app):
    call = wang(hotline_app, f"{WANG_DIGITS}#,1,*")
    english = [t for t in said(call) if t.isascii()]
    assert english == []
    with hotline_app.app.extensions["hotline"].Session() as session:
        assert session.scalar(select(IvrCall.language)) == "zh-CN"
