"""What a line looks up for a turn: its policy, and the Facts the flow decides on.

Shared by the IVR and the dialer (moved from ivr/ so the dialer need not import the IVR).
The flows are pure; everything they need to know (the account as it is now, the person's
local date, whether agents are in, what the profile asks to be said) is read here. `caller`
is the cardholder's number on the call: the caller id inbound, the number dialled outbound.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from flows.state import AccountFacts, Facts, Money, PlanOption
from hotline import accounts
from hotline.accounts import AccountRow
from hotline.hours import Hours, parse_hours
from hotline.phones import time_zones_for
from hotline.profiles import PROFILES, ContactProfile, recording_notice_needed
from hotline.rules import Limits
from hotline.settings import Settings
from prompts.spoken import spoken_date, spoken_money


@dataclass(frozen=True)
class LineConfig:
    """The line's policy, from settings, built once per process."""

    bank: str
    secret_key: str
    agent_hours: Hours
    timezone: str
    profile: ContactProfile
    limits: Limits
    sms_confirmations: bool
    caller_id: str
    record_calls: bool
    # The bank's name by language, where it differs from `bank` (HOTLINE_BANK_NAME_ZH).
    bank_names: Mapping[str, str] = field(default_factory=dict)

    def bank_for(self, language: str) -> str:
        return self.bank_names.get(language) or self.bank


def line_config(settings: Settings) -> LineConfig:
    """The policy both lines share, from settings."""
    profile = PROFILES[settings.profile]
    return LineConfig(
        bank=settings.bank_name,
        bank_names={"zh-CN": settings.bank_name_zh} if settings.bank_name_zh else {},
        secret_key=settings.secret_key,
        agent_hours=parse_hours(settings.agent_hours),
        timezone=settings.default_timezone,
        profile=profile,
        record_calls=(
            profile.records_calls if settings.record_calls is None else settings.record_calls
        ),
        limits=Limits.from_settings(settings),
        sms_confirmations=settings.sms_confirmations,
        caller_id=settings.caller_ids[0],
    )


def build_facts(
    session: Session,
    config: LineConfig,
    now: dt.datetime,
    caller: str,
    account: AccountRow | None,
    *,
    language: str | None,
    digits_match: bool | None = None,
) -> Facts:
    lang = language or (account.language if account else "en")
    zone = caller_zone(session, account, caller, config.timezone)
    currency = account.currency if account else "USD"

    def speak_money(minor: int) -> str:
        return spoken_money(minor, currency, lang)

    def speak_date(day: dt.date) -> str:
        return spoken_date(day, lang)

    disclosing = config.profile.debt_collector_disclosure and account is not None
    return Facts(
        bank=config.bank_for(lang),
        agents_open=config.agent_hours.open_at(now, config.timezone),
        today=now.astimezone(ZoneInfo(zone)).date(),
        first_disclosure=bool(disclosing and account and not account.ever_verified),
        later_disclosure=bool(disclosing and account and account.ever_verified),
        record_calls=config.record_calls,
        recording_notice=recording_notice_needed(
            config.record_calls,
            account.country if account else "",
            account.address_region if account else None,
        ),
        caller_last4=("".join(ch for ch in caller if ch.isdigit())[-4:] or "----"),
        caller_known=caller.startswith("+"),
        speak_money=speak_money,
        speak_date=speak_date,
        account=account_facts(config.limits, account, speak_money, zone) if account else None,
        digits_match=digits_match,
        limits=config.limits,
    )


def account_facts(
    limits: Limits, account: AccountRow, speak_money: Callable[[int], str], zone: str
) -> AccountFacts:
    """The account as the flow sees it."""

    def money(minor: int) -> Money:
        return Money(minor, speak_money)

    return AccountFacts(
        account_id=account.id,
        language=account.language,
        currency=account.currency,
        balance=money(account.balance_minor),
        minimum_due=money(account.minimum_due_minor),
        past_due=money(account.past_due_minor),
        due_date=account.due_date,
        # The day as the caller lived it, not the UTC day.
        last_payment=(
            money(account.last_payment_minor),
            account.last_payment_at.astimezone(ZoneInfo(zone)).date(),
        )
        if account.last_payment_minor is not None and account.last_payment_at is not None
        else None,
        locked=account.locked,
        failures_last_24h=account.failures_last_24h,
        plan_options=tuple(
            PlanOption(count, money(instalment), money(last) if last != instalment else None)
            for count, instalment, last in limits.plans(
                account.balance_minor, excluded=account.plan_excluded
            )
        ),
    )


def caller_zone(session: Session, account: AccountRow | None, caller: str, default: str) -> str:
    """The caller's time zone: from the caller id, else the cardholder's numbers on file."""

    def numbers() -> Iterator[str]:
        yield caller
        if account is not None:
            yield from accounts.numbers_on_file(session, account.cardholder_id)

    for number in numbers():
        try:
            zones = time_zones_for(number)
        except Exception:  # a caller id like "anonymous" has no zone
            continue
        if len(zones) == 1:
            return zones[0]
    return default
