"""What a call flow asks to be done, as plain values; flows.carry_out does it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hotline.enums import CaseKind


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
    kind: CaseKind


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
class MarkWrongParty:
    """Whoever answered an outbound call is not the cardholder: review the number."""


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
    | MarkWrongParty
    | PauseRecording
    | ResumeRecording
)
