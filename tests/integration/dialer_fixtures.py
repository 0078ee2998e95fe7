"""Accounts, campaigns and attempts for the planner's tests, written straight to the DB."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialer.campaign_file import parse_campaign_file
from dialer.campaign_store import set_status, store_file
from hotline.enums import (
    AccountFlag,
    AttemptStatus,
    CampaignStatus,
    Direction,
    Language,
    PhoneType,
    Source,
)
from hotline.models import (
    AccountFlagRow,
    CardAccount,
    Cardholder,
    ContactAttempt,
    Phone,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns.example.toml"
# A Wednesday, no holiday: 10:00 in Los Angeles, 13:00 in New York.
NOW = dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.UTC)

ONE_CAMPAIGN = """
[tiers.early]
days_past_due = "1-29"
[tiers.mid]
days_past_due = "30-59"

[campaigns.us]
profile = "us-regf"
caller_id = "+18005550100"
status = "active"
countries = ["US"]

[campaigns.us.tiers.early]
script = ["reminder_early"]
attempts_per_day = 1
spacing = "4h"
retry_delay = { no_answer = "4h", busy = "30m", voicemail = "1d", failed = "2h" }
amd = "detect-message-end"
offer_agent = false

[campaigns.us.tiers.mid]
script = ["reminder_mid"]
attempts_per_day = 2
spacing = "2h"
retry_delay = { no_answer = "3h", busy = "30m", voicemail = "1d", failed = "2h" }
amd = "detect-message-end"
offer_agent = true
"""


def load_campaigns(
    Session: sessionmaker, text: str = ONE_CAMPAIGN, *, start: tuple[str, ...] = ()
) -> None:
    with Session.begin() as session:
        store_file(session, parse_campaign_file(text), actor="test", now=NOW)
        for name in start:
            set_status(session, name, CampaignStatus.ACTIVE, actor="test", now=NOW)


def add_account(
    session: Session,
    number: str,
    *,
    dpd: int = 45,
    past_due: int = 100_00,
    region: str = "CA",
    country: str = "US",
    phones: tuple[tuple[str, PhoneType, bool], ...] = (("+14155550100", PhoneType.MOBILE, True),),
    flags: tuple[AccountFlag, ...] = (),
) -> CardAccount:
    holder = Cardholder(
        name="Test Holder",
        language=Language.EN,
        address_region=region,
        postal_code="94107",
        country=country,
        verify_salt="s" * 32,
        verify_hash="h" * 64,
    )
    for index, (e164, kind, consent) in enumerate(phones):
        holder.phones.append(
            Phone(e164=e164, phone_type=kind, autodial_consent=consent, is_primary=index == 0)
        )
    account = CardAccount(
        account_number=number,
        cardholder=holder,
        currency="USD",
        balance_minor=1000_00,
        minimum_due_minor=past_due,
        past_due_minor=past_due,
        due_date=NOW.date() - dt.timedelta(days=dpd),
        days_past_due=dpd,
    )
    for flag in flags:
        account.flags.append(AccountFlagRow(flag=flag, source=Source.IMPORT))
    session.add(account)
    session.flush()
    return account


def attempts(Session: sessionmaker, *where: Any) -> list[ContactAttempt]:
    with Session() as session:
        return list(
            session.scalars(select(ContactAttempt).where(*where).order_by(ContactAttempt.id))
        )


def open_attempts(Session: sessionmaker) -> list[ContactAttempt]:
    return attempts(
        Session,
        ContactAttempt.campaign_id.is_not(None),
        ContactAttempt.status == AttemptStatus.PLANNED,
    )


def decision(attempt: ContactAttempt) -> dict[str, Any]:
    assert attempt.decision is not None
    result: dict[str, Any] = json.loads(attempt.decision)
    return result


def past_call(
    session: Session,
    account: CardAccount,
    *,
    at: dt.datetime,
    status: AttemptStatus,
    campaign_id: int | None,
    answered_by: str | None = None,
    disposition: str | None = None,
    number: str = "+14155550100",
    tier_id: int | None = None,
) -> None:
    session.add(
        ContactAttempt(
            direction=Direction.OUTBOUND,
            account_id=account.id,
            number=number,
            campaign_id=campaign_id,
            tier_id=tier_id,
            status=status,
            started_at=at,
            due_at=at,
            answered_by=answered_by,
            disposition=disposition,
        )
    )
    session.flush()
