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

One memo serves one planning job in one process (dialer/process.py), for as long as it
runs; it holds a few numbers per account, never the case itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialer.schedule import Schedule

if TYPE_CHECKING:
    from dialer.campaign_store import StoredCampaign
    from dialer.facts import AccountCase


# Not due at any time while the case stays as it is (Decision.timeless).
NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class _Remembered:
    fingerprint: int
    computed_at: dt.datetime  # the search's start
    due_at: dt.datetime | None
    # Not due: nothing is allowed before this (a lower bound).
    not_before: dt.datetime | None
    reason: str | None


class PlanMemo:
    def __init__(self) -> None:
        self._last: dict[int, _Remembered] = {}
        self._campaign_keys: dict[tuple[int, int], int] = {}
        self.skipped = 0  # schedules not computed, over the memo's life

    def begin(self, campaigns: list[StoredCampaign]) -> None:
        """Key the run's campaigns by what a schedule reads of them: its profile and the
        tier's settings (read anew each run, so compared by value)."""
        self._campaign_keys = {
            (c.id, tier_id): hash((c.id, c.profile.name, id(c.profile), repr(settings)))
            for c in campaigns
            for tier_id, settings in c.tiers.items()
        }

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

    def remember(
        self,
        account_id: int,
        fingerprint: int,
        result: Schedule,
        start: dt.datetime,
        reason: str | None,
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
        self._last[account_id] = _Remembered(fingerprint, start, result.due_at, not_before, reason)

    def _known(self, account_id: int, fingerprint: int, now: dt.datetime) -> _Remembered | None:
        last = self._last.get(account_id)
        if last is None or last.fingerprint != fingerprint or now < last.computed_at:
            return None
        return last
