"""Asking and retrying, and reaching a person: the pieces every call flow is made of."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from flows.effects import Effect, RequestCallback, TransferToAgent
from flows.state import AGENT_QUEUE, AccountFacts, CallState, Facts, Heard, Outcome
from hotline.enums import Step
from hotline.money import precision
from telephony.voice import Ask, Enqueue, Hangup, Say, Turn

# Seconds a <Gather> waits: for one key, and for an amount or a date keyed digit by digit
# (the first ask and every re-ask alike).
KEY_TIMEOUT = 6
ENTRY_TIMEOUT = 10

# A step's answer: what the caller did at the prompt of `state.step`.
Handler = Callable[[CallState, Heard, Facts], Outcome]


class Home(Protocol):
    """Where a line's callers go back to: its main menu (the IVR's, the dialer's)."""

    def __call__(
        self,
        state: CallState,
        facts: Facts,
        before: Sequence[Say] = (),
        effects: tuple[Effect, ...] = (),
    ) -> Outcome: ...


class SharedHandler(Protocol):
    """A step shared by both lines: a Handler once the line says where home is (a line
    binds `home` by name, so the protocol names it)."""

    def __call__(self, state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome: ...


def asking(says: Sequence[Say], step: Step, **options: Any) -> Turn:
    return Turn(tuple(says), Ask(step, **options))


def ask(
    state: CallState,
    says: Sequence[Say],
    step: Step,
    *,
    effects: tuple[Effect, ...] = (),
    **options: Any,
) -> Outcome:
    return Outcome(asking(says, step, **options), state, effects)


def retry(
    state: CallState,
    heard: Heard,
    facts: Facts,
    prompts: Sequence[Say],
    *,
    apology: bool = True,
    **options: Any,
) -> Outcome:
    """Ask the same question again (twice, by the limits); then offer an agent."""
    if state.retries >= facts.limits.retries:
        return offer_agent(state, facts)
    if heard.empty:
        sorry = Say("no_input")
    elif (
        heard.speech
        and heard.confidence is not None
        and heard.confidence < facts.limits.low_confidence
    ):
        sorry = Say("low_confidence")
    else:
        sorry = Say("not_understood")
    says = (sorry, *prompts) if apology else tuple(prompts)
    return ask(state.to(state.step, retries=state.retries + 1), says, state.step, **options)


def offer_agent(state: CallState, facts: Facts) -> Outcome:
    # "Let me connect you" only when someone can take the call; after hours the caller
    # hears straight away that agents are not available (and is offered a callback).
    return agent(state, facts, (Say("offer_agent"),) if facts.agents_open else ())


def agent(state: CallState, facts: Facts, before: Sequence[Say] = ()) -> Outcome:
    return transfer_or_goodbye(state, facts, tuple(before), (), offer_callback=True)


def transfer_or_goodbye(
    state: CallState,
    facts: Facts,
    says: tuple[Say, ...],
    effects: tuple[Effect, ...],
    *,
    offer_callback: bool = False,
) -> Outcome:
    if facts.agents_open:
        return Outcome(
            Turn((*says, Say("transfer_notice")), Enqueue(AGENT_QUEUE)),
            state.to(Step.QUEUED),
            (*effects, TransferToAgent(state.intent)),
        )
    if offer_callback and state.account_id is not None and state.verified and facts.caller_known:
        return ask(
            state.to(Step.CALLBACK),
            (*says, Say("agents_closed"), Say("callback_offer")),
            Step.CALLBACK,
            effects=effects,
        )
    return Outcome(
        Turn((*says, Say("agents_closed"), Say("goodbye")), Hangup()), state.to(Step.ENDED), effects
    )


def key(heard: Heard, facts: Facts) -> str | None:
    """The key pressed, or the key the caller's words stand for (if heard clearly)."""
    if heard.digits:
        return heard.digits[:1] if len(heard.digits) == 1 else None
    # Speech without a confidence (none sent, or one that did not read as a number) is not
    # taken as heard clearly: a read-back must not confirm on words it cannot vouch for.
    confident = heard.confidence is not None and heard.confidence >= facts.limits.low_confidence
    if heard.speech and confident:
        return heard.speech_key
    return None


def require_account(facts: Facts) -> AccountFacts:
    if facts.account is None:
        raise LookupError("this step needs the caller's account")
    return facts.account


def whole_number(digits: str) -> int | None:
    return int(digits) if digits.isdigit() and len(digits) <= 12 else None


def yyyymmdd(digits: str) -> dt.date | None:
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def amount_example(account: AccountFacts, facts: Facts) -> dict[str, str]:
    """How to key an amount in the account's currency, as an example: its digits without a
    decimal point ("for $25.00, enter 2 5 0 0"; "for ¥2,500, enter 2 5 0 0"; three places
    for a dinar). The `example` and `keys` parameters of every prompt that asks for one."""
    minor = 25 * 10 ** precision(account.currency) if precision(account.currency) else 2500
    return {"example": facts.speak_money(minor), "keys": " ".join(str(minor))}


def callback(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    """The answer to the callback offer `agent` makes when no agent is there: 1 keeps the
    request (an agent calls back), anything else says goodbye. Either line's step."""
    if heard.digits[:1] == "1" and state.account_id is not None:
        return Outcome(
            Turn((Say("callback_saved"), Say("goodbye")), Hangup()),
            state.to(Step.ENDED),
            (RequestCallback(),),
        )
    return Outcome(Turn((Say("goodbye"),), Hangup()), state.to(Step.ENDED))
