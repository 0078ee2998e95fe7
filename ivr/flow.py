"""The inbound IVR as pure rules: (call state, what the caller did, facts) -> what next.

No Flask, Twilio, database or clock in here. The service layer looks things up (the
account, whether digits matched, the caller's local date, agent hours) and passes them in
as Facts; the flow answers with a Turn to render and Effects for the service to carry out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from telephony.voice import Ask, Enqueue, Hangup, Pay, Say, Turn

AGENT_QUEUE = "collections"
MAX_VERIFY_FAILURES_PER_CALL = 3
LOCK_AFTER_FAILURES_IN_24H = 5
MAX_RETRIES = 2  # after the first ask: ask again twice, then offer an agent
LOW_CONFIDENCE = 0.5

# Steps: where the caller's next answer goes.
LANGUAGE, ACCOUNT, VERIFY, MENU = "language", "account", "verify", "menu"
PAY_CHOICE, PAY_AMOUNT, PAY_CONFIRM, PAY_RESULT, PAY_RETRY = (
    "pay-choice",
    "pay-amount",
    "pay-confirm",
    "pay-result",
    "pay-retry",
)
ARRANGEMENT, PROMISE_AMOUNT, PROMISE_DATE, PROMISE_CONFIRM = (
    "arrangement",
    "promise-amount",
    "promise-date",
    "promise-confirm",
)
PLAN_CHOICE, PLAN_CONFIRM = "plan-choice", "plan-confirm"
CASES, CASE_NEXT, OPTOUT, CALLBACK, QUEUED, ENDED = (
    "cases",
    "case-next",
    "optout",
    "callback",
    "queued",
    "ended",
)
STEPS = frozenset(
    {
        LANGUAGE,
        ACCOUNT,
        VERIFY,
        MENU,
        PAY_CHOICE,
        PAY_AMOUNT,
        PAY_CONFIRM,
        PAY_RESULT,
        PAY_RETRY,
        ARRANGEMENT,
        PROMISE_AMOUNT,
        PROMISE_DATE,
        PROMISE_CONFIRM,
        PLAN_CHOICE,
        PLAN_CONFIRM,
        CASES,
        CASE_NEXT,
        OPTOUT,
        CALLBACK,
        QUEUED,
        ENDED,
    }
)
CASE_KINDS = {"1": "hardship", "2": "dispute", "3": "complaint"}
PAY_FAILURE_PROMPTS = {
    "payment-connector-error": "pay_connector_error",
    "too-many-failed-attempts": "pay_too_many_attempts",
    "caller-interrupted-with-star": "pay_interrupted",
}


# --- what the flow is told --------------------------------------------------------------


@dataclass(frozen=True)
class Heard:
    """What the caller did at the last prompt (already read safely from the request)."""

    digits: str = ""
    speech: str = ""
    confidence: float | None = None
    # Speech mapped to a key by the catalogue of the call's language (None: not understood).
    speech_key: str | None = None

    @property
    def empty(self) -> bool:
        return not self.digits and not self.speech


@dataclass(frozen=True)
class Money:
    """An amount in minor units, and how the caller's language says it.

    Formatting is done when a prompt speaks the amount: most turns speak none of the
    account's amounts, and formatting is a good part of a turn's cost.
    """

    minor: int
    speak: Callable[[int], str] = field(repr=False, compare=False)

    @property
    def spoken(self) -> str:
        return self.speak(self.minor)


@dataclass(frozen=True)
class PlanOption:
    count: int
    instalment: Money


@dataclass(frozen=True)
class PayResult:
    result: str  # Twilio's <Pay> Result
    amount: Money | None = None
    code: str | None = None  # spoken confirmation code
    error: str = ""  # Twilio's PaymentError, e.g. "card is declined"


@dataclass(frozen=True)
class AccountFacts:
    account_id: int
    language: str
    currency: str
    balance: Money
    minimum_due: Money
    past_due: Money
    due_date: dt.date
    last_payment: tuple[Money, dt.date] | None
    locked: bool
    failures_last_24h: int
    min_payment: Money  # the policy minimum for a payment by phone
    plan_options: tuple[PlanOption, ...]
    has_open_dispute: bool = False


@dataclass(frozen=True)
class Facts:
    """What the service looked up for this turn."""

    bank: str
    agents_open: bool
    today: dt.date  # the caller's local date
    promise_window_days: int
    first_disclosure: bool  # the profile asks for the debt-collector disclosure
    recording_notice: bool
    caller_last4: str
    # How the caller's language says an amount (minor units) and a date.
    speak_money: Callable[[int], str]
    speak_date: Callable[[dt.date], str]
    account: AccountFacts | None = None
    digits_match: bool | None = None  # at the verify step
    pay_result: PayResult | None = None  # at the pay-result step
    record_calls: bool = False  # the line records calls (from verification on)


@dataclass(frozen=True)
class CallState:
    step: str = LANGUAGE
    language: str = "en"
    account_id: int | None = None
    verified: bool = False
    verify_failures: int = 0
    retries: int = 0
    pending: Mapping[str, Any] = field(default_factory=dict)
    path: tuple[str, ...] = ()
    intent: str | None = None
    recording: bool = False  # a recording of this call has been started

    def to(self, step: str, **changes: Any) -> CallState:
        """Move to a step; a new question starts its retry count afresh."""
        retries = changes.pop("retries", 0 if step != self.step else self.retries)
        path = self.path if self.path[-1:] == (step,) else (*self.path, step)
        return replace(self, step=step, retries=retries, path=path[-40:], **changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "language": self.language,
            "account_id": self.account_id,
            "verified": self.verified,
            "verify_failures": self.verify_failures,
            "retries": self.retries,
            "pending": dict(self.pending),
            "path": list(self.path),
            "intent": self.intent,
            "recording": self.recording,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallState:
        step = data.get("step")
        return cls(
            step=step if step in STEPS else LANGUAGE,
            language=str(data["language"]) if data.get("language") in ("en", "zh-CN") else "en",
            account_id=data.get("account_id") if isinstance(data.get("account_id"), int) else None,
            verified=data.get("verified") is True,
            verify_failures=int(data.get("verify_failures") or 0),
            retries=int(data.get("retries") or 0),
            pending=dict(data.get("pending") or {}),
            path=tuple(str(p) for p in data.get("path") or ()),
            intent=data.get("intent"),
            recording=data.get("recording") is True,
        )


# --- what the flow asks the service to do ------------------------------------------------


@dataclass(frozen=True)
class RecordVerification:
    succeeded: bool


@dataclass(frozen=True)
class LockSelfService:
    pass


@dataclass(frozen=True)
class SavePromise:
    amount_minor: int
    date: dt.date


@dataclass(frozen=True)
class SavePlan:
    count: int
    instalment_minor: int
    start: dt.date


@dataclass(frozen=True)
class OpenCase:
    kind: str


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class RequestCallback:
    pass


@dataclass(frozen=True)
class TransferToAgent:
    intent: str | None


@dataclass(frozen=True)
class PauseRecording:
    """Before <Pay>: card details must never be in a recording (PCI DSS)."""


@dataclass(frozen=True)
class ResumeRecording:
    """After <Pay>."""


Effect = (
    RecordVerification
    | LockSelfService
    | SavePromise
    | SavePlan
    | OpenCase
    | OptOut
    | RequestCallback
    | TransferToAgent
    | PauseRecording
    | ResumeRecording
)

# A value the service fills in after carrying out the effects (e.g. a new case's number).
REFERENCE = "{reference}"


@dataclass(frozen=True)
class Outcome:
    turn: Turn
    state: CallState
    effects: tuple[Effect, ...] = ()


# --- the rules ----------------------------------------------------------------------------


def start(state: CallState, facts: Facts) -> Outcome:
    """A new call. An account identified by the caller's number skips straight to verify."""
    welcome = Say("welcome", {"bank": facts.bank})
    account = facts.account
    if account is None:
        return _ask(
            state.to(LANGUAGE),
            (
                Say("welcome", {"bank": facts.bank}, language="en"),
                Say("language_choice", language="en"),
                Say("language_choice", language="zh-CN"),
            ),
            LANGUAGE,
            speech_menu="language",
        )
    state = state.to(VERIFY, language=account.language, account_id=account.account_id)
    if account.locked:
        return _locked(state, facts, (welcome,))
    return _ask(state, (welcome, Say("enter_verify")), VERIFY, max_digits=None, finish_on_key="#")


def advance(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    """The caller answered the prompt at `state.step`."""
    if _key(heard) == "0" and state.step not in (QUEUED, ENDED):
        return _agent(state, facts)  # 0 (or asking for a person) always reaches a person
    handler = _HANDLERS.get(state.step)
    if handler is None:
        return _menu(state.to(MENU), facts) if state.verified else start(CallState(), facts)
    if state.step not in (LANGUAGE, ACCOUNT, VERIFY, PAY_RESULT) and not state.verified:
        return start(CallState(), facts)  # nothing about the debt before verification
    return handler(state, heard, facts)


def _language(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    key = heard.digits[:1] or heard.speech_key
    if key in ("1", "2"):
        language = "en" if key == "1" else "zh-CN"
        return _ask(
            state.to(ACCOUNT, language=language),
            (Say("enter_account"),),
            ACCOUNT,
            max_digits=None,
            finish_on_key="#",
        )
    return _retry(
        state,
        heard,
        facts,
        (Say("language_choice", language="en"), Say("language_choice", language="zh-CN")),
        speech_menu="language",
    )


def _account(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = facts.account
    if account is not None:
        state = state.to(VERIFY, account_id=account.account_id)
        if account.locked:
            return _locked(state, facts, ())
        return _ask(state, (Say("enter_verify"),), VERIFY, max_digits=None, finish_on_key="#")
    prompts = (
        (Say("account_not_found"), Say("enter_account"))
        if heard.digits
        else (Say("enter_account"),)
    )
    return _retry(
        state, heard, facts, prompts, max_digits=None, finish_on_key="#", apology=not heard.digits
    )


def _verify(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = facts.account
    if account is None or account.locked:
        return _locked(state, facts, ())
    if heard.empty:
        return _retry(
            state, heard, facts, (Say("enter_verify"),), max_digits=None, finish_on_key="#"
        )
    if facts.digits_match:
        verified = state.to(MENU, verified=True, verify_failures=0)
        says = []
        if facts.first_disclosure:
            says.append(Say("disclosure_first", {"bank": facts.bank}))
        outcome = _menu(verified, facts, tuple(says), effects=(RecordVerification(True),))
        if facts.record_calls and not state.recording:
            # Recording starts once the caller is verified, so the verification digits are
            # never in it, and after the notice where the law asks for one.
            notice = (Say("recording_notice"),) if facts.recording_notice else ()
            outcome = replace(
                outcome,
                turn=replace(outcome.turn, preamble=notice, start_recording=True),
                state=replace(outcome.state, recording=True),
            )
        return outcome
    failures = state.verify_failures + 1
    effects: tuple[Effect, ...] = (RecordVerification(False),)
    locking = account.failures_last_24h + 1 >= LOCK_AFTER_FAILURES_IN_24H
    if locking:
        effects += (LockSelfService(),)
    state = state.to(VERIFY, verify_failures=failures, retries=state.retries)
    if locking or failures >= MAX_VERIFY_FAILURES_PER_CALL:
        ending = (Say("too_many_attempts"),) + ((Say("verify_locked"),) if locking else ())
        return _transfer_or_goodbye(state, facts, ending, effects)
    return Outcome(
        _asking(
            (Say("verify_failed"), Say("enter_verify")), VERIFY, max_digits=None, finish_on_key="#"
        ),
        state,
        effects,
    )


def _menu_choice(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    key = _key(heard)
    account = facts.account
    if key is None or account is None:
        return _retry(state, heard, facts, (Say("menu"),), speech_menu="menu")
    if key == "*":
        return _menu(state.to(MENU, retries=state.retries), facts)
    if key == "1":
        says = [
            Say(
                "balance",
                {
                    "balance": account.balance.spoken,
                    "minimum_due": account.minimum_due.spoken,
                    "due_date": facts.speak_date(account.due_date),
                },
            )
        ]
        says.append(
            Say("past_due", {"past_due": account.past_due.spoken})
            if account.past_due.minor
            else Say("no_past_due")
        )
        if account.last_payment:
            amount, date = account.last_payment
            says.append(
                Say("last_payment", {"amount": amount.spoken, "date": facts.speak_date(date)})
            )
        else:
            says.append(Say("no_last_payment"))
        return _menu(state.to(MENU, intent="balance"), facts, tuple(says))
    if key == "2":
        return _pay_menu(state.to(PAY_CHOICE, intent="payment"), account)
    if key == "3":
        return _ask(
            state.to(ARRANGEMENT, intent="arrangement"), (Say("arrangement_menu"),), ARRANGEMENT
        )
    if key == "4":
        return _ask(state.to(CASES, intent="case"), (Say("cases_menu"),), CASES)
    if key == "9":
        return _ask(
            state.to(OPTOUT, intent="opt-out"),
            (Say("optout_confirm", {"last4": facts.caller_last4}),),
            OPTOUT,
            speech_menu="confirm",
        )
    return _retry(state, heard, facts, (Say("menu"),), speech_menu="menu")


def _pay_choice(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    key = heard.digits[:1]
    if key == "*":
        return _menu(state.to(MENU), facts)
    if key == "4":
        return _ask(
            state.to(PAY_AMOUNT),
            (Say("pay_enter_amount"),),
            PAY_AMOUNT,
            max_digits=None,
            finish_on_key="#",
            timeout=10,
        )
    amounts = {"1": account.minimum_due, "2": account.past_due, "3": account.balance}
    if key in amounts:
        if amounts[key].minor <= 0:
            return _pay_menu(state, account, (Say("pay_nothing_due"),))
        return _confirm_payment(state, amounts[key])
    return _retry(state, heard, facts, _pay_menu_says(account))


def _pay_amount(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    cents = _whole_number(heard.digits)
    if cents is None:
        return _retry(
            state, heard, facts, (Say("pay_enter_amount"),), max_digits=None, finish_on_key="#"
        )
    minimum = min(account.min_payment.minor, account.balance.minor)
    if cents < minimum:
        return _ask(
            state.to(PAY_AMOUNT, retries=state.retries),
            (
                Say("pay_amount_too_small", {"minimum": facts.speak_money(minimum)}),
                Say("pay_enter_amount"),
            ),
            PAY_AMOUNT,
            max_digits=None,
            finish_on_key="#",
        )
    if cents > account.balance.minor:
        return _ask(
            state.to(PAY_AMOUNT, retries=state.retries),
            (
                Say("pay_amount_too_large", {"balance": account.balance.spoken}),
                Say("pay_enter_amount"),
            ),
            PAY_AMOUNT,
            max_digits=None,
            finish_on_key="#",
        )
    return _confirm_payment(state, Money(cents, facts.speak_money))


def _confirm_payment(state: CallState, amount: Money) -> Outcome:
    pending = {"amount_minor": amount.minor, "amount_spoken": amount.spoken}
    return _ask(
        state.to(PAY_CONFIRM, pending=pending),
        (Say("pay_confirm", {"amount": amount.spoken}),),
        PAY_CONFIRM,
        speech_menu="confirm",
    )


def _pay_confirm(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    key = _key(heard)
    if key == "1":
        return _pay(state, account)
    if key == "2":
        return _pay_menu(state.to(PAY_CHOICE, pending={}), account)
    return _retry(
        state,
        heard,
        facts,
        (Say("pay_confirm", {"amount": str(state.pending.get("amount_spoken", ""))}),),
        speech_menu="confirm",
    )


def _pay(state: CallState, account: AccountFacts) -> Outcome:
    minor = int(state.pending.get("amount_minor", 0))
    major = f"{minor // 100}.{minor % 100:02d}"
    return Outcome(
        Turn((Say("pay_instructions"),), Pay(minor, account.currency, major)),
        state.to(PAY_RESULT, pending=dict(state.pending)),
        (PauseRecording(),) if state.recording else (),
    )


def pay_result(state: CallState, facts: Facts) -> Outcome:
    """Twilio reports how <Pay> went (the payment is already posted when it succeeded)."""
    outcome = _pay_outcome(state, facts)
    if state.recording and outcome.state.step != ENDED:
        outcome = replace(outcome, effects=(*outcome.effects, ResumeRecording()))
    return outcome


def _pay_outcome(state: CallState, facts: Facts) -> Outcome:
    result = facts.pay_result
    if result is None or not state.verified:
        return _menu(state.to(MENU), facts) if state.verified else start(CallState(), facts)
    if result.result == "success":
        amount = (
            result.amount.spoken if result.amount else str(state.pending.get("amount_spoken", ""))
        )
        return _menu(
            state.to(MENU, pending={}),
            facts,
            (Say("pay_success", {"amount": amount, "code": result.code or ""}),),
        )
    if result.result == "caller-hung-up":
        return Outcome(Turn((), Hangup()), state.to(ENDED))
    if "declin" in result.error.lower():
        failure = "pay_declined"
    else:
        failure = PAY_FAILURE_PROMPTS.get(result.result, "pay_failed")
    return _ask(
        state.to(PAY_RETRY, pending=dict(state.pending)),
        (Say(failure), Say("pay_retry")),
        PAY_RETRY,
    )


def _pay_retry(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    key = heard.digits[:1]
    if key == "1" and state.pending.get("amount_minor"):
        return _pay(state, account)
    if key == "*":
        return _menu(state.to(MENU, pending={}), facts)
    return _retry(state, heard, facts, (Say("pay_retry"),))


def _arrangement(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    key = heard.digits[:1]
    if key == "*":
        return _menu(state.to(MENU), facts)
    if key == "1":
        return _ask(
            state.to(PROMISE_AMOUNT, intent="promise"),
            (Say("promise_amount", {"minimum_due": account.minimum_due.spoken}),),
            PROMISE_AMOUNT,
            max_digits=None,
            finish_on_key="#",
            timeout=10,
        )
    if key == "2":
        if not account.plan_options:
            return _menu(state.to(MENU), facts, (Say("plan_none"),))
        return _ask(state.to(PLAN_CHOICE, intent="plan"), _plan_offers(account), PLAN_CHOICE)
    return _retry(state, heard, facts, (Say("arrangement_menu"),))


def _promise_amount(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    cents = _whole_number(heard.digits)
    floor = account.minimum_due.minor or min(account.min_payment.minor, account.balance.minor)
    if cents is None or cents < floor or cents > account.balance.minor or cents <= 0:
        reason = (
            ()
            if cents is None
            else (
                (Say("pay_amount_too_large", {"balance": account.balance.spoken}),)
                if cents > account.balance.minor
                else (Say("pay_amount_too_small", {"minimum": account.minimum_due.spoken}),)
            )
        )
        return _retry(
            state,
            heard,
            facts,
            (*reason, Say("promise_amount", {"minimum_due": account.minimum_due.spoken})),
            max_digits=None,
            finish_on_key="#",
            apology=cents is None,
        )
    pending = {"amount_minor": cents, "amount_spoken": facts.speak_money(cents)}
    return _ask(
        state.to(PROMISE_DATE, pending=pending),
        (_promise_date_prompt(facts),),
        PROMISE_DATE,
        max_digits=8,
        finish_on_key="#",
        timeout=10,
    )


def _promise_date_prompt(facts: Facts) -> Say:
    last = facts.today + dt.timedelta(days=facts.promise_window_days)
    return Say("promise_date", {"last_date": facts.speak_date(last)})


def _promise_date(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    date = _yyyymmdd(heard.digits)
    last = facts.today + dt.timedelta(days=facts.promise_window_days)
    if date is None or not facts.today <= date <= last:
        prompts = (Say("promise_date_invalid"), _promise_date_prompt(facts))
        return _retry(
            state, heard, facts, prompts, apology=False, max_digits=8, finish_on_key="#", timeout=10
        )
    pending = {**state.pending, "date": date.isoformat()}
    return _ask(
        state.to(PROMISE_CONFIRM, pending=pending),
        (_promise_confirm_prompt(state.pending, date, facts),),
        PROMISE_CONFIRM,
        speech_menu="confirm",
    )


def _promise_confirm_prompt(pending: Mapping[str, Any], date: dt.date, facts: Facts) -> Say:
    return Say(
        "promise_confirm",
        {"amount": str(pending.get("amount_spoken", "")), "date": facts.speak_date(date)},
    )


def _promise_confirm(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    key = _key(heard)
    if key == "1":
        date = dt.date.fromisoformat(str(state.pending["date"]))
        effect = SavePromise(int(state.pending["amount_minor"]), date)
        return _menu(state.to(MENU, pending={}), facts, (Say("promise_saved"),), effects=(effect,))
    if key == "2":
        return _ask(
            state.to(PROMISE_AMOUNT, pending={}),
            (Say("promise_amount", {"minimum_due": account.minimum_due.spoken}),),
            PROMISE_AMOUNT,
            max_digits=None,
            finish_on_key="#",
            timeout=10,
        )
    date = dt.date.fromisoformat(str(state.pending["date"]))
    return _retry(
        state,
        heard,
        facts,
        (_promise_confirm_prompt(state.pending, date, facts),),
        speech_menu="confirm",
    )


def _plan_choice(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    key = heard.digits[:1]
    if key == "*":
        return _menu(state.to(MENU), facts)
    options = {str(i): option for i, option in enumerate(account.plan_options, start=1)}
    if key in options:
        option = options[key]
        start_date = _next_month(facts.today)
        pending = {
            "count": option.count,
            "instalment_minor": option.instalment.minor,
            "instalment_spoken": option.instalment.spoken,
            "start": start_date.isoformat(),
        }
        return _ask(
            state.to(PLAN_CONFIRM, pending=pending),
            (_plan_confirm_prompt(pending, facts),),
            PLAN_CONFIRM,
            speech_menu="confirm",
        )
    return _retry(state, heard, facts, _plan_offers(account))


def _plan_confirm(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    key = _key(heard)
    if key == "1":
        effect = SavePlan(
            int(state.pending["count"]),
            int(state.pending["instalment_minor"]),
            dt.date.fromisoformat(str(state.pending["start"])),
        )
        return _menu(state.to(MENU, pending={}), facts, (Say("plan_saved"),), effects=(effect,))
    if key == "2":
        return _ask(state.to(PLAN_CHOICE, pending={}), _plan_offers(account), PLAN_CHOICE)
    return _retry(
        state, heard, facts, (_plan_confirm_prompt(state.pending, facts),), speech_menu="confirm"
    )


def _plan_confirm_prompt(pending: Mapping[str, Any], facts: Facts) -> Say:
    start_date = dt.date.fromisoformat(str(pending["start"]))
    return Say(
        "plan_confirm",
        {
            "count": str(pending["count"]),
            "amount": str(pending["instalment_spoken"]),
            "start": facts.speak_date(start_date),
        },
    )


def _cases(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    key = heard.digits[:1]
    if key == "*":
        return _menu(state.to(MENU), facts)
    if key in CASE_KINDS:
        kind = CASE_KINDS[key]
        says = [Say("case_opened", {"reference": REFERENCE})]
        if kind == "dispute":
            says.append(Say("dispute_note"))
        return _ask(
            state.to(CASE_NEXT, intent=kind),
            (*says, Say("case_next")),
            CASE_NEXT,
            effects=(OpenCase(kind),),
        )
    return _retry(state, heard, facts, (Say("cases_menu"),))


def _case_next(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    key = heard.digits[:1]
    if key == "1":
        return _agent(state, facts)
    if key == "2":
        return _menu(state.to(MENU), facts)
    return _retry(state, heard, facts, (Say("case_next"),))


def _optout(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    key = _key(heard)
    if key == "1":
        return _menu(
            state.to(MENU),
            facts,
            (Say("optout_saved", {"last4": facts.caller_last4}),),
            effects=(OptOut(),),
        )
    if key == "2":
        return _menu(state.to(MENU), facts)
    return _retry(
        state,
        heard,
        facts,
        (Say("optout_confirm", {"last4": facts.caller_last4}),),
        speech_menu="confirm",
    )


def _callback(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    if heard.digits[:1] == "1" and state.account_id is not None:
        return Outcome(
            Turn((Say("callback_saved"), Say("goodbye")), Hangup()),
            state.to(ENDED),
            (RequestCallback(),),
        )
    return Outcome(Turn((Say("goodbye"),), Hangup()), state.to(ENDED))


_HANDLERS = {
    LANGUAGE: _language,
    ACCOUNT: _account,
    VERIFY: _verify,
    MENU: _menu_choice,
    PAY_CHOICE: _pay_choice,
    PAY_AMOUNT: _pay_amount,
    PAY_CONFIRM: _pay_confirm,
    PAY_RETRY: _pay_retry,
    ARRANGEMENT: _arrangement,
    PROMISE_AMOUNT: _promise_amount,
    PROMISE_DATE: _promise_date,
    PROMISE_CONFIRM: _promise_confirm,
    PLAN_CHOICE: _plan_choice,
    PLAN_CONFIRM: _plan_confirm,
    CASES: _cases,
    CASE_NEXT: _case_next,
    OPTOUT: _optout,
    CALLBACK: _callback,
}


# --- shared pieces ------------------------------------------------------------------------


def _menu(
    state: CallState, facts: Facts, before: Sequence[Say] = (), effects: tuple[Effect, ...] = ()
) -> Outcome:
    return _ask(state, (*before, Say("menu")), MENU, speech_menu="menu", effects=effects)


def _pay_menu_says(account: AccountFacts) -> tuple[Say, ...]:
    return (
        Say(
            "pay_menu",
            {
                "minimum_due": account.minimum_due.spoken,
                "past_due": account.past_due.spoken,
                "balance": account.balance.spoken,
            },
        ),
    )


def _pay_menu(state: CallState, account: AccountFacts, before: Sequence[Say] = ()) -> Outcome:
    return _ask(state, (*before, *_pay_menu_says(account)), PAY_CHOICE)


def _plan_offers(account: AccountFacts) -> tuple[Say, ...]:
    return tuple(
        Say("plan_offer", {"count": str(o.count), "amount": o.instalment.spoken, "key": str(i)})
        for i, o in enumerate(account.plan_options, start=1)
    )


def _asking(says: Sequence[Say], step: str, **options: Any) -> Turn:
    return Turn(tuple(says), Ask(step, **options))


def _ask(
    state: CallState,
    says: Sequence[Say],
    step: str,
    *,
    effects: tuple[Effect, ...] = (),
    **options: Any,
) -> Outcome:
    return Outcome(_asking(says, step, **options), state, effects)


def _retry(
    state: CallState,
    heard: Heard,
    facts: Facts,
    prompts: Sequence[Say],
    *,
    apology: bool = True,
    **options: Any,
) -> Outcome:
    """Ask the same question again, twice at most; then offer an agent."""
    if state.retries >= MAX_RETRIES:
        return _offer_agent(state, facts)
    if heard.empty:
        sorry = Say("no_input")
    elif heard.speech and (heard.confidence or 0) < LOW_CONFIDENCE:
        sorry = Say("low_confidence")
    else:
        sorry = Say("not_understood")
    says = (sorry, *prompts) if apology else tuple(prompts)
    return _ask(state.to(state.step, retries=state.retries + 1), says, state.step, **options)


def _offer_agent(state: CallState, facts: Facts) -> Outcome:
    return _agent(state, facts, (Say("offer_agent"),))


def _agent(state: CallState, facts: Facts, before: Sequence[Say] = ()) -> Outcome:
    return _transfer_or_goodbye(state, facts, tuple(before), (), offer_callback=True)


def _transfer_or_goodbye(
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
            state.to(QUEUED),
            (*effects, TransferToAgent(state.intent)),
        )
    if offer_callback and state.account_id is not None and state.verified:
        return _ask(
            state.to(CALLBACK),
            (*says, Say("agents_closed"), Say("callback_offer")),
            CALLBACK,
            effects=effects,
        )
    return Outcome(
        Turn((*says, Say("agents_closed"), Say("goodbye")), Hangup()), state.to(ENDED), effects
    )


def _locked(state: CallState, facts: Facts, before: tuple[Say, ...]) -> Outcome:
    return _transfer_or_goodbye(state, facts, (*before, Say("verify_locked")), ())


def _key(heard: Heard) -> str | None:
    """The key pressed, or the key the caller's words stand for (if heard clearly)."""
    if heard.digits:
        return heard.digits[:1] if len(heard.digits) == 1 else None
    if heard.speech and (heard.confidence is None or heard.confidence >= LOW_CONFIDENCE):
        return heard.speech_key
    return None


def _require_account(facts: Facts) -> AccountFacts:
    if facts.account is None:
        raise LookupError("this step needs the caller's account")
    return facts.account


def _whole_number(digits: str) -> int | None:
    return int(digits) if digits.isdigit() and len(digits) <= 12 else None


def _yyyymmdd(digits: str) -> dt.date | None:
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def _next_month(today: dt.date) -> dt.date:
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return dt.date(year, month, min(today.day, 28))
