"""What a call flow is told and what it answers: the vocabulary every flow shares.

Pure values: the service reads the request and the database into Heard and Facts; a flow
answers an Outcome (a Turn to render, the new CallState, Effects to carry out).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flows.effects import Effect
from hotline.enums import Step
from hotline.rules import Limits
from telephony.voice import Turn

# The queue callers wait in for an agent, from either line.
AGENT_QUEUE = "collections"


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
    plan_options: tuple[PlanOption, ...]
    has_open_dispute: bool = False


@dataclass(frozen=True)
class Facts:
    """What the service looked up for this turn."""

    bank: str
    agents_open: bool
    today: dt.date  # the caller's local date
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
    limits: Limits = field(default_factory=Limits)
    # On a verified call after the first: the profile asks to say it is a debt collector.
    later_disclosure: bool = False
    # The caller id is a real number (not withheld): only then can calls to it be stopped
    # or a callback be placed to it.
    caller_known: bool = True


@dataclass(frozen=True)
class CallState:
    step: Step = Step.LANGUAGE
    language: str = "en"
    account_id: int | None = None
    verified: bool = False
    verify_failures: int = 0
    retries: int = 0
    pending: Mapping[str, Any] = field(default_factory=dict)
    path: tuple[str, ...] = ()
    intent: str | None = None  # an Intent, or a case kind
    recording: bool = False  # a recording of this call has been started
    # Every <Pay> this call was sent to, by the token in its action URL, with its amount:
    # a result is posted with the amount of the <Pay> it answers, whenever it arrives.
    pays: Mapping[str, int] = field(default_factory=dict)

    def to(self, step: Step, **changes: Any) -> CallState:
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
            step=Step(step)
            if isinstance(step, str) and step in Step.__members__.values()
            else Step.LANGUAGE,
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


REFERENCE = "{reference}"


@dataclass(frozen=True)
class Outcome:
    turn: Turn
    state: CallState
    effects: tuple[Effect, ...] = ()
