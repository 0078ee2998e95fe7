"""The Queues REST API: queues and their members, and taking a caller off hold.

`GET/POST Queues.json`, `GET/POST Queues/{QU}.json`, `GET Queues/{QU}/Members.json`, and
`GET/POST Queues/{QU}/Members/{CA…|Front}.json`, with Twilio's error codes; simulator/
web_queues.py maps HTTP onto these methods. Dequeuing a member by REST is a redirect of
that call (Twilio: "have the member's call begin executing the TwiML document at that
URL"), so it reuses the Calls API's redirect: the caller's `<Enqueue>` sees it, reports
QueueResult `redirected` and the call fetches the Url. `<Dial><Queue>` and the simulated
agent take callers through `_claim` instead, which bridges them (verbs_queue).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from simulator.carrier.records import (
    LARGEST_MAX_QUEUE_SIZE,
    ApiError,
    Dequeue,
    QueueState,
    SimCall,
    _Redirected,
    new_sid,
)
from simulator.carrier.rest import RestApi, _first

# The longest queue name Twilio accepts (<Enqueue>, <Dial><Queue>, FriendlyName).
MAX_QUEUE_NAME = 64


@dataclass(frozen=True)
class Member:
    """One waiting call as the Member resource shows it."""

    call: SimCall
    queue: QueueState
    position: int
    wait_time: int
    enqueued_at: dt.datetime


class QueuesRest(RestApi):
    """Queues and members as the REST API (and the /sim API) sees them."""

    def list_queues(self) -> list[QueueState]:
        with self._lock:
            return sorted(self.queues.values(), key=lambda q: q.created_at)

    def queue_by_sid(self, sid: str) -> QueueState:
        with self._lock:
            for state in self.queues.values():
                if state.sid == sid:
                    return state
        raise ApiError(404, 20404, f"The requested resource /Queues/{sid}.json was not found")

    def create_queue(self, form: Mapping[str, list[str]]) -> QueueState:
        """POST Queues.json: FriendlyName (required), MaxSize (default 1000, at most 5000)."""
        one = functools.partial(_first, form)
        name = one("FriendlyName")
        if not name:
            raise ApiError(400, 20001, "Missing required parameter FriendlyName in the post body")
        max_size = _max_size(one("MaxSize"), 1000)
        with self._lock:
            _check_name(name)
            if name in self.queues:
                # Queues are found by name (<Enqueue>, <Dial><Queue>): two of one name would
                # make either ambiguous.
                raise ApiError(400, 20001, f"A queue named {name!r} already exists")
            now = self.clock.now()
            state = QueueState(
                new_sid("QU"), name, max_size=max_size, created_at=now, updated_at=now
            )
            self.queues[name] = state
            return state

    def update_queue(self, sid: str, form: Mapping[str, list[str]]) -> QueueState:
        """POST Queues/{QU}.json: rename it or change MaxSize."""
        one = functools.partial(_first, form)
        with self._lock:
            state = self.queue_by_sid(sid)
            name = one("FriendlyName")
            if name and name != state.name:
                _check_name(name)
                if name in self.queues:
                    raise ApiError(400, 20001, f"A queue named {name!r} already exists")
                del self.queues[state.name]
                state.name = name
                self.queues[name] = state
            if one("MaxSize"):
                state.max_size = _max_size(one("MaxSize"), state.max_size)
            state.updated_at = self.clock.now()
            return state

    def members(self, queue_sid: str) -> list[Member]:
        """GET Queues/{QU}/Members.json: the waiting calls, front first."""
        with self._lock:
            state = self.queue_by_sid(queue_sid)
            return [self._member(state, sid) for sid in state.waiting]

    def member(self, queue_sid: str, call_sid: str) -> Member:
        """GET Queues/{QU}/Members/{CA…|Front}.json."""
        with self._lock:
            state = self.queue_by_sid(queue_sid)
            return self._member(state, self._member_sid(state, call_sid))

    def dequeue_member(
        self, queue_sid: str, call_sid: str, form: Mapping[str, list[str]]
    ) -> Member:
        """POST Queues/{QU}/Members/{CA…|Front}.json with Url (and Method): that caller
        leaves the queue at once and fetches Url; its <Enqueue> action hears `redirected`."""
        one = functools.partial(_first, form)
        url = one("Url")
        if not url:
            raise ApiError(400, 20001, "Missing required parameter Url in the post body")
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, 21205, f"Url is not a valid URL: {url}")
        with self._lock:
            state = self.queue_by_sid(queue_sid)
            member = self._member(state, self._member_sid(state, call_sid))
            state.waiting.remove(member.call.sid)
            state.entered.pop(member.call.sid, None)
            state.updated_at = self.clock.now()
            member.call.pending_update = _Redirected(url, (one("Method") or "POST").upper(), None)
        self._note(member.call, "api", {"action": "dequeue", "queue": state.name, "url": url})
        return member

    def average_wait(self, state: QueueState) -> int:
        """Twilio's average_wait_time / AvgQueueTime: the mean wait of those waiting now."""
        with self._lock:
            waits = [self._member(state, sid).wait_time for sid in state.waiting]
        return sum(waits) // len(waits) if waits else 0

    def _member(self, state: QueueState, call_sid: str) -> Member:
        call = self.calls[call_sid]
        entered_t, entered_at = state.entered.get(call_sid, (call.t, call.at()))
        position = state.waiting.index(call_sid) + 1
        return Member(call, state, position, int(call.t - entered_t), entered_at)

    def _member_sid(self, state: QueueState, call_sid: str) -> str:
        if call_sid == "Front" and state.waiting:
            return state.waiting[0]
        if call_sid in state.waiting:
            return call_sid
        raise ApiError(
            404,
            20404,
            f"The requested resource /Queues/{state.sid}/Members/{call_sid}.json was not found",
        )

    # --- taking callers for a bridge (<Dial><Queue>, the simulated agent) ---------------

    def queue_named(self, name: str) -> QueueState:
        """The queue of that name, created on first use as <Enqueue> creates it."""
        with self._lock:
            state = self.queues.get(name)
            if state is None:
                now = self.clock.now()
                state = self.queues[name] = QueueState(
                    new_sid("QU"), name, created_at=now, updated_at=now
                )
            return state

    def configure_queue(self, name: str, agent_answers_after: float | None) -> QueueState:
        with self._lock:
            state = self.queue_named(name)
            state.agent_answers_after = agent_answers_after
            return state

    def _claim(self, state: QueueState, dequeue: Dequeue) -> SimCall | None:
        """Take the caller at the front for a bridge; their thread sees it at once."""
        with self._lock:
            if not state.waiting:
                return None
            caller = self.calls[state.waiting.pop(0)]
            state.entered.pop(caller.sid, None)
            state.updated_at = self.clock.now()
            caller.dequeue = dequeue
            caller.bridged_with = dequeue.by
            # How long they talk is the served caller's to say (their script's talk_seconds).
            caller.bridge_seconds = caller.party.script.talk_seconds if caller.party else 30.0
            return caller

    def dequeue(self, queue_name: str, agent: str = "client:agent") -> SimCall | None:
        """A simulated agent takes the first caller waiting in a queue (/sim API)."""
        with self._lock:
            state = self.queues.get(queue_name)
            if state is None:
                return None
            return self._claim(state, Dequeue(by=agent, queue_sid=state.sid))


def _check_name(name: str) -> None:
    if len(name) > MAX_QUEUE_NAME:
        raise ApiError(400, 20001, f"FriendlyName must be at most {MAX_QUEUE_NAME} characters")


def _max_size(value: str | None, default: int) -> int:
    if not value:
        return default
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not 1 <= size <= LARGEST_MAX_QUEUE_SIZE:
        raise ApiError(400, 20001, f"MaxSize must be between 1 and {LARGEST_MAX_QUEUE_SIZE}")
    return size
