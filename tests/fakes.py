"""A fake carrier behind the CallGateway port, for tests that need no simulator.

`FakeCallGateway` implements telephony.gateway.CallGateway method for method (a unit test,
tests/unit/test_fakes.py, holds it to the port's signatures) and keeps what it was asked in
plain lists, so a test asserts what the line did to the call: placed, texted, paused,
resumed, redirected, hung up. A `failing` switch makes a method refuse with GatewayError,
as the carrier would (a recording that cannot be paused, a number it will not call).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

from telephony.gateway import CallGateway, CallInfo, CallRequest, GatewayError, MessageInfo

# The error a refusal carries unless a test gives another: Twilio's "resource not found".
DEFAULT_REFUSAL = GatewayError("carrier refused (fake)", code=20404, status=404)


@dataclass(frozen=True)
class Redirect:
    sid: str
    url: str


class FakeCallGateway(CallGateway):
    """Records every request; answers as a carrier would that accepted it.

    `failing` maps a method's name ("pause_recording", "place_call", ...) to the
    GatewayError it raises instead; a refused request is still recorded in `refused`, not in
    the list of what was done.
    """

    def __init__(self) -> None:
        self.placed: list[CallRequest] = []
        self.fetched: list[str] = []
        self.listed: list[tuple[str, dt.datetime]] = []
        self.redirects: list[Redirect] = []
        self.hangups: list[str] = []
        self.sms: list[MessageInfo] = []
        self.paused: list[str] = []
        self.resumed: list[str] = []
        self.refused: list[tuple[str, str]] = []  # (method, the call SID or number)
        self.failing: dict[str, GatewayError] = {}
        self.calls: dict[str, CallInfo] = {}
        self._sids = itertools.count(1)
        # What the fake carrier says the time is when it creates a call (tests on a
        # virtual clock set it); None: the call has no creation time.
        self.now: Callable[[], dt.datetime] | None = None

    def fail(self, method: str, error: GatewayError = DEFAULT_REFUSAL) -> None:
        """Make `method` refuse from now on (until `failing` is cleared)."""
        if not callable(getattr(CallGateway, method, None)):
            raise AttributeError(f"CallGateway has no method {method!r}")
        self.failing[method] = error

    # --- the port ------------------------------------------------------------------------

    def place_call(self, request: CallRequest) -> CallInfo:
        self._refuse_if_failing("place_call", request.to)
        self.placed.append(request)
        call = CallInfo(
            sid=self._new_sid("CA"),
            status="queued",
            to=request.to,
            from_=request.from_,
            direction="outbound-api",
            created_at=self.now() if self.now else None,
        )
        self.calls[call.sid] = call
        return call

    def fetch(self, sid: str) -> CallInfo:
        self._refuse_if_failing("fetch", sid)
        self.fetched.append(sid)
        return self._call(sid)

    def list_calls(self, to: str, since: dt.datetime) -> list[CallInfo]:
        self._refuse_if_failing("list_calls", to)
        self.listed.append((to, since))
        floor = since.replace(microsecond=0)
        return [
            c
            for c in self.calls.values()
            if c.to == to
            and c.direction == "outbound-api"
            and (c.created_at is None or c.created_at >= floor)
        ]

    def redirect(self, sid: str, url: str) -> CallInfo:
        self._refuse_if_failing("redirect", sid)
        self.redirects.append(Redirect(sid, url))
        return self._call(sid)

    def hangup(self, sid: str) -> CallInfo:
        self._refuse_if_failing("hangup", sid)
        self.hangups.append(sid)
        current = self._call(sid)
        # As the port says: a call not yet answered is canceled, an answered one completed.
        status = "canceled" if current.status in ("queued", "ringing") else "completed"
        ended = replace(current, status=status)
        self.calls[sid] = ended
        return ended

    def send_sms(self, to: str, from_: str, body: str) -> MessageInfo:
        self._refuse_if_failing("send_sms", to)
        message = MessageInfo(
            sid=self._new_sid("SM"),
            status="queued",
            to=to,
            from_=from_,
            body=body,
            created_at=self.now() if self.now else None,
        )
        self.sms.append(message)
        return message

    def list_messages(self, to: str, since: dt.datetime) -> list[MessageInfo]:
        self._refuse_if_failing("list_messages", to)
        self.listed.append((to, since))
        floor = since.replace(microsecond=0)
        return [
            m for m in self.sms if m.to == to and (m.created_at is None or m.created_at >= floor)
        ]

    def pause_recording(self, sid: str) -> str:
        self._refuse_if_failing("pause_recording", sid)
        self.paused.append(sid)
        return "paused"

    def resume_recording(self, sid: str) -> str:
        self._refuse_if_failing("resume_recording", sid)
        self.resumed.append(sid)
        return "in-progress"

    # --- helpers -------------------------------------------------------------------------

    def _refuse_if_failing(self, method: str, target: str) -> None:
        error = self.failing.get(method)
        if error is not None:
            self.refused.append((method, target))
            raise error

    def _call(self, sid: str) -> CallInfo:
        """The call as this fake knows it; an inbound call it never placed is in progress."""
        known = self.calls.get(sid)
        if known is None:
            known = CallInfo(sid=sid, status="in-progress", to="", from_="", direction="inbound")
            self.calls[sid] = known
        return known

    def _new_sid(self, prefix: str) -> str:
        return f"{prefix}{next(self._sids):032x}"
