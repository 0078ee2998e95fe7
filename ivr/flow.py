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

from hotline.money import to_major
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
# The pay menu's keys; another amount is 4.
PAY_CHOICES = {"1": "minimum", "2": "past-due", "3": "balance"}
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
    last: Money | None = None  # the last instalment, when it differs from the others


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
    # On a verified call after the first: the profile asks to say it is a debt collector.
    later_disclosure: bool = False


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
    # Every <Pay> this call was sent to, by the token in its action URL, with its amount:
    # a result is posted with the amount of the <Pay> it answers, whenever it arrives.
    pays: Mapping[str, int] = field(default_factory=dict)

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
            "pays": dict(self.pays),
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
            pays={
                str(token): amount
                for token, amount in dict(data.get("pays") or {}).items()
                if isinstance(amount, int) and not isinstance(amount, bool)
            },
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
    # A locked account is asked for its digits like any other: whether it is locked, like
    # whether the details are right, is only ever told together with the digits.
    state = state.to(VERIFY, language=account.language, account_id=account.account_id)
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
    key = heard.digits[:1] if heard.digits else _key(heard)  # speech only if heard clearly
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
    """Any account number goes on to the digits: an existing, a missing and a locked account
    sound the same here, so the line is no oracle of which numbers exist."""
    if not heard.digits:
        return _retry(
            state, heard, facts, (Say("enter_account"),), max_digits=None, finish_on_key="#"
        )
    account = facts.account
    state = state.to(
        VERIFY,
        account_id=account.account_id if account is not None else None,
        pending={"keyed_account": True},
    )
    return _ask(state, (Say("enter_verify"),), VERIFY, max_digits=None, finish_on_key="#")


def _verify(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = facts.account
    if heard.empty:
        return _retry(
            state, heard, facts, (Say("enter_verify"),), max_digits=None, finish_on_key="#"
        )
    if account is None or not checkable(account):
        # A missing or locked account fails like wrong digits, and nothing is checked.
        return _verify_failed(state, facts, ())
    if facts.digits_match:
        verified = state.to(MENU, verified=True, verify_failures=0, pending={})
        says = []
        if facts.first_disclosure:
            says.append(Say("disclosure_first", {"bank": facts.bank}))
        elif facts.later_disclosure:
            says.append(Say("disclosure_later", {"bank": facts.bank}))
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
    effects: tuple[Effect, ...] = (RecordVerification(False),)
    if account.failures_last_24h + 1 >= LOCK_AFTER_FAILURES_IN_24H:
        effects += (LockSelfService(),)
    return _verify_failed(state, facts, effects)


def checkable(account: AccountFacts) -> bool:
    """May digits be checked for this account now? Not once it is locked, nor once the
    failures of the last 24 hours reach the limit (however many calls arrive at once: the
    service counts them under the account's row lock)."""
    return not account.locked and account.failures_last_24h < LOCK_AFTER_FAILURES_IN_24H


def _verify_failed(state: CallState, facts: Facts, effects: tuple[Effect, ...]) -> Outcome:
    """One wording for every failure: wrong digits, an unknown account, a locked one."""
    failures = state.verify_failures + 1
    if failures >= MAX_VERIFY_FAILURES_PER_CALL:
        ended = state.to(VERIFY, verify_failures=failures, retries=state.retries, pending={})
        return _transfer_or_goodbye(ended, facts, (Say("too_many_attempts"),), effects)
    if state.pending.get("keyed_account"):
        # The caller keyed an account number: either it or the digits may be wrong.
        return Outcome(
            _asking(
                (Say("verify_failed"), Say("enter_account")),
                ACCOUNT,
                max_digits=None,
                finish_on_key="#",
            ),
            state.to(ACCOUNT, verify_failures=failures, account_id=None, pending={}),
            effects,
        )
    return Outcome(
        _asking(
            (Say("verify_failed"), Say("enter_verify")), VERIFY, max_digits=None, finish_on_key="#"
        ),
        state.to(VERIFY, verify_failures=failures, retries=state.retries),
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
        balance = (
            Say("balance", {"balance": account.balance.spoken})
            if account.balance.minor > 0
            else Say("no_balance")
        )
        says = [balance, _minimum_due_say(account, facts)]
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
        if account.balance.minor <= 0:
            return _menu(state.to(MENU, intent="payment"), facts, (Say("pay_nothing_owed"),))
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
            speech_menu="optout",
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
    if key in PAY_CHOICES:
        amount = _amount_for(PAY_CHOICES[key], account)
        if amount.minor <= 0:
            return _pay_menu(state, account, (Say("pay_nothing_due"),))
        return _confirm_payment(state, amount, PAY_CHOICES[key])
    return _retry(state, heard, facts, _pay_menu_says(account))


def _amount_for(choice: str, account: AccountFacts) -> Money:
    """What a pay-menu choice comes to on the account as it is now."""
    amounts = {"minimum": account.minimum_due, "past-due": account.past_due}
    amount = amounts.get(choice, account.balance)
    # Never more than is owed, whatever the file said about the minimum or past due.
    return amount if amount.minor <= account.balance.minor else account.balance


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
    return _confirm_payment(state, Money(cents, facts.speak_money), "other")


def _confirm_payment(
    state: CallState, amount: Money, choice: str, before: Sequence[Say] = ()
) -> Outcome:
    pending = {"amount_minor": amount.minor, "amount_spoken": amount.spoken, "choice": choice}
    return _ask(
        state.to(PAY_CONFIRM, pending=pending, retries=0),
        (*before, Say("pay_confirm", {"amount": amount.spoken})),
        PAY_CONFIRM,
        speech_menu="confirm",
    )


def _pay_confirm(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    key = _key(heard)
    if key == "1":
        return _recheck_and_pay(state, account, facts)
    if key == "2":
        return _pay_menu(state.to(PAY_CHOICE, pending={}), account)
    return _retry(
        state,
        heard,
        facts,
        (Say("pay_confirm", {"amount": str(state.pending.get("amount_spoken", ""))}),),
        speech_menu="confirm",
    )


def _recheck_and_pay(state: CallState, account: AccountFacts, facts: Facts) -> Outcome:
    """The caller confirmed: check the amount against the account as it is now, not as it
    was when quoted (another call, or the bank's file, may have changed it meanwhile)."""
    quoted = int(state.pending.get("amount_minor") or 0)
    choice = str(state.pending.get("choice") or "other")
    if account.balance.minor <= 0:
        return _menu(state.to(MENU, pending={}), facts, (Say("pay_nothing_owed"),))
    if choice == "other":
        if quoted > account.balance.minor:
            return _ask(
                state.to(PAY_AMOUNT, pending={}),
                (
                    Say("pay_amount_changed"),
                    Say("pay_amount_too_large", {"balance": account.balance.spoken}),
                    Say("pay_enter_amount"),
                ),
                PAY_AMOUNT,
                max_digits=None,
                finish_on_key="#",
                timeout=10,
            )
        return _pay(state, account)
    current = _amount_for(choice, account)
    if current.minor <= 0:
        return _pay_menu(state.to(PAY_CHOICE, pending={}), account, (Say("pay_amount_changed"),))
    if current.minor != quoted:
        return _confirm_payment(state, current, choice, (Say("pay_amount_changed"),))
    return _pay(state, account)


def _pay(state: CallState, account: AccountFacts) -> Outcome:
    """Send the caller to <Pay> for the pending amount, under a token of its own."""
    minor = int(state.pending.get("amount_minor", 0))
    token = str(len(state.pays) + 1)
    major = str(to_major(minor, account.currency))
    return Outcome(
        Turn((Say("pay_instructions"),), Pay(minor, account.currency, major, token)),
        state.to(
            PAY_RESULT, pending={**state.pending, "pay": token}, pays={**state.pays, token: minor}
        ),
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
        return _recheck_and_pay(state, account, facts)
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
        amount = int(state.pending["amount_minor"])
        if amount > account.balance.minor:
            # The balance fell since the amount was given (a payment meanwhile): ask again.
            return _ask(
                state.to(PROMISE_AMOUNT, pending={}),
                (
                    Say("pay_amount_changed"),
                    Say("pay_amount_too_large", {"balance": account.balance.spoken}),
                    Say("promise_amount", {"minimum_due": account.minimum_due.spoken}),
                ),
                PROMISE_AMOUNT,
                max_digits=None,
                finish_on_key="#",
                timeout=10,
            )
        effect = SavePromise(amount, date)
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
        return _confirm_plan(state, options[key], facts)
    return _retry(state, heard, facts, _plan_offers(account))


def _confirm_plan(
    state: CallState, option: PlanOption, facts: Facts, before: Sequence[Say] = ()
) -> Outcome:
    pending = {
        "count": option.count,
        "instalment_minor": option.instalment.minor,
        "instalment_spoken": option.instalment.spoken,
        "last_spoken": option.last.spoken if option.last else "",
        "start": _next_month(facts.today).isoformat(),
    }
    return _ask(
        state.to(PLAN_CONFIRM, pending=pending, retries=0),
        (*before, _plan_confirm_prompt(pending, facts)),
        PLAN_CONFIRM,
        speech_menu="confirm",
    )


def _plan_confirm(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    account = _require_account(facts)
    key = _key(heard)
    if key == "1":
        # The plan as offered now: the balance may have changed since it was read back.
        count = int(state.pending["count"])
        option = next((o for o in account.plan_options if o.count == count), None)
        if option is None:
            return _menu(state.to(MENU, pending={}), facts, (Say("plan_none"),))
        if option.instalment.minor != int(state.pending["instalment_minor"]):
            return _confirm_plan(state, option, facts, (Say("pay_amount_changed"),))
        effect = SavePlan(
            count, option.instalment.minor, dt.date.fromisoformat(str(state.pending["start"]))
        )
        return _menu(state.to(MENU, pending={}), facts, (Say("plan_saved"),), effects=(effect,))
    if key == "2":
        return _ask(state.to(PLAN_CHOICE, pending={}), _plan_offers(account), PLAN_CHOICE)
    return _retry(
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
            (*says, _case_next_say(facts)),
            CASE_NEXT,
            effects=(OpenCase(kind),),
        )
    return _retry(state, heard, facts, (Say("cases_menu"),))


def _case_next_say(facts: Facts) -> Say:
    # After hours no agent is offered: the caller would only hear that none is available.
    return Say("case_next" if facts.agents_open else "case_next_closed")


def _case_next(state: CallState, heard: Heard, facts: Facts) -> Outcome:
    key = heard.digits[:1]
    if key == "1":
        return _agent(state, facts)
    if key == "2":
        return _menu(state.to(MENU), facts)
    return _retry(state, heard, facts, (_case_next_say(facts),))


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
        speech_menu="optout",
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
    """The pay menu, offering only choices that come to something (no "$0.00" choice)."""
    offers = tuple(
        Say(f"pay_option_{choice.replace('-', '_')}", {"amount": amount.spoken, "key": key})
        for key, choice in PAY_CHOICES.items()
        if (amount := _amount_for(choice, account)).minor > 0
    )
    return (*offers, Say("pay_option_other"), Say("go_back"))


def _minimum_due_say(account: AccountFacts, facts: Facts) -> Say:
    """The minimum payment and its date: nothing if none is due; "was due" once past."""
    if account.minimum_due.minor <= 0:
        return Say("no_minimum_due")
    params = {
        "minimum_due": account.minimum_due.spoken,
        "due_date": facts.speak_date(account.due_date),
    }
    return Say("minimum_due" if account.due_date >= facts.today else "minimum_was_due", params)


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
    elif heard.speech and heard.confidence is not None and heard.confidence < LOW_CONFIDENCE:
        sorry = Say("low_confidence")
    else:
        sorry = Say("not_understood")
    says = (sorry, *prompts) if apology else tuple(prompts)
    return _ask(state.to(state.step, retries=state.retries + 1), says, state.step, **options)


def _offer_agent(state: CallState, facts: Facts) -> Outcome:
    # "Let me connect you" only when someone can take the call; after hours the caller
    # hears straight away that agents are not available (and is offered a callback).
    return _agent(state, facts, (Say("offer_agent"),) if facts.agents_open else ())


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


def plan_instalments(balance_minor: int, count: int) -> tuple[int, int] | None:
    """(each instalment, the last one) for a plan of `count` over the balance: the others
    rounded up, the last taking what is left; None if nothing would be left for it."""
    instalment = -(-balance_minor // count)  # ceiling, in integers
    last = balance_minor - instalment * (count - 1)
    return (instalment, last) if last > 0 else None


def _next_month(today: dt.date) -> dt.date:
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return dt.date(year, month, min(today.day, 28))
