"""Running a call: CPS queue, ringing, answer, AMD, call time, the end, and callbacks.

Status callbacks (initiated, ringing, answered, completed) and the recording and async-AMD
callbacks are sent from here, in Twilio's order; status and recording callbacks go through
`_callback` (http.py), which under `CallbackDelivery(mode="chaotic")` hands them to the
scheduler (delivery.py) to arrive late, out of order or twice. What the call does once answered is
the interpreter's (`_execute`).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping

import requests

from simulator import amd
from simulator.callees import Script
from simulator.carrier.call_params import digit_timing
from simulator.carrier.http import Webhooks
from simulator.carrier.records import (
    API_VERSION,
    TERMINAL,
    SimCall,
    SimRecording,
    _CallOver,
    _Dequeued,
    _Redirected,
    new_sid,
    rfc2822,
)

log = logging.getLogger(__name__)

SIP_CODES = {"completed": 200, "busy": 486, "no-answer": 487, "failed": 404, "canceled": 487}


class Lifecycle(Webhooks):
    """A call from the first ring to its terminal status, on its own thread."""

    def _guarded(self, run: Callable[[SimCall], None], call: SimCall) -> None:
        try:
            run(call)
        except Exception:  # a simulator bug must still end the call and say so
            log.exception("simulator failed running call %s", call.sid)
            self._note(call, "error", {"code": 12400, "message": "simulator internal failure"})
            self._finish(call, "failed")
        finally:
            if self.clock.virtual:
                # The call is over: what it held back that is due by its end has arrived;
                # the rest goes out as the carrier's clock passes it (or on drain). On time:
                # all of it goes out as the carrier's clock passes it.
                if not self.callback_delivery.on_time:
                    self._callbacks.release(call.at(), call.sid)
                self._callbacks.ended(call.sid)
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
        try:
            self._send_digits(call)
        except _CallOver:  # the callee hung up while the digits were being keyed
            self._finish(call, "completed")
            return
        start = (call.url, call.method, call.twiml)
        try:
            self._detect_machine(call)
        except _CallOver:  # hung up while sync AMD listened: the Url is never requested
            self._finish(call, "completed")
            return
        except _Redirected as redirect:  # the API redirected the call while AMD listened
            call.pending_update = None
            start = (redirect.url, redirect.method, redirect.twiml_text)
        with contextlib.suppress(_CallOver):
            self._execute(call, *start)
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

    def _ensure_answered(self, call: SimCall) -> None:
        if call.answered_offset is None:
            self._answer(call)

    def _detect_machine(self, call: SimCall) -> None:
        """AMD from the answer: sync paces the call until the verdict, async schedules it.

        Sync raises what ended or redirected the call while detection listened, after
        recording AnsweredBy=unknown for it.
        """
        if not call.machine_detection or call.party is None:
            return
        verdict = amd.detect(
            call.party.script.greeting(),
            call.machine_detection,
            amd.Thresholds(
                timeout_seconds=call.machine_detection_timeout,
                speech_ms=call.machine_detection_speech_threshold,
                speech_end_ms=call.machine_detection_speech_end_threshold,
                silence_ms=call.machine_detection_silence_timeout,
            ),
        )
        if call.async_amd:
            call.async_amd_pending = verdict
            return
        try:
            self._pace(call, verdict.seconds)
        except (_CallOver, _Redirected):
            self._amd_decided(call, amd.cut_short(self._since_answer(call)), "sync")
            raise
        self._amd_decided(call, verdict, "sync")

    def _amd_decided(self, call: SimCall, verdict: amd.Verdict, mode: str) -> None:
        call.answered_by = verdict.answered_by
        self._note(
            call,
            "amd",
            {"answered_by": verdict.answered_by, "mode": mode, "detection_ms": verdict.duration_ms},
        )

    def _since_answer(self, call: SimCall) -> float:
        return call.t - call.answered_offset if call.answered_offset is not None else 0.0

    def _async_amd_due_in(self, call: SimCall) -> float | None:
        """Call seconds until the pending async verdict is due (None: nothing pending)."""
        if call.async_amd_pending is None:
            return None
        return call.async_amd_pending.seconds - self._since_answer(call)

    def _async_amd_if_due(self, call: SimCall, *, call_ended: bool = False) -> None:
        """Deliver the async verdict once due; a call that ends first gets `unknown`."""
        verdict = call.async_amd_pending
        if verdict is None:
            return
        decided = verdict.seconds - self._since_answer(call) <= 1e-9
        if not decided and not call_ended:
            return
        call.async_amd_pending = None
        if not decided:
            verdict = amd.cut_short(self._since_answer(call))
        self._amd_decided(call, verdict, "async")
        if call.async_amd_callback:
            params = {
                "CallSid": call.sid,
                "AccountSid": call.account_sid,
                "AnsweredBy": verdict.answered_by,
                "MachineDetectionDuration": str(verdict.duration_ms),
            }
            self._request(
                call,
                call.async_amd_callback,
                call.async_amd_method,
                params,
                kind="callback",
                label="amd",
            )

    def _send_digits(self, call: SimCall) -> None:
        """SendDigits: the carrier keys them into the answered line before the TwiML runs.

        Each key is a tone of KEY_SECONDS; `w` and `W` are pauses of half and one second.
        """
        if not call.send_digits:
            return
        timing = digit_timing(call.send_digits)
        self._note(
            call,
            "send_digits",
            {"digits": call.send_digits, "seconds": round(sum(s for _, s in timing), 2)},
        )
        for _key, seconds in timing:
            self._pace(call, seconds)

    def _pace(self, call: SimCall, seconds: float) -> None:
        """Let call time pass, in small steps so hangups and API updates land on time."""
        remaining = seconds
        while remaining > 1e-9:
            chunk = min(0.5, remaining)
            due_in = self._async_amd_due_in(call)
            if due_in is not None and due_in > 1e-9:
                chunk = min(chunk, due_in)  # land on the verdict, not up to 0.5 s after it
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

    def _finish(self, call: SimCall, status: str) -> None:
        with self._lock:
            if call.status in TERMINAL:
                return
            call.status = status
            call.end_time = call.at()
            started = call.answered_offset
            # Never answered: no duration at all (Twilio leaves it empty), not 0 s.
            call.duration = math.ceil(call.t - started) if started is not None else None
            call.updated_at = call.end_time
        self.clock.reached(call.end_time)
        with contextlib.suppress(_CallOver):  # over the request limit: the call is over anyway
            self._async_amd_if_due(call, call_ended=True)
        if self.clock.virtual and not self.callback_delivery.on_time:
            self._callbacks.release(self.clock.now())
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

        def answered(response: requests.Response | None) -> None:
            if response is not None and response.status_code >= 400:
                self._note(
                    call,
                    "warning",
                    {"code": 15003, "message": f"status callback got {response.status_code}"},
                )

        self._callback(
            call,
            call.status_callback,
            call.status_callback_method,
            params,
            label=event,
            key=f"status/{params['SequenceNumber']}",
            answered=answered,
            ends_call=terminal,
        )

    def _recording_done(self, call: SimCall, recording: SimRecording) -> None:
        """The recording is over (stopped, or the call ended): its status callback."""
        if recording.active:
            recording.spans[-1][1] = call.t
        if recording.status != "stopped":
            recording.status = "completed"
        if not recording.status_callback or "completed" not in recording.status_events:
            return
        self._callback(
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
            label="recording completed",
            key=f"recording/{call.recordings.index(recording)}",
        )

    def _remove_from_queues(self, call: SimCall) -> None:
        with self._lock:
            for state in self.queues.values():
                if call.sid in state.waiting:
                    state.waiting.remove(call.sid)

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
        """Run the call's TwiML: provided by the interpreter (simulator.carrier.interpreter)."""
        raise NotImplementedError


# A voicemail box stops recording a minute after its beep.
VOICEMAIL_RECORDING_SECONDS = 60.0


def _hangs_up_after(script: Script) -> float | None:
    if script.hangup_after is not None:
        return script.hangup_after
    if script.answer in ("machine", "fax"):
        return script.spoken_seconds + VOICEMAIL_RECORDING_SECONDS
    return None
