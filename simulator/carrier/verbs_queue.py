"""<Dial> and <Enqueue>: bridging to a number, waiting in a queue, taking a caller from it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from simulator import twiml
from simulator.carrier.interpreter import Interpreter
from simulator.carrier.records import QueueState, SimCall, _CallOver, _Dequeued, _resolve, new_sid


class QueueVerbs(Interpreter):
    """The verbs that bridge a call to another party or hold it in a queue."""

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
                self.VERBS[verb.tag](self, call, verb, url, False)
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
