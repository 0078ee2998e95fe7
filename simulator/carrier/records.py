"""The carrier's records: calls, recordings, queues, messages, transcript entries.

Also the REST error (ApiError), the exceptions that steer a running call (_CallOver,
_Dequeued, _Redirected), and the sid, date and URL helpers every part uses.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from simulator.amd import Verdict
from simulator.callees import Party

API_VERSION = "2010-04-01"
TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
LIVE = frozenset({"ringing", "in-progress"})


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
    # AMD's thresholds in milliseconds (simulator.amd.Thresholds), Twilio's defaults.
    machine_detection_speech_threshold: int = 2400
    machine_detection_speech_end_threshold: int = 1200
    machine_detection_silence_timeout: int = 5000
    async_amd: bool = False
    async_amd_callback: str | None = None
    async_amd_method: str = "POST"
    record: bool = False
    send_digits: str | None = None  # SendDigits: keyed by the carrier once answered
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
    # Queues: set by whoever takes this caller off hold (`bridged_with` stops the wait at
    # once, `dequeue` says who and how); see verbs_queue.
    bridged_with: str | None = None
    bridge_seconds: float = 0.0
    in_queue: bool = False
    # Async AMD still listening: its verdict, due at answered_offset + verdict.seconds.
    async_amd_pending: Verdict | None = None
    dequeue: Dequeue | None = None
    recordings: list[SimRecording] = field(default_factory=list)
    # Set when a recording was running while the caller keyed card data into <Pay>.
    card_data_recorded: bool = False

    def at(self) -> dt.datetime:
        return self.created_at + dt.timedelta(seconds=self.t)


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(moment: dt.datetime | None) -> str | None:
    return email.utils.format_datetime(moment.astimezone(dt.UTC), usegmt=False) if moment else None


# Twilio's default and largest queue sizes (Queue resource, `max_size`).
DEFAULT_MAX_QUEUE_SIZE = 1000
LARGEST_MAX_QUEUE_SIZE = 5000


@dataclass
class QueueState:
    sid: str
    name: str
    waiting: list[str] = field(default_factory=list)
    # A simulated agent takes the caller at the head of the queue after this many seconds of
    # waiting (None: only a <Dial><Queue> or the API dequeues).
    agent_answers_after: float | None = None
    max_size: int = DEFAULT_MAX_QUEUE_SIZE
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    updated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # When each waiting call joined: its call time (for wait_time) and the moment (the
    # Member resource's date_enqueued).
    entered: dict[str, tuple[float, dt.datetime]] = field(default_factory=dict)


@dataclass
class Dequeue:
    """Who took a queued caller, and, once it is over, how the bridge went.

    The dequeuing call's thread (a `<Dial><Queue>`) waits on `done`; the caller's thread
    plays the `<Queue url>` document, runs the bridge and sets `done`, so one thread drives
    both calls' time and nothing is paced twice.
    """

    by: str  # the dequeuing call's sid, or "client:..." for a simulated agent
    queue_sid: str
    agent: SimCall | None = None
    url: str | None = None
    method: str = "POST"
    done: threading.Event = field(default_factory=threading.Event)
    queue_time: int = 0
    # Filled in by the caller's thread: call time spent in the <Queue url> document and
    # talking, and whether the two were ever connected.
    whisper_seconds: float = 0.0
    talk_seconds: float = 0.0
    bridged: bool = False
    # What ended the conversation: "talk" (the caller's talk_seconds ran out), "caller" or
    # "agent" (hung up), "redirect" (the caller's call was redirected by REST).
    ended_by: str = "talk"


@dataclass
class Message:
    """An SMS: sent through the API or as the app's TwiML reply, or texted to the line.

    `t` is the message's own time in seconds since it was created, as a call's is: the
    carrier clock paces each step, so `date_sent` and `date_updated` hold in virtual time.
    """

    sid: str
    to: str
    from_: str
    body: str
    created_at: dt.datetime
    status: str = "queued"
    direction: str = "outbound-api"  # outbound-reply, inbound
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    num_segments: int = 1
    error_code: int | None = None
    error_message: str | None = None
    sent_offset: float | None = None
    t: float = 0.0
    # What happened to it, in order: status changes and webhook requests (GET /sim/messages).
    events: list[dict[str, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def at(self, offset: float | None = None) -> dt.datetime:
        return self.created_at + dt.timedelta(seconds=self.t if offset is None else offset)


def _resolve(doc_url: str | None, target: str | None) -> str:
    if not target:
        return doc_url or ""
    return urljoin(doc_url or "", target)
