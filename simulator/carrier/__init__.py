"""The carrier: calls, their lifecycle, and the TwiML they run.

Each call runs on its own thread. It requests TwiML from the app exactly as Twilio does
(form-encoded, signed with X-Twilio-Signature, Twilio's parameters), executes the verbs
against the callee's script, sends status callbacks in Twilio's order, and writes every
step to the call's transcript. Time goes through the Clock, so in virtual mode a call
that "lasts" ten minutes finishes at once with its durations intact.

Where to look:
- records.py: SimCall, SimRecording, QueueState, Message, Entry, ApiError, the exceptions
  that steer a running call, and the sid/date/URL helpers;
- call_params.py, call_list.py: pure rules of POST Calls.json (its parameters, refused
  destinations, SendDigits' timing) and GET Calls.json (filters, pages);
- connection.py: Twilio's URL-fragment connection overrides (timeouts, retries; pure);
- delivery.py: how callbacks are delivered (in order, or seeded-chaotic) and the scheduler;
- state.py: CarrierState, every attribute the parts share, and which part uses which;
- http.py: the signed webhook requests, their retries, callbacks sent now or scheduled,
  and the transcript notes;
- lifecycle.py: running a call (CPS queue, ringing, answer, AMD, call time, the end) and
  the status, recording and AMD callbacks;
- rest.py: what the REST API does to the carrier's state, with Twilio's error codes;
- queues_rest.py: the Queues and Members REST API, and taking a caller from a queue;
- interpreter.py: fetching and executing TwiML documents, the simple verbs and <Gather>;
- queue_bridge.py: taking a caller off hold (<Dial><Queue>, the <Queue url> document, the
  conversation, the QueueResult), and documents run outside a call's flow (wait, whisper);
- verbs_queue.py: <Enqueue> and its wait URL; verbs_dial.py: <Dial> (child calls ringing
  at once, sendDigits, whispers); verbs_pay.py: <Pay>;
- messaging.py: SMS (the Messages API, delivery and status callbacks, texts to the line,
  Twilio's STOP/START/HELP handling), with its pure rules in sms_rules.py;
- this module: the Carrier, which assembles the parts and holds the VERBS table.

Why one class made of layers rather than collaborators: a call's thread moves through every
part at once (a <Pay> stage paces call time, which checks for a hangup, which ends the call
and sends its callbacks), and every part takes the same lock over the same records. Split
into objects, each would hold a reference to all the others and the lock; as layers, each
part is a class that builds only on the ones below it (records <- state <- http <-
lifecycle <- rest <- queues_rest, interpreter <- queue_bridge <- verbs_queue <- verbs_dial,
verbs_pay <- Carrier; and rest <- messaging <- Carrier, SMS using none of the call
machinery), so a reader finds a method in the part named for what it does, and every part
takes the one lock around the records it reads or changes. The one call upward,
lifecycle's `_execute`, is declared there and provided by the interpreter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from simulator import twiml
from simulator.carrier.interpreter import (
    APPLICATION_ERROR,
    Interpreter,
    NextRequest,
    Verb,
    _collect_digits,
    speech_seconds,
)
from simulator.carrier.messaging import Messaging
from simulator.carrier.records import (
    API_VERSION,
    LIVE,
    TERMINAL,
    ApiError,
    Entry,
    Message,
    QueueState,
    SimCall,
    SimRecording,
    new_sid,
    rfc2822,
)
from simulator.carrier.verbs_dial import DialVerbs
from simulator.carrier.verbs_pay import PayVerbs
from simulator.carrier.verbs_queue import QueueVerbs

__all__ = [
    "API_VERSION",
    "APPLICATION_ERROR",
    "LIVE",
    "TERMINAL",
    "ApiError",
    "Carrier",
    "Entry",
    "Message",
    "NextRequest",
    "QueueState",
    "SimCall",
    "SimRecording",
    "Verb",
    "_collect_digits",
    "new_sid",
    "rfc2822",
    "speech_seconds",
]


class Carrier(DialVerbs, PayVerbs, Interpreter, Messaging):
    """The simulated carrier behind the REST API and the softphone."""

    # Every verb the parser passes on (twiml.SUPPORTED), and the method that runs it.
    VERBS: ClassVar[Mapping[str, Verb]] = {
        "Say": Interpreter._verb_say,
        "Play": Interpreter._verb_play,
        "Pause": Interpreter._verb_pause,
        "Gather": Interpreter._verb_gather,
        "Redirect": Interpreter._verb_redirect,
        "Hangup": Interpreter._verb_hangup,
        "Reject": Interpreter._verb_reject,
        "Record": Interpreter._verb_record,
        "Start": Interpreter._verb_start,
        "Leave": Interpreter._verb_leave,
        "Dial": DialVerbs._verb_dial,
        "Enqueue": QueueVerbs._verb_enqueue,
        "Pay": PayVerbs._verb_pay,
    }


# A verb the parser lets through with no handler would fail every call that uses it.
if Carrier.VERBS.keys() != twiml.SUPPORTED:
    raise RuntimeError(
        f"VERBS and twiml.SUPPORTED differ: {Carrier.VERBS.keys() ^ twiml.SUPPORTED}"
    )
