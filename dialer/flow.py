"""The outbound call's own steps as pure rules: who answered, the right-party check, the
disclosure and what is due, the dialer's menu, the voicemail; the steps both lines speak
(paying with <Pay>, a promise, opting out, an agent) come from flows/.

No Flask, Twilio, database or clock in here. The service passes the Facts it looked up and
the Callee (how to address the person, what answered); the flow answers with an Answer:
the Outcome to render and carry out, and the disposition the turn earned, if any.

What may be said when (Reg F §1006.2(j), §1006.6(d); contact-rules.md): before the person
has pressed 1 for "I am <name>", only the business name (HOTLINE_VOICEMAIL_NAME, one that
does not suggest debt collection) and the person's name; a wrong party hears a goodbye and
is asked nothing more; a machine hears only the limited-content message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import flows
from flows import arrangements, optout, payment
from flows.asking import Handler, agent, ask, callback, key, retry
from flows.effects import (
    Effect,
    MarkWrongParty,
    OptOut,
    SavePromise,
    TransferToAgent,
)
from flows.state import CallState, Facts, Heard, Outcome
from hotline.enums import Disposition, PayOutcome, Step
from telephony.voice import Hangup, Say, Turn

__all__ = [
    "MACHINE_ANSWERS",
    "Answer",
    "Callee",
    "advance",
    "answered_by_machine",
    "menu",
    "pay_result",
    "start",
]

# Twilio's AnsweredBy values that mean a machine (or that detection could not tell: an
# unknown answer is treated as a machine, so nothing about the debt is said to it).
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "unknown"}
)
FAX = "fax"


@dataclass(frozen=True)
class Callee:
    """Who the call is for and what answered it."""

    name: str  # how the call addresses the person: the first name (the full name in Chinese)
    answered_by: str  # Twilio's AnsweredBy; "" when no detection ran (then a person)
    business: str  # the voicemail name, in the call's language
    callback: str  # the number to call back, as it is spoken


@dataclass(frozen=True)
class Answer:
    """A turn of the outbound call, and the disposition it earned (None: no change)."""

    outcome: Outcome
    disposition: Disposition | None = None


def answered_by_machine(answered_by: str) -> bool:
    return answered_by in MACHINE_ANSWERS


def start(state: CallState, facts: Facts, callee: Callee) -> Answer:
    """The call was answered: by a person, a machine (after its beep) or a fax."""
    if callee.answered_by == FAX:
        return Answer(Outcome(Turn((), Hangup()), state.to(Step.ENDED)), Disposition.FAX)
    if answered_by_machine(callee.answered_by):
        message = Say(
            "voicemail_message",
            {"name": callee.name, "business": callee.business, "callback": callee.callback},
        )
        return Answer(
            Outcome(Turn((message,), Hangup()), state.to(Step.ENDED)), Disposition.VOICEMAIL_LEFT
        )
    return Answer(ask(state.to(Step.RIGHT_PARTY), (_right_party_say(callee),), Step.RIGHT_PARTY))


def advance(state: CallState, heard: Heard, facts: Facts, callee: Callee) -> Answer:
    """The person answered the prompt at `state.step`."""
    if state.step == Step.RIGHT_PARTY or not state.verified:
        # Nothing about the debt before the right party is confirmed: any other step on an
        # unconfirmed call asks who it is again.
        if state.step != Step.RIGHT_PARTY:
            return start(CallState(language=state.language), facts, callee)
        return _right_party(state, heard, facts, callee)
    if state.step in (Step.QUEUED, Step.ENDED):
        return Answer(Outcome(Turn((), Hangup()), state.to(Step.ENDED)))
    if key(heard, facts) == "0":
        return _with_disposition(agent(state, facts))  # 0 reaches a person from any step
    handler = _HANDLERS.get(state.step)
    if handler is None:
        return Answer(menu(state.to(Step.MENU), facts))
    return _with_disposition(handler(state, heard, facts))


def pay_result(state: CallState, facts: Facts) -> Answer:
    """Twilio reports how <Pay> went (the payment is already posted when it succeeded)."""
    if not state.verified:
        return Answer(Outcome(Turn((), Hangup()), state.to(Step.ENDED)))
    outcome = payment.pay_result(state, facts, menu)
    paid = facts.pay_result is not None and facts.pay_result.result == PayOutcome.SUCCESS
    return Answer(outcome, Disposition.PAID if paid else None)


def menu(
    state: CallState, facts: Facts, before: Sequence[Say] = (), effects: tuple[Effect, ...] = ()
) -> Outcome:
    """The dialer's menu: where the shared steps send the person back to."""
    return ask(state, (*before, Say("dialer_menu")), Step.MENU, effects=effects)


def _right_party_say(callee: Callee) -> Say:
    return Say("dialer_right_party", {"business": callee.business, "name": callee.name})


def _right_party(state: CallState, heard: Heard, facts: Facts, callee: Callee) -> Answer:
    pressed = heard.digits[:1] if len(heard.digits) == 1 else ""
    if pressed == "1":
        confirmed = state.to(Step.MENU, verified=True)
        return Answer(
            menu(confirmed, facts, (*_disclosure(facts), *_what_is_due(facts))),
            Disposition.RIGHT_PARTY,
        )
    if pressed == "2":
        goodbye = Turn((Say("dialer_wrong_party"),), Hangup())
        return Answer(
            Outcome(goodbye, state.to(Step.ENDED), (MarkWrongParty(),)), Disposition.WRONG_PARTY
        )
    if state.retries >= facts.limits.retries:
        # Never offered an agent: whoever this is has not said they are the cardholder.
        ended = Outcome(Turn((Say("dialer_unconfirmed"),), Hangup()), state.to(Step.ENDED))
        return Answer(ended, Disposition.UNCONFIRMED)
    sorry = Say("no_input") if heard.empty else Say("not_understood")
    again = state.to(Step.RIGHT_PARTY, retries=state.retries + 1)
    return Answer(ask(again, (sorry, _right_party_say(callee)), Step.RIGHT_PARTY))


def _disclosure(facts: Facts) -> tuple[Say, ...]:
    """What the profile asks the right party to hear first (Reg F's mini-Miranda)."""
    if facts.first_disclosure:
        return (Say("disclosure_first", {"bank": facts.bank}),)
    if facts.later_disclosure:
        return (Say("disclosure_later", {"bank": facts.bank}),)
    return ()


def _what_is_due(facts: Facts) -> tuple[Say, ...]:
    """The amount past due and the minimum payment with its date; never "$0.00"."""
    account = facts.account
    if account is None:
        return ()
    says = []
    if account.past_due.minor > 0:
        says.append(Say("dialer_past_due", {"past_due": account.past_due.spoken}))
    if account.minimum_due.minor > 0:
        params = {
            "minimum_due": account.minimum_due.spoken,
            "due_date": facts.speak_date(account.due_date),
        }
        says.append(
            Say("minimum_due" if account.due_date >= facts.today else "minimum_was_due", params)
        )
    elif account.balance.minor <= 0:
        says.append(Say("no_balance"))
    else:
        says.append(Say("no_minimum_due"))
    return tuple(says)


def _menu_choice(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    chosen = key(heard, facts)
    if chosen == "1":
        return payment.offer(state, facts, menu)
    if chosen == "2":
        return arrangements.offer_promise(state, facts, menu)
    if chosen == "9":
        return optout.offer(state, facts, menu)
    if chosen == "*":
        return menu(state.to(Step.MENU, retries=state.retries), facts, _what_is_due(facts))
    return retry(state, heard, facts, (Say("dialer_menu"),))


def _with_disposition(outcome: Outcome) -> Answer:
    """The disposition a shared step's effects earn: a promise saved, a number opted out,
    a transfer (a payment is told by its result, in pay_result)."""
    disposition = None
    for effect in outcome.effects:
        match effect:
            case SavePromise():
                disposition = Disposition.PROMISE
            case OptOut():
                disposition = Disposition.OPTED_OUT
            case TransferToAgent():
                disposition = Disposition.TRANSFERRED
            case MarkWrongParty():
                disposition = Disposition.WRONG_PARTY
    return Answer(outcome, disposition)


_HANDLERS: dict[Step, Handler] = {
    **flows.handlers(home=menu),
    Step.MENU: _menu_choice,
    Step.CALLBACK: callback,
}
# Verification is the IVR's way in; an outbound call confirms the right party instead.
del _HANDLERS[Step.VERIFY]
