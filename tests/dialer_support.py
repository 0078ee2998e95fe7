"""Test helpers for the dialer: a campaign with PLANNED attempts, as the planning job makes
them, and a clock the jobs can be driven on."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialer import claims
from dialer.config import DialerConfig
from dialer.pacing import Limits
from dialer.tick import Worker
from hotline.enums import AttemptStatus, CampaignStatus, Direction
from hotline.models import Campaign, ContactAttempt, DelinquencyTier

T0 = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
CALLER_ID = "+18005550100"


class StepClock:
    """A virtual clock for the dialer's jobs: `sleep` moves time on at once."""

    def __init__(self, start: dt.datetime = T0, source: object | None = None) -> None:
        # `source`: a simulator VirtualClock to share (carrier and dialer on one time).
        self._source = source
        self._now = start
        self.lock = threading.Lock()

    def now(self) -> dt.datetime:
        if self._source is not None:
            return self._source.now()  # type: ignore[attr-defined]
        with self.lock:
            return self._now

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        if stop.is_set():
            return False
        self.advance(max(seconds, 0.0))
        return True

    def advance(self, seconds: float) -> None:
        if self._source is not None:
            self._source.advance(seconds)  # type: ignore[attr-defined]
            return
        with self.lock:
            self._now += dt.timedelta(seconds=seconds)


def config(**overrides: object) -> DialerConfig:
    values: dict[str, object] = {
        "limits": Limits(1.0, 10),
        "public_base_url": "http://127.0.0.1:8000",
        "caller_id": CALLER_ID,
        "settle": dt.timedelta(seconds=5),
        "reconcile_after": dt.timedelta(seconds=60),
    }
    values.update(overrides)
    return DialerConfig(**values)  # type: ignore[arg-type]


def worker(name: str = "w1", alone_since: dt.datetime | None = None) -> Worker:
    return Worker(name, threading.Event(), alone_since=alone_since)


def set_limits(Session: sessionmaker[Session], limits: Limits, now: dt.datetime = T0) -> None:
    with Session.begin() as session:
        claims.set_global_limits(session, limits, now)


def make_campaign(
    Session: sessionmaker[Session],
    name: str = "reminders",
    status: CampaignStatus = CampaignStatus.ACTIVE,
    caller_id: str = CALLER_ID,
) -> int:
    with Session.begin() as session:
        tier = session.scalars(select(DelinquencyTier).where(DelinquencyTier.code == "t1")).first()
        if tier is None:
            tier = DelinquencyTier(
                code="t1", name="1-29", min_days_past_due=1, max_days_past_due=29
            )
            session.add(tier)
            session.flush()
        campaign = Campaign(
            name=name, tier_id=tier.id, profile="us-regf", status=status, caller_id=caller_id
        )
        session.add(campaign)
        session.flush()
        return campaign.id


def numbers(count: int, start: int = 0) -> list[str]:
    """Distinct dialable US numbers."""
    return [f"+1415555{(start + i):04d}" for i in range(count)]


def plan(
    Session: sessionmaker[Session],
    campaign_id: int,
    to: Sequence[str],
    due_at: dt.datetime = T0,
    phone_ids: Sequence[int | None] | None = None,
) -> list[int]:
    """PLANNED attempts, one per number, as the planning job creates them."""
    with Session.begin() as session:
        rows = [
            ContactAttempt(
                direction=Direction.OUTBOUND,
                campaign_id=campaign_id,
                phone_id=phone_ids[i] if phone_ids else None,
                number=number,
                status=AttemptStatus.PLANNED,
                due_at=due_at,
                created_at=due_at,
            )
            for i, number in enumerate(to)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def attempts(Session: sessionmaker[Session]) -> list[ContactAttempt]:
    with Session.begin() as session:
        return list(session.scalars(select(ContactAttempt).order_by(ContactAttempt.id)))
