"""How an outbound call must be placed for the dialer's webhooks to carry it: the one
interface between placing calls (the dialer's tick) and the call itself (dialer.web).

Pure: no Flask, no database. The tick calls `call_request(...)` for a claimed attempt and
hands the result to `CallGateway.place_call`; nothing else about the URLs is its concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from telephony.gateway import CallRequest

# The blueprint's prefix and routes (dialer.web registers them under this prefix).
PREFIX = "/dialer"
ANSWER_PATH = f"{PREFIX}/answer"
STATUS_PATH = f"{PREFIX}/status"
# Every event Twilio can report for a call: the attempt's status follows each.
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
# Synchronous detection that waits for a machine's greeting to end, so that the answer URL
# is fetched after the beep and the voicemail is heard whole; a person is told apart in
# about 2.5 s of their first words.
MACHINE_DETECTION = "DetectMessageEnd"
MACHINE_DETECTION_TIMEOUT_S = 30
RING_TIMEOUT_S = 30


@dataclass(frozen=True)
class CallUrls:
    """What the carrier must be given for one attempt (absolute URLs)."""

    url: str  # the answer URL: fetched once the call is answered (and AMD decided)
    status_callback: str
    status_events: tuple[str, ...] = STATUS_EVENTS
    machine_detection: str = MACHINE_DETECTION
    machine_detection_timeout: int = MACHINE_DETECTION_TIMEOUT_S


def attempt_query(attempt_id: int) -> str:
    return urlencode({"attempt": str(attempt_id)})


def call_urls(public_base_url: str, attempt_id: int) -> CallUrls:
    """The URLs and options to place attempt `attempt_id` with.

    `public_base_url` is Settings.public_base_url (what Twilio signs; no trailing slash
    needed). Both URLs carry `?attempt=<id>`: the signature covers the query, so a request
    cannot be pointed at another attempt, and a callback that arrives before the CallSid
    was stored on the attempt still finds it.
    """
    base = public_base_url.rstrip("/")
    query = attempt_query(attempt_id)
    return CallUrls(
        url=f"{base}{ANSWER_PATH}?{query}", status_callback=f"{base}{STATUS_PATH}?{query}"
    )


def call_request(
    public_base_url: str,
    attempt_id: int,
    *,
    to: str,
    from_: str,
    timeout_seconds: int = RING_TIMEOUT_S,
) -> CallRequest:
    """The CallRequest to place attempt `attempt_id` to `to` (E.164) from `from_` (one of
    Settings.caller_ids), ready for `CallGateway.place_call`.

    It sets: Url = {base}/dialer/answer?attempt=ID, StatusCallback =
    {base}/dialer/status?attempt=ID (POST), StatusCallbackEvent = initiated ringing
    answered completed, MachineDetection = DetectMessageEnd (synchronous, timeout 30 s),
    Timeout = `timeout_seconds` of ringing. The caller (the tick) stores the returned CallSid
    in ContactAttempt.provider_call_sid; the webhooks adopt it themselves if the call is
    answered first.
    """
    urls = call_urls(public_base_url, attempt_id)
    return CallRequest(
        to=to,
        from_=from_,
        url=urls.url,
        status_callback=urls.status_callback,
        status_events=urls.status_events,
        timeout_seconds=timeout_seconds,
        machine_detection=urls.machine_detection,
        machine_detection_timeout=urls.machine_detection_timeout,
    )
