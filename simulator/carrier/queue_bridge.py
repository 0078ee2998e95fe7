"""Taking a caller off hold: both sides of a queue's bridge, and how it is reported.

The dequeuing call's `<Dial><Queue>` claims the caller at the front and waits; the
caller's own thread plays the `<Queue url>` document, runs the conversation (pacing for
both: the agent's thread is parked on `Dequeue.done`) and reports the QueueResult to the
`<Enqueue>` action; then the agent's Dial goes on with its own action. Also here: fetching
a document a call runs outside its own flow (waitUrl, <Queue url>, a whisper), where a
failure is reported to the verb rather than spoken as an application error.
"""

from __future__ import annotations

import math
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from simulator import twiml
from simulator.carrier.interpreter import Interpreter, NextRequest
from simulator.carrier.lifecycle import _hangs_up_after
from simulator.carrier.queues_rest import MAX_QUEUE_NAME, QueuesRest
from simulator.carrier.records import (
    Dequeue,
    QueueState,
    SimCall,
    _CallOver,
    _Redirected,
    _resolve,
)

# Verbs a <Queue url> document may hold, played to the caller before the bridge.
QUEUE_URL_VERBS = frozenset({"Say", "Play", "Pause", "Redirect"})
# How long (wall seconds) a dequeuing call waits for the caller's thread to end the bridge.
BRIDGE_WAIT_LIMIT = 4 * 3600.0


class _AgentLeft(Exception):
    """The dequeuing call ended before the bridge: the caller goes back to the front."""


class QueueBridge(Interpreter, QueuesRest):
    """A dequeued caller's bridge, the dequeuer's side of it, and the <Enqueue> action."""

    def _side_document(
        self, call: SimCall, url: str, method: str, params: Mapping[str, str], purpose: str
    ) -> tuple[ET.Element, ...] | None:
        """A document the call runs outside its own flow (waitUrl, <Queue url>, a whisper).

        A failure here is no application error: Twilio reports it to the verb (QueueResult
        `error`, an unbridged dial), so nothing is said and no fallback URL is tried.
        """
        response = self._request(call, url, method, params, kind="fetch", label=purpose)
        if response is None or response.status_code >= 300:
            status = "no response" if response is None else f"status {response.status_code}"
            self._note(call, "error", {"code": 11200, "message": f"{purpose}: {status}"})
            return None
        media = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media.startswith("audio/"):
            self._note(call, "play", {"url": url})  # an audio file: played as it is
            self._pace(call, 5.0)
            return ()
        try:
            document = twiml.parse(response.content, response.headers.get("Content-Type"))
        except twiml.TwimlError as exc:
            self._note(call, "error", {"code": exc.code, "message": f"{purpose}: {exc.message}"})
            return None
        return document.verbs

    def _bridge_queued(
        self,
        call: SimCall,
        verb: ET.Element,
        doc_url: str | None,
        state: QueueState,
        dequeue: Dequeue,
        entered: float,
    ) -> NextRequest | None:
        """Taken off hold: the <Queue url> document, then the conversation, then the action."""
        dequeue.queue_time = int(call.t - entered)
        queued_for = call.t - entered
        try:
            try:
                if dequeue.url:
                    started = call.t
                    self._queue_url_document(call, state, dequeue)
                    dequeue.whisper_seconds = call.t - started
            except _CallOver:
                self._enqueue_action(
                    call, verb, doc_url, state, "bridging-in-process", queued_for, over=True
                )
                raise
            except _Redirected:
                self._enqueue_action(
                    call, verb, doc_url, state, "redirected", queued_for, over=True
                )
                raise
            agent = dequeue.agent
            if agent is not None and (agent.hangup_requested or agent.status != "in-progress"):
                self._note(call, "warning", {"message": "the agent left before the bridge"})
                raise _AgentLeft
            dequeue.bridged = True
            self._note(call, "bridged", {"with": dequeue.by, "seconds": call.bridge_seconds})
            try:
                self._talk(call, dequeue)
            except _CallOver:
                self._enqueue_action(call, verb, doc_url, state, "bridged", queued_for, over=True)
                raise
            except _Redirected:
                dequeue.ended_by = "redirect"
                self._enqueue_action(
                    call, verb, doc_url, state, "redirected-from-bridged", queued_for, over=True
                )
                raise
            return self._enqueue_action(call, verb, doc_url, state, "bridged", queued_for)
        finally:
            dequeue.done.set()

    def _queue_url_document(self, call: SimCall, state: QueueState, dequeue: Dequeue) -> None:
        """<Dial><Queue url>: played to the dequeued caller (Play, Say, Pause, Redirect)."""
        url: str | None = dequeue.url
        method = dequeue.method
        hops = 0
        while url is not None and hops < 10:
            current, url, hops = url, None, hops + 1
            params = {
                **self._base_params(call, "in-progress"),
                "QueueSid": state.sid,
                "QueueTime": str(dequeue.queue_time),
                "DequeingCallSid": dequeue.by,
            }
            for element in self._side_document(call, current, method, params, "queue url") or ():
                if element.tag not in QUEUE_URL_VERBS:
                    self._note(
                        call, "warning", {"message": f"<{element.tag}> skipped in a <Queue url>"}
                    )
                    continue
                outcome = self.VERBS[element.tag](self, call, element, current, False)
                if outcome is not None:
                    url, method = outcome[0], outcome[1]
                    break

    def _talk(self, call: SimCall, dequeue: Dequeue) -> None:
        """The conversation: the caller's talk_seconds, unless either side hangs up first.

        The caller's pacing notices their own hangups and redirects; the agent's hangups
        (REST, or their script) are checked here, since the agent's thread is waiting.
        """
        agent = dequeue.agent
        limit = call.bridge_seconds
        if agent is not None and agent.party is not None and agent.answered_offset is not None:
            agent_after = _hangs_up_after(agent.party.script)
            if agent_after is not None:
                limit = min(limit, max(0.0, agent_after - (agent.t - agent.answered_offset)))
        started = call.t
        try:
            while call.t - started < limit - 1e-9:
                if agent is not None and agent.hangup_requested:
                    dequeue.ended_by = "agent"
                    break
                self._pace(call, min(0.5, limit - (call.t - started)))
            else:
                if limit < call.bridge_seconds:
                    dequeue.ended_by = "agent"
        except _CallOver:
            dequeue.ended_by = "caller"
            raise
        finally:
            dequeue.talk_seconds = call.t - started
            self._note(call, "unbridged", {"seconds": round(dequeue.talk_seconds, 2)})

    def _leave_queue(self, call: SimCall) -> None:
        with self._lock:
            call.in_queue = False
            for state in self.queues.values():
                if call.sid in state.waiting:
                    state.waiting.remove(call.sid)
                    state.entered.pop(call.sid, None)
                    state.updated_at = call.at()

    def _enqueue_action(
        self,
        call: SimCall,
        verb: ET.Element,
        doc_url: str | None,
        state: QueueState | None,
        result: str,
        waited: float,
        *,
        over: bool = False,
    ) -> NextRequest | None:
        """The action with QueueResult (QueueSid and QueueTime only if it was enqueued).

        `over`: the call is gone or going elsewhere (hung up, redirected): Twilio still
        reports the result, and the answer is ignored.
        """
        params = {"QueueResult": result}
        if state is not None:
            params.update({"QueueSid": state.sid, "QueueTime": str(int(waited))})
        self._note(call, "dequeued", {"result": result})
        if not verb.get("action"):
            return None
        action = _resolve(doc_url, verb.get("action"))
        method = verb.get("method", "POST").upper()
        if over:
            status = "in-progress" if result.startswith("redirected") else "completed"
            self._request(
                call,
                action,
                method,
                {**self._base_params(call, status), **params},
                kind="fetch",
                label="enqueue action (answer ignored)",
            )
            return None
        return action, method, None, params

    def _dial_queue(
        self, call: SimCall, noun: ET.Element, timeout: int, doc_url: str | None
    ) -> dict[str, str]:
        """Take the first caller waiting (waiting up to timeout for one to join); the
        caller's thread plays the <Queue url> document and runs the bridge."""
        name = twiml.text_of(noun)
        failed = {"DialCallStatus": "failed", "DialCallDuration": "0", "DialBridged": "false"}
        if not name or len(name) > MAX_QUEUE_NAME:
            code = 14212 if not name else 14213
            self._note(call, "error", {"code": code, "message": "Dial->Queue: bad queue name"})
            return failed
        with self._lock:
            state = self.queues.get(name)
        if state is None:
            # Twilio: "If the queue does not exist, Dial will post an error status".
            self._note(call, "error", {"message": f"Dial->Queue: no queue named {name!r}"})
            return failed
        url = _resolve(doc_url, noun.get("url")) if noun.get("url") else None
        self._note(call, "dial", {"queue": name})
        waited = 0.0
        while waited <= timeout:
            self._check_live(call)  # an agent hung up (or redirected) takes nobody
            dequeue = Dequeue(
                by=call.sid,
                queue_sid=state.sid,
                agent=call,
                url=url,
                method=(noun.get("method") or "POST").upper(),
            )
            caller = self._claim(state, dequeue)
            if caller is not None:
                self._note(call, "dequeued", {"caller": caller.sid})
                _wait_for(dequeue.done, caller)
                call.t += dequeue.whisper_seconds + dequeue.talk_seconds
                if not dequeue.bridged:
                    continue  # they hung up before the bridge: take the next one
                self._note(call, "unbridged", {"with": caller.sid, "by": dequeue.ended_by})
                if dequeue.ended_by == "agent":
                    self._note(call, "hangup", {"by": "api" if call.hangup_requested else "agent"})
                    raise _CallOver
                talk = str(math.ceil(dequeue.talk_seconds - 1e-9))
                return {
                    "DialCallStatus": "completed",
                    "DialCallSid": caller.sid,
                    "DialCallDuration": talk,
                    "DialBridged": "true",
                    "QueueSid": state.sid,
                    "DequeueResult": "bridged",
                    "DequeuedCallSid": caller.sid,
                    "DequeuedCallQueueTime": str(dequeue.queue_time),
                    "DequeuedCallDuration": talk,
                }
            self._pace(call, 1.0)
            waited += 1.0
        return {**failed, "DialCallStatus": "no-answer", "QueueSid": state.sid}


def _wait_for(done: threading.Event, caller: SimCall) -> None:
    """Until the caller's thread says the bridge is over (or their call has ended without
    saying so, which only a simulator failure does): then the agent's call goes on."""
    waited = 0.0
    while not done.wait(0.5):
        waited += 0.5
        caller_gone = caller.done.is_set()  # read first: their thread sets `done` before it
        if done.is_set():
            return
        if caller_gone or waited >= BRIDGE_WAIT_LIMIT:
            raise _CallOver
