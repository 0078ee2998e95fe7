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

from simulator.callees import Script
from simulator.carrier.http import Webhooks
from simulator.carrier.records import (
    API_VERSION,
    TERMINAL,
    SimCall,
    SimRecording,
    _CallOver,
    _Dequeued,
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
                # the rest goes out as the carrier's clock passes it (or on drain).
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

    def _ensure_answered(self, call: SimCall) -> None:
        if call.answered_offset is None:
            self._answer(call)

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
        if self.clock.virtual:
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
        return script.greeting_seconds + VOICEMAIL_RECORDING_SECONDS
    return None
