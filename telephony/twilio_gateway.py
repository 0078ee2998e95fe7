"""CallGateway on the `twilio` SDK: the only module that imports Twilio's REST client.

The SDK has no base-URL setting, so `BaseUrlHttpClient` swaps scheme and host on every
request after the SDK has built it (and after edge/region rewriting), leaving path, query,
auth and headers as the SDK made them. With the default base URL it changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.rest.api.v2010.account.call import CallInstance

from telephony.gateway import CallGateway, CallInfo, CallRequest, GatewayError, MessageInfo

TWILIO_API = "https://api.twilio.com"
# The SDK waits forever by default; a hung carrier must not hang a dialer tick.
REQUEST_TIMEOUT_SECONDS = 10.0
# Calls to one number within a claim's window: a page or two at most.
LIST_PAGE_SIZE = 50
_T = TypeVar("_T")


class BaseUrlHttpClient(TwilioHttpClient):
    """Sends the SDK's requests to another scheme and host (the simulator)."""

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        parts = urlsplit(base_url)
        self.scheme, self.netloc = parts.scheme, parts.netloc

    # twilio's own TwilioHttpClient names this `url` where its base HttpClient says `uri`, so
    # no override matches both; the SDK passes it by position.
    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> Response:
        parts = urlsplit(url)
        rewritten = urlunsplit((self.scheme, self.netloc, parts.path, parts.query, ""))
        return super().request(method, rewritten, *args, **kwargs)


def make_client(
    account_sid: str,
    auth_token: str,
    base_url: str = TWILIO_API,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> Client:
    http_client = BaseUrlHttpClient(base_url, timeout)
    return Client(account_sid, auth_token, http_client=http_client)


class TwilioGateway(CallGateway):
    def __init__(self, client: Client) -> None:
        self.client = client

    @classmethod
    def from_settings(
        cls,
        account_sid: str,
        auth_token: str,
        base_url: str,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> TwilioGateway:
        """`timeout`: seconds to connect, and again to read the answer, per request."""
        return cls(make_client(account_sid, auth_token, base_url, timeout))

    def place_call(self, request: CallRequest) -> CallInfo:
        options: dict[str, Any] = {
            "to": request.to,
            "from_": request.from_,
            "url": request.url,
            "timeout": request.timeout_seconds,
        }
        if request.status_callback:
            options["status_callback"] = request.status_callback
            options["status_callback_event"] = list(request.status_events)
        if request.machine_detection:
            options["machine_detection"] = request.machine_detection
            if request.machine_detection_timeout:
                options["machine_detection_timeout"] = request.machine_detection_timeout
            if request.async_amd_callback:
                options["async_amd"] = "true"
                options["async_amd_status_callback"] = request.async_amd_callback
        if request.record:
            options["record"] = True
        if request.time_limit_seconds:
            options["time_limit"] = request.time_limit_seconds
        return _call_info(self._do("create", lambda: self.client.calls.create(**options)))

    def fetch(self, sid: str) -> CallInfo:
        return _call_info(self._do("fetch", lambda: self.client.calls(sid).fetch()))

    def list_calls(self, to: str, since: dt.datetime) -> list[CallInfo]:
        # Filtered by To on the carrier, by creation time here: Twilio's StartTime filters
        # leave out calls still queued (no start time yet), which is exactly what a dialer
        # killed right after placing would be looking for. Newest first, so reading stops
        # at the first call older than `since`; date_created has whole seconds only.
        floor = since.astimezone(dt.UTC).replace(microsecond=0)
        found: list[CallInfo] = []

        def read() -> None:
            for call in self.client.calls.stream(to=to, page_size=LIST_PAGE_SIZE):
                created = call.date_created
                if created is not None and created < floor:
                    break
                found.append(_call_info(call))

        self._do("list", read)
        return [c for c in reversed(found) if c.direction.startswith("outbound")]

    def redirect(self, sid: str, url: str) -> CallInfo:
        return _call_info(self._do("update", lambda: self.client.calls(sid).update(url=url)))

    def hangup(self, sid: str) -> CallInfo:
        current = self.fetch(sid)
        status = "canceled" if current.status in ("queued", "ringing") else "completed"
        return _call_info(self._do("update", lambda: self.client.calls(sid).update(status=status)))

    def send_sms(self, to: str, from_: str, body: str) -> MessageInfo:
        message = self._do(
            "create", lambda: self.client.messages.create(to=to, from_=from_, body=body)
        )
        # Read as _call_info reads a call: twilio types every field of a response Optional.
        return MessageInfo(
            sid=message.sid or "", status=str(message.status), to=to, from_=from_, body=body
        )

    def list_messages(self, to: str, since: dt.datetime) -> list[MessageInfo]:
        # As list_calls: by To on the carrier, by creation time here (DateSent leaves out
        # a message still queued), newest first so reading stops at the first older one.
        floor = since.astimezone(dt.UTC).replace(microsecond=0)
        found: list[MessageInfo] = []

        def read() -> None:
            for message in self.client.messages.stream(to=to, page_size=LIST_PAGE_SIZE):
                created = message.date_created
                if created is not None and created < floor:
                    break
                found.append(
                    MessageInfo(
                        sid=message.sid or "",
                        status=str(message.status),
                        to=message.to or "",
                        from_=message.from_ or "",
                        body=message.body or "",
                        direction=str(message.direction),
                        created_at=created,
                    )
                )

        self._do("list", read)
        return [m for m in reversed(found) if m.direction.startswith("outbound")]

    def pause_recording(self, sid: str) -> str:
        return self._set_recording(sid, "paused")

    def resume_recording(self, sid: str) -> str:
        return self._set_recording(sid, "in-progress")

    def _set_recording(self, sid: str, status: str) -> str:
        # Twilio.CURRENT: the recording running on the call, whoever started it.
        current = self.client.calls(sid).recordings("Twilio.CURRENT")
        options = {"pause_behavior": "skip"} if status == "paused" else {}
        recording = self._do(
            "update",
            # twilio annotates status as an instance of RecordingInstance.Status, a plain
            # class of str constants; the API takes the str.
            lambda: current.update(status=status, **options),  # type: ignore[arg-type]
        )
        return str(recording.status)

    @staticmethod
    def _do(action: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except TwilioRestException as exc:
            raise GatewayError(
                f"carrier refused to {action}: {exc.msg}", code=exc.code, status=exc.status
            ) from None
        except (TwilioException, RequestException, OSError, ValueError) as exc:
            # Not an answer in Twilio's error shape: the carrier unreachable, a body that is
            # not JSON (a proxy's HTML page), a timeout. The port promises GatewayError for
            # every refusal, so callers need to know nothing of the SDK's exceptions.
            raise GatewayError(
                f"carrier did not answer the request to {action}: {type(exc).__name__}",
                code=None,
                status=None,
            ) from exc


def _call_info(call: CallInstance) -> CallInfo:
    return CallInfo(
        sid=call.sid or "",
        status=str(call.status),
        to=call.to or "",
        from_=call._from or "",
        direction=call.direction or "",
        answered_by=call.answered_by,
        duration_seconds=int(call.duration) if call.duration else None,
        start_time=call.start_time,
        end_time=call.end_time,
        queue_time_ms=int(call.queue_time) if call.queue_time else None,
        created_at=call.date_created,
    )
