"""The carrier: calls, their lifecycle, and the TwiML they run.

Each call runs on its own thread. It requests TwiML from the app exactly as Twilio does
(form-encoded, signed with X-Twilio-Signature, Twilio's parameters), executes the verbs
against the callee's script, sends status callbacks in Twilio's order, and writes every
step to the call's transcript. Time goes through the Clock, so in virtual mode a call
that "lasts" ten minutes finishes at once with its durations intact.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import functools
import itertools
import logging
import math
import secrets
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

import phonenumbers
import requests

from simulator import twiml
from simulator.callees import CalleeMix, Card, InteractiveParty, Party, Script, Step
from simulator.clock import Clock
from simulator.signing import signature

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
LIVE = frozenset({"ringing", "in-progress"})
# What a caller hears when the app fails and there is no fallback URL.
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
SIP_CODES = {"completed": 200, "busy": 486, "no-answer": 487, "failed": 404, "canceled": 487}
WEBHOOK_TIMEOUT_SECONDS = 15.0
# A call that keeps requesting TwiML this often is looping; Twilio would bill it for hours.
MAX_REQUESTS_PER_CALL = 400
WORDS_PER_SECOND = 2.5
CJK_CHARS_PER_SECOND = 4.0


class ApiError(Exception):
    """A REST request Twilio would refuse: HTTP status, Twilio code, message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _CallOver(Exception):
    """The call ended (someone hung up, or the app or the API ended it)."""


class _Dequeued(Exception):
    """An agent took the caller while the queue's wait document was playing."""


class _Redirected(Exception):
    """The API redirected a live call to new TwiML."""

    def __init__(self, url: str | None, method: str, twiml_text: str | None) -> None:
        super().__init__(url or "inline TwiML")
        self.url, self.method, self.twiml_text = url, method, twiml_text


@dataclass
class Entry:
    t: float
    at: str
    kind: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"t": round(self.t, 2), "at": self.at, "kind": self.kind, **self.detail}


@dataclass
class SimRecording:
    """A call recording started by <Start><Recording> or the Recordings API.

    `spans` are the stretches of call time (seconds) actually recorded: pausing closes the
    open span, resuming opens a new one, so what was said while paused is not in it.
    """

    sid: str
    call_sid: str
    source: str  # StartCallRecordingTwiML or StartCallRecordingAPI
    started_at: dt.datetime
    channels: int = 1
    track: str = "both"
    status: str = "in-progress"  # in-progress, paused, stopped, completed
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_events: frozenset[str] = frozenset({"completed"})
    spans: list[list[float]] = field(default_factory=list)
    updated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def active(self) -> bool:
        return self.status == "in-progress"

    def duration(self) -> int:
        return int(sum(end - start for start, end in self.spans))


@dataclass
class SimCall:
    sid: str
    account_sid: str
    to: str
    from_: str
    direction: str
    url: str | None
    method: str = "POST"
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_events: frozenset[str] = frozenset({"completed"})
    timeout: int = 60
    time_limit: int = 14400
    machine_detection: str | None = None
    machine_detection_timeout: int = 30
    async_amd: bool = False
    async_amd_callback: str | None = None
    async_amd_method: str = "POST"
    record: bool = False
    parent_call_sid: str | None = None
    status: str = "queued"
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    updated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    queued_until: dt.datetime | None = None
    start_time: dt.datetime | None = None
    answered_offset: float | None = None
    end_time: dt.datetime | None = None
    duration: int | None = None
    answered_by: str | None = None
    queue_time_ms: int = 0
    error_code: int | None = None
    party: Party | None = None
    transcript: list[Entry] = field(default_factory=list)
    # Call time in seconds since the call was created; advanced by Carrier.pace.
    t: float = 0.0
    # Order of creation: breaks ties between calls created at the same instant.
    seq: int = 0
    callback_sequence: int = 0
    requests_made: int = 0
    pending_update: _Redirected | None = None
    hangup_requested: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    # Queues: set by the agent's leg when it bridges this caller.
    bridged_with: str | None = None
    bridge_seconds: float = 0.0
    in_queue: bool = False
    async_amd_due: float | None = None
    async_amd_result: str | None = None
    recordings: list[SimRecording] = field(default_factory=list)
    # Set when a recording was running while the caller keyed card data into <Pay>.
    card_data_recorded: bool = False

    def at(self) -> dt.datetime:
        return self.created_at + dt.timedelta(seconds=self.t)


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(moment: dt.datetime | None) -> str | None:
    return email.utils.format_datetime(moment.astimezone(dt.UTC), usegmt=False) if moment else None


def speech_seconds(text: str) -> float:
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    words = len(text.split())
    return max(0.5, words / WORDS_PER_SECOND + cjk / CJK_CHARS_PER_SECOND)


@dataclass
class QueueState:
    sid: str
    name: str
    waiting: list[str] = field(default_factory=list)
    # A simulated agent takes the caller at the head of the queue after this many seconds of
    # waiting (None: only a <Dial><Queue> or the API dequeues).
    agent_answers_after: float | None = None


@dataclass
class Message:
    sid: str
    to: str
    from_: str
    body: str
    created_at: dt.datetime
    status: str = "sent"


class Carrier:
    """The simulated carrier behind the REST API and the softphone."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        numbers: Iterable[str],
        voice_url: str,
        clock: Clock | None = None,
        calls_per_second: float = 1.0,
        payment_connectors: Iterable[str] = ("Default",),
        inbound_status_callback: str | None = None,
        mix: CalleeMix | None = None,
        http: requests.Session | None = None,
        max_workers: int = 64,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = frozenset(numbers)
        self.voice_url = voice_url
        self.clock = clock or Clock()
        self.calls_per_second = calls_per_second
        self.payment_connectors = frozenset(payment_connectors)
        self.inbound_status_callback = inbound_status_callback
        self.mix = mix
        self.http = http or requests.Session()
        self.calls: dict[str, SimCall] = {}
        self.scripts: dict[str, Script] = {}
        self.queues: dict[str, QueueState] = {}
        self.messages: list[Message] = []
        self._lock = threading.RLock()
        self._next_slot: dt.datetime | None = None
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="call")
        self._order = itertools.count()

    # --- the API's view -----------------------------------------------------------------

    def create_call(self, form: Mapping[str, list[str]]) -> SimCall:
        """POST Calls.json: validate like Twilio, queue at the account's CPS, start."""
        one = functools.partial(_first, form)
        to, from_ = one("To"), one("From")
        if not to:
            raise ApiError(400, 21201, "No 'To' number is specified")
        if not _dialable(to):
            raise ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_ or from_ not in self.numbers:
            raise ApiError(400, 21212, f"Invalid 'From' Phone Number: {from_ or ''}")
        url, inline = one("Url"), one("Twiml")
        if not url and not inline:
            raise ApiError(400, 21205, "Url or Twiml is required")
        if url:
            inline = None  # Twilio ignores Twiml when both are given on create
        if url and not url.startswith(("http://", "https://")):
            raise ApiError(400, 21205, f"Url is not a valid URL: {url}")
        events = frozenset(
            e for value in form.get("StatusCallbackEvent", []) for e in value.split()
        )
        now = self.clock.now()
        with self._lock:
            slot = max(now, self._next_slot or now)
            wait = (slot - now).total_seconds()
            if wait > 86400:
                raise ApiError(400, 22005, "Call queue is full (more than 24 h of calls at CPS)")
            self._next_slot = slot + dt.timedelta(seconds=1 / self.calls_per_second)
            call = SimCall(
                sid=new_sid("CA"),
                account_sid=self.account_sid,
                to=to,
                from_=from_,
                direction="outbound-api",
                url=url,
                method=(one("Method") or "POST").upper(),
                twiml=inline,
                fallback_url=one("FallbackUrl"),
                fallback_method=(one("FallbackMethod") or "POST").upper(),
                status_callback=one("StatusCallback"),
                status_callback_method=(one("StatusCallbackMethod") or "POST").upper(),
                status_events=events or frozenset({"completed"}),
                timeout=min(_int(one("Timeout"), 60), 600),
                time_limit=_int(one("TimeLimit"), 14400),
                machine_detection=one("MachineDetection"),
                machine_detection_timeout=_int(one("MachineDetectionTimeout"), 30),
                async_amd=(one("AsyncAmd") or "false").lower() == "true",
                async_amd_callback=one("AsyncAmdStatusCallback"),
                async_amd_method=(one("AsyncAmdStatusCallbackMethod") or "POST").upper(),
                record=(one("Record") or "false").lower() == "true",
                created_at=now,
                updated_at=now,
                queued_until=slot,
                queue_time_ms=int(wait * 1000),
                seq=next(self._order),
            )
            call.party = Party(self.script_for(to))
            self.calls[call.sid] = call
        self._note(
            call,
            "created",
            {
                "to": to,
                "from": from_,
                "url": url or "(inline TwiML)",
                "queue_time_ms": call.queue_time_ms,
            },
        )
        self._pool.submit(self._guarded, self._run_outbound, call)
        return call

    def start_inbound(
        self, from_: str, to: str | None = None, party: Party | None = None
    ) -> SimCall:
        """A person rings the hotline: the number's voice URL is requested."""
        now = self.clock.now()
        call = SimCall(
            sid=new_sid("CA"),
            account_sid=self.account_sid,
            to=to or sorted(self.numbers)[0],
            from_=from_,
            direction="inbound",
            url=self.voice_url,
            status="ringing",
            status_callback=self.inbound_status_callback,
            status_events=frozenset({"initiated", "ringing", "answered", "completed"}),
            created_at=now,
            updated_at=now,
            party=party or Party(Script()),
            seq=next(self._order),
        )
        with self._lock:
            self.calls[call.sid] = call
        self._note(call, "created", {"to": call.to, "from": from_, "url": self.voice_url})
        self._pool.submit(self._guarded, self._run_inbound, call)
        return call

    def update_call(self, sid: str, form: Mapping[str, list[str]]) -> SimCall:
        """POST Calls/{sid}.json: end, cancel or redirect a call."""
        call = self.get(sid)
        one = functools.partial(_first, form)
        status, url, inline = one("Status"), one("Url"), one("Twiml")
        if url and inline:
            raise ApiError(400, 21205, "Url and Twiml are mutually exclusive on update")
        with self._lock:
            if status in ("canceled", "completed"):
                if call.status in TERMINAL:
                    return call
                if status == "canceled" and call.status not in ("queued", "ringing"):
                    return call  # Twilio ignores a cancel once the call is answered
                call.hangup_requested = True
                if isinstance(call.party, InteractiveParty):
                    call.party.give(Step())  # a softphone waiting for keys: stop waiting
                self._note(call, "api", {"action": f"Status={status}"})
                if call.status == "queued":
                    # Canceled before leaving the CPS queue: no callbacks at all.
                    call.status = "canceled"
                    call.end_time = self.clock.now()
                return call
            if url or inline:
                if call.status != "in-progress":
                    raise ApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
                call.pending_update = _Redirected(url, (one("Method") or "POST").upper(), inline)
                self._note(call, "api", {"action": "redirect", "url": url or "(inline TwiML)"})
            if one("StatusCallback"):
                call.status_callback = one("StatusCallback")
        return call

    def start_recording(self, sid: str, form: Mapping[str, list[str]]) -> SimRecording:
        """POST Calls/{sid}/Recordings.json: record a call in progress from now on."""
        call = self.get(sid)
        one = functools.partial(_first, form)
        with self._lock:
            if call.status != "in-progress":
                raise ApiError(400, 21220, "Call is not in-progress. Cannot record.")
            return self._start_recording(
                call,
                "StartCallRecordingAPI",
                channels=one("RecordingChannels"),
                track=one("RecordingTrack"),
                callback=one("RecordingStatusCallback"),
                callback_method=one("RecordingStatusCallbackMethod"),
                events=form.get("RecordingStatusCallbackEvent"),
            )

    def update_recording(
        self, sid: str, recording_sid: str, form: Mapping[str, list[str]]
    ) -> SimRecording:
        """POST Calls/{sid}/Recordings/{RE...|Twilio.CURRENT}.json: pause, resume or stop."""
        call = self.get(sid)
        status = _first(form, "Status") or ""
        if status not in ("paused", "in-progress", "stopped"):
            raise ApiError(400, 21201, f"Invalid Status {status!r} for a recording")
        with self._lock:
            if recording_sid == "Twilio.CURRENT":
                live = [r for r in call.recordings if r.status in ("in-progress", "paused")]
                recording = live[-1] if live else None
            else:
                recording = next((r for r in call.recordings if r.sid == recording_sid), None)
            if recording is None:
                raise ApiError(
                    404,
                    20404,
                    f"The requested resource /Calls/{sid}/Recordings/{recording_sid}.json "
                    "was not found",
                )
            if recording.status in ("stopped", "completed") or call.status in TERMINAL:
                raise ApiError(400, 21220, "Recording is not in progress. Cannot update.")
            if status != recording.status:
                if recording.active:
                    recording.spans[-1][1] = call.t
                elif status == "in-progress":
                    recording.spans.append([call.t, call.t])
                recording.status = status
                recording.updated_at = call.at()
                self._note(call, "recording", {"sid": recording.sid, "status": status})
                if status == "stopped":
                    self._recording_done(call, recording)
            return recording

    def _start_recording(
        self,
        call: SimCall,
        source: str,
        *,
        channels: str | None,
        track: str | None,
        callback: str | None,
        callback_method: str | None,
        events: Iterable[str] | None,
        base_url: str | None = None,
    ) -> SimRecording:
        recording = SimRecording(
            sid=new_sid("RE"),
            call_sid=call.sid,
            source=source,
            started_at=call.at(),
            channels=2 if channels == "dual" else 1,
            track=track or "both",
            status_callback=_resolve(base_url, callback) if callback else None,
            status_callback_method=(callback_method or "POST").upper(),
            status_events=frozenset(" ".join(events).split())
            if events
            else frozenset({"completed"}),
            spans=[[call.t, call.t]],
            updated_at=call.at(),
        )
        call.recordings.append(recording)
        self._note(
            call, "recording", {"sid": recording.sid, "status": "in-progress", "source": source}
        )
        return recording

    def _recording_done(self, call: SimCall, recording: SimRecording) -> None:
        """The recording is over (stopped, or the call ended): its status callback."""
        if recording.active:
            recording.spans[-1][1] = call.t
        if recording.status != "stopped":
            recording.status = "completed"
        if not recording.status_callback or "completed" not in recording.status_events:
            return
        self._request(
            call,
            recording.status_callback,
            recording.status_callback_method,
            {
                "AccountSid": call.account_sid,
                "CallSid": call.sid,
                "RecordingSid": recording.sid,
                "RecordingUrl": f"https://api.twilio.com/{API_VERSION}/Accounts/"
                f"{call.account_sid}/Recordings/{recording.sid}",
                "RecordingStatus": "completed",
                "RecordingDuration": str(recording.duration()),
                "RecordingChannels": str(recording.channels),
                "RecordingStartTime": rfc2822(recording.started_at) or "",
                "RecordingSource": recording.source,
                "RecordingTrack": recording.track,
            },
            kind="callback",
            label="recording completed",
        )

    def get(self, sid: str) -> SimCall:
        call = self.calls.get(sid)
        if call is None:
            raise ApiError(404, 20404, f"The requested resource /Calls/{sid}.json was not found")
        return call

    def list_calls(self) -> list[SimCall]:
        with self._lock:
            return sorted(self.calls.values(), key=lambda c: (c.created_at, c.seq), reverse=True)

    def send_message(self, form: Mapping[str, list[str]]) -> Message:
        to, from_ = (form.get("To") or [""])[0], (form.get("From") or [""])[0]
        body = (form.get("Body") or [""])[0]
        if not _dialable(to):
            raise ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if from_ not in self.numbers:
            raise ApiError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if not body:
            raise ApiError(400, 21602, "Message body is required")
        message = Message(new_sid("SM"), to, from_, body, self.clock.now())
        with self._lock:
            self.messages.append(message)
        return message

    def script_for(self, number: str) -> Script:
        if number in self.scripts:
            return self.scripts[number]
        if self.mix is not None:
            return self.mix.script_for(number)
        return Script()

    def wait(self, sid: str, timeout: float = 30.0) -> SimCall:
        call = self.get(sid)
        if not call.done.wait(timeout):
            raise TimeoutError(f"call {sid} still {call.status} after {timeout} s")
        return call

    def wait_all(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for call in list(self.calls.values()):
            if not call.done.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"call {call.sid} still {call.status}")

    def configure_queue(self, name: str, agent_answers_after: float | None) -> QueueState:
        with self._lock:
            state = self.queues.setdefault(name, QueueState(new_sid("QU"), name))
            state.agent_answers_after = agent_answers_after
            return state

    def dequeue(self, queue_name: str, agent: str = "client:agent") -> SimCall | None:
        """An agent takes the first caller waiting in a queue (as <Dial><Queue> would)."""
        with self._lock:
            state = self.queues.get(queue_name)
            if state is None or not state.waiting:
                return None
            caller = self.calls[state.waiting.pop(0)]
            caller.bridged_with = agent
            # How long they talk is the served caller's to say (their script's talk_seconds).
            caller.bridge_seconds = caller.party.script.talk_seconds if caller.party else 30.0
            return caller

    def shutdown(self) -> None:
        for call in list(self.calls.values()):
            call.hangup_requested = True
            if isinstance(call.party, InteractiveParty):
                call.party.give(Step())
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- call lifecycle -----------------------------------------------------------------

    def _guarded(self, run: Callable[[SimCall], None], call: SimCall) -> None:
        try:
            run(call)
        except Exception:  # a simulator bug must still end the call and say so
            log.exception("simulator failed running call %s", call.sid)
            self._note(call, "error", {"code": 12400, "message": "simulator internal failure"})
            self._finish(call, "failed")
        finally:
            call.done.set()

    def _run_outbound(self, call: SimCall) -> None:
        assert call.queued_until is not None and call.party is not None
        if not self.clock.virtual:
            self.clock.pace((call.queued_until - self.clock.now()).total_seconds())
        call.t = (call.queued_until - call.created_at).total_seconds()
        if call.hangup_requested:
            call.done.set()
            return
        script = call.party.script
        call.start_time = call.at()
        self._set_status(call, "queued", event="initiated", callback_status="initiated")
        if script.answer in ("invalid", "failed"):
            self._note(call, "carrier", {"result": script.answer})
            self._finish(call, "failed")
            return
        self._set_status(call, "ringing", event="ringing")
        try:
            self._pace_ringing(call, min(script.ring_seconds, call.timeout))
        except _CallOver:
            return
        if script.answer == "busy":
            self._finish(call, "busy")
            return
        if script.answer == "no-answer" or script.ring_seconds > call.timeout:
            self._finish(call, "no-answer")
            return
        self._answer(call)
        self._detect_machine(call)
        with contextlib.suppress(_CallOver):
            self._execute(call, call.url, call.method, call.twiml)
        self._finish(call, "completed")

    def _run_inbound(self, call: SimCall) -> None:
        call.start_time = call.at()
        self._send_status_callback(call, "initiated", "ringing")
        self._send_status_callback(call, "ringing", "ringing")
        with contextlib.suppress(_CallOver):
            self._execute(call, call.url, "POST", None, first_document=True)
        self._finish(call, "completed" if call.answered_offset is not None else "no-answer")

    def _pace_ringing(self, call: SimCall, seconds: float) -> None:
        step = 0.25
        remaining = seconds
        while remaining > 0:
            if call.hangup_requested:
                self._finish(call, "canceled")
                raise _CallOver
            chunk = min(step, remaining)
            self.clock.pace(chunk)
            call.t += chunk
            remaining -= chunk

    def _answer(self, call: SimCall) -> None:
        call.answered_offset = call.t
        self._set_status(call, "in-progress", event="answered")

    def _detect_machine(self, call: SimCall) -> None:
        if not call.machine_detection or call.party is None:
            return
        script = call.party.script
        detect_message_end = call.machine_detection == "DetectMessageEnd"
        if script.answer == "human":
            answered_by, seconds = "human", 2.5
        elif script.answer == "fax":
            answered_by, seconds = "fax", 3.0
        elif detect_message_end:
            seconds = script.greeting_seconds + (0.5 if script.beep else 2.0)
            answered_by = "machine_end_beep" if script.beep else "machine_end_silence"
        else:
            answered_by, seconds = "machine_start", 3.5
        if seconds > call.machine_detection_timeout:
            answered_by, seconds = "unknown", float(call.machine_detection_timeout)
        if call.async_amd:
            call.async_amd_due, call.async_amd_result = call.t + seconds, answered_by
            return
        self._pace(call, seconds)
        call.answered_by = answered_by
        self._note(
            call,
            "amd",
            {"answered_by": answered_by, "mode": "sync", "detection_ms": int(seconds * 1000)},
        )

    def _finish(self, call: SimCall, status: str) -> None:
        with self._lock:
            if call.status in TERMINAL:
                return
            call.status = status
            call.end_time = call.at()
            started = call.answered_offset
            call.duration = math.ceil(call.t - started) if started is not None else 0
            call.updated_at = call.end_time
        self.clock.reached(call.end_time)
        self._remove_from_queues(call)
        self._note(call, "status", {"status": status, "duration": call.duration})
        for recording in call.recordings:
            if recording.status in ("in-progress", "paused"):
                self._recording_done(call, recording)
        self._send_status_callback(call, "completed", status, terminal=True)

    def _set_status(
        self, call: SimCall, status: str, *, event: str, callback_status: str | None = None
    ) -> None:
        with self._lock:
            call.status = status
            call.updated_at = call.at()
        self._note(call, "status", {"status": callback_status or status})
        self._send_status_callback(call, event, callback_status or status)

    def _send_status_callback(
        self, call: SimCall, event: str, status: str, *, terminal: bool = False
    ) -> None:
        if not call.status_callback or event not in call.status_events:
            return
        params = self._base_params(call, status)
        params.update(
            {
                "Timestamp": rfc2822(call.at()) or "",
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(call.callback_sequence),
            }
        )
        call.callback_sequence += 1
        if terminal:
            params["CallDuration"] = str(call.duration or 0)
            params["SipResponseCode"] = str(SIP_CODES.get(status, 500))
            if status == "completed":
                params["Duration"] = str(max(1, math.ceil((call.duration or 0) / 60)))
                if call.record and call.duration:
                    # Record=true on create: the whole call's recording (audio not served).
                    recording = new_sid("RE")
                    params.update(
                        {
                            "RecordingSid": recording,
                            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/"
                            f"{call.account_sid}/Recordings/{recording}",
                            "RecordingDuration": str(call.duration),
                        }
                    )
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        response = self._request(
            call,
            call.status_callback,
            call.status_callback_method,
            params,
            kind="callback",
            label=event,
        )
        if response is not None and response.status_code >= 400:
            self._note(
                call,
                "warning",
                {"code": 15003, "message": f"status callback got {response.status_code}"},
            )

    # --- TwiML --------------------------------------------------------------------------

    def _execute(
        self,
        call: SimCall,
        url: str | None,
        method: str,
        inline: str | None,
        *,
        first_document: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        """Request and run documents until the call ends or runs off the end."""
        next_request: tuple[str | None, str, str | None, Mapping[str, str]] | None = (
            url,
            method,
            inline,
            extra or {},
        )
        while next_request is not None:
            url, method, inline, extra = next_request
            document = self._document(call, url, method, inline, extra)
            if document is None:
                return
            doc_url = url
            try:
                next_request = self._run_verbs(call, document, doc_url, first_document)
            except _Redirected as redirect:
                call.pending_update = None
                next_request = (redirect.url, redirect.method, redirect.twiml_text, {})
            first_document = False
        # Running off the end of a document hangs up.
        self._note(call, "hangup", {"by": "end of TwiML"})

    def _document(
        self,
        call: SimCall,
        url: str | None,
        method: str,
        inline: str | None,
        extra: Mapping[str, str],
    ) -> twiml.Document | None:
        if inline is not None:
            try:
                return twiml.parse(inline.encode(), "text/xml")
            except twiml.TwimlError as exc:
                self._application_error(call, exc.code, exc.message, url)
                return None
        assert url is not None
        params = self._base_params(call, call.status if call.status != "queued" else "ringing")
        if call.answered_by and call.direction == "outbound-api":
            params["AnsweredBy"] = call.answered_by
        params.update(extra)
        response = self._request(call, url, method, params, kind="fetch")
        if response is None:
            return self._fallback(call, 11200, "HTTP retrieval failure: no response", url)
        if response.status_code >= 300:
            return self._fallback(
                call, 11200, f"HTTP retrieval failure: status {response.status_code}", url
            )
        try:
            document = twiml.parse(response.content, response.headers.get("Content-Type"))
        except twiml.TwimlError as exc:
            media = (response.headers.get("Content-Type") or "").split(";")[0]
            if media == "text/plain" and exc.code == 12100:
                self._say(call, response.text, {"note": "text/plain read aloud"})
                raise _CallOver from None
            return self._fallback(call, exc.code, exc.message, url)
        for warning in document.warnings:
            self._note(call, "warning", {"message": warning})
        return document

    def _fallback(self, call: SimCall, code: int, message: str, url: str) -> twiml.Document | None:
        self._note(call, "error", {"code": code, "message": message, "url": url})
        call.error_code = code
        if call.fallback_url and url != call.fallback_url:
            fallback_url = call.fallback_url
            return self._document(
                call,
                fallback_url,
                call.fallback_method,
                None,
                {"ErrorCode": str(code), "ErrorUrl": url},
            )
        self._application_error(call, code, message, url)
        return None

    def _application_error(self, call: SimCall, code: int, message: str, url: str | None) -> None:
        self._ensure_answered(call)
        if call.error_code is None:
            call.error_code = code
            self._note(call, "error", {"code": code, "message": message, "url": url})
        self._say(call, APPLICATION_ERROR, {"voice": "carrier"})
        self._note(call, "hangup", {"by": "carrier after application error"})

    def _run_verbs(
        self, call: SimCall, document: twiml.Document, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, str | None, Mapping[str, str]] | None:
        for index, verb in enumerate(document.verbs):
            self._check_live(call)
            handler = getattr(self, f"_verb_{verb.tag.lower()}")
            # Every _verb_* method returns this (the lookup by name leaves it untyped).
            result: tuple[str | None, str, str | None, Mapping[str, str]] | None = handler(
                call, verb, doc_url, first and index == 0
            )
            if result is not None:
                return result
        return None

    def _check_live(self, call: SimCall) -> None:
        if call.hangup_requested:
            self._note(call, "hangup", {"by": "api"})
            raise _CallOver
        if call.pending_update is not None:
            update, call.pending_update = call.pending_update, None
            raise update
        limit = call.time_limit
        if call.answered_offset is not None and call.t - call.answered_offset > limit:
            self._note(call, "hangup", {"by": f"time limit {limit} s"})
            raise _CallOver

    def _ensure_answered(self, call: SimCall) -> None:
        if call.answered_offset is None:
            self._answer(call)

    def _pace(self, call: SimCall, seconds: float) -> None:
        """Let call time pass, in small steps so hangups and API updates land on time."""
        remaining = seconds
        while remaining > 1e-9:
            chunk = min(0.5, remaining)
            self.clock.pace(chunk)
            call.t += chunk
            remaining -= chunk
            self._async_amd_if_due(call)
            if call.in_queue and call.bridged_with:
                raise _Dequeued
            hangup_after = _hangs_up_after(call.party.script) if call.party else None
            if (
                hangup_after is not None
                and call.answered_offset is not None
                and call.t - call.answered_offset >= hangup_after
            ):
                self._note(call, "hangup", {"by": "callee"})
                raise _CallOver
            self._check_live(call)

    def _async_amd_if_due(self, call: SimCall) -> None:
        if call.async_amd_due is None or call.t < call.async_amd_due:
            return
        call.async_amd_due = None
        call.answered_by = call.async_amd_result
        self._note(call, "amd", {"answered_by": call.answered_by, "mode": "async"})
        if call.async_amd_callback:
            params = {
                "CallSid": call.sid,
                "AccountSid": call.account_sid,
                "AnsweredBy": call.answered_by or "unknown",
                "MachineDetectionDuration": str(int(call.t * 1000)),
            }
            self._request(
                call,
                call.async_amd_callback,
                call.async_amd_method,
                params,
                kind="callback",
                label="amd",
            )

    def _say(self, call: SimCall, text: str, detail: Mapping[str, Any]) -> None:
        self._note(call, "say", {"text": text, **detail})
        self._pace(call, speech_seconds(text))

    def _verb_say(self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool) -> None:
        self._ensure_answered(call)
        loop = twiml.attr_int(verb, "loop", 1)
        text = twiml.text_of(verb)
        detail = {
            k: v for k, v in (("voice", verb.get("voice")), ("language", verb.get("language"))) if v
        }
        for _ in range(loop if loop > 0 else 3):  # loop=0: until hangup; heard three times
            self._say(call, text, detail)

    def _verb_play(self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool) -> None:
        self._ensure_answered(call)
        if verb.get("digits"):
            self._note(call, "play", {"digits": verb.get("digits")})
            self._pace(call, 0.2 * len(verb.get("digits") or ""))
            return
        loop = twiml.attr_int(verb, "loop", 1)
        for _ in range(loop if loop > 0 else 3):
            self._note(call, "play", {"url": twiml.text_of(verb)})
            self._pace(call, 5.0)  # audio length is unknown without fetching it

    def _verb_pause(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> None:
        self._ensure_answered(call)
        seconds = twiml.attr_int(verb, "length", 1)
        self._note(call, "pause", {"seconds": seconds})
        self._pace(call, seconds)

    def _verb_hangup(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> None:
        self._note(call, "hangup", {"by": "app"})
        raise _CallOver

    def _verb_reject(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> None:
        reason = verb.get("reason", "rejected")
        self._note(call, "reject", {"reason": reason})
        if call.answered_offset is None:
            self._finish(call, "busy" if reason == "busy" else "no-answer")
        raise _CallOver

    def _verb_redirect(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]]:
        target = _resolve(doc_url, twiml.text_of(verb))
        self._note(call, "redirect", {"url": target})
        return target, verb.get("method", "POST").upper(), None, {}

    def _verb_gather(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]] | None:
        self._ensure_answered(call)
        finish_on_key = verb.get("finishOnKey", "#")
        num_digits = twiml.attr_int(verb, "numDigits", 0)
        timeout = twiml.attr_int(verb, "timeout", 5)
        modes = set(verb.get("input", "dtmf").split())
        spoken: list[str] = []
        for child in verb:
            if child.tag == "Say":
                self._verb_say(call, child, doc_url, False)
                spoken.append(twiml.text_of(child))
            elif child.tag == "Play":
                self._verb_play(call, child, doc_url, False)
            elif child.tag == "Pause":
                self._verb_pause(call, child, doc_url, False)
        prompt = " ".join(spoken)
        self._note(
            call,
            "gather",
            {
                "input": " ".join(sorted(modes)),
                "timeout": timeout,
                "finish_on_key": finish_on_key,
                "num_digits": num_digits,
            },
        )
        party = call.party
        is_machine = call.answered_by not in (None, "human") or (
            party is not None and party.script.answer in ("machine", "fax")
        )
        step = None if party is None or is_machine else party.respond(prompt, float(timeout))
        params: dict[str, str] = {}
        if step is not None and step.say and "speech" in modes:
            self._note(call, "input", {"speech": step.say, "confidence": step.confidence})
            self._pace(call, speech_seconds(step.say))
            params = {"SpeechResult": step.say, "Confidence": f"{step.confidence:.2f}"}
        elif step is not None and step.press and "dtmf" in modes:
            digits, finished_on = _collect_digits(step.press, finish_on_key, num_digits)
            self._note(call, "input", {"digits": step.press})
            ended_by_caller = bool(finished_on) or (num_digits and len(digits) >= num_digits)
            self._pace(call, 0.3 * len(step.press) + (0 if ended_by_caller else timeout))
            if digits:  # '#' alone is empty input, as on Twilio
                params = {"Digits": digits, "FinishedOnKey": finished_on}
        else:
            self._note(call, "input", {"none": True})
            self._pace(call, timeout)
        if not params:
            if party is not None and party.script.steps and party.exhausted:
                # A scripted caller with nothing left to do hangs up rather than listen to
                # the menu forever; a silent caller (no script) keeps listening.
                self._note(call, "hangup", {"by": "callee (script finished)"})
                raise _CallOver
            if not twiml.attr_bool(verb, "actionOnEmptyResult", False):
                return None  # no input: fall through to the next verb
            params = {"Digits": "", "FinishedOnKey": ""}
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else doc_url
        return action, verb.get("method", "POST").upper(), None, params

    def _verb_record(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]]:
        self._ensure_answered(call)
        seconds = min(
            call.party.script.record_seconds if call.party else 5.0,
            float(twiml.attr_int(verb, "maxLength", 3600)),
        )
        if twiml.attr_bool(verb, "playBeep", True):
            self._note(call, "beep", {})
        self._note(call, "record", {"seconds": seconds})
        self._pace(call, seconds)
        recording = new_sid("RE")
        params = {
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{call.account_sid}"
            f"/Recordings/{recording}",
            "RecordingSid": recording,
            "RecordingDuration": str(int(seconds)),
            "Digits": "hangup",
        }
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else doc_url
        return action, verb.get("method", "POST").upper(), None, params

    def _verb_dial(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]] | None:
        self._ensure_answered(call)
        timeout = twiml.attr_int(verb, "timeout", 30)
        nouns = [child for child in verb if child.tag in ("Number", "Queue", "Client", "Sip")]
        target_text = twiml.text_of(verb)
        child_sid = new_sid("CA")
        if nouns and nouns[0].tag == "Queue":
            status, talk = self._dial_queue(call, twiml.text_of(nouns[0]), timeout)
        else:
            number = twiml.text_of(nouns[0]) if nouns else target_text
            status, talk = self._dial_number(call, number, timeout, child_sid)
        params = {
            "DialCallStatus": status,
            "DialCallSid": child_sid,
            "DialCallDuration": str(int(talk)),
            "DialBridged": str(talk > 0).lower(),
        }
        if not verb.get("action"):
            return None  # without an action the call goes on with the next verb
        return (
            _resolve(doc_url, verb.get("action")),
            verb.get("method", "POST").upper(),
            None,
            params,
        )

    def _dial_number(
        self, call: SimCall, number: str, timeout: int, child_sid: str
    ) -> tuple[str, float]:
        script = self.script_for(number)
        self._note(call, "dial", {"to": number, "child_sid": child_sid})
        if script.answer in ("failed", "invalid"):
            return "failed", 0.0
        self._pace(call, min(script.ring_seconds, timeout))
        if script.answer == "busy":
            return "busy", 0.0
        if script.answer == "no-answer" or script.ring_seconds > timeout:
            return "no-answer", 0.0
        self._note(call, "bridged", {"with": number, "seconds": script.talk_seconds})
        self._pace(call, script.talk_seconds)
        return "completed", script.talk_seconds

    def _dial_queue(self, call: SimCall, name: str, timeout: int) -> tuple[str, float]:
        self._note(call, "dial", {"queue": name})
        waited = 0.0
        while waited <= timeout:
            caller = self.dequeue(name, agent=call.from_)
            if caller is not None:
                talk = caller.bridge_seconds
                self._note(call, "bridged", {"with": caller.sid, "seconds": talk})
                self._pace(call, talk)
                return "completed", talk
            self._pace(call, 1.0)
            waited += 1.0
        return "no-answer", 0.0

    def _verb_enqueue(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]] | None:
        self._ensure_answered(call)
        name = twiml.text_of(verb)
        with self._lock:
            state = self.queues.setdefault(name, QueueState(new_sid("QU"), name))
            state.waiting.append(call.sid)
        entered = call.t
        self._note(call, "enqueue", {"queue": name, "position": len(state.waiting)})
        wait_url = verb.get("waitUrl")
        wait_method = verb.get("waitUrlMethod", "POST" if wait_url else "GET").upper()
        patience = call.party.script.hold_patience if call.party else 300.0
        result, waited = "hangup", 0.0
        call.in_queue = True
        try:
            while True:
                answer_after = state.agent_answers_after
                if (
                    answer_after is not None
                    and call.t - entered >= answer_after
                    and state.waiting[:1] == [call.sid]
                ):
                    self.dequeue(name, agent="client:sim-agent")
                if call.bridged_with:
                    call.in_queue = False
                    waited = call.t - entered
                    self._note(
                        call, "bridged", {"with": call.bridged_with, "seconds": call.bridge_seconds}
                    )
                    self._pace(call, call.bridge_seconds)
                    result = "bridged"
                    break
                if call.t - entered >= patience:
                    self._note(call, "hangup", {"by": "callee (tired of waiting)"})
                    break
                try:
                    if wait_url:
                        outcome = self._run_wait_url(
                            call, state, _resolve(doc_url, wait_url), wait_method, entered
                        )
                        if outcome == "leave":
                            result = "leave"
                            break
                    else:
                        self._note(call, "play", {"url": "(hold music)"})
                        self._pace(call, 10.0)
                except _Dequeued:
                    continue  # the hold document stops at once; the loop's top bridges
        except _CallOver:
            call.in_queue = False
            self._remove_from_queues(call)
            self._enqueue_action(call, verb, doc_url, state, "hangup", call.t - entered)
            raise
        call.in_queue = False
        self._remove_from_queues(call)
        if result == "bridged":
            return self._enqueue_action(call, verb, doc_url, state, result, waited)
        return self._enqueue_action(call, verb, doc_url, state, result, call.t - entered)

    def _run_wait_url(
        self, call: SimCall, state: QueueState, url: str, method: str, entered: float
    ) -> str | None:
        position = state.waiting.index(call.sid) + 1 if call.sid in state.waiting else 0
        params = {
            "QueuePosition": str(position),
            "QueueSid": state.sid,
            "QueueTime": str(int(call.t - entered)),
            "AvgQueueTime": "0",
            "CurrentQueueSize": str(len(state.waiting)),
            "MaxQueueSize": "1000",
        }
        document = self._document(call, url, method, None, params)
        if document is None:
            raise _CallOver
        before = call.t
        for verb in document.verbs:
            if call.bridged_with:
                return None
            if verb.tag == "Leave":
                self._note(call, "leave", {"queue": state.name})
                return "leave"
            if verb.tag in ("Say", "Play", "Pause", "Hangup"):
                getattr(self, f"_verb_{verb.tag.lower()}")(call, verb, url, False)
        if call.t == before:
            self._pace(call, 1.0)  # an empty wait document would otherwise spin
        return None

    def _enqueue_action(
        self,
        call: SimCall,
        verb: ET.Element,
        doc_url: str | None,
        state: QueueState,
        result: str,
        waited: float,
    ) -> tuple[str | None, str, None, dict[str, str]] | None:
        params = {"QueueResult": result, "QueueSid": state.sid, "QueueTime": str(int(waited))}
        if not verb.get("action"):
            return None
        action = _resolve(doc_url, verb.get("action"))
        if result == "hangup":
            # The caller is gone: Twilio still reports the result; the answer is ignored.
            self._request(
                call,
                action,
                verb.get("method", "POST").upper(),
                {**self._base_params(call, "completed"), **params},
                kind="fetch",
            )
            return None
        return action, verb.get("method", "POST").upper(), None, params

    def _remove_from_queues(self, call: SimCall) -> None:
        with self._lock:
            for state in self.queues.values():
                if call.sid in state.waiting:
                    state.waiting.remove(call.sid)

    def _verb_leave(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> None:
        self._note(call, "warning", {"message": "<Leave> outside a queue's waitUrl is ignored"})

    def _verb_start(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> None:
        """<Start>: begin a recording at once and go on (streams and others: not simulated)."""
        self._ensure_answered(call)
        for noun in verb:
            if noun.tag != "Recording":
                self._note(call, "warning", {"message": f"<Start><{noun.tag}> is not simulated"})
                continue
            with self._lock:
                self._start_recording(
                    call,
                    "StartCallRecordingTwiML",
                    channels=noun.get("channels"),
                    track=noun.get("track"),
                    callback=noun.get("recordingStatusCallback"),
                    callback_method=noun.get("recordingStatusCallbackMethod"),
                    events=[noun.get("recordingStatusCallbackEvent") or "completed"],
                    base_url=doc_url,
                )

    def _verb_pay(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]]:
        self._ensure_answered(call)
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else doc_url
        connector = verb.get("paymentConnector", "Default")
        amount = verb.get("chargeAmount")
        detail = {"connector": connector, "amount": amount, "currency": verb.get("currency", "usd")}
        self._note(call, "pay", {"stage": "start", **detail})
        if action and action.startswith("http://"):
            self._note(call, "warning", {"message": "Twilio requires an https action for <Pay>"})
        card = call.party.script.card if call.party else Card()
        callback = verb.get("statusCallback")
        status_callback = _resolve(doc_url, callback) if callback else None
        max_attempts = max(1, min(3, twiml.attr_int(verb, "maxAttempts", 1)))
        params: dict[str, str] = {"PaymentMethod": verb.get("paymentMethod", "credit-card")}
        if connector not in self.payment_connectors:
            self._note(
                call,
                "error",
                {"code": 64004, "message": f"unknown payment connector {connector!r}"},
            )
            params.update(
                {
                    "Result": "payment-connector-error",
                    "PaymentError": f"Pay Connector {connector!r} not found",
                    "PayErrorCode": "64004",
                }
            )
            return action, "POST", None, params
        stages = ["payment-card-number", "expiration-date"]
        if twiml.attr_bool(verb, "securityCode", True):
            stages.append("security-code")
        if verb.get("postalCode", "true") != "false":
            stages.append("postal-code")
        attempts = max_attempts if card.outcome == "too-many-failed-attempts" else 1
        masked = {
            "PaymentCardNumber": f"xxxx-xxxx-xxxx-{card.last4}",
            "PaymentCardType": card.brand,
            "ExpirationDate": card.expiry,
            "SecurityCode": "xxx",
            "PaymentCardPostalCode": card.postal_code,
        }
        for attempt in range(1, attempts + 1):
            for stage in stages:
                if card.outcome == "caller-interrupted-with-star" and stage == "expiration-date":
                    self._note(call, "input", {"digits": "*"})
                    params.update({"Result": "caller-interrupted-with-star"})
                    return action, "POST", None, params
                if card.outcome == "caller-hung-up" and stage == "security-code":
                    self._note(call, "hangup", {"by": "callee during <Pay>"})
                    params.update({"Result": "caller-hung-up"})
                    self._request(
                        call,
                        action or "",
                        "POST",
                        {**self._base_params(call, "completed"), **params},
                        kind="fetch",
                    )
                    raise _CallOver
                self._pay_status(call, status_callback, stage, attempt, masked)
                self._pace(call, 4.0)  # the caller keys the field
        self._pay_status(call, status_callback, "payment-processing", attempts, masked)
        self._pace(call, 2.0)
        outcome = card.outcome
        if outcome == "success":
            params.update(masked)
            params.update(
                {"Result": "success", "PaymentConfirmationCode": "ch_" + secrets.token_hex(12)}
            )
            if not amount or amount in ("0", "0.00"):
                params.pop("PaymentConfirmationCode")
                params["PaymentToken"] = "tok_" + secrets.token_hex(12)
        elif outcome == "declined":
            params.update(
                {
                    "Result": "payment-connector-error",
                    "PaymentError": "card is declined",
                    "ConnectorError": "card_declined",
                    "PaymentCardNumber": masked["PaymentCardNumber"],
                    "PaymentCardType": card.brand,
                }
            )
        elif outcome == "too-many-failed-attempts":
            params.update(
                {"Result": "too-many-failed-attempts", "PaymentError": "invalid-card-number"}
            )
        else:  # connector-error
            params.update(
                {
                    "Result": "payment-connector-error",
                    "PaymentError": "payment gateway did not respond",
                    "ConnectorError": "gateway_timeout",
                }
            )
        self._note(call, "pay", {"stage": "result", "result": params["Result"]})
        return action, "POST", None, params

    def _pay_status(
        self, call: SimCall, url: str | None, stage: str, attempt: int, masked: Mapping[str, str]
    ) -> None:
        # What a caller keys into <Pay> must never be in a recording (PCI DSS).
        recorded = any(r.active for r in call.recordings)
        if recorded and stage != "payment-processing":
            call.card_data_recorded = True
        self._note(call, "pay", {"stage": stage, "attempt": attempt, "recorded": recorded})
        if not url:
            return
        captured = {
            "payment-card-number": ("PaymentCardNumber", "PaymentCardType"),
            "expiration-date": ("ExpirationDate",),
            "security-code": ("SecurityCode",),
            "postal-code": ("PaymentCardPostalCode",),
        }
        params = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "For": stage,
            "Attempt": str(attempt),
        }
        for name in captured.get(stage, ()):
            params[name] = masked[name]
        self._request(call, url, "POST", params, kind="callback", label=f"pay {stage}")

    # --- HTTP to the app ----------------------------------------------------------------

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


# A voicemail box stops recording a minute after its beep.
VOICEMAIL_RECORDING_SECONDS = 60.0


def _hangs_up_after(script: Script) -> float | None:
    if script.hangup_after is not None:
        return script.hangup_after
    if script.answer in ("machine", "fax"):
        return script.greeting_seconds + VOICEMAIL_RECORDING_SECONDS
    return None


def _collect_digits(pressed: str, finish_on_key: str, num_digits: int) -> tuple[str, str]:
    """Keys as Twilio hands them over: up to finishOnKey (excluded) or numDigits."""
    digits = ""
    for key in pressed.replace("w", ""):
        if finish_on_key and key in finish_on_key:
            return digits, key
        digits += key
        if num_digits and len(digits) >= num_digits:
            return digits, ""
    return digits, ""


def _first(form: Mapping[str, list[str]], name: str, default: str | None = None) -> str | None:
    """A REST form's first value for `name` (Twilio takes the first of repeated keys)."""
    values = form.get(name)
    return values[0] if values else default


def _resolve(doc_url: str | None, target: str | None) -> str:
    if not target:
        return doc_url or ""
    return urljoin(doc_url or "", target)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _dialable(number: str) -> bool:
    if number.startswith(("client:", "sip:")):
        return True
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_possible_number(parsed))


def _country(number: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or ""
    except phonenumbers.NumberParseException:
        return ""
