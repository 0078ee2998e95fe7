"""What each account's schedule was at the planning job's last run, so that the next run
skips the accounts nothing has changed for.

After a campaign's first day most accounts have a recent contact, and the planner reads
them one by one (dialer/plan_sets.py plans only the plain ones as sets). Most of those it
then finds as before: a planned call that stands, or not due (a pause, a cap, a block). A
schedule (dialer/schedule.py) is a function of the account's facts, numbers, history and
past calls, its profile and tier settings, and the search's start and end; with all but
the times unchanged, a later start changes it only in a way known in advance (the search
finds the *first* instant both the policy and the tier's pacing allow):

- due at T from t0: from any t1 in [t0, T], due at T again;
- not due at t0 for a reason that holds until B: from t1, not due, for the same reason,
  while t1 + horizon < B. B is never for a denial no time lifts (a hard block, nothing
  due, no number diallable: Decision.timeless); or the end of the pause the reason
  names (a promise's, or the one after a conversation: Decision.not_before). Any other
  account not due (capped, waiting out a retry delay, outside its window past the
  horizon) is computed again next run: its reason may change on the way.

tests/unit/test_plan_memo.py holds those two to random accounts, histories and profiles.
So a run that finds an account's case equal to the last one (a fingerprint of everything
the schedule reads) skips its schedule when the answer is known: a planned call for its
campaign and tier, still due in the horizon, stands; an account without one stays not due
for the reason found then. Any other account, and every call
queued or cancelled, is computed as before. Nothing here decides a call: the policy is
asked again at the call's slot (dialer/recheck.py).

Nor does the memo read every account to find its case unchanged: the database says which
cardholders' facts changed since the last run (dialer/plan_changes.py, written by
triggers), and `catch_up` forgets those cardholders' accounts first. An account the memo
still knows, whose campaign (found anew from its tier and address) and campaign key are
the same, is answered without being read (`known`); the rest are read and fingerprinted
as before. A memo that has not caught up for TRUST_FOR starts over.

One memo serves one planning job in one process (dialer/process.py), for as long as it
runs; it holds a few numbers per account, never the case itself.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialer.plan_changes import KEEP, Position, read_changes
from dialer.schedule import Schedule

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from dialer.campaign_store import StoredCampaign
    from dialer.facts import AccountCase


# Not due at any time while the case stays as it is (Decision.timeless).
NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)
# A memo that has not read the changes for this long (wall seconds) starts over: the
# planner deletes them after plan_changes.KEEP, and a process stopped for days may have
# missed some. Far under KEEP, whatever the two machines' clocks say.
TRUST_FOR = dt.timedelta(days=1).total_seconds()
assert KEEP.total_seconds() > TRUST_FOR * 3


@dataclass(frozen=True, slots=True)
class _Remembered:
    fingerprint: int
    computed_at: dt.datetime  # the search's start
    due_at: dt.datetime | None
    # Not due: nothing is allowed before this (a lower bound).
    not_before: dt.datetime | None
    reason: str | None
    read: ReadAs | None


@dataclass(frozen=True, slots=True)
class ReadAs:
    """How an account was when its answer was computed, for `known` to answer it unread."""

    cardholder_id: int
    campaign_key: int
    # With an open planned attempt of its campaign and tier (a due answer stands only on
    # one), or with no open attempt at all (a not-due answer stands only so).
    open_same: bool
    no_open: bool


class PlanMemo:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._last: dict[int, _Remembered] = {}
        self._of_holder: dict[int, set[int]] = {}
        self._campaign_keys: dict[tuple[int, int], int] = {}
        self._position: Position | None = None
        self._caught_up_at = 0.0
        self._wall = wall
        self.skipped = 0  # schedules not computed, over the memo's life
        self.unread = 0  # of those, accounts not even read

    def catch_up(self, connection: Connection) -> None:
        """Forget the accounts of every cardholder whose facts changed since the last
        run; all of them on the first, after TRUST_FOR without a run, or when the feed
        cannot say (dialer/plan_changes.py)."""
        now = self._wall()
        trusted = self._position is not None and now - self._caught_up_at <= TRUST_FOR
        changes = read_changes(connection, self._position if trusted else None)
        if changes.start_over:
            self.forget()
        for holder in changes.holders:
            for account_id in self._of_holder.pop(holder, ()):
                self._last.pop(account_id, None)
        self._position, self._caught_up_at = changes.position, now

    def forget(self) -> None:
        """Know nothing: the next run computes, and reads, every account. For a run that
        failed: what it remembered may rest on its own writes, rolled back."""
        self._last.clear()
        self._of_holder.clear()
        self._position = None

    def begin(self, campaigns: list[StoredCampaign]) -> None:
        """Key the run's campaigns by what a schedule reads of them: its profile and the
        tier's settings (read anew each run, so compared by value)."""
        self._campaign_keys = {
            (c.id, tier_id): hash((c.id, tier_id, c.profile.name, id(c.profile), repr(settings)))
            for c in campaigns
            for tier_id, settings in c.tiers.items()
        }

    def known(
        self,
        account_id: int,
        campaign: StoredCampaign,
        tier_id: int,
        now: dt.datetime,
        horizon: dt.timedelta,
    ) -> tuple[bool, str | None] | None:
        """What an account not read is known to be, if known: (True, None), its open
        planned attempt stands, due within the horizon; (False, reason), not due for that
        reason. Only for an account whose cardholder has not changed since its answer
        was computed (catch_up forgot the others), in the same campaign under the same
        key."""
        last = self._last.get(account_id)
        read = last.read if last is not None else None
        if (
            last is None
            or read is None
            or now < last.computed_at
            or read.campaign_key != self._campaign_keys.get((campaign.id, tier_id))
        ):
            return None
        if last.due_at is not None:
            if not (read.open_same and now <= last.due_at <= now + horizon):
                return None
            answer: tuple[bool, str | None] = (True, None)
        else:
            if not read.no_open or last.not_before is None or last.not_before <= now + horizon:
                return None
            answer = (False, last.reason)
        self.skipped += 1
        self.unread += 1
        return answer

    def fingerprint(self, case: AccountCase, campaign: StoredCampaign) -> int:
        assert case.tier_id is not None
        return hash(
            (
                self._campaign_keys[(campaign.id, case.tier_id)],
                case.facts,
                tuple(case.phones),
                tuple(case.history),
                tuple(case.past_calls),
            )
        )

    def still_due(
        self, account_id: int, fingerprint: int, now: dt.datetime, horizon: dt.timedelta
    ) -> bool:
        """The account's schedule from `now` is known to be due within the horizon."""
        last = self._known(account_id, fingerprint, now)
        if last is None or last.due_at is None or not now <= last.due_at <= now + horizon:
            return False
        self.skipped += 1
        return True

    def not_due_reason(
        self, account_id: int, fingerprint: int, now: dt.datetime, horizon: dt.timedelta
    ) -> str | None:
        """The reason it is known not to be due within the horizon from `now`, if known."""
        last = self._known(account_id, fingerprint, now)
        if (
            last is None
            or last.due_at is not None
            or last.not_before is None
            or last.not_before <= now + horizon
        ):
            return None
        self.skipped += 1
        return last.reason

    def read_as(self, case: AccountCase, campaign: StoredCampaign, open_same: bool) -> ReadAs:
        assert case.tier_id is not None
        return ReadAs(
            case.cardholder_id,
            self._campaign_keys[(campaign.id, case.tier_id)],
            open_same,
            case.open_attempt is None,
        )

    def remember(
        self,
        account_id: int,
        fingerprint: int,
        result: Schedule,
        start: dt.datetime,
        reason: str | None,
        read: ReadAs | None = None,
    ) -> None:
        # Not due: remembered only where the reason counted stays the same as well, a
        # denial no time lifts or a pause (a next eligible time found past the horizon,
        # a retry delay say, is reached under another reason first: outside the window).
        if result.due_at is not None:
            not_before = None
        elif result.first.timeless:
            not_before = NEVER
        elif result.not_before is not None:
            not_before = result.not_before
        else:
            self._last.pop(account_id, None)
            return
        self._last[account_id] = _Remembered(
            fingerprint, start, result.due_at, not_before, reason, read
        )
        if read is not None:
            self._of_holder.setdefault(read.cardholder_id, set()).add(account_id)

    def _known(self, account_id: int, fingerprint: int, now: dt.datetime) -> _Remembered | None:
        last = self._last.get(account_id)
        if last is None or last.fingerprint != fingerprint or now < last.computed_at:
            return None
        return last
