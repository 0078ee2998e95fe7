"""How many more planned calls each campaign's queue takes: at most what its pacing can
place within the planning horizon.

The tick places a campaign's due calls oldest due first (dialer/claims.py), one pacing
interval apart at best, so a call with k calls ahead of it in its campaign's queue goes no
sooner than k intervals from now: one beyond what the pacing allows by the horizon could
not be placed before it. Leaving it out loses nothing: the next planning run, minutes
later, queues it as the queue drains (its account is planned afresh each run). Queuing
it cost every due account a row: at a million accounts, a first run wrote 817,296 planned
calls (25 of its 74 s, on PostgreSQL: a row and four foreign-key checks each) where a
dialer at one call a second places 86,401 a day.

Until a dialer has set the pacing limits (dialer.claims.set_global_limits, at its start)
no bound is known, and the queue takes every due call.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from dialer.claims import GLOBAL_SCOPE
from hotline.enums import AttemptStatus
from hotline.models import ContactAttempt, DialerPacing

# Said of the accounts due but not queued, in the planner's report and audit.
QUEUE_FULL = "queue full: the pacing places no more calls before the horizon"
# Said of the accounts not even read: their campaign's queue was full before their turn
# (only an account with a planned call to keep or cancel is read then).
QUEUE_FULL_UNCHECKED = "not checked: its campaign's queue is full"


@dataclass
class QueueRoom:
    """Room left per campaign id; `room` None: no bound (no pacing set yet)."""

    room: dict[int, int] | None

    def take(self, campaign_id: int) -> bool:
        """Take a place in the campaign's queue, if one is left."""
        if self.room is None:
            return True
        left = self.room.get(campaign_id, 0)
        if left <= 0:
            return False
        self.room[campaign_id] = left - 1
        return True

    def full(self, campaign_id: int) -> bool:
        """No place left in the running campaign's queue (never, without a bound; and a
        campaign not running has no queue to be full)."""
        return self.room is not None and self.room.get(campaign_id, 1) <= 0

    def give_back(self, campaign_id: int | None, places: int = 1) -> None:
        """A planned call of the campaign was cancelled: its place is free."""
        if self.room is not None and campaign_id in self.room:
            self.room[campaign_id] += places


def capacity(calls_per_second: float, horizon: dt.timedelta) -> int:
    """Calls a pacing of `calls_per_second` places in `horizon`, at most: one now and one
    each interval after (a burst of one, dialer/pacing.py)."""
    return math.floor(calls_per_second * horizon.total_seconds()) + 1


def campaign_rates(connection: Connection, campaign_ids: Sequence[int]) -> dict[int, float] | None:
    """Each campaign's pace, calls a second: the slower of the global limit and its own.
    None: no dialer has set the pacing yet."""
    global_rate = connection.scalar(
        select(DialerPacing.calls_per_second).where(DialerPacing.scope == GLOBAL_SCOPE)
    )
    if global_rate is None:
        return None
    own = dict(
        connection.execute(
            select(DialerPacing.campaign_id, DialerPacing.calls_per_second).where(
                DialerPacing.campaign_id.in_(list(campaign_ids))
            )
        ).all()
    )
    return {c: min(global_rate, own.get(c, global_rate)) for c in campaign_ids}


def queue_room(
    connection: Connection, campaign_ids: Sequence[int], horizon: dt.timedelta
) -> QueueRoom:
    """Each campaign's room: its capacity under its pace, less the calls it has planned
    already."""
    rates = campaign_rates(connection, campaign_ids)
    if rates is None:
        return QueueRoom(None)
    planned = dict(
        connection.execute(
            select(ContactAttempt.campaign_id, func.count())
            .where(
                ContactAttempt.status == AttemptStatus.PLANNED,
                ContactAttempt.campaign_id.in_(list(campaign_ids)),
            )
            .group_by(ContactAttempt.campaign_id)
        ).all()
    )
    return QueueRoom(
        {c: max(0, capacity(rate, horizon) - planned.get(c, 0)) for c, rate in rates.items()}
    )
