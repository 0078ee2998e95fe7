"""Paying by card, as both lines take it: the pay menu, another amount, the read-back
(checked against the account when confirmed), <Pay> under a token of its own, its result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from flows.asking import (
    ENTRY_TIMEOUT,
    Home,
    amount_example,
    ask,
    key,
    require_account,
    retry,
    whole_number,
)
from flows.effects import PauseRecording, ResumeRecording
from flows.state import AccountFacts, CallState, Facts, Heard, Money, Outcome
from hotline.enums import Intent, PayChoice, PayOutcome, Step
from hotline.money import to_major
from telephony.voice import Hangup, Pay, Say, Turn


def offer(state: CallState, facts: Facts, home: Home) -> Outcome:
    """The caller chose to pay: the pay menu, or word that nothing is owed."""
    account = require_account(facts)
    if account.balance.minor <= 0:
        return home(state.to(Step.MENU, intent=Intent.PAYMENT), facts, (Say("pay_nothing_owed"),))
    return pay_menu(state.to(Step.PAY_CHOICE, intent=Intent.PAYMENT), account)


# The pay menu's keys; another amount is 4.
PAY_CHOICES = {"1": PayChoice.MINIMUM, "2": PayChoice.PAST_DUE, "3": PayChoice.BALANCE}


# Keyed by Twilio's Result as it came (a str); PayOutcome's members are those strs.
PAY_FAILURE_PROMPTS: dict[str, str] = {
    PayOutcome.CONNECTOR_ERROR: "pay_connector_error",
    PayOutcome.TOO_MANY_FAILED_ATTEMPTS: "pay_too_many_attempts",
    PayOutcome.CALLER_INTERRUPTED: "pay_interrupted",
}


def pay_choice(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    account = require_account(facts)
    pressed = heard.digits[:1]
    if pressed == "*":
        return home(state.to(Step.MENU), facts)
    if pressed == "4":
        return _ask_amount(state.to(Step.PAY_AMOUNT), account, facts)
    if pressed in PAY_CHOICES:
        amount = amount_for(PAY_CHOICES[pressed], account)
        if amount.minor <= 0:
            return pay_menu(state, account, (Say("pay_nothing_due"),))
        return confirm_payment(state, amount, PAY_CHOICES[pressed])
    return retry(state, heard, facts, pay_menu_says(account))


def amount_for(choice: PayChoice, account: AccountFacts) -> Money:
    """What a pay-menu choice comes to on the account as it is now."""
    amounts = {PayChoice.MINIMUM: account.minimum_due, PayChoice.PAST_DUE: account.past_due}
    amount = amounts.get(choice, account.balance)
    # Never more than is owed, whatever the file said about the minimum or past due.
    return amount if amount.minor <= account.balance.minor else account.balance


def pay_amount(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    account = require_account(facts)
    cents = whole_number(heard.digits)
    if cents is None:
        return retry(
            state,
            heard,
            facts,
            (Say("pay_enter_amount", amount_example(account, facts)),),
            max_digits=None,
            finish_on_key="#",
            timeout=ENTRY_TIMEOUT,
        )
    minimum = facts.limits.smallest_payment(account.balance.minor)
    again = state.to(Step.PAY_AMOUNT, retries=state.retries)
    if cents < minimum:
        too_small = Say("pay_amount_too_small", {"minimum": facts.speak_money(minimum)})
        return _ask_amount(again, account, facts, too_small)
    if cents > account.balance.minor:
        too_large = Say("pay_amount_too_large", {"balance": account.balance.spoken})
        return _ask_amount(again, account, facts, too_large)
    return confirm_payment(state, Money(cents, facts.speak_money), PayChoice.OTHER)


def _ask_amount(state: CallState, account: AccountFacts, facts: Facts, *before: Say) -> Outcome:
    """Ask for an amount (its digits, no decimal point), after saying why if asking again."""
    return ask(
        state,
        (*before, Say("pay_enter_amount", amount_example(account, facts))),
        Step.PAY_AMOUNT,
        max_digits=None,
        finish_on_key="#",
        timeout=ENTRY_TIMEOUT,
    )


def confirm_payment(
    state: CallState, amount: Money, choice: PayChoice, before: Sequence[Say] = ()
) -> Outcome:
    pending = {"amount_minor": amount.minor, "amount_spoken": amount.spoken, "choice": choice}
    return ask(
        state.to(Step.PAY_CONFIRM, pending=pending, retries=0),
        (*before, Say("pay_confirm", {"amount": amount.spoken})),
        Step.PAY_CONFIRM,
        speech_menu="confirm",
    )


def pay_confirm(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    account = require_account(facts)
    answer = key(heard, facts)
    if answer == "1":
        return recheck_and_pay(state, account, facts, home)
    if answer == "2":
        return pay_menu(state.to(Step.PAY_CHOICE, pending={}), account)
    return retry(
        state,
        heard,
        facts,
        (Say("pay_confirm", {"amount": str(state.pending.get("amount_spoken", ""))}),),
        speech_menu="confirm",
    )


def recheck_and_pay(state: CallState, account: AccountFacts, facts: Facts, home: Home) -> Outcome:
    """The caller confirmed: check the amount against the account as it is now, not as it
    was when quoted (another call, or the bank's file, may have changed it meanwhile)."""
    quoted = int(state.pending.get("amount_minor") or 0)
    choice = PayChoice.of(state.pending.get("choice"))
    if account.balance.minor <= 0:
        return home(state.to(Step.MENU, pending={}), facts, (Say("pay_nothing_owed"),))
    if choice == PayChoice.OTHER:
        if quoted > account.balance.minor:
            return _ask_amount(
                state.to(Step.PAY_AMOUNT, pending={}),
                account,
                facts,
                Say("pay_amount_changed"),
                Say("pay_amount_too_large", {"balance": account.balance.spoken}),
            )
        if quoted <= 0:
            return _ask_amount(state.to(Step.PAY_AMOUNT, pending={}), account, facts)
        return pay(state, account)
    current = amount_for(choice, account)
    if current.minor <= 0:
        return pay_menu(
            state.to(Step.PAY_CHOICE, pending={}), account, (Say("pay_amount_changed"),)
        )
    if current.minor != quoted:
        return confirm_payment(state, current, choice, (Say("pay_amount_changed"),))
    return pay(state, account)


def pay(state: CallState, account: AccountFacts) -> Outcome:
    """Send the caller to <Pay> for the pending amount, under a token of its own."""
    minor = int(state.pending.get("amount_minor", 0))
    token = str(len(state.pays) + 1)
    major = str(to_major(minor, account.currency))
    return Outcome(
        Turn((Say("pay_instructions"),), Pay(minor, account.currency, major, token)),
        state.to(
            Step.PAY_RESULT,
            pending={**state.pending, "pay": token},
            pays={**state.pays, token: minor},
        ),
        (PauseRecording(),) if state.recording else (),
    )


def pay_result(state: CallState, facts: Facts, home: Home) -> Outcome:
    """Twilio reports how <Pay> went (the payment is already posted when it succeeded)."""
    outcome = _outcome(state, facts, home)
    if state.recording and outcome.state.step != Step.ENDED:
        outcome = replace(outcome, effects=(*outcome.effects, ResumeRecording()))
    return outcome


def _outcome(state: CallState, facts: Facts, home: Home) -> Outcome:
    result = facts.pay_result
    if result is None:
        return home(state.to(Step.MENU), facts)
    if result.result == PayOutcome.SUCCESS:
        amount = (
            result.amount.spoken if result.amount else str(state.pending.get("amount_spoken", ""))
        )
        return home(
            state.to(Step.MENU, pending={}),
            facts,
            (Say("pay_success", {"amount": amount, "code": result.code or ""}),),
        )
    if result.result == PayOutcome.CALLER_HUNG_UP:
        return Outcome(Turn((), Hangup()), state.to(Step.ENDED))
    if "declin" in result.error.lower():
        failure = "pay_declined"
    else:
        failure = PAY_FAILURE_PROMPTS.get(result.result, "pay_failed")
    return ask(
        state.to(Step.PAY_RETRY, pending=dict(state.pending)),
        (Say(failure), Say("pay_retry")),
        Step.PAY_RETRY,
    )


def pay_retry(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    account = require_account(facts)
    pressed = heard.digits[:1]
    if pressed == "1" and state.pending.get("amount_minor"):
        return recheck_and_pay(state, account, facts, home)
    if pressed == "*":
        return home(state.to(Step.MENU, pending={}), facts)
    return retry(state, heard, facts, (Say("pay_retry"),))


def pay_menu_says(account: AccountFacts) -> tuple[Say, ...]:
    """The pay menu, offering only choices that come to something (no "$0.00" choice)."""
    offers = tuple(
        Say(f"pay_option_{choice.replace('-', '_')}", {"amount": amount.spoken, "key": pressed})
        for pressed, choice in PAY_CHOICES.items()
        if (amount := amount_for(choice, account)).minor > 0
    )
    return (*offers, Say("pay_option_other"), Say("go_back"))


def pay_menu(state: CallState, account: AccountFacts, before: Sequence[Say] = ()) -> Outcome:
    return ask(state, (*before, *pay_menu_says(account)), Step.PAY_CHOICE)
