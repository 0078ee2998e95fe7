"""The carrier's shared state: what every part of the Carrier reads and writes."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import secrets
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import requests

from simulator.callees import CalleeMix, PeopleMix, Script
from simulator.carrier.delivery import CallbackDelivery, CallbackScheduler
from simulator.carrier.records import Message, QueueState, SimCall
from simulator.clock import Clock


class CarrierState:
    """The attributes of a Carrier, set in one place.

    Who uses what (the parts are the modules of simulator.carrier, see its docstring):
    - account_sid, numbers, voice_url, inbound_status_callback, calls_per_second,
      _next_slot, _order, _pool: rest (creating and starting calls, shutting down).
    - auth_token, http: http (signing and sending webhooks).
    - clock: lifecycle (pacing, a call's end), rest (timestamps, the CPS queue).
    - calls, messages, scripts, mix: rest (the API's view; who answers, and how).
    - list_lag_seconds: rest (how long a new call stays out of GET Calls.json).
    - queues: queues_rest (the Queues API, configure, claim a caller), lifecycle (a call
      that ends leaves them), verbs_queue (<Enqueue>), verbs_dial (<Dial><Queue>).
    - payment_connectors: verbs_pay.
    - callback_delivery, _callbacks: lifecycle (sending callbacks in order or as Twilio
      may), http (a call's held-back callbacks arrive before its next request), rest
      (waiting for and shutting down deliveries).
    - _lock: one RLock over calls, queues, messages, call status and transcripts, taken
      in http, lifecycle, rest, queues_rest, interpreter, verbs_queue and verbs_dial,
      around the statements that read or change those records.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        numbers: Iterable[str],
        voice_url: str,
        clock: Clock | None = None,
        calls_per_second: float = 1.0,
        payment_connectors: Iterable[str] = ("Default",),
        inbound_status_callback: str | None = None,
        mix: CalleeMix | PeopleMix | None = None,
        http: requests.Session | None = None,
        max_workers: int = 64,
        list_lag_seconds: float = 0.0,
        callback_delivery: CallbackDelivery | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = frozenset(numbers)
        self.voice_url = voice_url
        self.clock = clock or Clock()
        self.calls_per_second = calls_per_second
        self.payment_connectors = frozenset(payment_connectors)
        self.inbound_status_callback = inbound_status_callback
        self.mix = mix
        # Twilio's call list is eventually consistent: a call just created can be fetched
        # by SID but is missing from the list for a while. 0: listed at once.
        self.list_lag_seconds = list_lag_seconds
        self.http = http or requests.Session()
        self.calls: dict[str, SimCall] = {}
        self.scripts: dict[str, Script] = {}
        self.queues: dict[str, QueueState] = {}
        self.messages: list[Message] = []
        self._lock = threading.RLock()
        self._next_slot: dt.datetime | None = None
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="call")
        self._order = itertools.count()
        self.callback_delivery = callback_delivery or CallbackDelivery()
        # A campaign simulation runs outbound calls itself, one at a time, when its clock
        # says (rest: take_held, run_held); otherwise each call starts on a thread at once.
        self.hold_calls = False
        # Where the carrier's own random codes come from (<Pay> confirmation codes and
        # tokens): a seeded Random replays them (a simulation); None: the secrets module.
        self.ids: random.Random | None = None
        self._held: list[SimCall] = []
        self._callbacks = CallbackScheduler(self.clock)

    def _token_hex(self, nbytes: int) -> str:
        """Random hex for the carrier's codes; seeded when `ids` is set."""
        if self.ids is None:
            return secrets.token_hex(nbytes)
        return self.ids.randbytes(nbytes).hex()
