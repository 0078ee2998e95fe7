"""How callbacks reach the app: in order (the default), or as Twilio may deliver them.

Twilio sends status callbacks as separate HTTP requests whose arrival order is not
guaranteed (the SequenceNumber says the firing order), some late, and a delivery may come
twice with the same I-Twilio-Idempotency-Token. `CallbackDelivery(mode="chaotic", seed=S)`
makes the simulator do the same, so the app's callback handling is tested against it:

- each callback draws from an RNG keyed by (seed, the call's two numbers and direction, the
  n-th such call, the callback), never by call sids or thread timing, so the same seed and
  the same calls give the same schedule;
- with probability `delay_rate` a delivery is held back up to `delay_max_seconds` of
  carrier time, and with probability `duplicate_rate` it is sent again later with the same
  token and body;
- on the real clock every delivery runs on a thread of its own, concurrently with the call
  and with each other; on the virtual clock deliveries are made in due order, one at a
  time, when the call's own time or the carrier's clock reaches them, so a seed replays
  exactly.

`CallbackScheduler` holds what is still to be delivered; `drain` (wait, wait_all and
shutdown call it) delivers or waits for all of it, so a test that waited for its calls has
every callback.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any

from simulator.clock import Clock

log = logging.getLogger(__name__)

MODES = ("in-order", "chaotic", "on-time")
# What a running simulator may be told to do (`hotline simulator --callbacks`): on-time needs
# a driver moving the virtual clock and releasing what is due (simulator/campaign.py).
SERVED_MODES = ("in-order", "chaotic")


@dataclass(frozen=True)
class CallbackDelivery:
    """How callbacks are delivered; `in-order`: once each, in firing order, before going on."""

    mode: str = "in-order"
    seed: int = 0
    duplicate_rate: float = 0.1
    delay_rate: float = 0.5
    delay_max_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode: {self.mode!r} is not one of {', '.join(MODES)}")
        for name in ("duplicate_rate", "delay_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1")
        if self.delay_max_seconds < 0:
            raise ValueError("delay_max_seconds: must not be negative")

    @property
    def chaotic(self) -> bool:
        return self.mode == "chaotic"

    @property
    def on_time(self) -> bool:
        """Virtual clock only (a campaign simulation): each callback once, when the
        carrier's clock (not the call's own time) reaches its event, so an app that sees a
        call's TwiML requests at the call's own time sees its status change at the moment
        the rest of the world reaches it (release, next_due)."""
        return self.mode == "on-time"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallbackDelivery:
        """From JSON (`PUT /sim/config`); a ValueError names the field that is wrong."""
        unknown = set(data) - {"mode", "seed", "duplicate_rate", "delay_rate", "delay_max_seconds"}
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown field")
        fields: dict[str, Any] = {}
        for name, kind in (
            ("mode", str),
            ("seed", int),
            ("duplicate_rate", float),
            ("delay_rate", float),
            ("delay_max_seconds", float),
        ):
            if name in data:
                try:
                    fields[name] = kind(data[name])
                except (TypeError, ValueError):
                    raise ValueError(f"{name}: not a {kind.__name__}") from None
        return cls(**fields)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def schedule(config: CallbackDelivery, key: str) -> tuple[float, ...]:
    """Seconds after the event at which each delivery of one callback is made.

    One delivery at once unless the mode is chaotic. Every draw is made whatever the
    outcome, so changing one rate never shifts the others' draws.
    """
    if not config.chaotic:
        return (0.0,)  # in order, or on time: once, at the event
    rng = random.Random(f"{config.seed}/{key}")
    delayed, delay = rng.random() < config.delay_rate, rng.uniform(0, config.delay_max_seconds)
    doubled, later = rng.random() < config.duplicate_rate, rng.uniform(0, config.delay_max_seconds)
    first = delay if delayed else 0.0
    return (first, first + later) if doubled else (first,)


class CallbackScheduler:
    """Deliveries not yet made: timers on the real clock, a queue by due time on the virtual."""

    def __init__(self, clock: Clock, max_workers: int = 32) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._due: list[tuple[dt.datetime, int, str, Callable[[], None]]] = []
        self._ending: set[int] = set()  # the orders of deliveries that tell of a call's end
        self._running: dict[str, set[Future[None]]] = {}
        self._order = itertools.count()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="callback")
        self._calls_between: dict[tuple[str, str, str], int] = {}
        self._keys: dict[str, str] = {}
        self._ended: set[str] = set()
        # Virtual clock: deliveries taken off _due and being made now, by call.
        self._making: dict[str, int] = {}
        self._delivering = threading.Lock()

    def call_key(self, sid: str, direction: str, from_: str, to: str) -> str:
        """A name for the call that replays: its numbers, direction, and which such call it is."""
        with self._lock:
            if sid not in self._keys:
                pair = (direction, from_, to)
                nth = self._calls_between.get(pair, 0)
                self._calls_between[pair] = nth + 1
                self._keys[sid] = f"{direction}/{from_}/{to}/{nth}"
            return self._keys[sid]

    def submit(
        self,
        sid: str,
        due: dt.datetime,
        delay: float,
        send: Callable[[], None],
        *,
        ends_call: bool = False,
    ) -> None:
        """Deliver `send` `delay` carrier seconds after its event (which is at `due` - delay);
        `ends_call`: it tells of the call's final status (see next_due)."""
        if self.clock.virtual:
            with self._lock:
                order = next(self._order)
                self._due.append((due, order, sid, send))
                if ends_call:
                    self._ending.add(order)
            return
        # A timer waits out the delay and only then takes a worker, so held-back deliveries
        # never keep due ones waiting for a thread.
        delivered: Future[None] = Future()
        with self._lock:
            self._running.setdefault(sid, set()).add(delivered)
        delivered.add_done_callback(lambda done: self._forget(sid, done))

        def hand_over() -> None:
            try:
                work = self._pool.submit(_run, send)
            except RuntimeError:  # shut down meanwhile: nobody is listening any more
                delivered.set_result(None)
                return
            work.add_done_callback(lambda _: delivered.set_result(None))

        timer = threading.Timer(delay / self.clock.speed, hand_over)
        timer.daemon = True
        timer.start()

    def release(self, upto: dt.datetime, sid: str | None = None) -> None:
        """Virtual clock: make the deliveries due by `upto`, earliest first.

        Given a sid, that running call's own (its thread calls this as its time passes);
        without, those of calls that have ended, so a call's deliveries are always made in
        due order whichever thread makes them, and a seed replays each call exactly.
        """
        if sid is not None:
            self._release(upto, lambda call: call == sid)
            return
        with self._delivering:  # one thread at a time over ended calls: due order holds
            self._release(upto, self._ended.__contains__)

    def next_due(self, *, ending: bool = False) -> dt.datetime | None:
        """Virtual clock: when the earliest delivery still held is due (None: none);
        `ending`: the earliest of those that tell of a call's final status."""
        with self._lock:
            return min(
                (item[0] for item in self._due if not ending or item[1] in self._ending),
                default=None,
            )

    def ended(self, sid: str) -> None:
        """The call's thread is done: its remaining deliveries are released with the rest."""
        with self._lock:
            self._ended.add(sid)

    def _release(self, upto: dt.datetime, chosen: Callable[[str], bool]) -> None:
        while True:
            with self._lock:
                ready = [item for item in self._due if item[0] <= upto and chosen(item[2])]
                if not ready:
                    return
                first = min(ready, key=lambda item: item[:2])
                self._due.remove(first)
                self._ending.discard(first[1])
                sid = first[2]
                self._making[sid] = self._making.get(sid, 0) + 1
            try:
                _run(first[3])
            finally:
                with self._lock:
                    left = self._making.pop(sid) - 1
                    if left:
                        self._making[sid] = left

    def pending(self, sid: str | None = None) -> int:
        with self._lock:
            held = sum(1 for item in self._due if sid in (None, item[2]))
            running = (
                sum(len(f) for f in self._running.values()) + sum(self._making.values())
                if sid is None
                else len(self._running.get(sid, ())) + self._making.get(sid, 0)
            )
            return held + running

    def drain(self, timeout: float = 30.0, sid: str | None = None) -> None:
        """Make or wait for every delivery still to come (one call's, given its sid)."""
        with self._delivering:
            self._release(dt.datetime.max.replace(tzinfo=dt.UTC), lambda call: sid in (None, call))
        with self._lock:
            futures = [
                f for call, running in self._running.items() if sid in (None, call) for f in running
            ]
        _, late = wait(futures, timeout=timeout)
        if late:
            raise TimeoutError(f"{len(late)} callback deliveries still running after {timeout} s")

    def shutdown(self, timeout: float = 30.0) -> None:
        try:
            self.drain(timeout)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def delivering(self) -> set[str]:
        """The calls with a delivery held or under way (being made on the virtual clock, or
        on a timer or worker on the real one)."""
        with self._lock:
            return {item[2] for item in self._due} | set(self._making) | set(self._running)

    def forget(self, sids: Iterable[str]) -> None:
        """These calls are gone from the carrier (Carrier.forget_ended): nothing of theirs
        is held any more."""
        with self._lock:
            for sid in sids:
                self._ended.discard(sid)
                self._keys.pop(sid, None)

    def _forget(self, sid: str, done: Future[None]) -> None:
        with self._lock:
            running = self._running.get(sid)
            if running is not None:
                running.discard(done)
                if not running:
                    del self._running[sid]


def _run(send: Callable[[], None]) -> None:
    try:
        send()
    except Exception:  # a delivery's failure must not take the scheduler's thread with it
        log.exception("callback delivery failed")
