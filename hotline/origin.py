"""Who or what acts on an account, so every service records it the same way."""

from __future__ import annotations

from dataclasses import dataclass

from hotline.enums import Source


@dataclass(frozen=True)
class Origin:
    """The line or person acting (the IVR, the dialer, an agent) and the call, if any.

    `source` is stored on what the action creates (a payment, a promise, a flag), `actor`
    in the audit trail, `call_sid` on both.
    """

    source: Source
    actor: str
    call_sid: str | None = None

    @classmethod
    def ivr(cls, call_sid: str) -> Origin:
        return cls(Source.IVR, "ivr", call_sid)

    @classmethod
    def dialer(cls, call_sid: str) -> Origin:
        return cls(Source.DIALER, "dialer", call_sid)
