"""Time for the simulator: real (the softphone) or virtual (campaigns in seconds).

Each call keeps its own offset from its start; `pace` is where a call "spends" time. In
virtual mode pacing only moves the call's offset, so a 30-day campaign runs in seconds
while every duration is still accounted for in timestamps, CallDuration and transcripts.
"""

from __future__ import annotations

import datetime as dt
import threading
import time


class Clock:
    """Wall-clock time; `speed` > 1 runs calls faster than life (tests), 1 is the softphone."""

    virtual = False

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def pace(self, seconds: float) -> None:
        """Let `seconds` of call time pass."""
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def reached(self, moment: dt.datetime) -> None:
        """A call's own time got to `moment` (it ended then); real time needs no telling."""


class VirtualClock(Clock):
    """A clock that only moves when told to; calls pace without sleeping."""

    virtual = True

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime.now(dt.UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> dt.datetime:
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)
            return self._now

    def set(self, moment: dt.datetime) -> None:
        with self._lock:
            self._now = moment

    def pace(self, seconds: float) -> None:
        return None

    def reached(self, moment: dt.datetime) -> None:
        """Move forward to `moment` if it is later: never back.

        Calls keep their own time while they run and the clock would otherwise stay where
        it started, so the next call would be created at the same instant as the last one
        (`date_created`, and newest-first lists, would be wrong). Moving to each call's end
        makes calls placed one after another follow each other in time, as they did.
        """
        with self._lock:
            if moment > self._now:
                self._now = moment
