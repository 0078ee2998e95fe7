"""The dialer's campaigns as the desk sees them (hotline.campaign_port.CampaignDesk): the
same store, file checks and preview as `hotline campaign`, given to the desk by the app
factory. The caller's session, never committed here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from dialer import campaign_store
from dialer.campaign_file import CampaignFileError, parse_campaign_file
from dialer.preview import pacing_limits, preview
from hotline.campaign_port import (
    CampaignError,
    CampaignRow,
    LoadResult,
    PacingRow,
    PreviewRow,
    StatusChange,
)
from hotline.enums import CampaignStatus

# What a page may set a campaign to (finishing one stays a file's or the CLI's).
SETTABLE = {"active": CampaignStatus.ACTIVE, "paused": CampaignStatus.PAUSED}


class DialerCampaigns:
    """hotline.campaign_port.CampaignDesk over dialer.campaign_store and dialer.preview."""

    def campaigns(self, session: Session) -> list[CampaignRow]:
        tiers = campaign_store.tier_codes(session)
        queued = campaign_store.open_attempts_by_campaign(session)
        rows = []
        for c in campaign_store.read_campaigns(session):
            audience = ", ".join(c.audience.countries)
            if c.audience.regions:
                audience += " (" + ", ".join(c.audience.regions) + ")"
            rows.append(
                CampaignRow(
                    name=c.name,
                    status=c.status.value,
                    profile=c.profile.name,
                    caller_id=c.caller_id,
                    audience=audience,
                    tiers=tuple(tiers.get(t, "?") for t in c.tiers),
                    queued=queued.get(c.id, 0),
                )
            )
        return rows

    def load(
        self,
        session: Session,
        text: str,
        *,
        caller_ids: tuple[str, ...],
        actor: str,
        now: dt.datetime,
    ) -> LoadResult:
        try:
            spec = parse_campaign_file(text, caller_ids)
        except CampaignFileError as exc:
            return LoadResult(problems=tuple((p.line, p.key, p.message) for p in exc.problems))
        try:
            # A savepoint: a file refused half-way (two campaigns claiming one account)
            # leaves nothing behind in the caller's transaction.
            with session.begin_nested():
                report = campaign_store.store_file(session, spec, actor=actor, now=now)
        except campaign_store.CampaignError as exc:
            return LoadResult(error=str(exc))
        return LoadResult(
            created=tuple(report.created),
            updated=tuple(report.updated),
            tiers=tuple(report.tiers),
            status_changes=tuple(report.status_changes),
        )

    def set_status(
        self, session: Session, name: str, status: str, *, actor: str, now: dt.datetime
    ) -> StatusChange:
        if status not in SETTABLE:
            raise CampaignError(f"a campaign is started or paused here, not set to {status!r}")
        try:
            return campaign_store.set_status(session, name, SETTABLE[status], actor=actor, now=now)
        except campaign_store.CampaignError as exc:
            raise CampaignError(str(exc)) from None

    def pacing_limits(self, session: Session, lines: Sequence[PreviewRow]) -> list[PacingRow]:
        return pacing_limits(session, lines)

    def preview(self, session: Session, day: dt.date, now: dt.datetime) -> list[PreviewRow]:
        try:
            lines = preview(session, day, now)
        except campaign_store.CampaignError as exc:
            raise CampaignError(str(exc)) from None
        return [
            PreviewRow(
                account_number=line.account_number,
                campaign=line.campaign,
                campaign_status=line.campaign_status.value,
                tier=line.tier,
                called=line.called,
                when=line.when,
                number=line.number,
                reason=line.reason,
            )
            for line in lines
        ]
