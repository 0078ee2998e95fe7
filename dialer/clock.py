"""Time as the dialer's jobs see it: read it, and wait for it (a stop can cut a wait short).

The jobs never read the system clock themselves, so a simulation drives them on a virtual
clock whose `sleep` just moves time on, and the process module hands them `SystemClock`.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current moment, UTC."""

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait `seconds`; False if `stop` was set first (the process is stopping)."""


class SystemClock:
    """The wall clock; waits end early when the process is told to stop."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        if seconds > 0:
            stop.wait(seconds)
        return not stop.is_set()


def sleep_until(clock: Clock, moment: dt.datetime, stop: threading.Event) -> bool:
    """Wait until `moment`; False if told to stop first."""
    return clock.sleep((moment - clock.now()).total_seconds(), stop)
