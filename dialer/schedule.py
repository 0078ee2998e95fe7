"""When an account's next campaign call is due, and why then. Pure.

The contact policy (dialer/policy.py) says whether the law and the cardholder allow a call
at an instant; the campaign's tier settings add the bank's own pacing on top: at most
`attempts_per_day` calls a local day, at least `spacing` between two, and a retry delay
after each outcome. Both must hold at the due time, so the search alternates: the
campaign's earliest time, then the policy's next eligible instant from there, until one
instant satisfies both (each step only moves forward, and a few steps always settle it).
The decision stored with the attempt is the policy's at that instant: allowed, on which
numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from dialer.campaigns import RetryOutcome, TierSettings
from dialer.policy import (
    AccountFacts,
    Attempt,
    Decision,
    PhoneFacts,
    allowed_explanation,
    candidate_zones,
    decide,
)
from hotline.profiles import AttemptOutcome, ContactProfile

# Enough for the campaign's and the policy's constraints to agree; past it, no attempt.
MAX_ROUNDS = 8

_RETRY_FOR = {
    AttemptOutcome.NO_ANSWER: RetryOutcome.NO_ANSWER,
    AttemptOutcome.BUSY: RetryOutcome.BUSY,
    AttemptOutcome.VOICEMAIL: RetryOutcome.VOICEMAIL,
    AttemptOutcome.FAILED: RetryOutcome.FAILED,
    AttemptOutcome.INVALID: RetryOutcome.FAILED,
}


@dataclass(frozen=True)
class PastCall:
    """A campaign call already placed on this account (for spacing and retries)."""

    placed_at: dt.datetime
    outcome: AttemptOutcome


@dataclass(frozen=True)
class Schedule:
    # The policy's verdict at the start of the search: what a preview shows as the reason.
    first: Decision
    # The instant the call is due and the decision there (allowed), or None if not within
    # the horizon (then `first` and `next_eligible` say why and when).
    due_at: dt.datetime | None
    decision: Decision | None
    # The earliest instant both the policy and the campaign allow, if one was found.
    next_eligible: dt.datetime | None
    # The campaign's own reason when it, not the policy, holds the call back.
    campaign_reason: str | None = None
    # Not due at the start, its search stopped at the horizon's end: nothing is allowed,
    # and `first` names the same reason, before this (Decision.not_before).
    not_before: dt.datetime | None = None

    @property
    def number(self) -> str | None:
        return self.decision.phones[0] if self.decision and self.decision.phones else None


def home_zone(account: AccountFacts, phones: Sequence[PhoneFacts]) -> str | None:
    """The zone a person's local day is counted in for attempts per day: the address's
    first, else the first number's."""
    zones = candidate_zones(account, phones)
    return zones[0] if zones else None


def schedule(
    account: AccountFacts,
    phones: Sequence[PhoneFacts],
    history: Sequence[Attempt],
    past_calls: Sequence[PastCall],
    profile: ContactProfile,
    settings: TierSettings,
    start: dt.datetime,
    until: dt.datetime,
    *,
    bounded: bool = False,
) -> Schedule:
    """The first instant in [start, until] when a campaign call may be placed, if any.

    `bounded` (the planner's): the policy looks for a next eligible time only up to
    `until`, so a schedule that is not due may have none (the preview's says when)."""
    limit = until if bounded else None
    first = decide(account, phones, history, profile, start, until=limit)
    if not first.allowed and first.next_eligible is None:
        return Schedule(first, None, None, None, not_before=first.not_before)
    zone = home_zone(account, phones)
    moment, decision = start, first
    campaign_reason: str | None = None
    for _ in range(MAX_ROUNDS):
        earliest, why = _campaign_earliest(settings, past_calls, moment, zone)
        if earliest > moment:
            moment, campaign_reason = earliest, why
            decision = decide(account, phones, history, profile, moment, until=limit)
        if decision.allowed:
            if moment > until:
                return Schedule(first, None, None, moment, campaign_reason)
            return Schedule(first, moment, decision, moment, campaign_reason)
        if decision.next_eligible is None:
            return Schedule(first, None, None, None, campaign_reason)
        moment = decision.next_eligible
        if moment > until:
            return Schedule(first, None, None, moment, campaign_reason)
        decision = decide(account, phones, history, profile, moment, until=limit)
    return Schedule(first, None, None, None, campaign_reason)


def _campaign_earliest(
    settings: TierSettings, past: Sequence[PastCall], moment: dt.datetime, zone: str | None
) -> tuple[dt.datetime, str | None]:
    """The earliest instant at or after `moment` the tier's pacing allows, and why later."""
    earliest, why = moment, None
    if past:
        last = max(past, key=lambda c: c.placed_at)
        retry = _RETRY_FOR.get(last.outcome)
        wait = max(settings.spacing, settings.delay_after(retry) if retry else settings.spacing)
        if last.placed_at + wait > earliest:
            earliest = last.placed_at + wait
            why = f"retry delay after {last.outcome.value}" if retry else "spacing between calls"
    if zone is not None:
        local_zone = ZoneInfo(zone)
        day = earliest.astimezone(local_zone).date()
        placed_today = sum(1 for c in past if c.placed_at.astimezone(local_zone).date() == day)
        if placed_today >= settings.attempts_per_day:
            midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), local_zone)
            earliest = midnight.astimezone(dt.UTC)
            why = f"{settings.attempts_per_day} call(s) a day already placed"
    return earliest, why


class ScheduleMemo:
    """`schedule`, remembered across accounts that differ only in who they are.

    Most accounts of a portfolio have no recent contact, and then a schedule depends only on
    the account's flags, dispute, whether anything is due, reminder pause and address, and
    on each number's type, consent, blocks, allowed hours and zones, in order: never on the
    account number or the digits of a number (once its zones are known). Two such accounts
    get the same schedule with the numbers exchanged, position for position. Accounts with
    history, or a number whose zones are not known, are always computed. One memo serves
    one planning run (it holds the tier settings it was keyed by).
    """

    def __init__(self) -> None:
        self._seen: dict[Hashable, tuple[tuple[str, ...], Schedule]] = {}
        self.hits = 0

    def schedule(
        self,
        account: AccountFacts,
        phones: Sequence[PhoneFacts],
        history: Sequence[Attempt],
        past_calls: Sequence[PastCall],
        profile: ContactProfile,
        settings: TierSettings,
        start: dt.datetime,
        until: dt.datetime,
        *,
        exact: bool = True,
        bounded: bool = False,
    ) -> Schedule:
        """The account's schedule; with exact=False, possibly another account's of the same
        shape (its times and reasons are this account's; its numbers are not)."""
        arguments = (account, phones, history, past_calls, profile, settings, start, until)
        if history or past_calls or any(p.zones is None for p in phones):
            return schedule(*arguments, bounded=bounded)
        key = (
            account.flags,
            account.open_dispute,
            account.past_due_minor > 0 and account.days_past_due > 0,
            account.reminders_paused_until,
            account.country,
            account.address_region,
            tuple(
                (
                    p.type,
                    p.autodial_consent,
                    p.opted_out,
                    p.bad_number,
                    p.removed,
                    p.under_review,
                    p.allowed_hours,
                    p.zones,
                )
                for p in phones
            ),
            profile.name,
            id(settings),
            start,
            until,
            bounded,
        )
        numbers = tuple(p.e164 for p in phones)
        seen = self._seen.get(key)
        if seen is None:
            result = schedule(*arguments, bounded=bounded)
            self._seen[key] = (numbers, result)
            return result
        self.hits += 1
        source, result = seen
        if source == numbers or not exact:
            return result
        return renumbered(result, dict(zip(source, numbers, strict=True)))


def renumbered(result: Schedule, to: Mapping[str, str]) -> Schedule:
    """The schedule with its numbers exchanged by `to` (every one of them must be there)."""

    # Built directly (dataclasses.replace goes through the fields one by one): on a first
    # run over a large portfolio most accounts take this path.
    def decision(d: Decision | None) -> Any:
        if d is None:
            return None
        phones = tuple(to[p] for p in d.phones)
        return Decision(
            d.allowed,
            phones,
            d.reason,
            d.next_eligible,
            allowed_explanation(phones) if d.allowed else d.explanation,
            d.rule,
            tuple((to[p], r) for p, r in d.excluded),
            d.timeless,
            d.not_before,
        )

    first = decision(result.first)
    due = first if result.decision is result.first else decision(result.decision)
    return Schedule(
        first,
        result.due_at,
        due,
        result.next_eligible,
        result.campaign_reason,
        result.not_before,
    )
