"""Arrangements, as both lines take them: a promise to pay (amount, date) or a monthly
instalment plan, each read back and checked against the account when confirmed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from flows.asking import (
    ENTRY_TIMEOUT,
    Home,
    amount_example,
    ask,
    key,
    require_account,
    retry,
    whole_number,
    yyyymmdd,
)
from flows.effects import SavePlan, SavePromise
from flows.state import AccountFacts, CallState, Facts, Heard, Outcome, PlanOption
from hotline.enums import Intent, Step
from hotline.rules import add_months
from telephony.voice import Say


def arrangement(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    account = require_account(facts)
    pressed = heard.digits[:1]
    if pressed == "*":
        return home(state.to(Step.MENU), facts)
    if pressed in ("1", "2") and account.balance.minor <= 0:
        return home(state.to(Step.MENU), facts, (Say("pay_nothing_owed"),))
    if pressed == "1":
        return offer_promise(state, facts, home)
    if pressed == "2":
        if not account.plan_options:
            return home(state.to(Step.MENU), facts, (Say("plan_none"),))
        return ask(
            state.to(Step.PLAN_CHOICE, intent=Intent.PLAN), plan_offers(account), Step.PLAN_CHOICE
        )
    return retry(state, heard, facts, (Say("arrangement_menu"),))


def offer_promise(state: CallState, facts: Facts, home: Home) -> Outcome:
    """Ask for the amount of a promise to pay (the arrangement menu's 1, the dialer's 2)."""
    account = require_account(facts)
    if account.balance.minor <= 0:
        return home(state.to(Step.MENU), facts, (Say("pay_nothing_owed"),))
    return ask(
        state.to(Step.PROMISE_AMOUNT, intent=Intent.PROMISE),
        (_promise_amount_say(account, facts),),
        Step.PROMISE_AMOUNT,
        max_digits=None,
        finish_on_key="#",
        timeout=ENTRY_TIMEOUT,
    )


def _promise_floor(account: AccountFacts, facts: Facts) -> int:
    """The least a promise may be for: the minimum due, else the smallest payment."""
    return account.minimum_due.minor or facts.limits.smallest_payment(account.balance.minor)


def _promise_amount_say(account: AccountFacts, facts: Facts) -> Say:
    """Ask for the amount, saying its floor: the minimum due, or (none due) the smallest
    payment, never "your minimum due of $0.00"."""
    example = amount_example(account, facts)
    if account.minimum_due.minor > 0:
        return Say("promise_amount", {"minimum_due": account.minimum_due.spoken, **example})
    floor = facts.speak_money(_promise_floor(account, facts))
    return Say("promise_amount_no_minimum", {"minimum": floor, **example})


def promise_amount(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    account = require_account(facts)
    cents = whole_number(heard.digits)
    floor = _promise_floor(account, facts)
    if cents is None or cents < floor or cents > account.balance.minor or cents <= 0:
        reason = (
            ()
            if cents is None
            else (
                (Say("pay_amount_too_large", {"balance": account.balance.spoken}),)
                if cents > account.balance.minor
                else (Say("pay_amount_too_small", {"minimum": facts.speak_money(floor)}),)
            )
        )
        return retry(
            state,
            heard,
            facts,
            (*reason, _promise_amount_say(account, facts)),
            max_digits=None,
            finish_on_key="#",
            timeout=ENTRY_TIMEOUT,
            apology=cents is None,
        )
    pending = {"amount_minor": cents, "amount_spoken": facts.speak_money(cents)}
    return ask(
        state.to(Step.PROMISE_DATE, pending=pending),
        (_promise_date_prompt(facts),),
        Step.PROMISE_DATE,
        max_digits=8,
        finish_on_key="#",
        timeout=ENTRY_TIMEOUT,
    )


def _promise_date_prompt(facts: Facts) -> Say:
    last = facts.limits.last_promise_day(facts.today)
    return Say("promise_date", {"last_date": facts.speak_date(last)})


def promise_date(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    date = yyyymmdd(heard.digits)
    last = facts.limits.last_promise_day(facts.today)
    if date is None or not facts.today <= date <= last:
        prompts = (Say("promise_date_invalid"), _promise_date_prompt(facts))
        return retry(
            state,
            heard,
            facts,
            prompts,
            apology=False,
            max_digits=8,
            finish_on_key="#",
            timeout=ENTRY_TIMEOUT,
        )
    pending = {**state.pending, "date": date.isoformat()}
    return ask(
        state.to(Step.PROMISE_CONFIRM, pending=pending),
        (_promise_confirm_prompt(state.pending, date, facts),),
        Step.PROMISE_CONFIRM,
        speech_menu="confirm",
    )


def _promise_confirm_prompt(pending: Mapping[str, Any], date: dt.date, facts: Facts) -> Say:
    return Say(
        "promise_confirm",
        {"amount": str(pending.get("amount_spoken", "")), "date": facts.speak_date(date)},
    )


def promise_confirm(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    account = require_account(facts)
    answer = key(heard, facts)
    if answer == "1":
        date = dt.date.fromisoformat(str(state.pending["date"]))
        amount = int(state.pending["amount_minor"])
        if amount > account.balance.minor:
            # The balance fell since the amount was given (a payment meanwhile): ask again.
            return ask(
                state.to(Step.PROMISE_AMOUNT, pending={}),
                (
                    Say("pay_amount_changed"),
                    Say("pay_amount_too_large", {"balance": account.balance.spoken}),
                    _promise_amount_say(account, facts),
                ),
                Step.PROMISE_AMOUNT,
                max_digits=None,
                finish_on_key="#",
                timeout=ENTRY_TIMEOUT,
            )
        effect = SavePromise(amount, date)
        return home(
            state.to(Step.MENU, pending={}), facts, (Say("promise_saved"),), effects=(effect,)
        )
    if answer == "2":
        return ask(
            state.to(Step.PROMISE_AMOUNT, pending={}),
            (_promise_amount_say(account, facts),),
            Step.PROMISE_AMOUNT,
            max_digits=None,
            finish_on_key="#",
            timeout=ENTRY_TIMEOUT,
        )
    date = dt.date.fromisoformat(str(state.pending["date"]))
    return retry(
        state,
        heard,
        facts,
        (_promise_confirm_prompt(state.pending, date, facts),),
        speech_menu="confirm",
    )


def plan_choice(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    account = require_account(facts)
    pressed = heard.digits[:1]
    if pressed == "*":
        return home(state.to(Step.MENU), facts)
    options = {str(i): option for i, option in enumerate(account.plan_options, start=1)}
    if pressed in options:
        return _confirm_plan(state, options[pressed], facts)
    return retry(state, heard, facts, plan_offers(account))


def _confirm_plan(
    state: CallState, option: PlanOption, facts: Facts, before: Sequence[Say] = ()
) -> Outcome:
    pending = {
        "count": option.count,
        "instalment_minor": option.instalment.minor,
        "instalment_spoken": option.instalment.spoken,
        "last_spoken": option.last.spoken if option.last else "",
        "start": add_months(facts.today, 1).isoformat(),
    }
    return ask(
        state.to(Step.PLAN_CONFIRM, pending=pending, retries=0),
        (*before, _plan_confirm_prompt(pending, facts)),
        Step.PLAN_CONFIRM,
        speech_menu="confirm",
    )


def plan_confirm(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    account = require_account(facts)
    answer = key(heard, facts)
    if answer == "1":
        # The plan as offered now: the balance may have changed since it was read back.
        count = int(state.pending["count"])
        option = next((o for o in account.plan_options if o.count == count), None)
        if option is None:
            return home(state.to(Step.MENU, pending={}), facts, (Say("plan_none"),))
        if option.instalment.minor != int(state.pending["instalment_minor"]):
            return _confirm_plan(state, option, facts, (Say("pay_amount_changed"),))
        effect = SavePlan(
            count, option.instalment.minor, dt.date.fromisoformat(str(state.pending["start"]))
        )
        return home(state.to(Step.MENU, pending={}), facts, (Say("plan_saved"),), effects=(effect,))
    if answer == "2":
        return ask(state.to(Step.PLAN_CHOICE, pending={}), plan_offers(account), Step.PLAN_CHOICE)
    return retry(
        state, heard, facts, (_plan_confirm_prompt(state.pending, facts),), speech_menu="confirm"
    )


def _plan_confirm_prompt(pending: Mapping[str, Any], facts: Facts) -> Say:
    start_date = dt.date.fromisoformat(str(pending["start"]))
    params = {
        "count": str(pending["count"]),
        "amount": str(pending["instalment_spoken"]),
        "start": facts.speak_date(start_date),
    }
    if pending.get("last_spoken"):
        # The last instalment takes what is left, so it can be a little less: say so.
        return Say("plan_confirm_last", {**params, "last": str(pending["last_spoken"])})
    return Say("plan_confirm", params)


def plan_offers(account: AccountFacts) -> tuple[Say, ...]:
    return tuple(
        Say("plan_offer", {"count": str(o.count), "amount": o.instalment.spoken, "key": str(i)})
        for i, o in enumerate(account.plan_options, start=1)
    )
