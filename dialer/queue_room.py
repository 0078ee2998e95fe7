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

Each campaign is bounded by what its pace places for it alone: campaigns that share the
global limit together queue more than it places (a looser bound, never a call lost; how
the tick shares the line between them depends on their due times). The room is read
once a run: a call claimed meanwhile, or cancelled by the one-by-one path, frees its
place for the next run (the set path's cancellations come before the room is read).
While the room is taken, the bounded set path holds its candidates in memory, at most
the room (about 1 KB each: 90 MB at one call a second).

Who gets the places, when more are due than the room (Places, one ranking for the set
path's accounts and the one-by-one path's): the earliest due; among those due alike, the
one contacted longest ago (never, or not in the 10 days the planner reads, first); then
the lowest account. A call placed makes its account the most recently contacted, so the
next run's places go to those still waiting: under a backlog every account takes its turn
(the order of the queue before the bound, when a waiting row kept its first due time).

Until a dialer has set the pacing limits (dialer.claims.set_global_limits, at its start)
no bound is known, and the queue takes every due call.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select

from dialer.claims import GLOBAL_SCOPE
from hotline.enums import AttemptStatus
from hotline.models import ContactAttempt, DialerPacing

# Said of the accounts due but not queued, in the planner's report and audit.
QUEUE_FULL = "queue full: the pacing places no more calls before the horizon"
# Said of the accounts not even read: they could not have won a place (Places.cannot_place;
# an account with a planned call to keep or cancel, or a call under way, is read anyway).
QUEUE_FULL_UNCHECKED = "not checked: its campaign's queue is full"

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


class Rank(NamedTuple):
    """A call's place in the order the room is given (the module's docstring)."""

    due_at: dt.datetime
    contacted: bool  # contacted within the planner's history window
    last_contact: dt.datetime
    account_id: int

    @classmethod
    def of(cls, due_at: dt.datetime, last_contact: dt.datetime | None, account_id: int) -> Rank:
        return cls(due_at, last_contact is not None, last_contact or _NEVER, account_id)


class _Worst:
    """A heap entry ordered worst first (heapq keeps the least on top)."""

    __slots__ = ("rank", "row")

    def __init__(self, rank: Rank, row: dict[str, Any]) -> None:
        self.rank, self.row = rank, row

    def __lt__(self, other: _Worst) -> bool:
        return self.rank > other.rank  # ranks differ: each ends with its account


@dataclass
class Places:
    """The calls offered for each campaign's room this run, the best `room` of them kept.

    Bounded: a campaign keeps at most its room (a heap with the worst on top), so a run
    over a million accounts holds no more rows than the queue takes."""

    room: dict[int, int]
    waiting: int = 0  # offered, and not kept
    _kept: dict[int, list[_Worst]] = field(default_factory=dict)

    def offer(self, campaign_id: int, rank: Rank, row: dict[str, Any]) -> None:
        kept = self._kept.setdefault(campaign_id, [])
        heapq.heappush(kept, _Worst(rank, row))
        while len(kept) > self.room.get(campaign_id, 0):
            heapq.heappop(kept)
            self.waiting += 1

    def offer_all(self, offers: Sequence[tuple[int, Rank, dict[str, Any]]]) -> None:
        """Offer many at once: (campaign, rank, row)."""
        for campaign_id, rank, row in offers:
            self._kept.setdefault(campaign_id, []).append(_Worst(rank, row))
        for campaign_id, kept in self._kept.items():
            heapq.heapify(kept)
            while len(kept) > self.room.get(campaign_id, 0):
                heapq.heappop(kept)
                self.waiting += 1

    def cannot_place(self, campaign_id: int, account_id: int, now: dt.datetime) -> bool:
        """Whether an account of the campaign, however it is planned, could not win a
        place: the room is taken by calls due now (none can be due sooner) of accounts
        not recently contacted (none ranks before them) with lower ids. Sound because the
        room stays as read for the run: a planned call the one-by-one path cancels frees
        its place for the next run, not this one."""
        if campaign_id not in self.room:
            return False  # not running: no queue
        kept = self._kept.get(campaign_id, [])
        if self.room[campaign_id] <= 0:
            return True
        if len(kept) < self.room[campaign_id]:
            return False
        worst = kept[0].rank
        return worst.due_at <= now and not worst.contacted and account_id > worst.account_id

    def taken(self) -> list[dict[str, Any]]:
        """The rows kept, in account order: the order every planner inserts in (two at
        once then never wait each for the other's rows), and the one-by-one path's
        without a bound, so that with room for all the queue is the same (its ids break
        the tick's ties between calls due alike)."""
        kept = [e.row for entries in self._kept.values() for e in entries]
        return sorted(kept, key=lambda row: row["account_id"])


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
    connection: Connection, campaign_ids: Sequence[int], now: dt.datetime, horizon: dt.timedelta
) -> dict[int, int] | None:
    """Each campaign's room: its capacity under its pace, less the calls it has planned
    already within the horizon (a callback an agent booked for next week takes no place
    today's calls could have). None: no bound (no pacing set yet)."""
    rates = campaign_rates(connection, campaign_ids)
    if rates is None:
        return None
    planned = dict(
        connection.execute(
            select(ContactAttempt.campaign_id, func.count())
            .where(
                ContactAttempt.status == AttemptStatus.PLANNED,
                ContactAttempt.campaign_id.in_(list(campaign_ids)),
                ContactAttempt.due_at < now + horizon,
            )
            .group_by(ContactAttempt.campaign_id)
        ).all()
    )
    return {c: max(0, capacity(rate, horizon) - planned.get(c, 0)) for c, rate in rates.items()}
