"""Test helpers for the dialer: a campaign with PLANNED attempts, as the planning job makes
them, and a clock the jobs can be driven on."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialer import claims
from dialer.config import DialerConfig
from dialer.pacing import Limits
from dialer.policy import AccountFacts, PhoneFacts, decide
from dialer.tick import Worker
from hotline.enums import AttemptStatus, CampaignStatus, Direction, Language, PhoneType
from hotline.models import (
    Campaign,
    CardAccount,
    Cardholder,
    ContactAttempt,
    Phone,
)
from hotline.profiles import PROFILES

# A Wednesday, no holiday: 10:00 in San Francisco (the test numbers' zone), 13:00 in New
# York, inside every profile's calling window, so the dialer's re-check at the slot allows.
T0 = dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.UTC)
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
            return self._source.now()  # type: ignore[attr-defined,no-any-return]
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
    profile: str = "us-regf",
) -> int:
    with Session.begin() as session:
        campaign = Campaign(name=name, profile=profile, status=status, caller_id=caller_id)
        session.add(campaign)
        session.flush()
        return campaign.id


@dataclass(frozen=True)
class Reachable:
    """Where the cardholders of a test on the wall clock live, so that the contact policy
    (asked again at every slot) allows the calls whatever the hour and day CI runs at."""

    profile: str
    country: str
    region: str
    template: str  # the number's format, of a counter

    def numbers(self, count: int, start: int = 0) -> list[str]:
        return [self.template.format(start + i) for i in range(count)]


_PLACES = (
    Reachable("us-regf", "US", "CA", "+1415555{:04d}"),
    Reachable("us-regf", "US", "NY", "+1212555{:04d}"),
    Reachable("us-regf", "US", "HI", "+1808555{:04d}"),
    Reachable("cn-default", "CN", "BJ", "+86138{:08d}"),
)


def reachable_now(minutes: int = 15) -> Reachable:
    """The first place whose people the policy lets the dialer call from now for `minutes`
    (US zones cover 13:00 to 07:00 UTC, China 00:00 to 13:00, each outside its holidays)."""
    now = dt.datetime.now(dt.UTC)
    for place in _PLACES:
        facts = AccountFacts(
            account_number="4900000000000000",
            flags=frozenset(),
            open_dispute=False,
            past_due_minor=100_00,
            days_past_due=45,
            reminders_paused_until=None,
            country=place.country,
            address_region=place.region,
        )
        phone = PhoneFacts(place.numbers(1)[0], PhoneType.MOBILE, autodial_consent=True)
        if all(
            decide(facts, [phone], [], PROFILES[place.profile], at).allowed
            for at in (now, now + dt.timedelta(minutes=minutes))
        ):
            return place
    # The law, not the code: around 13:00 UTC (21:00 in Beijing, 08:00 in New York) and on
    # holidays nobody in the shipped profiles may be called for a while.
    pytest.skip(f"no profile's calling window stays open {minutes} min from {now:%H:%M} UTC")


def numbers(count: int, start: int = 0) -> list[str]:
    """Distinct dialable US numbers."""
    return [f"+1415555{(start + i):04d}" for i in range(count)]


def plan(
    Session: sessionmaker[Session],
    campaign_id: int,
    to: Sequence[str],
    due_at: dt.datetime = T0,
    phone_ids: Sequence[int | None] | None = None,
    place: Reachable = _PLACES[0],
) -> list[int]:
    """PLANNED attempts, one per number, as the planning job creates them: each for an
    account of its own, in arrears, whose cardholder has that number on file (a mobile
    with autodial consent), so that the dialer's re-check at the slot allows the call."""
    with Session.begin() as session:
        rows = []
        for i, number in enumerate(to):
            account = _account_for(session, number, place)
            rows.append(
                ContactAttempt(
                    direction=Direction.OUTBOUND,
                    campaign_id=campaign_id,
                    account_id=account.id,
                    phone_id=phone_ids[i] if phone_ids else account.cardholder.phones[0].id,
                    number=number,
                    status=AttemptStatus.PLANNED,
                    due_at=due_at,
                    created_at=due_at,
                )
            )
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


_accounts = itertools.count(1)


def _account_for(session: Session, number: str, place: Reachable) -> CardAccount:
    holder = Cardholder(
        name="Dialer Test",
        language=Language.EN,
        address_region=place.region,
        postal_code="94107",
        country=place.country,
        verify_salt="s" * 32,
        verify_hash="h" * 64,
    )
    holder.phones.append(
        Phone(e164=number, phone_type=PhoneType.MOBILE, autodial_consent=True, is_primary=True)
    )
    account = CardAccount(
        account_number=f"49{os.getpid() % 10000:04d}{next(_accounts):010d}",
        cardholder=holder,
        currency="USD",
        balance_minor=1000_00,
        minimum_due_minor=100_00,
        past_due_minor=100_00,
        due_date=T0.date() - dt.timedelta(days=45),
        days_past_due=45,
    )
    session.add(account)
    session.flush()
    return account


def attempts(Session: sessionmaker[Session]) -> list[ContactAttempt]:
    with Session.begin() as session:
        return list(session.scalars(select(ContactAttempt).order_by(ContactAttempt.id)))
