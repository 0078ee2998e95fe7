"""<Enqueue>: waiting in a queue with its wait URL, and the bridge once someone takes you.

A queued caller's thread runs the whole wait: the waitUrl documents (Say, Play, Pause,
Gather, Redirect, Leave, Hangup, as Twilio allows there), and, once a `<Dial><Queue>` or
the simulated agent takes them (`call.dequeue`), the `<Queue url>` document and the
conversation itself, pacing the agent's call time alongside its own; the agent's thread
waits for `Dequeue.done`. Every way out of the queue reaches the action with Twilio's
QueueResult (see `_verb_enqueue`).
"""

from __future__ import annotations

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
    _Dequeued,
    _Redirected,
    _resolve,
)

# Verbs a waitUrl document may hold (Twilio's <Enqueue> page); anything else is an error.
WAIT_VERBS = frozenset({"Say", "Play", "Pause", "Gather", "Redirect", "Leave", "Hangup"})
# Verbs a <Queue url> document may hold, played to the caller before the bridge.
QUEUE_URL_VERBS = frozenset({"Say", "Play", "Pause", "Redirect"})
HOLD_MUSIC_SECONDS = 10.0


class QueueVerbs(Interpreter, QueuesRest):
    """<Enqueue>, and the documents a call runs outside its own TwiML (wait, whisper)."""

    def _verb_enqueue(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> NextRequest | None:
        """QueueResult: `leave` (<Leave>), `hangup` (the caller gave up or hung up),
        `redirected` (REST: Member dequeue or a Calls redirect), `error` (a bad queue name or
        waitUrl document), `queue-full`, `bridging-in-process` (hung up during the
        <Queue url> document), `bridged` (after the conversation), `redirected-from-bridged`
        (redirected while talking). `system-error` never arises here."""
        self._ensure_answered(call)
        name = twiml.text_of(verb)
        if not name or len(name) > MAX_QUEUE_NAME:
            code = 14204 if not name else 14205
            self._note(call, "error", {"code": code, "message": "Enqueue: bad queue name"})
            return self._enqueue_action(call, verb, doc_url, None, "error", 0)
        state = self.queue_named(name)
        with self._lock:
            if len(state.waiting) >= state.max_size:
                full = True
            else:
                full = False
                state.waiting.append(call.sid)
                state.entered[call.sid] = (call.t, call.at())
                state.updated_at = call.at()
                call.in_queue, call.dequeue, call.bridged_with = True, None, None
        if full:
            self._note(call, "enqueue", {"queue": name, "result": "queue-full"})
            return self._enqueue_action(call, verb, doc_url, None, "queue-full", 0)
        entered = call.t
        self._note(call, "enqueue", {"queue": name, "position": len(state.waiting)})
        try:
            result = self._wait_in_queue(call, verb, doc_url, state, entered)
        except _CallOver:
            self._leave_queue(call)
            self._enqueue_action(call, verb, doc_url, state, "hangup", call.t - entered, over=True)
            raise
        except _Redirected:
            self._leave_queue(call)
            self._enqueue_action(
                call, verb, doc_url, state, "redirected", call.t - entered, over=True
            )
            raise
        finally:
            call.in_queue = False
        self._leave_queue(call)
        if result == "dequeued":
            assert call.dequeue is not None
            return self._bridge_queued(call, verb, doc_url, state, call.dequeue, entered)
        return self._enqueue_action(call, verb, doc_url, state, result, call.t - entered)

    def _wait_in_queue(
        self,
        call: SimCall,
        verb: ET.Element,
        doc_url: str | None,
        state: QueueState,
        entered: float,
    ) -> str:
        """Hold until dequeued ("dequeued"), <Leave> ("leave") or a bad wait document
        ("error"); a caller out of patience hangs up (_CallOver)."""
        wait_url = verb.get("waitUrl")
        wait_method = verb.get("waitUrlMethod", "POST" if wait_url else "GET").upper()
        patience = call.party.script.hold_patience if call.party else 300.0
        while True:
            answer_after = state.agent_answers_after
            if (
                answer_after is not None
                and call.dequeue is None
                and call.t - entered >= answer_after
                and state.waiting[:1] == [call.sid]
            ):
                self._claim(state, Dequeue(by="client:sim-agent", queue_sid=state.sid))
            if call.dequeue is not None:
                return "dequeued"
            if call.t - entered >= patience:
                self._note(call, "hangup", {"by": "callee (tired of waiting)"})
                raise _CallOver
            try:
                if wait_url:
                    outcome = self._run_wait_url(
                        call, state, _resolve(doc_url, wait_url), wait_method, entered
                    )
                    if outcome is not None:
                        return outcome
                else:
                    # No waitUrl: Twilio's hold music; waitUrl="": silence.
                    self._note(call, "play", {"url": "(hold music)" if wait_url is None else ""})
                    self._pace(call, HOLD_MUSIC_SECONDS)
            except _Dequeued:
                continue  # the hold document stops at once; the loop's top bridges

    def _run_wait_url(
        self, call: SimCall, state: QueueState, url: str, method: str, entered: float
    ) -> str | None:
        """One pass of the wait document (and where its Redirects and Gathers lead)."""
        before = call.t
        extra: Mapping[str, str] = {}
        next_url: str | None = url
        while next_url is not None:
            current, next_url = next_url, None
            with self._lock:
                position = state.waiting.index(call.sid) + 1 if call.sid in state.waiting else 0
                size = len(state.waiting)
            params = {
                **self._base_params(call, "in-progress"),
                **extra,
                "QueuePosition": str(position),
                "QueueSid": state.sid,
                "QueueTime": str(int(call.t - entered)),
                "AvgQueueTime": str(self.average_wait(state)),
                "CurrentQueueSize": str(size),
                "MaxQueueSize": str(state.max_size),
            }
            verbs = self._side_document(call, current, method, params, "waitUrl")
            if verbs is None:
                return "error"
            for element in verbs:
                if call.dequeue is not None:
                    return None
                self._check_live(call)
                if element.tag not in WAIT_VERBS:
                    self._note(
                        call,
                        "error",
                        {"message": f"<{element.tag}> is not allowed in a waitUrl", "url": current},
                    )
                    return "error"
                if element.tag == "Leave":
                    self._note(call, "leave", {"queue": state.name})
                    return "leave"
                outcome = self.VERBS[element.tag](self, call, element, current, False)
                if outcome is not None:  # a Redirect, or a Gather's action: still on hold
                    next_url, method, _, extra = outcome
                    break
        if call.t == before:
            self._pace(call, 1.0)  # an empty wait document would otherwise spin
        return None

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
            agent = dequeue.agent
            if agent is not None and (agent.hangup_requested or agent.status != "in-progress"):
                self._note(call, "warning", {"message": "the agent left before the bridge"})
                return self._enqueue_action(call, verb, doc_url, state, "hangup", queued_for)
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
