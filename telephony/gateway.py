"""The one port through which Hotline places and controls calls.

`TwilioGateway` (telephony.twilio_gateway) implements it with the `twilio` SDK; pointed at
the simulator's base URL it is the very same code path that talks to api.twilio.com.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field


class GatewayError(RuntimeError):
    """The carrier refused a request; `code` is the carrier's error code (e.g. 21211)."""

    def __init__(self, message: str, *, code: int | None, status: int | None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class CallRequest:
    """An outbound call to place. URLs are absolute: the carrier has no base to resolve."""

    to: str
    from_: str
    url: str
    status_callback: str | None = None
    status_events: Sequence[str] = ("initiated", "ringing", "answered", "completed")
    timeout_seconds: int = 30
    # "Enable" or "DetectMessageEnd"; None: no answering-machine detection.
    machine_detection: str | None = None
    machine_detection_timeout: int | None = None
    async_amd_callback: str | None = None
    record: bool = False
    time_limit_seconds: int | None = None


@dataclass(frozen=True)
class CallInfo:
    sid: str
    status: str
    to: str
    from_: str
    direction: str
    answered_by: str | None = None
    duration_seconds: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    queue_time_ms: int | None = None
    # When the carrier created the call (Twilio's date_created, whole seconds).
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class MessageInfo:
    sid: str
    status: str
    to: str
    from_: str
    body: str = field(repr=False)
    direction: str = "outbound-api"
    # When the carrier created the message (Twilio's date_created, whole seconds).
    created_at: dt.datetime | None = None


class CallGateway(abc.ABC):
    """Place, inspect, redirect and end calls; send SMS."""

    @abc.abstractmethod
    def place_call(self, request: CallRequest) -> CallInfo: ...

    @abc.abstractmethod
    def fetch(self, sid: str) -> CallInfo: ...

    @abc.abstractmethod
    def list_calls(self, to: str, since: dt.datetime) -> list[CallInfo]:
        """Outbound calls the account placed to `to` created at or after `since`, oldest
        first: how a dialer that lost a CallSid (killed mid-placement) finds its call."""

    @abc.abstractmethod
    def redirect(self, sid: str, url: str) -> CallInfo: ...

    @abc.abstractmethod
    def hangup(self, sid: str) -> CallInfo:
        """End the call: cancel it if not yet answered, complete it if it is."""

    @abc.abstractmethod
    def send_sms(self, to: str, from_: str, body: str) -> MessageInfo: ...

    @abc.abstractmethod
    def list_messages(self, to: str, since: dt.datetime) -> list[MessageInfo]:
        """Outbound messages the account sent to `to` created at or after `since`, oldest
        first: how a sender that lost a MessageSid (killed mid-send) finds its text."""

    @abc.abstractmethod
    def pause_recording(self, sid: str) -> str:
        """Pause the call's current recording, leaving the gap out of it; its new status."""

    @abc.abstractmethod
    def resume_recording(self, sid: str) -> str:
        """Resume the call's current recording; its new status."""
