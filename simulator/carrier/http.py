"""Signed webhook requests to the app, made as Twilio makes them.

Twilio's base parameters, the X-Twilio-Signature, the 15 s timeout, the per-call request
budget (a TwiML loop ends at 400 requests), and the transcript note for each request.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import phonenumbers
import requests

from simulator.carrier.records import API_VERSION, Entry, SimCall, _CallOver
from simulator.carrier.state import CarrierState
from simulator.signing import signature

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 15.0

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
        call.requests_made += 1
        if call.requests_made > MAX_REQUESTS_PER_CALL:
            self._note(
                call,
                "error",
                {"code": 12400, "message": "call made too many requests (a TwiML loop?)"},
            )
            raise _CallOver
        items = sorted(params.items())
        if method == "GET":
            separator = "&" if "?" in url else "?"
            signed_url = url + separator + urlencode(items)
            sign_params: list[tuple[str, str]] = []
        else:
            signed_url, sign_params = url, items
        headers = {
            "X-Twilio-Signature": signature(self.auth_token, signed_url, sign_params),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
        }
        request_detail = {"method": method, "url": url, "label": label, "params": _shown(params)}
        started = time.perf_counter()
        try:
            if method == "GET":
                response = self.http.get(
                    signed_url,
                    headers=headers,
                    timeout=WEBHOOK_TIMEOUT_SECONDS,
                    allow_redirects=True,
                )
            else:
                response = self.http.post(
                    url,
                    data=items,
                    headers=headers,
                    timeout=WEBHOOK_TIMEOUT_SECONDS,
                    allow_redirects=True,
                )
        except requests.RequestException as exc:
            self._note(call, kind, {**request_detail, "error": type(exc).__name__})
            return None
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        self._note(call, kind, {**request_detail, "status": response.status_code, "ms": elapsed_ms})
        return response

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


def _shown(params: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in _BASE_NAMES}


def _country(number: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or ""
    except phonenumbers.NumberParseException:
        return ""
