"""Who the campaigns would call on a day, and for every other account why not and when
next: the same facts and rules as the planner, read only (nothing is queued or changed).

A day is each person's own local day (their home zone: the address's, else the first
number's); it starts now if that day is today. The history is as it stands: calls the day
itself would place are not simulated (a second call a day is previewed as possible).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.campaign_store import CampaignError, StoredCampaign, read_campaigns
from dialer.facts import AccountCase, load_cases
from dialer.planner import BATCH_SIZE, campaign_for, schedule_case
from dialer.policy import Decision
from dialer.queue_room import campaign_rates, capacity
from dialer.schedule import ScheduleMemo, home_zone
from hotline.accounts import core, tier_id_for
from hotline.campaign_port import PacingRow
from hotline.enums import AttemptStatus, CampaignStatus
from hotline.models import CardAccount, Cardholder
from hotline.phones import mask_phone


@dataclass(frozen=True)
class PreviewLine:
    account_number: str
    campaign: str
    campaign_status: CampaignStatus
    tier: str
    called: bool
    when: str  # local time and zone of the call, or of the next eligible time; "" if none
    number: str  # masked
    reason: str  # why not (or what held the call until `when`)


def preview(
    session: Session, day: dt.date, now: dt.datetime, campaign_name: str | None = None
) -> list[PreviewLine]:
    """One line per account a campaign works (the named one, or every one not finished)."""
    campaigns = [c for c in read_campaigns(session) if c.status is not CampaignStatus.FINISHED]
    if campaign_name is not None and campaign_name not in {c.name for c in campaigns}:
        names = ", ".join(sorted(c.name for c in campaigns)) or "none"
        raise CampaignError(f"no campaign {campaign_name!r} that is not finished (known: {names})")
    # Past everywhere (the last zones to end a day are 12 hours behind UTC): nothing to show.
    if dt.datetime.combine(day + dt.timedelta(days=1), dt.time(12), dt.UTC) <= now:
        raise CampaignError(f"{day.isoformat()} is past: preview today or a later day")
    tier_id_of = tier_id_for(session)
    connection = core(session)
    countries = sorted({c for campaign in campaigns for c in campaign.audience.countries})
    ids = list(
        connection.scalars(
            select(CardAccount.id)
            .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
            .where(Cardholder.country.in_(countries), CardAccount.days_past_due > 0)
            .order_by(CardAccount.id)
        )
    )
    lines = []
    memo = ScheduleMemo()
    for start in range(0, len(ids), BATCH_SIZE):
        for case in load_cases(connection, ids[start : start + BATCH_SIZE], now).cases:
            # The tier the planner would give it now (the stored one may be a day old).
            case.tier_id = tier_id_of(case.facts.days_past_due)
            campaign = campaign_for(case, campaigns)
            if campaign is None or (campaign_name and campaign.name != campaign_name):
                continue
            lines.append(_line(case, campaign, day, now, memo))
    return lines


def _line(
    case: AccountCase,
    campaign: StoredCampaign,
    day: dt.date,
    now: dt.datetime,
    memo: ScheduleMemo,
) -> PreviewLine:
    assert case.tier_id is not None
    head = _Head(case.facts.account_number, campaign.name, campaign.status)
    tier = campaign.tiers[case.tier_id].tier
    if case.open_attempt is not None and case.open_attempt[1] is not AttemptStatus.PLANNED:
        return head.line(tier, False, "", "", "a call is under way")
    if case.callback_queued:
        return head.line(tier, False, "", "", "a callback it asked for is queued")
    name = home_zone(case.facts, case.phones) or "UTC"
    zone = ZoneInfo(name)
    day_start = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    if day_end <= now:
        # The day is over where this person is (Shanghai's ends at 16:00 UTC) while it is
        # still on for others: said on their line, not a failure of the whole preview.
        return head.line(tier, False, "", "", f"{day.isoformat()} is already over in {name}")
    until = day_end - dt.timedelta(seconds=1)
    result = schedule_case(case, campaign, max(day_start, now), until, memo)

    def shown(moment: dt.datetime) -> str:
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {name}"

    if result.due_at is not None and result.number is not None:
        # What held the call until then (the calling window, mostly), without its date.
        held = result.campaign_reason or ("" if result.first.allowed else _why(result.first))
        return head.line(tier, True, shown(result.due_at), mask_phone(result.number), held)
    if not result.first.allowed and result.first.next_eligible is None:
        reason = result.first.explanation  # time alone will not lift it
    elif result.next_eligible is not None:
        why = result.campaign_reason or _why(result.first)
        reason = f"{why}; next eligible {shown(result.next_eligible)}"
    else:
        reason = result.first.explanation
    when = shown(result.next_eligible) if result.next_eligible else ""
    return head.line(tier, False, when, "", reason)


@dataclass(frozen=True)
class _Head:
    account_number: str
    campaign: str
    status: CampaignStatus

    def line(self, tier: str, called: bool, when: str, number: str, reason: str) -> PreviewLine:
        return PreviewLine(
            self.account_number, self.campaign, self.status, tier, called, when, number, reason
        )


def _why(decision: Decision) -> str:
    """A policy explanation without its "; next eligible ..." part."""
    return decision.explanation.split("; next eligible")[0]


class _Counted(Protocol):
    """A preview line as pacing_limits reads it (this module's or the desk port's)."""

    @property
    def campaign(self) -> str: ...

    @property
    def called(self) -> bool: ...


def pacing_limits(session: Session, lines: Sequence[_Counted]) -> list[PacingRow]:
    """The campaigns whose accounts to call outnumber what their pacing places in a day
    (dialer/queue_room.py); none before a dialer has set the pacing."""
    ids = {c.name: c.id for c in read_campaigns(session)}
    called: dict[str, int] = {}
    for line in lines:
        if line.called:
            called[line.campaign] = called.get(line.campaign, 0) + 1
    rates = campaign_rates(core(session), sorted(ids[name] for name in called))
    if rates is None:
        return []
    limits = []
    for name, count in sorted(called.items()):
        rate = rates[ids[name]]
        most = capacity(rate, dt.timedelta(days=1))
        if count > most:
            limits.append(PacingRow(name, count, rate, most))
    return limits


def summary(lines: Sequence[PreviewLine]) -> dict[str, int]:
    """Accounts not called, by reason (the reason's words before any date)."""
    counts: dict[str, int] = {}
    for line in lines:
        if not line.called:
            key = line.reason.split("; ")[0]
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
