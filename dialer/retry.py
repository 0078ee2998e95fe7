"""What a carrier refusal means for the attempt, and how long to wait before dialing again.

Pure. Twilio's codes (reference/twilio-voice.md): 21211 invalid To, 21214 To cannot be
reached, 13224/13223 an invalid number on <Dial>; 21215 (geographic permission) and 21216
(a number the account may not call) refuse the call for the account, not the number.
"""

from __future__ import annotations

import datetime as dt
import enum

INVALID_NUMBER_CODES = frozenset({21211, 21214, 13223, 13224})
REFUSED_CODES = frozenset({21215, 21216})
BACKOFF_FIRST = dt.timedelta(seconds=30)
BACKOFF_MAX = dt.timedelta(minutes=30)


class Refusal(enum.StrEnum):
    # The number is no good: the attempt fails and the phone is marked bad.
    INVALID_NUMBER = "invalid-number"
    # The carrier will never place this call for this account: the attempt fails.
    REFUSED = "refused"
    # The carrier answered that it did not place the call (429, another 4xx): try later.
    RETRY = "retry"
    # No answer, or a 5xx: the call may exist. Ask the carrier before dialing again.
    UNKNOWN = "unknown"


def classify(code: int | None, status: int | None) -> Refusal:
    """The meaning of a GatewayError's carrier code and HTTP status."""
    if code in INVALID_NUMBER_CODES:
        return Refusal.INVALID_NUMBER
    if code in REFUSED_CODES:
        return Refusal.REFUSED
    if status is None or status >= 500:
        return Refusal.UNKNOWN
    # 429, and 4xx that are the dialer's own configuration (a caller id the account does
    # not own, credentials): never the callee's fault, so the attempt is kept, not dropped.
    return Refusal.RETRY


def backoff(retries_so_far: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, ... up to 30 min: the wait after the n-th refusal in a row."""
    exponent = min(max(retries_so_far, 0), 16)
    return min(BACKOFF_FIRST * (1 << exponent), BACKOFF_MAX)
