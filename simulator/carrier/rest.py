"""What the REST API (and the softphone) does to the carrier's state.

Creating, updating and listing calls and recordings, with Twilio's validation and error
codes (ApiError); simulator/web.py maps HTTP onto these methods. Messages are
messaging.py's; queues and their members are queues_rest.py's.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import time
from collections.abc import Iterable, Mapping

import phonenumbers

from simulator.callees import InteractiveParty, Party, Script, Step
from simulator.carrier.call_params import call_options, refusal
from simulator.carrier.lifecycle import Lifecycle
from simulator.carrier.records import (
    TERMINAL,
    ApiError,
    SimCall,
    SimRecording,
    _Redirected,
    _resolve,
    new_sid,
)

# The longest Twiml parameter Twilio takes on create or update (error 32018 beyond).
MAX_INLINE_TWIML = 4000


class RestApi(Lifecycle):
    """The carrier as the REST API, the softphone and the tests see it."""

    def create_call(self, form: Mapping[str, list[str]]) -> SimCall:
        """POST Calls.json: validate like Twilio, queue at the account's CPS, start; the
        call as it was created (a copy: the live one is `self.calls[sid]`)."""
        one = functools.partial(_first, form)
        to, from_ = one("To"), one("From")
        if not to:
            raise ApiError(400, 21201, "No 'To' number is specified")
        if not _dialable(to):
            raise ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_:
            raise ApiError(400, 21213, "No 'From' number is specified")
        if not _dialable(from_):
            raise ApiError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if from_ not in self.numbers:
            # A well-formed number the account neither owns nor has verified, as Twilio says.
            raise ApiError(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your "
                "account. You may only make calls from phone numbers that you've verified or "
                "purchased from Twilio.",
            )
        url, inline = one("Url"), one("Twiml")
        if not url and not inline:
            raise ApiError(400, 21205, "Url or Twiml is required")
        if url:
            inline = None  # Twilio ignores Twiml when both are given on create
        if inline is not None and len(inline) > MAX_INLINE_TWIML:
            raise ApiError(
                400, 32018, f"Twiml size exceeded maximum allowed value of {MAX_INLINE_TWIML}"
            )
        if url and not url.startswith(("http://", "https://")):
            raise ApiError(400, 21205, f"Url is not a valid URL: {url}")
        options = call_options(form)
        script = self.script_for(to)
        refused = refusal(to, script)
        if refused is not None:
            raise refused
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
                method=options.method,
                twiml=inline,
                fallback_url=one("FallbackUrl"),
                fallback_method=options.fallback_method,
                status_callback=one("StatusCallback"),
                status_callback_method=options.status_callback_method,
                status_events=options.status_events,
                timeout=options.timeout,
                time_limit=options.time_limit,
                machine_detection=options.machine_detection,
                machine_detection_timeout=options.machine_detection_timeout,
                machine_detection_speech_threshold=options.machine_detection_speech_threshold,
                machine_detection_speech_end_threshold=(
                    options.machine_detection_speech_end_threshold
                ),
                machine_detection_silence_timeout=options.machine_detection_silence_timeout,
                async_amd=(one("AsyncAmd") or "false").lower() == "true",
                async_amd_callback=one("AsyncAmdStatusCallback"),
                async_amd_method=options.async_amd_method,
                record=(one("Record") or "false").lower() == "true",
                send_digits=options.send_digits,
                created_at=now,
                updated_at=now,
                queued_until=slot,
                queue_time_ms=int(wait * 1000),
                seq=next(self._order),
            )
            call.party = Party(script)
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
        # The answer is the call as created (Twilio answers `queued`): a copy taken before
        # the call starts, since on the pool it may ring and be answered before the answer
        # is written (seen under load: `in-progress` in the create response).
        created = copy.copy(call)
        if self.hold_calls:
            with self._lock:
                self._held.append(call)
        else:
            self._pool.submit(self._guarded, self._run_outbound, call)
        return created

    def take_held(self) -> list[SimCall]:
        """The outbound calls created since the last take, oldest first, not yet run
        (`hold_calls`: a simulation runs each with run_held when its clock says)."""
        with self._lock:
            held, self._held = self._held, []
        return held

    def run_held(self, call: SimCall) -> SimCall:
        """Run a held outbound call to its end on this thread (its callbacks as configured)."""
        self._guarded(self._run_outbound, call)
        return call

    def release_callbacks(self, upto: dt.datetime) -> None:
        """Virtual clock: make the held-back deliveries due by `upto` (calls that ended)."""
        self._callbacks.release(upto)

    def next_callback_due(self, *, ending: bool = False) -> dt.datetime | None:
        """Virtual clock: when the earliest held-back delivery is due (`ending`: the
        earliest that tells of a call's final status)."""
        return self._callbacks.next_due(ending=ending)

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
        if inline is not None and len(inline) > MAX_INLINE_TWIML:
            raise ApiError(
                400, 32018, f"Twiml size exceeded maximum allowed value of {MAX_INLINE_TWIML}"
            )
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

    def get(self, sid: str) -> SimCall:
        call = self.calls.get(sid)
        if call is None:
            raise ApiError(404, 20404, f"The requested resource /Calls/{sid}.json was not found")
        return call

    def list_calls(self) -> list[SimCall]:
        """Every call, newest first (the simulator's own view, never lagging)."""
        with self._lock:
            return sorted(self.calls.values(), key=lambda c: (c.created_at, c.seq), reverse=True)

    def listed_calls(self) -> list[SimCall]:
        """The calls GET Calls.json shows, newest first: those created at least
        `list_lag_seconds` ago on the carrier's clock (Twilio's list lags behind)."""
        if self.list_lag_seconds <= 0:
            return self.list_calls()
        cutoff = self.clock.now() - dt.timedelta(seconds=self.list_lag_seconds)
        return [c for c in self.list_calls() if c.created_at <= cutoff]

    def forget_ended(self, before: dt.datetime) -> int:
        """Drop the calls that ended before `before` with no callback left to deliver; how
        many. The API then answers 404 for them, as Twilio does for a call past its log's
        retention. A rehearsal of a month carries tens of thousands of calls: kept, each
        with its transcript, they were most of its memory (1.7 GB over 10,000 accounts)."""
        with self._lock:
            delivering = self._callbacks.delivering()
            gone = [
                sid
                for sid, call in self.calls.items()
                if call.done.is_set()
                and call.end_time is not None
                and call.end_time < before
                and sid not in delivering
            ]
            for sid in gone:
                del self.calls[sid]
            self._callbacks.forget(gone)
        return len(gone)

    def script_for(self, number: str) -> Script:
        if number in self.scripts:
            return self.scripts[number]
        if self.mix is not None:
            return self.mix.script_for(number)
        return Script()

    def wait(self, sid: str, timeout: float = 30.0) -> SimCall:
        """The call once it has ended and every callback of it has been delivered."""
        deadline = time.monotonic() + timeout
        call = self.get(sid)
        if not call.done.wait(timeout):
            raise TimeoutError(f"call {sid} still {call.status} after {timeout} s")
        self._callbacks.drain(max(0.0, deadline - time.monotonic()), sid)
        return call

    def wait_all(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for call in list(self.calls.values()):
            if not call.done.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"call {call.sid} still {call.status}")
        self._callbacks.drain(max(0.0, deadline - time.monotonic()))

    def shutdown(self) -> None:
        for call in list(self.calls.values()):
            call.hangup_requested = True
            if isinstance(call.party, InteractiveParty):
                call.party.give(Step())
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._callbacks.shutdown()


def _first(form: Mapping[str, list[str]], name: str, default: str | None = None) -> str | None:
    """A REST form's first value for `name` (Twilio takes the first of repeated keys)."""
    values = form.get(name)
    return values[0] if values else default


@functools.lru_cache(maxsize=65536)  # a campaign dials the same numbers day after day
def _dialable(number: str) -> bool:
    if number.startswith(("client:", "sip:")):
        return True
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_possible_number(parsed))
