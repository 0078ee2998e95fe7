"""The IVR's rules on plain values: no database, no HTTP, no clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from flows import effects
from flows.state import AGENT_QUEUE
from hotline.enums import Step
from hotline.rules import plan_instalments
from ivr import flow
from ivr.flow import AccountFacts, CallState, Facts, Heard, Money, PayResult, PlanOption
from prompts.catalog import load as load_catalog
from telephony.voice import Ask, Enqueue, Hangup, Pay

TODAY = dt.date(2026, 11, 23)


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
    due_date=dt.date(2026, 11, 1),
    last_payment=None,
    locked=False,
    failures_last_24h=0,
    plan_options=(PlanOption(3, money(40000)), PlanOption(6, money(20000))),
)
FACTS = Facts(
    bank="Example Bank",
    agents_open=True,
    today=TODAY,
    first_disclosure=True,
    recording_notice=False,
    caller_last4="0100",
    speak_money=dollars,
    speak_date=lambda day: day.isoformat(),
    account=ACCOUNT,
)
VERIFIED = CallState(step=Step.MENU, language="en", account_id=7, verified=True)


def keys(outcome) -> list[str]:
    return [say.key for say in outcome.turn.says]


def test_an_identified_caller_is_asked_to_verify_first():
    outcome = flow.start(CallState(), FACTS)
    assert keys(outcome) == ["welcome", "enter_verify"]
    assert outcome.turn.then == Ask(Step.VERIFY, max_digits=None, finish_on_key="#")
    assert outcome.state.account_id == 7 and not outcome.state.verified


def test_an_unknown_caller_hears_the_language_menu_in_both_languages():
    outcome = flow.start(CallState(), replace(FACTS, account=None))
    assert [(s.key, s.language) for s in outcome.turn.says] == [
        ("welcome", "en"),
        ("language_choice", "en"),
        ("language_choice", "zh-CN"),
    ]


def test_a_locked_account_is_asked_for_digits_and_fails_like_wrong_digits():
    locked = replace(FACTS, account=replace(ACCOUNT, locked=True))
    outcome = flow.start(CallState(), locked)
    assert keys(outcome) == ["welcome", "enter_verify"]  # no word of the lock: no oracle
    # Even the right digits do not reach the menu, and the wording is that of wrong digits.
    right = flow.advance(outcome.state, Heard(digits="94107"), replace(locked, digits_match=True))
    wrong = flow.advance(outcome.state, Heard(digits="11111"), replace(locked, digits_match=False))
    assert keys(right) == keys(wrong) == ["verify_failed", "enter_verify"]
    assert not right.state.verified
    assert effects.RecordVerification(True) not in right.effects


def test_right_digits_verify_and_disclose_then_offer_the_menu():
    state = CallState(step=Step.VERIFY, account_id=7)
    outcome = flow.advance(state, Heard(digits="94107"), replace(FACTS, digits_match=True))
    assert keys(outcome) == ["disclosure_first", "menu"]
    assert outcome.state.verified
    assert outcome.effects == (effects.RecordVerification(True),)


def test_an_unrecorded_line_neither_records_nor_gives_the_notice():
    state = CallState(step=Step.VERIFY, account_id=7)
    facts = replace(FACTS, digits_match=True, recording_notice=True)
    outcome = flow.advance(state, Heard(digits="94107"), facts)
    assert not outcome.turn.start_recording and outcome.turn.preamble == ()
    assert not outcome.state.recording


@pytest.mark.parametrize("notice", [True, False])
def test_a_recorded_line_starts_recording_on_verification_after_any_notice(notice):
    state = CallState(step=Step.VERIFY, account_id=7)
    facts = replace(FACTS, digits_match=True, record_calls=True, recording_notice=notice)
    outcome = flow.advance(state, Heard(digits="94107"), facts)
    assert outcome.turn.start_recording and outcome.state.recording
    assert [say.key for say in outcome.turn.preamble] == (["recording_notice"] if notice else [])
    assert keys(outcome) == ["disclosure_first", "menu"]
    wrong = flow.advance(state, Heard(digits="1"), replace(facts, digits_match=False))
    assert not wrong.turn.start_recording and not wrong.state.recording


def test_a_recording_is_paused_for_pay_and_resumed_after_it_unless_the_caller_hung_up():
    recording = replace(
        VERIFIED, step=Step.PAY_CONFIRM, pending={"amount_minor": 5005}, recording=True
    )
    paying = flow.advance(recording, Heard(digits="1"), FACTS)
    assert isinstance(paying.turn.then, Pay)
    assert paying.effects == (effects.PauseRecording(),)
    unrecorded = flow.advance(replace(recording, recording=False), Heard(digits="1"), FACTS)
    assert unrecorded.effects == ()
    for result in ("success", "too-many-failed-attempts"):
        done = flow.pay_result(
            paying.state, replace(FACTS, pay_result=PayResult(result, money(5005), "A B C"))
        )
        assert done.effects == (effects.ResumeRecording(),)
    gone = flow.pay_result(paying.state, replace(FACTS, pay_result=PayResult("caller-hung-up")))
    assert gone.effects == ()


def test_the_third_wrong_entry_transfers_and_the_fifth_in_a_day_locks():
    state = CallState(step=Step.VERIFY, account_id=7, verify_failures=2)
    third = flow.advance(state, Heard(digits="1"), replace(FACTS, digits_match=False))
    assert keys(third) == ["too_many_attempts", "transfer_notice"]
    assert effects.LockSelfService() not in third.effects
    tired = replace(FACTS, digits_match=False, account=replace(ACCOUNT, failures_last_24h=4))
    fifth = flow.advance(CallState(step=Step.VERIFY, account_id=7), Heard(digits="1"), tired)
    assert effects.LockSelfService() in fifth.effects
    assert keys(fifth) == ["verify_failed", "enter_verify"]  # one wording for every failure
    # Past the limit and not yet locked (the fifth keying was the right one, or its turn
    # failed): nothing is checked, and the account is locked now.
    over = replace(FACTS, digits_match=None, account=replace(ACCOUNT, failures_last_24h=7))
    sixth = flow.advance(CallState(step=Step.VERIFY, account_id=7), Heard(digits="1"), over)
    assert effects.LockSelfService() in sixth.effects
    assert keys(sixth) == ["verify_failed", "enter_verify"]
    locked = replace(over, account=replace(ACCOUNT, failures_last_24h=7, locked=True))
    again = flow.advance(CallState(step=Step.VERIFY, account_id=7), Heard(digits="1"), locked)
    assert effects.LockSelfService() not in again.effects


def test_nothing_after_verification_is_reachable_without_it():
    unverified = replace(VERIFIED, verified=False)
    outcome = flow.advance(unverified, Heard(digits="1"), FACTS)
    assert "balance" not in keys(outcome)


@pytest.mark.parametrize(
    "heard", [Heard(digits="0"), Heard(speech="agent", confidence=0.9, speech_key="0")]
)
def test_zero_or_asking_for_a_person_reaches_an_agent_from_any_step(heard):
    for step in (Step.LANGUAGE, Step.VERIFY, Step.MENU, Step.PAY_AMOUNT, Step.PROMISE_DATE):
        outcome = flow.advance(replace(VERIFIED, step=step), heard, FACTS)
        assert outcome.turn.then == Enqueue(AGENT_QUEUE), step


def test_no_input_is_asked_again_twice_then_an_agent_is_offered():
    state = VERIFIED
    for expected in (["no_input", "menu"], ["no_input", "menu"]):
        outcome = flow.advance(state, Heard(), FACTS)
        assert keys(outcome) == expected
        state = outcome.state
    final = flow.advance(state, Heard(), FACTS)
    assert keys(final) == ["offer_agent", "transfer_notice"]


def test_other_amounts_respect_the_policy_minimum_and_the_balance():
    state = replace(VERIFIED, step=Step.PAY_AMOUNT)
    assert keys(flow.advance(state, Heard(digits="99"), FACTS))[0] == "pay_amount_too_small"
    assert keys(flow.advance(state, Heard(digits="120001"), FACTS))[0] == "pay_amount_too_large"
    ok = flow.advance(state, Heard(digits="120000"), FACTS)
    assert ok.state.pending["amount_minor"] == 120000 and keys(ok) == ["pay_confirm"]


def test_confirming_a_payment_hands_over_to_pay_with_major_units():
    state = replace(
        VERIFIED, step=Step.PAY_CONFIRM, pending={"amount_minor": 5005, "amount_spoken": "$50.05"}
    )
    outcome = flow.advance(state, Heard(digits="1"), FACTS)
    assert outcome.turn.then == Pay(5005, "USD", "50.05", token="1")
    assert outcome.state.step == Step.PAY_RESULT


@pytest.mark.parametrize(
    ("result", "error", "prompt"),
    [
        ("payment-connector-error", "card is declined", "pay_declined"),
        ("payment-connector-error", "gateway down", "pay_connector_error"),
        ("too-many-failed-attempts", "", "pay_too_many_attempts"),
        ("caller-interrupted-with-star", "", "pay_interrupted"),
        ("internal-error", "", "pay_failed"),
    ],
)
def test_each_pay_failure_has_its_own_prompt(result, error, prompt):
    state = replace(VERIFIED, step=Step.PAY_RESULT, pending={"amount_minor": 5000})
    outcome = flow.pay_result(state, replace(FACTS, pay_result=PayResult(result, error=error)))
    assert keys(outcome) == [prompt, "pay_retry"]


def test_a_hang_up_during_pay_ends_the_call():
    state = replace(VERIFIED, step=Step.PAY_RESULT)
    outcome = flow.pay_result(state, replace(FACTS, pay_result=PayResult("caller-hung-up")))
    assert outcome.turn.then == Hangup()


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("20261123", True),
        ("20261223", True),
        ("20261224", False),
        ("20261122", False),
        ("20260231", False),
        ("2026112", False),
    ],
)
def test_a_promise_date_must_be_real_and_inside_the_window(digits, valid):
    state = replace(
        VERIFIED, step=Step.PROMISE_DATE, pending={"amount_minor": 5000, "amount_spoken": "$50.00"}
    )
    outcome = flow.advance(state, Heard(digits=digits), FACTS)
    assert (outcome.state.step == Step.PROMISE_CONFIRM) is valid


def test_a_confirmed_promise_and_plan_become_effects():
    promise = replace(
        VERIFIED,
        step=Step.PROMISE_CONFIRM,
        pending={"amount_minor": 5000, "amount_spoken": "$50.00", "date": "2026-12-01"},
    )
    assert flow.advance(promise, Heard(digits="1"), FACTS).effects == (
        effects.SavePromise(5000, dt.date(2026, 12, 1)),
    )
    chosen = flow.advance(replace(VERIFIED, step=Step.PLAN_CHOICE), Heard(digits="2"), FACTS)
    assert chosen.state.pending["count"] == 6
    saved = flow.advance(chosen.state, Heard(digits="1"), FACTS)
    assert saved.effects == (effects.SavePlan(6, 20000, dt.date(2026, 12, 23)),)


def test_no_plan_is_offered_to_an_ineligible_account():
    facts = replace(FACTS, account=replace(ACCOUNT, plan_options=()))
    outcome = flow.advance(replace(VERIFIED, step=Step.ARRANGEMENT), Heard(digits="2"), facts)
    assert keys(outcome) == ["plan_none", "menu"]


def test_a_dispute_opens_a_case_and_says_calls_stop():
    outcome = flow.advance(replace(VERIFIED, step=Step.CASES), Heard(digits="2"), FACTS)
    assert outcome.effects == (effects.OpenCase("dispute"),)
    assert keys(outcome) == ["case_opened", "dispute_note", "case_next"]


def test_opting_out_needs_confirmation():
    asked = flow.advance(VERIFIED, Heard(digits="9"), FACTS)
    assert keys(asked) == ["optout_confirm"] and asked.effects == ()
    done = flow.advance(asked.state, Heard(digits="1"), FACTS)
    assert done.effects == (effects.OptOut(),)


def test_outside_hours_a_verified_caller_is_offered_a_callback():
    closed = replace(FACTS, agents_open=False)
    offered = flow.advance(VERIFIED, Heard(digits="0"), closed)
    assert keys(offered) == ["agents_closed", "callback_offer"]
    taken = flow.advance(offered.state, Heard(digits="1"), closed)
    assert taken.effects == (effects.RequestCallback(),) and taken.turn.then == Hangup()


def test_state_survives_a_round_trip_and_garbage_falls_back_safely():
    state = replace(VERIFIED, pending={"amount_minor": 5}, path=("verify", "menu"), recording=True)
    assert CallState.from_dict(state.as_dict()) == state
    assert CallState.from_dict({"step": "nowhere", "language": "fr", "account_id": "x"}) == (
        CallState()
    )


# --- money at the read-back and <Pay> -------------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.mark.parametrize(
    ("currency", "minor", "major"),
    [("JPY", 1234, "1234"), ("KWD", 12345, "12.345"), ("USD", 5005, "50.05"), ("CNY", 7, "0.07")],
)
def test_pay_charges_in_the_currencys_own_precision(currency, minor, major):
    facts = replace(FACTS, account=replace(ACCOUNT, currency=currency, balance=money(10**7)))
    state = replace(
        VERIFIED, step=Step.PAY_CONFIRM, pending={"amount_minor": minor, "choice": "other"}
    )
    outcome = flow.advance(state, Heard(digits="1"), facts)
    assert outcome.turn.then == Pay(minor, currency, major, token="1")


@pytest.mark.parametrize(
    ("currency", "keys_"), [("USD", "2 5 0 0"), ("JPY", "2 5 0 0"), ("KWD", "2 5 0 0 0")]
)
def test_an_amount_is_asked_for_as_the_currencys_own_digits(currency, keys_):
    """Keyed amounts are minor units: 'in cents' is wrong for yen (none) and dinars (three
    places), so every prompt that asks for one shows the keys for an example amount."""
    facts = replace(FACTS, account=replace(ACCOUNT, currency=currency, balance=money(10**7)))
    other = flow.advance(replace(VERIFIED, step=Step.PAY_CHOICE), Heard(digits="4"), facts)
    promise = flow.advance(replace(VERIFIED, step=Step.ARRANGEMENT), Heard(digits="1"), facts)
    for outcome in (other, promise):
        [asked] = [say for say in outcome.turn.says if "keys" in say.params]
        assert asked.params["keys"] == keys_
        assert asked.params["example"] == facts.speak_money(int(keys_.replace(" ", "")))
    for language in ("en", "zh-CN"):
        text = load_catalog(language).render("pay_enter_amount", {"example": "X", "keys": keys_})
        assert keys_ in text and "cents" not in text and "分为单位" not in text


def _menu_pay_amounts(account) -> list[int]:
    state = replace(VERIFIED, step=Step.MENU)
    outcome = flow.advance(state, Heard(digits="2"), replace(FACTS, account=account))
    return [int(say.params["amount"]) for say in outcome.turn.says if "amount" in say.params]


amounts = st.integers(min_value=0, max_value=10**9)


@given(
    balance=amounts,
    minimum=amounts,
    past_due=amounts,
    quoted=amounts,
    choice=st.sampled_from(["minimum", "past-due", "balance", "other"]),
)
def test_no_pay_is_ever_for_nothing_or_for_more_than_is_owed_now(
    balance, minimum, past_due, quoted, choice
):
    def plain(minor: int) -> flow.Money:
        return flow.Money(minor, str)

    account = replace(
        ACCOUNT, balance=plain(balance), minimum_due=plain(minimum), past_due=plain(past_due)
    )
    facts = replace(FACTS, account=account, speak_money=str)
    # The pay menu offers only amounts that come to something and are owed.
    assert all(0 < amount <= balance for amount in _menu_pay_amounts(account))
    # Whatever was quoted before, confirming reaches <Pay> only for what is owed now.
    state = replace(
        VERIFIED, step=Step.PAY_CONFIRM, pending={"amount_minor": quoted, "choice": choice}
    )
    outcome = flow.advance(state, Heard(digits="1"), facts)
    if isinstance(outcome.turn.then, Pay):
        assert 0 < outcome.turn.then.amount_minor <= balance
        assert outcome.turn.then.amount_minor == outcome.state.pays["1"]


def test_each_pay_gets_its_own_token_and_amount():
    facts = replace(FACTS, account=replace(ACCOUNT, balance=money(10**6)))
    state = replace(
        VERIFIED, step=Step.PAY_CONFIRM, pending={"amount_minor": 500, "choice": "other"}
    )
    first = flow.advance(state, Heard(digits="1"), facts)
    again = replace(
        first.state, step=Step.PAY_CONFIRM, pending={"amount_minor": 900, "choice": "other"}
    )
    second = flow.advance(again, Heard(digits="1"), facts)
    assert (first.turn.then.token, second.turn.then.token) == ("1", "2")
    assert second.state.pays == {"1": 500, "2": 900}
    assert CallState.from_dict(second.state.as_dict()).pays == {"1": 500, "2": 900}


@given(balance=st.integers(min_value=1, max_value=10**9), count=st.integers(2, 60))
def test_plan_instalments_add_up_to_the_balance(balance, count):
    split = plan_instalments(balance, count)
    if split is None:  # too small a balance for so many instalments: not offered
        assert balance <= count * (count - 1)
        return
    instalment, last = split
    assert instalment * (count - 1) + last == balance
    assert 0 < last <= instalment


def test_a_plan_or_promise_confirmed_after_the_balance_fell_is_read_back_again():
    fell = replace(
        FACTS,
        account=replace(
            ACCOUNT,
            balance=money(60000),
            plan_options=(PlanOption(3, money(20000)),),
        ),
    )
    plan = replace(
        VERIFIED,
        step=Step.PLAN_CONFIRM,
        pending={"count": 3, "instalment_minor": 40000, "start": "2026-12-01"},
    )
    outcome = flow.advance(plan, Heard(digits="1"), fell)
    assert outcome.effects == ()
    assert keys(outcome) == ["pay_amount_changed", "plan_confirm"]
    assert outcome.turn.says[-1].params["amount"] == "$200.00"
    promise = replace(
        VERIFIED,
        step=Step.PROMISE_CONFIRM,
        pending={"amount_minor": 90000, "amount_spoken": "$900.00", "date": "2026-12-10"},
    )
    outcome = flow.advance(promise, Heard(digits="1"), fell)
    assert outcome.effects == () and outcome.state.step == Step.PROMISE_AMOUNT


def test_the_opt_out_question_hints_its_own_words_and_low_confidence_speech_is_no_answer():
    outcome = flow.advance(replace(VERIFIED, step=Step.MENU), Heard(digits="9"), FACTS)
    assert outcome.turn.then.speech_menu == "optout"
    mumbled = Heard(speech="english", confidence=0.1, speech_key="1")
    language = flow.advance(CallState(step=Step.LANGUAGE), mumbled, replace(FACTS, account=None))
    assert language.state.step == Step.LANGUAGE and "low_confidence" in keys(language)
    unsure = Heard(speech="something", confidence=None, speech_key=None)
    asked = flow.advance(replace(VERIFIED, step=Step.MENU), unsure, FACTS)
    assert "low_confidence" not in keys(asked) and "not_understood" in keys(asked)


def test_a_withheld_caller_id_is_offered_no_opt_out_and_no_callback():
    withheld = replace(FACTS, caller_known=False, caller_last4="----")
    outcome = flow.advance(replace(VERIFIED, step=Step.MENU), Heard(digits="9"), withheld)
    assert keys(outcome) == ["optout_no_number", "menu"]
    closed = replace(withheld, agents_open=False)
    outcome = flow.advance(replace(VERIFIED, step=Step.MENU), Heard(digits="0"), closed)
    assert "callback_offer" not in keys(outcome) and outcome.turn.then == Hangup()


def test_speech_without_a_confidence_never_confirms_a_read_back():
    state = replace(
        VERIFIED,
        step=Step.PAY_CONFIRM,
        pending={"amount_minor": 5005, "amount_spoken": "$50.05", "choice": "other"},
    )
    outcome = flow.advance(state, Heard(speech="yes", confidence=None, speech_key="1"), FACTS)
    assert not isinstance(outcome.turn.then, Pay)


def test_a_promise_with_no_minimum_due_names_the_real_floor_and_nothing_owed_offers_none():
    none_due = replace(FACTS, account=replace(ACCOUNT, minimum_due=money(0)))
    asked = flow.advance(replace(VERIFIED, step=Step.ARRANGEMENT), Heard(digits="1"), none_due)
    assert keys(asked) == ["promise_amount_no_minimum"]
    assert asked.turn.says[0].params["minimum"] == "$1.00"
    small = flow.advance(asked.state, Heard(digits="50"), none_due)
    assert small.turn.says[0].params["minimum"] == "$1.00"
    paid_up = replace(FACTS, account=replace(ACCOUNT, balance=money(0), minimum_due=money(0)))
    for key in ("1", "2"):
        outcome = flow.advance(replace(VERIFIED, step=Step.ARRANGEMENT), Heard(digits=key), paid_up)
        assert keys(outcome) == ["pay_nothing_owed", "menu"]
