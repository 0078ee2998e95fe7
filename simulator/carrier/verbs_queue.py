"""<Enqueue>: waiting in a queue, with its wait URL, until someone or something ends it.

A queued caller's thread runs the whole wait: the waitUrl documents (Say, Play, Pause,
Gather, Redirect, Leave, Hangup, as Twilio allows there) until a `<Dial><Queue>` or the
simulated agent takes them (`call.dequeue`; the bridge is queue_bridge's), the REST API
redirects them, they leave, or they hang up. Every way out of the queue reaches the
action with Twilio's QueueResult (see `_verb_enqueue`).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from simulator import twiml
from simulator.carrier.interpreter import NextRequest
from simulator.carrier.queue_bridge import QueueBridge, _AgentLeft
from simulator.carrier.queues_rest import MAX_QUEUE_NAME
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
HOLD_MUSIC_SECONDS = 10.0


class QueueVerbs(QueueBridge):
    """<Enqueue> and its wait URL."""

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
        while True:
            result = "hangup"
            try:
                result = self._wait_in_queue(call, verb, doc_url, state, entered)
            except _CallOver:
                self._leave_queue(call)
                waited = call.t - entered
                self._enqueue_action(call, verb, doc_url, state, "hangup", waited, over=True)
                raise
            except _Redirected:
                self._leave_queue(call)
                waited = call.t - entered
                self._enqueue_action(call, verb, doc_url, state, "redirected", waited, over=True)
                raise
            finally:
                # Out of the waiting list first: nobody can claim them after this.
                self._leave_queue(call)
                if call.dequeue is not None and result != "dequeued":
                    call.dequeue.done.set()  # claimed as they left: the agent takes the next
            if result != "dequeued":
                return self._enqueue_action(call, verb, doc_url, state, result, call.t - entered)
            assert call.dequeue is not None
            try:
                return self._bridge_queued(call, verb, doc_url, state, call.dequeue, entered)
            except _AgentLeft:
                self._rejoin_front(call, state, entered)

    def _rejoin_front(self, call: SimCall, state: QueueState, entered: float) -> None:
        """The agent left before the bridge: the caller is back where they were, first."""
        with self._lock:
            state.waiting.insert(0, call.sid)
            state.entered[call.sid] = (entered, call.created_at + dt.timedelta(seconds=entered))
            call.in_queue, call.dequeue, call.bridged_with = True, None, None
        self._note(call, "enqueue", {"queue": state.name, "position": 1, "again": True})

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
