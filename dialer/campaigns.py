"""What a campaign is, as the collections manager writes it and the dialer reads it. Pure.

A campaign names its audience (countries, optionally states or provinces), the contact
profile whose rules bind it, the caller id, its status, and per delinquency tier how it
works an account: the script (prompt keys), attempts per day and their spacing, the retry
delay after each outcome, answering-machine detection, whether a person may reach an
agent, texts after a voicemail or no answer, a courtesy reminder before a promise or
instalment date, and a thank-you text after a payment.

The file format and its checks are in dialer/campaign_file.py; these records are what it
produces, what the database keeps as JSON (campaign.settings, campaign_tier.settings)
and what the planner and the dialer read back (`from_json` checks them again, so a row
edited by hand cannot smuggle in a value the file would have refused).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotline.enums import CampaignStatus


class AmdMode(enum.StrEnum):
    """Answering-machine detection asked of the carrier."""

    OFF = "off"  # no detection: every answer is treated as a person
    DETECT = "detect"  # person or machine, as soon as the carrier can tell
    # Wait for the greeting's end (the beep) so a voicemail is left whole.
    DETECT_MESSAGE_END = "detect-message-end"


class RetryOutcome(enum.StrEnum):
    """The outcomes a retry delay is set for (the keys of `retry_delay` in the file)."""

    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    FAILED = "failed"


PROMPT_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
CAMPAIGN_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
MAX_ATTEMPTS_PER_DAY = 10


@dataclass(frozen=True)
class TierSettings:
    """How a campaign works the accounts of one tier."""

    tier: str  # the tier's code
    script: tuple[str, ...]  # prompt keys spoken to the right party, in order
    attempts_per_day: int  # calls placed per account per local day, at most
    spacing: dt.timedelta  # between two attempts on one account, at least
    retry_delay: Mapping[RetryOutcome, dt.timedelta]  # after each outcome, at least
    amd: AmdMode
    offer_agent: bool  # `0` reaches an agent
    sms_after_voicemail: bool
    sms_after_no_answer: bool
    # A courtesy call or text this many days before a promise or instalment date; None: no.
    courtesy_reminder_days: int | None
    thank_you_sms: bool

    def delay_after(self, outcome: RetryOutcome) -> dt.timedelta:
        return self.retry_delay[outcome]

    def to_json(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "script": list(self.script),
            "attempts_per_day": self.attempts_per_day,
            "spacing_s": int(self.spacing.total_seconds()),
            "retry_delay_s": {k.value: int(v.total_seconds()) for k, v in self.retry_delay.items()},
            "amd": self.amd.value,
            "offer_agent": self.offer_agent,
            "sms_after_voicemail": self.sms_after_voicemail,
            "sms_after_no_answer": self.sms_after_no_answer,
            "courtesy_reminder_days": self.courtesy_reminder_days,
            "thank_you_sms": self.thank_you_sms,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TierSettings:
        delays = data["retry_delay_s"]
        settings = cls(
            tier=str(data["tier"]),
            script=tuple(str(k) for k in data["script"]),
            attempts_per_day=int(data["attempts_per_day"]),
            spacing=dt.timedelta(seconds=int(data["spacing_s"])),
            retry_delay={o: dt.timedelta(seconds=int(delays[o.value])) for o in RetryOutcome},
            amd=AmdMode(data["amd"]),
            offer_agent=bool(data["offer_agent"]),
            sms_after_voicemail=bool(data["sms_after_voicemail"]),
            sms_after_no_answer=bool(data["sms_after_no_answer"]),
            courtesy_reminder_days=(
                None
                if data["courtesy_reminder_days"] is None
                else int(data["courtesy_reminder_days"])
            ),
            thank_you_sms=bool(data["thank_you_sms"]),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ValueError if a value is one the file format refuses."""
        if not self.script or not all(PROMPT_KEY.match(k) for k in self.script):
            raise ValueError(f"tier {self.tier}: script must be prompt keys")
        if not 1 <= self.attempts_per_day <= MAX_ATTEMPTS_PER_DAY:
            raise ValueError(f"tier {self.tier}: attempts_per_day out of range")
        if self.spacing < dt.timedelta(0) or any(
            v < dt.timedelta(0) for v in self.retry_delay.values()
        ):
            raise ValueError(f"tier {self.tier}: negative delay")
        if set(self.retry_delay) != set(RetryOutcome):
            raise ValueError(f"tier {self.tier}: a retry delay for every outcome is needed")


@dataclass(frozen=True)
class TierBandSpec:
    """A delinquency tier as the file defines it (days past due, upper bound optional)."""

    code: str
    name: str
    min_days_past_due: int
    max_days_past_due: int | None


@dataclass(frozen=True)
class Audience:
    """Whose accounts a campaign works: by the mailing address's country and, optionally,
    state or province. Where two running campaigns cover an address, the one naming
    regions wins (a Massachusetts campaign under us-ma beside a US-wide one)."""

    countries: tuple[str, ...]
    regions: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Audience:
        return cls(
            tuple(str(c) for c in data.get("countries", ())),
            tuple(str(r).upper() for r in data.get("regions", ())),
        )

    def covers(self, country: str, region: str | None) -> bool:
        if country not in self.countries:
            return False
        return not self.regions or (region or "").upper() in self.regions

    @property
    def specificity(self) -> int:
        return 1 if self.regions else 0


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    description: str
    profile: str
    caller_id: str
    status: CampaignStatus | None  # None: a new campaign is a draft, a known one keeps its own
    audience: Audience
    tiers: tuple[TierSettings, ...]

    def audience_json(self) -> dict[str, Any]:
        """What campaign.settings keeps (the tiers have rows of their own)."""
        return {
            "description": self.description,
            "countries": list(self.audience.countries),
            "regions": list(self.audience.regions),
        }


@dataclass(frozen=True)
class CampaignFile:
    # The tier table the file sets (it replaces the database's); None: keep the database's.
    tiers: tuple[TierBandSpec, ...] | None
    campaigns: tuple[CampaignSpec, ...]


def overlapping(a: Audience, b: Audience) -> bool:
    """Whether some address would fall in both audiences with the same specificity: the
    planner could not tell which campaign an account belongs to."""
    if a.specificity != b.specificity or not set(a.countries) & set(b.countries):
        return False
    return not a.regions or bool(set(a.regions) & set(b.regions))
