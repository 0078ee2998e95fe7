"""Cases, as both lines open them: hardship, a dispute (which stops collection calls), a
complaint; then an agent or the menu."""

from __future__ import annotations

from flows.asking import Home, agent, ask, retry
from flows.effects import OpenCase
from flows.state import REFERENCE, CallState, Facts, Heard, Outcome
from hotline.enums import CaseKind, Step
from telephony.voice import Say

CASE_KINDS = {"1": CaseKind.HARDSHIP, "2": CaseKind.DISPUTE, "3": CaseKind.COMPLAINT}


def cases(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    pressed = heard.digits[:1]
    if pressed == "*":
        return home(state.to(Step.MENU), facts)
    if pressed in CASE_KINDS:
        kind = CASE_KINDS[pressed]
        says = [Say("case_opened", {"reference": REFERENCE})]
        if kind == CaseKind.DISPUTE:
            says.append(Say("dispute_note"))
        return ask(
            state.to(Step.CASE_NEXT, intent=kind),
            (*says, _case_next_say(facts)),
            Step.CASE_NEXT,
            effects=(OpenCase(kind),),
        )
    return retry(state, heard, facts, (Say("cases_menu"),))


def _case_next_say(facts: Facts) -> Say:
    # After hours no agent is offered: the caller would only hear that none is available.
    return Say("case_next" if facts.agents_open else "case_next_closed")


def case_next(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    pressed = heard.digits[:1]
    if pressed == "1":
        return agent(state, facts)
    if pressed == "2":
        return home(state.to(Step.MENU), facts)
    return retry(state, heard, facts, (_case_next_say(facts),))
