"""What a call should do next, as plain data: the flows decide it, telephony.twiml renders it.

Prompts are catalogue keys with their values, never text, so wording and language stay in
prompts/ and the one builder sets voice and language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Say:
    key: str
    params: Mapping[str, str] = field(default_factory=dict)
    # Speak in this language instead of the call's (the bilingual language menu).
    language: str | None = None


@dataclass(frozen=True)
class Ask:
    """Say the prompts inside a <Gather> and send the answer to `step`."""

    step: str
    max_digits: int | None = 1
    finish_on_key: str = ""
    speech_menu: str | None = None  # also accept speech, mapped by this catalogue menu
    timeout: int = 6


@dataclass(frozen=True)
class Enqueue:
    queue: str


@dataclass(frozen=True)
class Pay:
    amount_minor: int
    currency: str
    amount_major: str  # "12.34" (the currency's own precision): what <Pay chargeAmount> takes
    # Names this <Pay> in its action URL (which the signature covers), so its result is
    # never taken for another <Pay>'s in the same call.
    token: str = ""


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Wait:
    """Silence for a while (a queue's hold document, which Twilio then requests again)."""

    seconds: int


@dataclass(frozen=True)
class Dial:
    """Ring a number and bridge the call to it when answered (an agent taking a caller
    from the queue: the agent's own phone). What happens after is the Links' dial_action;
    the number's answer is announced to the Links' dial_answered before the bridge."""

    number: str
    caller_id: str | None = None
    timeout: int = 20


Next = Ask | Enqueue | Pay | Hangup | Wait | Dial


@dataclass(frozen=True)
class Turn:
    """Prompts to say, then what happens.

    `preamble` is said first and in full (a caller cannot key through it: notices);
    `start_recording` starts recording the call after the preamble, before the prompts.
    """

    says: tuple[Say, ...]
    then: Next
    preamble: tuple[Say, ...] = ()
    start_recording: bool = False
