"""Campaigns in the database: storing a checked file, listing, starting, pausing, and
reading them back for the planner. The caller's session, never committed here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from dialer.campaigns import Audience, CampaignFile, TierBandSpec, TierSettings, overlapping
from hotline import audit
from hotline.campaign_port import StatusChange
from hotline.enums import HOLDS_TEXTS, AttemptStatus, CampaignStatus, TextStatus
from hotline.models import (
    OPEN_ATTEMPT_STATUSES,
    Campaign,
    CampaignTier,
    CardAccount,
    ContactAttempt,
    DelinquencyTier,
    TextMessage,
)
from hotline.profiles import PROFILES, ContactProfile
from hotline.tiers import TierBand, check_no_overlap


class CampaignError(ValueError):
    """A campaign command that cannot be done as asked (said in one line)."""


@dataclass(frozen=True)
class StoredCampaign:
    """A campaign as the planner and the preview read it."""

    id: int
    name: str
    status: CampaignStatus
    profile: ContactProfile
    caller_id: str
    audience: Audience
    description: str
    starts_on: dt.date | None
    ends_on: dt.date | None
    tiers: dict[int, TierSettings]  # tier id -> settings

    def runs_on(self, day: dt.date) -> bool:
        return (self.starts_on is None or self.starts_on <= day) and (
            self.ends_on is None or day <= self.ends_on
        )


@dataclass(frozen=True)
class LoadReport:
    created: list[str]
    updated: list[str]
    not_in_file: list[str]
    tiers: list[str]
    # "NAME: active -> paused" for each campaign whose status the file changed.
    status_changes: list[str]


def _stored(campaign: Campaign) -> tuple[object, ...]:
    """What a campaigns file sets of a stored campaign, to tell a change from a reload."""
    return (
        campaign.status,
        campaign.profile,
        campaign.caller_id,
        campaign.settings,
        sorted((link.tier_id, link.settings) for link in campaign.tiers),
    )


def store_file(session: Session, spec: CampaignFile, *, actor: str, now: dt.datetime) -> LoadReport:
    """Store the file's tiers (if it has a [tiers] table) and campaigns, by name."""
    if spec.tiers is not None:
        _replace_tiers(session, spec.tiers)
    tiers = {t.code: t for t in session.scalars(select(DelinquencyTier))}
    missing = sorted({s.tier for c in spec.campaigns for s in c.tiers} - set(tiers))
    if missing:
        raise CampaignError(
            f"no tier {', '.join(missing)} in the database: add a [tiers] table to the file"
        )
    existing = {
        c.name: c for c in session.scalars(select(Campaign).options(selectinload(Campaign.tiers)))
    }
    created: list[str] = []
    updated: list[str] = []
    changes: list[str] = []
    for item in spec.campaigns:
        campaign = existing.get(item.name)
        if campaign is None:
            campaign = Campaign(name=item.name, status=item.status or CampaignStatus.DRAFT)
            session.add(campaign)
            created.append(item.name)
        before = _stored(campaign)
        if item.name in existing and item.status not in (None, campaign.status):
            assert item.status is not None
            changes.append(f"{item.name}: {campaign.status.value} -> {item.status.value}")
            campaign.status = item.status
        campaign.profile = item.profile
        campaign.caller_id = item.caller_id
        campaign.settings = json.dumps(item.audience_json(), ensure_ascii=False, sort_keys=True)
        wanted = {tiers[t.tier].id: t for t in item.tiers}
        # In place, by tier: replacing the list would insert before it deletes.
        kept = {link.tier_id: link for link in campaign.tiers if link.tier_id in wanted}
        campaign.tiers = [kept.get(tier_id) or CampaignTier(tier_id=tier_id) for tier_id in wanted]
        for link in campaign.tiers:
            link.settings = json.dumps(wanted[link.tier_id].to_json(), sort_keys=True)
        # The same file again changes nothing: a campaign counts as updated (and its
        # updated_at moves) only when what is stored of it differs.
        if item.name in existing and _stored(campaign) != before:
            updated.append(item.name)
            campaign.updated_at = now
    session.flush()
    _check_no_two_claim_an_account(read_campaigns(session))
    audit.record(
        session,
        actor=actor,
        action="campaigns.loaded",
        entity_type="campaign",
        entity_id=",".join(c.name for c in spec.campaigns)[:64],
        data={"created": created, "updated": updated, "status_changes": changes},
        now=now,
    )
    in_file = {c.name for c in spec.campaigns}
    return LoadReport(
        created,
        updated,
        sorted(set(existing) - in_file),
        [t.code for t in spec.tiers] if spec.tiers is not None else [],
        changes,
    )


def _replace_tiers(session: Session, specs: Sequence[TierBandSpec]) -> None:
    """Make the tier table the file's: update by code, add, and delete those it leaves out
    (their accounts are placed again at the next planning run)."""
    check_no_overlap(
        [TierBand(b.code, b.name, b.min_days_past_due, b.max_days_past_due) for b in specs]
    )
    current = {t.code: t for t in session.scalars(select(DelinquencyTier))}
    wanted = {b.code for b in specs}
    for code, tier in current.items():
        if code not in wanted:
            session.execute(
                update(CardAccount).where(CardAccount.tier_id == tier.id).values(tier_id=None)
            )
            session.execute(
                update(ContactAttempt).where(ContactAttempt.tier_id == tier.id).values(tier_id=None)
            )
            for link in session.scalars(
                select(CampaignTier).where(CampaignTier.tier_id == tier.id)
            ):
                session.delete(link)
            session.delete(tier)
    session.flush()  # the old bands go first, so the new ones cannot overlap them
    for b in specs:
        found = current.get(b.code)
        tier = found if found is not None else DelinquencyTier(code=b.code)
        session.add(tier)
        tier.name, tier.min_days_past_due, tier.max_days_past_due = (
            b.name,
            b.min_days_past_due,
            b.max_days_past_due,
        )
    session.flush()


def _check_no_two_claim_an_account(campaigns: Iterable[StoredCampaign]) -> None:
    live = [c for c in campaigns if c.status is not CampaignStatus.FINISHED]
    for i, a in enumerate(live):
        for b in live[i + 1 :]:
            shared = set(a.tiers) & set(b.tiers)
            if shared and overlapping(a.audience, b.audience):
                raise CampaignError(
                    f"campaigns {a.name} and {b.name} cover the same addresses in the same "
                    f"tier: name regions in one of them, or finish one"
                )


def read_campaigns(session: Session) -> list[StoredCampaign]:
    """Every campaign with its tiers' settings, in id order."""
    result = []
    for c in session.scalars(
        select(Campaign).options(selectinload(Campaign.tiers)).order_by(Campaign.id)
    ):
        data = json.loads(c.settings or "{}")
        result.append(
            StoredCampaign(
                id=c.id,
                name=c.name,
                status=c.status,
                profile=PROFILES[c.profile],
                caller_id=c.caller_id,
                audience=Audience.from_json(data),
                description=str(data.get("description", "")),
                starts_on=c.starts_on,
                ends_on=c.ends_on,
                tiers={t.tier_id: TierSettings.from_json(json.loads(t.settings)) for t in c.tiers},
            )
        )
    return result


def set_status(
    session: Session, name: str, status: CampaignStatus, *, actor: str, now: dt.datetime
) -> StatusChange:
    """Start, pause or finish a campaign; pausing or finishing cancels its calls not yet
    claimed by a dialer (calls under way finish); pausing holds its queued texts (they go
    when it is started again, if still owed: dialer.text_queue)."""
    campaign = session.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        known = ", ".join(session.scalars(select(Campaign.name).order_by(Campaign.name)))
        raise CampaignError(f"no campaign {name!r} (known: {known or 'none; load a file'})")
    if status is CampaignStatus.ACTIVE and campaign.status is CampaignStatus.FINISHED:
        raise CampaignError(f"campaign {name} is finished; load it again as a draft to reuse it")
    campaign.status, campaign.updated_at = status, now
    cancelled = held = 0
    if status is not CampaignStatus.ACTIVE:
        cancelled = cancel_planned(session, [campaign.id], f"campaign-{status.value}", now)
    if status in HOLDS_TEXTS:
        held = (
            session.scalar(
                select(func.count())
                .select_from(TextMessage)
                .where(
                    TextMessage.campaign_id == campaign.id,
                    TextMessage.status == TextStatus.QUEUED,
                )
            )
            or 0
        )
    audit.record(
        session,
        actor=actor,
        action=f"campaign.{status.value}",
        entity_type="campaign",
        entity_id=name,
        data={"cancelled_attempts": cancelled, "held_texts": held},
        now=now,
    )
    return StatusChange(cancelled, held)


def cancel_planned(
    session: Session, campaign_ids: Sequence[int], disposition: str, now: dt.datetime
) -> int:
    """Cancel the campaigns' attempts still planned (a dialer's claim moves a row out of
    `planned` first, so a row being claimed is left to it)."""
    if not campaign_ids:
        return 0
    result = session.execute(
        update(ContactAttempt)
        .where(
            ContactAttempt.campaign_id.in_(campaign_ids),
            ContactAttempt.status == AttemptStatus.PLANNED,
        )
        .values(status=AttemptStatus.CANCELED, disposition=disposition, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def tier_codes(session: Session) -> dict[int, str]:
    return {
        i: code for i, code in session.execute(select(DelinquencyTier.id, DelinquencyTier.code))
    }


def open_attempts_by_campaign(session: Session) -> dict[int, int]:
    """Calls queued or under way, per campaign."""
    rows = session.execute(
        select(ContactAttempt.campaign_id, func.count())
        .where(
            ContactAttempt.campaign_id.is_not(None),
            ContactAttempt.status.in_(OPEN_ATTEMPT_STATUSES),
        )
        .group_by(ContactAttempt.campaign_id)
    )
    return {campaign_id: count for campaign_id, count in rows if campaign_id is not None}


def tier_settings(session: Session, campaign_id: int, tier_id: int) -> TierSettings | None:
    """How the campaign works a tier (the dialer reads an attempt's script, AMD mode and
    retry delays here, by the attempt's campaign_id and tier_id)."""
    stored = session.scalar(
        select(CampaignTier.settings).where(
            CampaignTier.campaign_id == campaign_id, CampaignTier.tier_id == tier_id
        )
    )
    return TierSettings.from_json(json.loads(stored)) if stored is not None else None
