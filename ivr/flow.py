"""The inbound IVR's own steps as pure rules: how a call starts, the language and account
steps, the main menu, the callback offer; the steps both lines speak come from flows/.

No Flask, Twilio, database or clock in here. The service looks things up (the account,
whether digits matched, the caller's local date, agent hours) and passes them in as Facts;
the flow answers with a Turn to render and Effects for the service to carry out.
"""

from __future__ import annotations

from collections.abc import Sequence

import flows
from flows import optout, payment
from flows.asking import Handler, agent, ask, callback, key, retry
from flows.effects import Effect
from flows.state import (
    AGENT_QUEUE,
    AccountFacts,
    CallState,
    Facts,
    Heard,
    Money,
    Outcome,
    PayResult,
    PlanOption,
)
from hotline.enums import Intent, Step
from telephony.voice import Say

__all__ = [
    "AGENT_QUEUE",
    "AccountFacts",
    "CallState",
    "Facts",
    "Heard",
    "Money",
    "Outcome",
    "PayResult",
    "PlanOption",
    "advance",
    "menu",
    "pay_result",
    "start",
]

# Steps a caller reaches before verification; nothing about the debt is said before it.
UNVERIFIED_STEPS = frozenset({Step.LANGUAGE, Step.ACCOUNT, Step.VERIFY, Step.PAY_RESULT})


def start(state: CallState, facts: Facts) -> Outcome:
    """A new call. An account identified by the caller's number skips straight to verify."""
    account = facts.account
    if account is None:
        return ask(
            state.to(Step.LANGUAGE),
            (
                Say("welcome", {"bank": facts.bank}, language="en"),
                Say("language_choice", language="en"),
                Say("language_choice", language="zh-CN"),
            ),
            Step.LANGUAGE,
            speech_menu="language",
        )
    # A locked account is asked for its digits like any other: whether it is locked, like
    # whether the details are right, is only ever told together with the digits.
    state = state.to(Step.VERIFY, language=account.language, account_id=account.account_id)
    welcome = Say("welcome", {"bank": facts.bank})
    return ask(
        state, (welcome, Say("enter_verify")), Step.VERIFY, max_digits=None, finish_on_key="#"
    )


def advance(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    """The caller answered the prompt at `state.step`."""
    if key(heard, facts) == "0" and state.step not in (Step.QUEUED, Step.ENDED):
        return agent(state, facts)  # 0 (or asking for a person) always reaches a person
    handler = _HANDLERS.get(state.step)
    if handler is None:
        return menu(state.to(Step.MENU), facts) if state.verified else start(CallState(), facts)
    if state.step not in UNVERIFIED_STEPS and not state.verified:
        return start(CallState(), facts)  # nothing about the debt before verification
    return handler(state, heard, facts)


def pay_result(state: CallState, facts: Facts) -> Outcome:
    """Twilio reports how <Pay> went (the payment is already posted when it succeeded)."""
    if not state.verified:
        return start(CallState(), facts)
    return payment.pay_result(state, facts, menu)


def menu(
    state: CallState, facts: Facts, before: Sequence[Say] = (), effects: tuple[Effect, ...] = ()
) -> Outcome:
    """The main menu: where the shared steps send a caller back to."""
    return ask(state, (*before, Say("menu")), Step.MENU, speech_menu="menu", effects=effects)


def _language(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    chosen = heard.digits[:1] if heard.digits else key(heard, facts)  # speech if heard clearly
    if chosen in ("1", "2"):
        language = "en" if chosen == "1" else "zh-CN"
        return ask(
            state.to(Step.ACCOUNT, language=language),
            (Say("enter_account"),),
            Step.ACCOUNT,
            max_digits=None,
            finish_on_key="#",
        )
    return retry(
        state,
        heard,
        facts,
        (Say("language_choice", language="en"), Say("language_choice", language="zh-CN")),
        speech_menu="language",
    )


def _account(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    """Any account number goes on to the digits: an existing, a missing and a locked account
    sound the same here, so the line is no oracle of which numbers exist."""
    if not heard.digits:
        return retry(
            state, heard, facts, (Say("enter_account"),), max_digits=None, finish_on_key="#"
        )
    account = facts.account
    state = state.to(
        Step.VERIFY,
        account_id=account.account_id if account is not None else None,
        pending={"keyed_account": True},
    )
    return ask(state, (Say("enter_verify"),), Step.VERIFY, max_digits=None, finish_on_key="#")


def _menu_choice(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    chosen = key(heard, facts)
    account = facts.account
    if chosen is None or account is None:
        return retry(state, heard, facts, (Say("menu"),), speech_menu="menu")
    if chosen == "*":
        return menu(state.to(Step.MENU, retries=state.retries), facts)
    if chosen == "1":
        return menu(
            state.to(Step.MENU, intent=Intent.BALANCE), facts, _balance_says(account, facts)
        )
    if chosen == "2":
        return payment.offer(state, facts, menu)
    if chosen == "3":
        return ask(
            state.to(Step.ARRANGEMENT, intent=Intent.ARRANGEMENT),
            (Say("arrangement_menu"),),
            Step.ARRANGEMENT,
        )
    if chosen == "4":
        return ask(state.to(Step.CASES, intent=Intent.CASE), (Say("cases_menu"),), Step.CASES)
    if chosen == "9":
        return optout.offer(state, facts, menu)
    return retry(state, heard, facts, (Say("menu"),), speech_menu="menu")


def _balance_says(account: AccountFacts, facts: Facts) -> tuple[Say, ...]:
    """Balance, minimum and its date, past due, last payment: nothing said as "$0.00"."""
    balance = (
        Say("balance", {"balance": account.balance.spoken})
        if account.balance.minor > 0
        else Say("no_balance")
    )
    past_due = (
        Say("past_due", {"past_due": account.past_due.spoken})
        if account.past_due.minor
        else Say("no_past_due")
    )
    if account.last_payment:
        amount, date = account.last_payment
        last = Say("last_payment", {"amount": amount.spoken, "date": facts.speak_date(date)})
    else:
        last = Say("no_last_payment")
    return (balance, _minimum_due_say(account, facts), past_due, last)


def _minimum_due_say(account: AccountFacts, facts: Facts) -> Say:
    """The minimum payment and its date: nothing if none is due; "was due" once past."""
    if account.minimum_due.minor <= 0:
        return Say("no_minimum_due")
    params = {
        "minimum_due": account.minimum_due.spoken,
        "due_date": facts.speak_date(account.due_date),
    }
    return Say("minimum_due" if account.due_date >= facts.today else "minimum_was_due", params)


_HANDLERS: dict[Step, Handler] = {
    Step.LANGUAGE: _language,
    Step.ACCOUNT: _account,
    Step.MENU: _menu_choice,
    Step.CALLBACK: callback,
    **flows.handlers(home=menu),
}
