"""<Dial>: child calls to numbers, clients and SIP addresses, or a caller from a queue.

Each `<Number>`, `<Client>` or `<Sip>` becomes a call of its own (direction
`outbound-dial`, `parent_call_sid` set, fetchable by REST, its own status callbacks from the
noun's statusCallback/statusCallbackEvent). They ring at once; the first to answer wins
and the others are canceled, as Twilio rings them. The winner hears sendDigits and the
noun's `url` document (the whisper) before the bridge; a whisper that hangs up leaves the
caller unbridged. Children have no thread of their own: the parent's thread paces them,
so both sides' call time moves together. `<Dial><Queue>` takes a waiting caller instead
(queue_bridge).
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from simulator import twiml
from simulator.callees import Party
from simulator.carrier.lifecycle import _hangs_up_after
from simulator.carrier.records import (
    TERMINAL,
    SimCall,
    _CallOver,
    _Redirected,
    _resolve,
    new_sid,
)
from simulator.carrier.verbs_queue import QueueVerbs

LEG_NOUNS = ("Number", "Client", "Sip")
# A step of ringing: often enough that a REST cancel or the winner's answer lands on time.
RING_STEP = 0.25
# Seconds per DTMF tone of sendDigits, and per `w` (half a second's pause, as on Twilio).
DIGIT_SECONDS, PAUSE_SECONDS = 0.2, 0.5


@dataclass
class Leg:
    """One dialed noun and the child call ringing it."""

    call: SimCall
    noun: ET.Element | None
    # When (seconds into the ringing) it answers, or gives up busy / failed / no-answer.
    at: float
    outcome: str  # "answer", "busy", "failed", "no-answer"


class DialVerbs(QueueVerbs):
    """<Dial> with its nouns."""

    def _verb_dial(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]] | None:
        self._ensure_answered(call)
        timeout = twiml.attr_int(verb, "timeout", 30)
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else None
        method = verb.get("method", "POST").upper()
        queue = next((child for child in verb if child.tag == "Queue"), None)
        # How the dial stands, kept up to date: what the action hears if the caller hangs up.
        progress = {"DialCallStatus": "canceled", "DialBridged": "false"}
        try:
            if queue is not None:
                params = self._dial_queue(call, queue, timeout, doc_url)
            else:
                params = self._dial_legs(call, verb, timeout, doc_url, progress)
        except _CallOver:
            if action:  # the caller hung up: Twilio still reports the dial; answer ignored
                leg = self.calls.get(progress.get("DialCallSid", ""))
                if leg is not None and leg.duration is not None:
                    progress["DialCallDuration"] = str(leg.duration)
                self._request(
                    call,
                    action,
                    method,
                    {**self._base_params(call, "completed"), **progress},
                    kind="fetch",
                    label="dial action (answer ignored)",
                )
            raise
        if not action:
            return None  # without an action the call goes on with the next verb
        return action, method, None, params

    # --- numbers, clients, SIP ----------------------------------------------------------

    def _dial_legs(
        self,
        call: SimCall,
        verb: ET.Element,
        timeout: int,
        doc_url: str | None,
        progress: dict[str, str],
    ) -> dict[str, str]:
        nouns: list[ET.Element | None] = [c for c in verb if c.tag in LEG_NOUNS]
        if not nouns and twiml.text_of(verb):
            nouns = [None]  # <Dial>+14155550199</Dial>
        if not nouns:
            self._note(call, "warning", {"message": "<Dial> with nothing to dial"})
            return {"DialCallStatus": "failed", "DialCallDuration": "0", "DialBridged": "false"}
        caller_id = verb.get("callerId") or call.from_
        legs = [self._new_leg(call, verb, noun, caller_id, timeout, doc_url) for noun in nouns]
        self._note(call, "dial", {"to": [leg.call.to for leg in legs], "timeout": timeout})
        handed_off: set[str] = set()  # a child redirected by REST runs on by itself
        progress["DialCallSid"] = legs[0].call.sid
        try:
            winner = self._ring(call, legs, timeout)
            if winner is None:
                return _unanswered(legs)
            progress.update(DialCallStatus="completed", DialCallSid=winner.call.sid)
            bridged = self._connect(call, winner, doc_url)
            if not bridged:
                self._end_leg(call, winner.call, "completed")
                return _dial_params(winner.call, bridged=False)
            progress["DialBridged"] = "true"
            redirected = self._talk_to_leg(call, winner.call, verb)
            if redirected:
                handed_off.add(winner.call.sid)
                return {
                    "DialCallStatus": "completed",
                    "DialCallSid": winner.call.sid,
                    "DialBridged": "true",
                }
            self._end_leg(call, winner.call, "completed")
            return _dial_params(winner.call, bridged=True)
        finally:
            for leg in legs:  # the caller hung up (or was redirected) mid-dial
                if leg.call.status not in TERMINAL and leg.call.sid not in handed_off:
                    live = leg.call.status == "in-progress"
                    self._end_leg(call, leg.call, "completed" if live else "canceled")

    def _new_leg(
        self,
        parent: SimCall,
        verb: ET.Element,
        noun: ET.Element | None,
        caller_id: str,
        timeout: int,
        doc_url: str | None,
    ) -> Leg:
        tag = noun.tag if noun is not None else "Number"
        address = twiml.text_of(noun if noun is not None else verb)
        if tag == "Client":
            identity = noun.find("Identity") if noun is not None else None
            name = twiml.text_of(identity) if identity is not None else address
            address = name if name.startswith("client:") else f"client:{name}"
        # <Number> reports `completed` unless told otherwise; <Client> and <Sip> nothing.
        default_events = "completed" if tag == "Number" else ""
        events = (noun.get("statusCallbackEvent") if noun is not None else None) or ""
        callback = noun.get("statusCallback") if noun is not None else None
        at = parent.at()
        child = SimCall(
            sid=new_sid("CA"),
            account_sid=parent.account_sid,
            to=address,
            from_=caller_id,
            direction="outbound-dial",
            url=None,
            status_callback=_resolve(doc_url, callback) if callback else None,
            status_callback_method=(
                (noun.get("statusCallbackMethod") if noun is not None else None) or "POST"
            ).upper(),
            status_events=frozenset((events or default_events).split()),
            timeout=timeout,
            time_limit=twiml.attr_int(verb, "timeLimit", 14400),
            parent_call_sid=parent.sid,
            created_at=at,
            updated_at=at,
            start_time=at,
            seq=next(self._order),
            party=Party(self.script_for(address)),
        )
        with self._lock:
            self.calls[child.sid] = child
        self._note(child, "created", {"to": address, "from": caller_id, "parent": parent.sid})
        script = child.party.script if child.party else None
        assert script is not None
        if script.answer in ("failed", "invalid"):
            outcome, ends = "failed", 0.0
        elif script.answer == "busy":
            outcome, ends = "busy", min(script.ring_seconds, float(timeout))
        elif script.answer == "no-answer" or script.ring_seconds > timeout:
            outcome, ends = "no-answer", float(timeout)
        else:
            outcome, ends = "answer", script.ring_seconds
        return Leg(child, noun, ends, outcome)

    def _ring(self, parent: SimCall, legs: list[Leg], timeout: int) -> Leg | None:
        """Ring every leg at once; the first to answer wins, the others are canceled."""
        for leg in legs:
            self._set_status(leg.call, "queued", event="initiated", callback_status="initiated")
            if leg.outcome == "failed":
                self._note(leg.call, "carrier", {"result": "failed"})
                self._end_leg(parent, leg.call, "failed")
            else:
                self._set_status(leg.call, "ringing", event="ringing")
        answering = [leg for leg in legs if leg.outcome == "answer"]
        winner = min(answering, key=lambda leg: leg.at) if answering else None
        elapsed = 0.0
        while True:
            ringing = [leg for leg in legs if leg.call.status == "ringing"]
            for leg in ringing:
                if leg.call.hangup_requested:  # canceled by REST
                    self._end_leg(parent, leg.call, "canceled")
                elif leg is not winner and leg.at <= elapsed + 1e-9:
                    self._end_leg(parent, leg.call, leg.outcome)
            if winner is not None and winner.call.status == "ringing" and winner.at <= elapsed:
                self._answer(winner.call)
                self._note(parent, "answered", {"by": winner.call.to, "sid": winner.call.sid})
                for leg in legs:
                    if leg.call.status == "ringing":
                        self._end_leg(parent, leg.call, "canceled")
                return winner
            ringing = [leg for leg in legs if leg.call.status == "ringing"]
            if not ringing or elapsed >= timeout:
                for leg in ringing:
                    self._end_leg(parent, leg.call, "no-answer")
                return None
            next_event = min(leg.at for leg in ringing)
            chunk = max(1e-3, min(RING_STEP, next_event - elapsed, timeout - elapsed))
            self._together(parent, [leg.call for leg in ringing], chunk)
            elapsed += chunk

    def _connect(self, parent: SimCall, winner: Leg, doc_url: str | None) -> bool:
        """sendDigits, then the whisper (`url`) on the callee: True if they stay on."""
        noun, child = winner.noun, winner.call
        digits = noun.get("sendDigits") if noun is not None else None
        if digits:
            self._note(child, "play", {"digits": digits})
            seconds = sum(PAUSE_SECONDS if d == "w" else DIGIT_SECONDS for d in digits)
            self._together(parent, [child], seconds)
        url = noun.get("url") if noun is not None else None
        if noun is None or not url:
            return True
        started = child.t
        try:
            self._whisper(child, _resolve(doc_url, url), (noun.get("method") or "POST").upper())
            stays = True
        except _CallOver:
            stays = False
        except _Redirected:
            child.pending_update = None
            stays = False
        # The caller heard ringing meanwhile: their time moves on as much (without pacing
        # again: on the real clock the whisper has already taken that long).
        parent.t += child.t - started
        self._check_live(parent)
        return stays

    def _whisper(self, child: SimCall, url: str, method: str) -> None:
        """The callee's `url` document; running off its end bridges, <Hangup> does not."""
        next_url: str | None = url
        extra: Mapping[str, str] = {}
        hops = 0
        while next_url is not None and hops < 10:
            current, next_url, hops = next_url, None, hops + 1
            params = {**self._base_params(child, "in-progress"), **extra}
            verbs = self._side_document(child, current, method, params, "whisper")
            if verbs is None:
                raise _CallOver  # an unreadable whisper ends the child leg
            for element in verbs:
                if element.tag not in ("Say", "Play", "Pause", "Gather", "Redirect", "Hangup"):
                    self._note(child, "warning", {"message": f"<{element.tag}> skipped"})
                    continue
                outcome = self.VERBS[element.tag](self, child, element, current, False)
                if outcome is not None:  # a Gather's action or a Redirect
                    next_url, method, _, extra = outcome
                    break

    def _talk_to_leg(self, parent: SimCall, child: SimCall, verb: ET.Element) -> bool:
        """The bridge: the callee's talk_seconds, bounded by either side hanging up and by
        the Dial's timeLimit. True if the child was redirected away by REST."""
        script = child.party.script if child.party else None
        talk = script.talk_seconds if script else 30.0
        hangs_up = _hangs_up_after(script) if script else None
        if hangs_up is not None and child.answered_offset is not None:
            talk = min(talk, max(0.0, hangs_up - (child.t - child.answered_offset)))
        talk = min(talk, float(twiml.attr_int(verb, "timeLimit", 14400)))
        self._note(parent, "bridged", {"with": child.sid, "seconds": talk})
        talked = 0.0
        while talked < talk - 1e-9:
            if child.hangup_requested:
                self._note(child, "hangup", {"by": "api"})
                break
            if child.pending_update is not None:
                self._redirect_leg(parent, child)
                return True
            step = min(0.5, talk - talked)
            self._together(parent, [child], step)
            talked += step
        return False

    def _redirect_leg(self, parent: SimCall, child: SimCall) -> None:
        """A child redirected by REST leaves the bridge and runs its new TwiML alone."""
        update, child.pending_update = child.pending_update, None
        assert update is not None
        self._note(parent, "unbridged", {"with": child.sid, "by": "redirect of the child"})

        def run(leg: SimCall) -> None:
            with contextlib.suppress(_CallOver):
                self._execute(leg, update.url, update.method, update.twiml_text)
            self._finish(leg, "completed")

        self._pool.submit(self._guarded, run, child)

    def _together(self, parent: SimCall, children: list[SimCall], seconds: float) -> None:
        """Pace the parent (its hangups and redirects stop the dial) and move its children's
        time by as much."""
        before = parent.t
        try:
            self._pace(parent, seconds)
        finally:
            for child in children:
                child.t += parent.t - before

    def _end_leg(self, parent: SimCall, child: SimCall, status: str) -> None:
        self._finish(child, status)
        self._note(parent, "leg", {"sid": child.sid, "status": status})
        child.done.set()


def _dial_params(child: SimCall, *, bridged: bool) -> dict[str, str]:
    return {
        "DialCallStatus": "completed",
        "DialCallSid": child.sid,
        "DialCallDuration": str(child.duration or 0),
        "DialBridged": str(bridged).lower(),
    }


def _unanswered(legs: list[Leg]) -> dict[str, str]:
    """Nobody answered: one leg's status, or for several the likeliest to say why."""
    statuses = [leg.call.status for leg in legs]
    for status in ("no-answer", "busy", "canceled", "failed"):
        if status in statuses:
            break
    last = max(legs, key=lambda leg: (leg.call.status == status, leg.at))
    return {
        "DialCallStatus": status,
        "DialCallSid": last.call.sid,
        "DialCallDuration": "0",
        "DialBridged": "false",
    }
