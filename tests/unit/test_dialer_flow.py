"""The outbound call's rules on plain values: who answered, the right-party check, what a
wrong party and a machine hear, the menu's keys. No database, no HTTP, no clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer import flow
from dialer.flow import Callee
from flows import effects
from flows.state import AGENT_QUEUE, AccountFacts, CallState, Facts, Heard, Money, PayResult
from hotline.enums import Disposition, PayOutcome, Step
from prompts.catalog import load_all
from telephony.voice import Ask, Enqueue, Hangup, Pay

TODAY = dt.date(2026, 11, 23)
CATALOGS = load_all()


def dollars(minor: int) -> str:
    return f"${minor / 100:,.2f}"


def money(minor: int) -> Money:
    return Money(minor, dollars)


ACCOUNT = AccountFacts(
    account_id=7,
    language="en",
    currency="USD",
    balance=money(120000),
    minimum_due=money(5000),
    past_due=money(2500),
    due_date=dt.date(2026, 12, 1),
    last_payment=None,
    locked=False,
    failures_last_24h=0,
    plan_options=(),
)
FACTS = Facts(
    bank="Example Bank",
    agents_open=True,
    today=TODAY,
    first_disclosure=True,
    recording_notice=False,
    caller_last4="0123",
    speak_money=dollars,
    speak_date=lambda day: day.isoformat(),
    account=ACCOUNT,
)
PERSON = Callee(name="Maria", answered_by="human", business="EB Services", callback="8 0 0")
NEW = CallState(language="en", account_id=7)
CONFIRMED = CallState(step=Step.MENU, language="en", account_id=7, verified=True)

# Words that tell of a debt, in either language: none may reach a machine, or anyone
# before they have said they are the cardholder.
DEBT_WORDS = {
    "en": (
        "debt",
        "collect",
        "owe",
        "overdue",
        "past due",
        "balance",
        "payment",
        "pay",
        "arrears",
        "delinquen",
        "amount",
        "due",
        "account",
        "card",
        "late",
    ),
    "zh-CN": ("欠", "债", "催收", "逾期", "还款", "付款", "账户", "账单", "金额", "信用卡", "到期"),
}
# The prompts a person hears before confirming who they are, and a machine hears.
BEFORE_CONFIRMATION = (
    "voicemail_message",
    "dialer_right_party",
    "dialer_wrong_party",
    "dialer_unconfirmed",
)


def keys(outcome) -> list[str]:
    return [say.key for say in (*outcome.turn.preamble, *outcome.turn.says)]


def spoken(outcome, language: str = "en") -> str:
    catalog = CATALOGS[language]
    return " ".join(
        catalog.render(say.key, say.params) for say in (*outcome.turn.preamble, *outcome.turn.says)
    )


def confirmed_menu():
    return flow.advance(flow.start(NEW, FACTS, PERSON).outcome.state, Heard("1"), FACTS, PERSON)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("key", BEFORE_CONFIRMATION)
def test_what_a_machine_or_an_unconfirmed_person_hears_has_no_debt_word(language, key):
    text = CATALOGS[language].prompts[key].lower()
    found = [word for word in DEBT_WORDS[language] if word in text]
    assert found == [], f"{language} {key}: {found}"


def test_a_person_is_asked_first_whether_they_are_the_cardholder():
    answer = flow.start(NEW, FACTS, PERSON)
    assert keys(answer.outcome) == ["dialer_right_party"]
    assert answer.outcome.turn.then == Ask(Step.RIGHT_PARTY)
    assert spoken(answer.outcome) == (
        "Hello, this is EB Services, calling for Maria. If you are Maria, press 1. "
        "If you are not, press 2."
    )
    assert not answer.outcome.state.verified and answer.disposition is None


def test_the_right_party_hears_the_disclosure_then_what_is_due_then_the_menu():
    answer = confirmed_menu()
    assert keys(answer.outcome) == [
        "disclosure_first",
        "dialer_past_due",
        "minimum_due",
        "dialer_menu",
    ]
    text = spoken(answer.outcome)
    assert "This is an attempt to collect a debt" in text
    assert "$25.00 past due" in text and "$50.00 is due on 2026-12-01" in text
    assert answer.outcome.state.verified and answer.outcome.state.step == Step.MENU
    assert answer.disposition == Disposition.RIGHT_PARTY


def test_a_later_call_gives_the_shorter_disclosure_and_none_where_the_profile_asks_none():
    later = replace(FACTS, first_disclosure=False, later_disclosure=True)
    state = flow.start(NEW, later, PERSON).outcome.state
    assert keys(flow.advance(state, Heard("1"), later, PERSON).outcome)[0] == "disclosure_later"
    none = replace(FACTS, first_disclosure=False)
    assert "disclosure" not in " ".join(keys(flow.advance(state, Heard("1"), none, PERSON).outcome))


def test_a_wrong_party_hears_a_goodbye_only_and_the_number_is_marked_for_review():
    state = flow.start(NEW, FACTS, PERSON).outcome.state
    answer = flow.advance(state, Heard("2"), FACTS, PERSON)
    assert keys(answer.outcome) == ["dialer_wrong_party"]
    assert answer.outcome.turn.then == Hangup()
    assert answer.outcome.effects == (effects.MarkWrongParty(),)
    assert answer.disposition == Disposition.WRONG_PARTY
    assert "$" not in spoken(answer.outcome) and "debt" not in spoken(answer.outcome)


def test_silence_at_the_right_party_check_asks_twice_then_ends_without_a_word_of_the_debt():
    state = flow.start(NEW, FACTS, PERSON).outcome.state
    for _ in range(FACTS.limits.retries):
        answer = flow.advance(state, Heard(), FACTS, PERSON)
        assert keys(answer.outcome) == ["no_input", "dialer_right_party"]
        state = answer.outcome.state
    ended = flow.advance(state, Heard(), FACTS, PERSON)
    assert keys(ended.outcome) == ["dialer_unconfirmed"] and ended.outcome.turn.then == Hangup()
    assert ended.disposition == Disposition.UNCONFIRMED


@given(
    step=st.sampled_from([s for s in Step if s != Step.RIGHT_PARTY]),
    digits=st.text(alphabet="0123456789*#", max_size=4),
)
def test_nothing_about_the_debt_reaches_an_unconfirmed_call_whatever_it_sends(step, digits):
    answer = flow.advance(CallState(step=step, account_id=7), Heard(digits), FACTS, PERSON)
    assert set(keys(answer.outcome)) <= {"dialer_right_party", "no_input", "not_understood"}
    assert not isinstance(answer.outcome.turn.then, Pay | Enqueue)


@pytest.mark.parametrize(
    "answered_by",
    ["machine_end_beep", "machine_end_silence", "machine_end_other", "machine_start", "unknown"],
)
@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_a_machine_hears_only_the_limited_content_message(answered_by, language):
    machine = replace(PERSON, answered_by=answered_by)
    answer = flow.start(replace(NEW, language=language), FACTS, machine)
    assert keys(answer.outcome) == ["voicemail_message"]
    assert answer.outcome.turn.then == Hangup() and answer.outcome.effects == ()
    assert answer.disposition == Disposition.VOICEMAIL_LEFT
    text = spoken(answer.outcome, language)
    assert "Maria" in text and "EB Services" in text and "8 0 0" in text
    assert "$" not in text and "25" not in text


def test_a_fax_is_hung_up_on_in_silence():
    answer = flow.start(NEW, FACTS, replace(PERSON, answered_by="fax"))
    assert keys(answer.outcome) == [] and answer.outcome.turn.then == Hangup()
    assert answer.disposition == Disposition.FAX


def test_no_detection_means_a_person():
    answer = flow.start(NEW, FACTS, replace(PERSON, answered_by=""))
    assert keys(answer.outcome) == ["dialer_right_party"]


def at_menu(digits: str, facts: Facts = FACTS):
    return flow.advance(CONFIRMED, Heard(digits), facts, PERSON)


def test_key_1_is_the_ivrs_pay_menu_and_leads_to_one_pay():
    answer = at_menu("1")
    assert answer.outcome.state.step == Step.PAY_CHOICE
    assert keys(answer.outcome)[:3] == [
        "pay_option_minimum",
        "pay_option_past_due",
        "pay_option_balance",
    ]
    chosen = flow.advance(answer.outcome.state, Heard("1"), FACTS, PERSON)
    confirmed = flow.advance(chosen.outcome.state, Heard("1"), FACTS, PERSON)
    assert confirmed.outcome.turn.then == Pay(5000, "USD", "50.00", "1")


def test_a_successful_pay_result_is_a_payment_and_back_at_the_menu():
    state = replace(CONFIRMED, step=Step.PAY_RESULT, pending={"pay": "1"}, pays={"1": 5000})
    paid = replace(FACTS, pay_result=PayResult(PayOutcome.SUCCESS, money(5000), "A B C"))
    answer = flow.pay_result(state, paid)
    assert keys(answer.outcome) == ["pay_success", "dialer_menu"]
    assert answer.disposition == Disposition.PAID
    declined = replace(FACTS, pay_result=PayResult(PayOutcome.TOO_MANY_FAILED_ATTEMPTS))
    assert flow.pay_result(state, declined).disposition is None


def test_key_2_asks_for_a_promise_and_its_confirmation_is_a_promise():
    answer = at_menu("2")
    assert answer.outcome.state.step == Step.PROMISE_AMOUNT
    amount = flow.advance(answer.outcome.state, Heard("5000"), FACTS, PERSON)
    date = flow.advance(amount.outcome.state, Heard("20261201"), FACTS, PERSON)
    saved = flow.advance(date.outcome.state, Heard("1"), FACTS, PERSON)
    assert saved.outcome.effects == (effects.SavePromise(5000, dt.date(2026, 12, 1)),)
    assert saved.disposition == Disposition.PROMISE


def test_key_0_is_the_ivrs_agent_queue_with_the_call_as_context():
    answer = at_menu("0")
    assert answer.outcome.turn.then == Enqueue(AGENT_QUEUE)
    assert answer.outcome.effects == (effects.TransferToAgent(None),)
    assert answer.disposition == Disposition.TRANSFERRED


def test_key_9_stops_calls_to_this_number_once_confirmed():
    answer = at_menu("9")
    assert keys(answer.outcome) == ["optout_confirm"]
    saved = flow.advance(answer.outcome.state, Heard("1"), FACTS, PERSON)
    assert saved.outcome.effects == (effects.OptOut(),)
    assert saved.disposition == Disposition.OPTED_OUT
    assert keys(saved.outcome) == ["optout_saved", "dialer_menu"]


def test_star_repeats_what_is_due_and_the_menu():
    assert keys(at_menu("*").outcome) == ["dialer_past_due", "minimum_due", "dialer_menu"]


def test_another_key_at_the_menu_asks_again():
    assert keys(at_menu("5").outcome) == ["not_understood", "dialer_menu"]
