"""POST Calls.json's optional parameters, checked as Twilio checks them.

Pure functions of the request form (and of the callee's script, for refusals): the carrier
turns what they return into a SimCall, or answers the ApiError they raise. Each code is
the one Twilio's error dictionary gives for that parameter; where the dictionary has no
code of its own for a parameter (TimeLimit, FallbackMethod, StatusCallbackMethod), the
Calls resource's catch-all 21200 is used, and docs/simulator.md says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from simulator.callees import Script
from simulator.carrier.records import ApiError

METHODS = frozenset({"GET", "POST"})
STATUS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
MACHINE_DETECTION = frozenset({"Enable", "DetectMessageEnd"})
# Twilio's SendDigits: keys 0-9 A-D * #, w (half a second's pause), W (a second's); 32 at most.
SEND_DIGITS = re.compile(r"[0-9A-D*#wW]{1,32}")
MAX_RING_SECONDS = 600  # Timeout beyond this is cut to it, as Twilio documents
MAX_CALL_SECONDS = 86400  # TimeLimit: 4 h by default, 24 h the most any account may have
MACHINE_DETECTION_TIMEOUT = range(3, 61)  # seconds
# The AMD thresholds Twilio accepts (milliseconds) and their defaults.
AMD_THRESHOLDS = {
    "MachineDetectionSpeechThreshold": (range(1000, 6001), 2400),
    "MachineDetectionSpeechEndThreshold": (range(500, 5001), 1200),
    "MachineDetectionSilenceTimeout": (range(2000, 10001), 5000),
}

# How long each key of SendDigits takes on the line: a tone, or the pause it asks for.
KEY_SECONDS = 0.2
PAUSE_SECONDS = {"w": 0.5, "W": 1.0}


@dataclass(frozen=True)
class CallOptions:
    """The create form's optional parameters, validated, with Twilio's defaults."""

    method: str = "POST"
    fallback_method: str = "POST"
    status_callback_method: str = "POST"
    async_amd_method: str = "POST"
    status_events: frozenset[str] = frozenset({"completed"})
    timeout: int = 60
    time_limit: int = 14400
    machine_detection: str | None = None
    machine_detection_timeout: int = 30
    machine_detection_speech_threshold: int = 2400
    machine_detection_speech_end_threshold: int = 1200
    machine_detection_silence_timeout: int = 5000
    send_digits: str | None = None


def call_options(form: Mapping[str, list[str]]) -> CallOptions:
    """Validate the optional parameters of POST Calls.json, or raise Twilio's ApiError."""

    def one(name: str) -> str | None:
        values = form.get(name)
        return values[0] if values else None  # Twilio takes the first of repeated keys

    method = _method(one("Method"), 21209, "Method")
    fallback_method = _method(one("FallbackMethod"), 21200, "FallbackMethod")
    callback_method = _method(one("StatusCallbackMethod"), 21200, "StatusCallbackMethod")
    amd_method = _method(one("AsyncAmdStatusCallbackMethod"), 21200, "AsyncAmdStatusCallbackMethod")
    events = frozenset(e for value in form.get("StatusCallbackEvent", []) for e in value.split())
    if events - STATUS_EVENTS:
        unknown = ", ".join(sorted(events - STATUS_EVENTS))
        raise ApiError(400, 21626, f"Invalid StatusCallbackEvent: {unknown}")
    timeout = _whole(one("Timeout"), 60, 21208, "Timeout", minimum=1)
    time_limit = _whole(one("TimeLimit"), 14400, 21200, "TimeLimit", minimum=1)
    if time_limit > MAX_CALL_SECONDS:
        raise ApiError(400, 21200, f"TimeLimit {time_limit} is more than {MAX_CALL_SECONDS} s")
    machine_detection = one("MachineDetection") or None
    if machine_detection is not None and machine_detection not in MACHINE_DETECTION:
        raise ApiError(
            400,
            21234,
            f"Invalid MachineDetection {machine_detection!r}: Enable or DetectMessageEnd",
        )
    detection_timeout = _whole(
        one("MachineDetectionTimeout"), 30, 21234, "MachineDetectionTimeout", minimum=None
    )
    if detection_timeout not in MACHINE_DETECTION_TIMEOUT:
        raise ApiError(
            400, 21234, f"MachineDetectionTimeout {detection_timeout} is not between 3 and 60"
        )
    thresholds = {}
    for name, (allowed, default) in AMD_THRESHOLDS.items():
        value = _whole(one(name), default, 21234, name, minimum=None)
        if value not in allowed:
            raise ApiError(
                400, 21234, f"{name} {value} is not between {allowed.start} and {allowed.stop - 1}"
            )
        thresholds[name] = value
    send_digits = one("SendDigits") or None
    if send_digits is not None and not SEND_DIGITS.fullmatch(send_digits):
        raise ApiError(400, 21206, f"Invalid SendDigits: {send_digits}")
    if send_digits is not None:
        machine_detection = None  # Twilio ignores MachineDetection when SendDigits is given
    return CallOptions(
        method=method,
        fallback_method=fallback_method,
        status_callback_method=callback_method,
        async_amd_method=amd_method,
        status_events=events or frozenset({"completed"}),
        timeout=min(timeout, MAX_RING_SECONDS),
        time_limit=time_limit,
        machine_detection=machine_detection,
        machine_detection_timeout=detection_timeout,
        machine_detection_speech_threshold=thresholds["MachineDetectionSpeechThreshold"],
        machine_detection_speech_end_threshold=thresholds["MachineDetectionSpeechEndThreshold"],
        machine_detection_silence_timeout=thresholds["MachineDetectionSilenceTimeout"],
        send_digits=send_digits,
    )


def refusal(to: str, script: Script) -> ApiError | None:
    """Twilio's answer when it will not call `to` at all (the script says why), else None."""
    if script.refuse == "geo-permissions":
        return ApiError(
            400,
            21215,
            f"Account not authorized to call {to}. Perhaps you need to enable some "
            "international permissions: https://www.twilio.com/console/voice/calls/geo-permissions",
        )
    if script.refuse == "blocked":
        return ApiError(400, 21216, f"Call blocked by Twilio: the destination {to} is blocked")
    return None


def digit_timing(digits: str) -> list[tuple[str, float]]:
    """SendDigits as the line carries it: each key or pause with the seconds it takes."""
    return [(key, PAUSE_SECONDS.get(key, KEY_SECONDS)) for key in digits]


def _method(value: str | None, code: int, name: str) -> str:
    method = (value or "POST").upper()
    if method not in METHODS:
        raise ApiError(400, code, f"Invalid {name} {value!r}: GET or POST")
    return method


def _whole(value: str | None, default: int, code: int, name: str, *, minimum: int | None) -> int:
    """A whole number of seconds (Twilio refuses '1.5', 'abc', and anything below minimum)."""
    if value is None or value == "":
        return default
    if not re.fullmatch(r"-?[0-9]+", value.strip()):
        raise ApiError(400, code, f"Invalid {name} {value!r}: a whole number of seconds")
    number = int(value)
    if minimum is not None and number < minimum:
        raise ApiError(400, code, f"Invalid {name} {value!r}: must be at least {minimum}")
    return number
