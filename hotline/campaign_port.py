"""What the desk may do with campaigns, as a port: the dialer implements it
(dialer/desk_port.py) and the app factory hands it to the desk, so the desk never imports
the dialer (the lines stay apart; tests/unit/test_boundaries.py).

Plain values only; every method takes the caller's session and never commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from hotline.enums import HOLDS_TEXTS, CampaignStatus


@dataclass(frozen=True)
class CampaignRow:
    name: str
    status: str  # draft, active, paused, finished
    profile: str
    caller_id: str
    audience: str  # "US (MA)"
    tiers: tuple[str, ...]
    queued: int  # calls planned or under way


@dataclass(frozen=True)
class PreviewRow:
    account_number: str
    campaign: str
    campaign_status: str
    tier: str
    called: bool
    when: str  # local time and zone of the call or of the next eligible time; "" if none
    number: str  # masked
    reason: str


@dataclass(frozen=True)
class PacingRow:
    """A campaign with more accounts to call on a day than its pacing places in one."""

    campaign: str
    called: int
    calls_per_second: float
    most: int  # calls a day, at most

    def said(self) -> str:
        """The CLI's line (the desk says it from its own catalogue)."""
        return (
            f"{self.campaign}: {self.called:,} would be called, but its pacing "
            f"({self.calls_per_second:g} a second) places at most {self.most:,} a day: the "
            "earliest due, then by account, go first; the rest wait for a later day"
        )


@dataclass(frozen=True)
class LoadResult:
    """A campaigns file stored, or why not: every problem as (line, key, message)."""

    problems: tuple[tuple[int, str, str], ...] = ()
    error: str = ""  # a problem with the file as a whole (e.g. no such tier in the DB)
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    status_changes: tuple[str, ...] = ()

    @property
    def stored(self) -> bool:
        return not self.problems and not self.error


def texts_held(campaign: str | None, status: CampaignStatus | None) -> str | None:
    """Why a campaign's queued text is held (hotline.enums.HOLDS_TEXTS), as the preview and
    the desk say it; None if it is not."""
    if status not in HOLDS_TEXTS:
        return None
    return f"held: campaign {campaign} is {status}"


@dataclass(frozen=True)
class StatusChange:
    """What starting, pausing or finishing a campaign did to its queue."""

    cancelled_calls: int = 0  # planned calls cancelled (calls under way finish)
    held_texts: int = 0  # texts left queued until it is started again (paused, draft)

    def said(self) -> str:
        """The change in words, for the CLI and the desk: '' when nothing was queued."""
        parts = []
        if self.cancelled_calls:
            parts.append(f"{self.cancelled_calls} queued call(s) cancelled")
        if self.held_texts:
            parts.append(f"{self.held_texts} queued text(s) held until it is started again")
        return "; ".join(parts)


class CampaignError(ValueError):
    """A campaign command that cannot be done as asked (said in one line)."""


class CampaignDesk(Protocol):
    def campaigns(self, session: Session) -> list[CampaignRow]: ...

    def load(
        self,
        session: Session,
        text: str,
        *,
        caller_ids: tuple[str, ...],
        actor: str,
        now: dt.datetime,
    ) -> LoadResult: ...

    def set_status(
        self, session: Session, name: str, status: str, *, actor: str, now: dt.datetime
    ) -> StatusChange:
        """Start (active) or pause (paused) a campaign; CampaignError if it cannot be."""
        ...

    def preview(self, session: Session, day: dt.date, now: dt.datetime) -> list[PreviewRow]: ...

    def pacing_limits(self, session: Session, lines: Sequence[PreviewRow]) -> list[PacingRow]:
        """Of a preview's campaigns, those with more to call than their pacing places."""
        ...
