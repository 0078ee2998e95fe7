"""Signed webhook requests to the app, made as Twilio makes them.

Twilio's base parameters, the X-Twilio-Signature, the I-Twilio-Idempotency-Token, the
connection settings and retries of Twilio's URL-fragment overrides (connection.py; by
default a 5 s connect and 15 s read timeout, one retry of a failed connection), the
per-call request budget (a TwiML loop ends at 400 requests), and the transcript note for
each attempt.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import phonenumbers
import requests

from simulator.carrier import connection, delivery
from simulator.carrier.records import API_VERSION, Entry, SimCall, _CallOver
from simulator.carrier.state import CarrierState
from simulator.signing import signature

log = logging.getLogger(__name__)

# A call that keeps requesting TwiML this often is looping; Twilio would bill it for hours.
MAX_REQUESTS_PER_CALL = 400


class Webhooks(CarrierState):
    """Requests to the app, and the call's transcript they are noted in."""

    def _base_params(self, call: SimCall, status: str) -> dict[str, str]:
        return {
            "CallSid": call.sid,
            "AccountSid": call.account_sid,
            "From": call.from_,
            "To": call.to,
            "Caller": call.from_,
            "Called": call.to,
            "CallStatus": status,
            "ApiVersion": API_VERSION,
            "Direction": call.direction,
            "FromCountry": _country(call.from_),
            "ToCountry": _country(call.to),
            "FromCity": "",
            "FromState": "",
            "FromZip": "",
            "ToCity": "",
            "ToState": "",
            "ToZip": "",
            **({"ParentCallSid": call.parent_call_sid} if call.parent_call_sid else {}),
        }

    def _request(
        self,
        call: SimCall,
        url: str,
        method: str,
        params: Mapping[str, str],
        *,
        kind: str,
        label: str | None = None,
    ) -> requests.Response | None:
        """One signed webhook request, as Twilio makes it; logged in the transcript."""
        self._count_request(call)
        if self.clock.virtual and not self.callback_delivery.on_time:
            # Callbacks held back on the carrier's clock that are due by now have arrived.
            self._callbacks.release(call.at(), call.sid)
        return self._send(call, url, method, params, kind=kind, label=label, token=new_token())

    def _count_request(self, call: SimCall) -> None:
        """The per-call budget: a call making too many requests is looping, and is ended."""
        call.requests_made += 1
        if call.requests_made > MAX_REQUESTS_PER_CALL:
            self._note(
                call,
                "error",
                {"code": 12400, "message": "call made too many requests (a TwiML loop?)"},
            )
            raise _CallOver

    def _send(
        self,
        call: SimCall,
        url: str,
        method: str,
        params: Mapping[str, str],
        *,
        kind: str,
        label: str | None,
        token: str,
        delivery: Mapping[str, Any] | None = None,
    ) -> requests.Response | None:
        """Attempt one request under its connection settings; the answer of the last attempt.

        The URL's fragment (Twilio's connection overrides) is read and left out of both the
        request and the signature: a receiver can only check the signature against the URL
        it was asked for. Every attempt carries the same signature and the same
        I-Twilio-Idempotency-Token, so the app can tell a retry from a new event.
        """
        target, fragment = connection.split(url)
        request_detail = {
            "method": method,
            "url": target,
            "label": label,
            "params": _shown(params),
            "overrides": fragment or None,
            **(delivery or {}),
        }
        try:
            settings = connection.settings_for(fragment)
        except connection.OverrideError as exc:
            self._note(call, kind, {**request_detail, "error": f"{exc.code}"})
            self._note(call, "error", {"code": exc.code, "message": str(exc)})
            return None
        items = sorted(params.items())
        if method == "GET":
            separator = "&" if "?" in target else "?"
            requested = target + separator + urlencode(items)
            sign_params: list[tuple[str, str]] = []
        else:
            requested, sign_params = target, items
        headers = {
            "X-Twilio-Signature": signature(self.auth_token, requested, sign_params),
            "I-Twilio-Idempotency-Token": token,
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
        }
        deadline = time.monotonic() + settings.total_time_ms / 1000
        attempt = 0
        while True:
            attempt += 1
            remaining = max(0.001, deadline - time.monotonic())
            timeout = (
                min(settings.connect_timeout_ms / 1000, remaining),
                min(settings.read_timeout_ms / 1000, remaining),
            )
            started = time.perf_counter()
            response: requests.Response | None = None
            failure: str | None
            try:
                if method == "GET":
                    response = self.http.get(
                        requested, headers=headers, timeout=timeout, allow_redirects=True
                    )
                else:
                    response = self.http.post(
                        requested,
                        data=items,
                        headers=headers,
                        timeout=timeout,
                        allow_redirects=True,
                    )
            except requests.RequestException as exc:
                failure = connection.exception_failure(exc)
                outcome: dict[str, Any] = {"error": type(exc).__name__}
            else:
                failure = connection.status_failure(response.status_code)
                elapsed_ms = int((time.perf_counter() - started) * 1000)
                outcome = {"status": response.status_code, "ms": elapsed_ms}
            retry = (
                settings.retries(failure)
                and attempt <= settings.retry_count
                and time.monotonic() < deadline
            )
            numbered = {"attempt": attempt} if attempt > 1 or retry else {}
            self._note(call, kind, {**request_detail, **outcome, **numbered})
            if not retry:
                return response

    def _callback(
        self,
        call: SimCall,
        url: str,
        method: str,
        params: Mapping[str, str],
        *,
        label: str,
        key: str,
        answered: Callable[[requests.Response | None], None] | None = None,
        ends_call: bool = False,
    ) -> None:
        """A callback the app answers nothing to: sent now, or scheduled as Twilio may send it.

        In order (the default) it is sent before the call goes on. Chaotic: the seeded
        schedule (delivery.schedule) says when each delivery is made, after the event, and
        whether there is a second one; every delivery has the event's parameters and token.
        `ends_call`: it is the call's final status (a simulation waits for those).
        """
        config = self.callback_delivery
        if not config.chaotic and not config.on_time:
            response = self._request(call, url, method, params, kind="callback", label=label)
            if answered is not None:
                answered(response)
            return
        self._count_request(call)
        call_key = self._callbacks.call_key(call.sid, call.direction, call.from_, call.to)
        delays = delivery.schedule(config, f"{call_key}/{key}")
        token, fired_at = new_token(), call.at()
        for n, delay in enumerate(delays):
            note = {"delivery": "duplicate" if n else "first", "delay_s": round(delay, 3)}
            send = functools.partial(
                self._deliver, call, url, method, dict(params), label, token, note, answered
            )
            due = fired_at + dt.timedelta(seconds=delay)
            self._callbacks.submit(call.sid, due, delay, send, ends_call=ends_call)

    def _deliver(
        self,
        call: SimCall,
        url: str,
        method: str,
        params: Mapping[str, str],
        label: str,
        token: str,
        note: Mapping[str, object],
        answered: Callable[[requests.Response | None], None] | None,
    ) -> None:
        response = self._send(
            call, url, method, params, kind="callback", label=label, token=token, delivery=note
        )
        if answered is not None:
            answered(response)

    def _note(self, call: SimCall, kind: str, detail: Mapping[str, Any]) -> None:
        at = call.at()
        entry = Entry(
            call.t,
            at.isoformat().replace("+00:00", "Z"),
            kind,
            {k: v for k, v in detail.items() if v is not None},
        )
        with self._lock:
            call.transcript.append(entry)
        log.debug("call %s %s %s", call.sid, kind, entry.detail)


# Parameters shown in transcripts: what the app was told, minus the repetitive base set.
_BASE_NAMES = frozenset(
    {
        "AccountSid",
        "ApiVersion",
        "Caller",
        "Called",
        "FromCity",
        "FromState",
        "FromZip",
        "ToCity",
        "ToState",
        "ToZip",
        "FromCountry",
        "ToCountry",
        "Direction",
        "From",
        "To",
        "CallSid",
    }
)


def new_token() -> str:
    """An I-Twilio-Idempotency-Token: one per event, repeated on its retries and duplicates."""
    return str(uuid.uuid4())


def _shown(params: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in _BASE_NAMES}


# Every webhook of a call carries its numbers' countries: each number parsed once, not on
# every request (a twentieth of a rehearsal's TwiML time was parsing the same two numbers).
@functools.lru_cache(maxsize=65536)
def _country(number: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or ""
    except phonenumbers.NumberParseException:
        return ""
