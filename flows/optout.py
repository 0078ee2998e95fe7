"""Stopping calls to the number the caller is on, as both lines offer it."""

from __future__ import annotations

from flows.asking import Home, ask, key, retry
from flows.effects import OptOut
from flows.state import CallState, Facts, Heard, Outcome
from hotline.enums import Intent, Step
from telephony.voice import Say


def offer(state: CallState, facts: Facts, home: Home) -> Outcome:
    if not facts.caller_known:
        # A withheld number cannot be told apart from anyone else's: an agent does it.
        return home(state.to(Step.MENU), facts, (Say("optout_no_number"),))
    return ask(
        state.to(Step.OPTOUT, intent=Intent.OPT_OUT),
        (Say("optout_confirm", {"last4": facts.caller_last4}),),
        Step.OPTOUT,
        speech_menu="optout",
    )


def optout(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    answer = key(heard, facts)
    if answer == "1":
        return home(
            state.to(Step.MENU),
            facts,
            (Say("optout_saved", {"last4": facts.caller_last4}),),
            effects=(OptOut(),),
        )
    if answer == "2":
        return home(state.to(Step.MENU), facts)
    return retry(
        state,
        heard,
        facts,
        (Say("optout_confirm", {"last4": facts.caller_last4}),),
        speech_menu="optout",
    )
