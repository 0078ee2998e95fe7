"""The campaigns file (TOML), read and checked. Pure: text in, records or every problem out.

`tomllib` reads the values; it keeps no positions, so `KeyLines` scans the text once for
where each key and table is written and every problem names its dotted key and line
(`campaigns.toml line 14: campaigns.us.tiers.early.attempts_per_day: ...`). A key that is
missing is reported at its table's header. All problems are collected, not just the
first, so one edit fixes the whole file. The shipped example, campaigns.example.toml,
documents every key.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from dialer import campaign_values as values
from dialer.campaigns import (
    CAMPAIGN_NAME,
    MAX_ATTEMPTS_PER_DAY,
    AmdMode,
    Audience,
    CampaignFile,
    CampaignSpec,
    RetryOutcome,
    TierBandSpec,
    TierSettings,
    overlapping,
)
from dialer.toml_lines import KeyLines
from hotline.profiles import PROFILES
from hotline.tiers import TierBand, TierOverlap, check_no_overlap

T = TypeVar("T")

_CODE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_CAMPAIGN_KEYS = {
    "description",
    "profile",
    "caller_id",
    "status",
    "countries",
    "regions",
    "tiers",
}
_TIER_KEYS = {
    "script",
    "attempts_per_day",
    "spacing",
    "retry_delay",
    "amd",
    "offer_agent",
    "sms_after",
    "courtesy_reminder_days",
    "thank_you_sms",
}


@dataclass(frozen=True)
class Problem:
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.key}: {self.message}"


class CampaignFileError(ValueError):
    """The file cannot be loaded; every problem found, each with its key and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.key))
        super().__init__("; ".join(str(p) for p in self.problems))


def parse_campaign_file(text: str, caller_ids: Collection[str] | None = None) -> CampaignFile:
    """The file's tiers and campaigns; CampaignFileError listing every problem. With
    `caller_ids` (HOTLINE_CALLER_IDS), a campaign's caller id must be one of them."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise CampaignFileError(
            [Problem(int(match[1]) if match else 1, "(file)", f"not valid TOML: {exc}")]
        ) from None
    reader = _Reader(KeyLines(text), caller_ids)
    result = reader.file(data)
    if reader.problems:
        raise CampaignFileError(reader.problems)
    assert result is not None
    return result


class _Reader:
    def __init__(self, lines: KeyLines, caller_ids: Collection[str] | None) -> None:
        self.lines = lines
        self.caller_ids = caller_ids
        self.problems: list[Problem] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.lines.of(key), key, message))

    def unknown(self, table: Mapping[str, Any], prefix: str, known: set[str]) -> None:
        for name in sorted(set(table) - known):
            self.fail(f"{prefix}.{name}", f"unknown key (known: {', '.join(sorted(known))})")

    def get(
        self, table: Mapping[str, Any], key: str, convert: Callable[[Any], T], what: str
    ) -> T | None:
        """The converted value of a required key, or None with a problem recorded."""
        name = key.rsplit(".", 1)[-1]
        if name not in table:
            self.fail(key, f"missing; {what}")
            return None
        try:
            return convert(table[name])
        except (TypeError, ValueError) as exc:
            self.fail(key, f"{exc}; {what}" if str(exc) else what)
            return None

    # -- the file ----------------------------------------------------------------------

    def file(self, data: Mapping[str, Any]) -> CampaignFile | None:
        self.unknown(data, "(file)", {"tiers", "campaigns"})
        tiers = self.tier_table(data["tiers"]) if "tiers" in data else None
        campaigns_table = data.get("campaigns")
        if not isinstance(campaigns_table, dict) or not campaigns_table:
            self.fail("campaigns", "at least one [campaigns.NAME] table is needed")
            return None
        codes = {t.code for t in tiers} if tiers is not None else None
        campaigns = [
            c
            for name, table in campaigns_table.items()
            if (c := self.campaign(name, table, codes)) is not None
        ]
        self.check_audiences(campaigns)
        return CampaignFile(tuple(tiers) if tiers is not None else None, tuple(campaigns))

    def tier_table(self, table: Any) -> list[TierBandSpec] | None:
        if not isinstance(table, dict) or not table:
            self.fail("tiers", "a table of [tiers.CODE] tables, each with days_past_due")
            return None
        bands: list[TierBandSpec] = []
        for code, spec in table.items():
            key = f"tiers.{code}"
            if not _CODE.match(code):
                self.fail(key, "a tier code is lower-case letters, digits, - and _")
                continue
            if not isinstance(spec, dict):
                self.fail(key, 'a table: days_past_due = "1-29" (or "90+"), name = "..."')
                continue
            self.unknown(spec, key, {"name", "days_past_due"})
            band = self.get(spec, f"{key}.days_past_due", values.band, 'like "1-29" or "90+"')
            name = spec.get("name", code)
            if not isinstance(name, str) or not name.strip():
                self.fail(f"{key}.name", "a non-empty string")
                continue
            if band is not None:
                bands.append(TierBandSpec(code, name.strip(), *band))
        try:
            check_no_overlap(
                [TierBand(b.code, b.name, b.min_days_past_due, b.max_days_past_due) for b in bands]
            )
        except TierOverlap as exc:
            self.fail("tiers", str(exc))
        return bands

    def campaign(self, name: str, table: Any, tier_codes: set[str] | None) -> CampaignSpec | None:
        key = f"campaigns.{name}"
        if not CAMPAIGN_NAME.match(name):
            self.fail(key, "a campaign name is lower-case letters, digits, - and _ (up to 100)")
            return None
        if not isinstance(table, dict):
            self.fail(key, "a table")
            return None
        self.unknown(table, key, _CAMPAIGN_KEYS)
        profile = self.get(table, f"{key}.profile", values.one_of(PROFILES), "a contact profile")
        caller_id = self.get(table, f"{key}.caller_id", values.e164, 'E.164, e.g. "+18005550100"')
        if (
            caller_id is not None
            and self.caller_ids is not None
            and caller_id not in self.caller_ids
        ):
            self.fail(
                f"{key}.caller_id",
                f"{caller_id} is not among HOTLINE_CALLER_IDS ({', '.join(self.caller_ids)})",
            )
            caller_id = None
        status = (
            self.get(table, f"{key}.status", values.status, "draft, active, paused or finished")
            if "status" in table
            else None
        )
        description = table.get("description", "")
        if not isinstance(description, str):
            self.fail(f"{key}.description", "a string")
        countries = self.get(
            table, f"{key}.countries", values.codes(2, upper=True), 'ISO 3166 codes, e.g. ["US"]'
        )
        regions = (
            self.get(
                table, f"{key}.regions", values.codes(3, upper=True, empty=True), 'e.g. ["MA"]'
            )
            if "regions" in table
            else ()
        )
        tiers_table = table.get("tiers")
        if not isinstance(tiers_table, dict) or not tiers_table:
            self.fail(f"{key}.tiers", "at least one [campaigns.NAME.tiers.CODE] table is needed")
            tiers_table = {}
        tiers = []
        for code, spec in tiers_table.items():
            tier_key = f"{key}.tiers.{code}"
            if tier_codes is not None and code not in tier_codes:
                self.fail(tier_key, f"no such tier in [tiers] ({', '.join(sorted(tier_codes))})")
            elif not _CODE.match(code):
                self.fail(tier_key, "a tier code is lower-case letters, digits, - and _")
            settings = self.tier(tier_key, code, spec)
            if settings is not None:
                tiers.append(settings)
        if None in (profile, caller_id, countries, regions) or len(tiers) != len(tiers_table):
            return None
        assert profile is not None and caller_id is not None
        assert countries is not None and regions is not None
        return CampaignSpec(
            name=name,
            description=description if isinstance(description, str) else "",
            profile=profile,
            caller_id=caller_id,
            status=status,
            audience=Audience(countries, regions),
            tiers=tuple(tiers),
        )

    def tier(self, key: str, code: str, spec: Any) -> TierSettings | None:
        if not isinstance(spec, dict):
            self.fail(key, "a table of the tier's settings")
            return None
        self.unknown(spec, key, _TIER_KEYS)
        script = self.get(
            spec, f"{key}.script", values.prompt_keys, 'prompt keys, e.g. ["reminder"]'
        )
        per_day = self.get(
            spec,
            f"{key}.attempts_per_day",
            values.int_range(1, MAX_ATTEMPTS_PER_DAY),
            f"a whole number from 1 to {MAX_ATTEMPTS_PER_DAY}",
        )
        spacing = self.get(
            spec, f"{key}.spacing", values.duration, 'a duration, e.g. "4h" or "1h30m"'
        )
        delays = self.retry_delays(f"{key}.retry_delay", spec)
        amd = self.get(
            spec, f"{key}.amd", values.one_of(AmdMode), "off, detect or detect-message-end"
        )
        offer_agent = self.get(spec, f"{key}.offer_agent", values.boolean, "true or false")
        sms_after = (
            self.get(
                spec, f"{key}.sms_after", values.sms_after, 'e.g. ["voicemail", "no_answer"], or []'
            )
            if "sms_after" in spec
            else frozenset[str]()
        )
        courtesy = (
            self.get(
                spec,
                f"{key}.courtesy_reminder_days",
                values.int_range(0, 30),
                "days before a promise or instalment date, 0 to 30 (0: none)",
            )
            if "courtesy_reminder_days" in spec
            else 0
        )
        thank_you = (
            self.get(spec, f"{key}.thank_you_sms", values.boolean, "true or false")
            if "thank_you_sms" in spec
            else False
        )
        read = (script, per_day, spacing, delays, amd, offer_agent, sms_after, courtesy)
        if any(v is None for v in read) or thank_you is None:
            return None
        assert script is not None and per_day is not None and spacing is not None
        assert delays is not None and amd is not None and offer_agent is not None
        assert sms_after is not None and courtesy is not None
        return TierSettings(
            tier=code,
            script=script,
            attempts_per_day=per_day,
            spacing=spacing,
            retry_delay=delays,
            amd=AmdMode(amd),
            offer_agent=offer_agent,
            sms_after_voicemail="voicemail" in sms_after,
            sms_after_no_answer="no_answer" in sms_after,
            courtesy_reminder_days=courtesy or None,
            thank_you_sms=thank_you,
        )

    def retry_delays(
        self, key: str, spec: Mapping[str, Any]
    ) -> dict[RetryOutcome, dt.timedelta] | None:
        table = spec.get("retry_delay")
        if not isinstance(table, dict):
            self.fail(key, 'missing; e.g. { no_answer = "4h", busy = "30m", ... }')
            return None
        self.unknown(table, key, {o.value for o in RetryOutcome})
        delays = {
            outcome: self.get(
                table, f"{key}.{outcome.value}", values.duration, 'a duration, e.g. "4h"'
            )
            for outcome in RetryOutcome
        }
        if any(v is None for v in delays.values()):
            return None
        return {k: v for k, v in delays.items() if v is not None}

    def check_audiences(self, campaigns: list[CampaignSpec]) -> None:
        """Two campaigns of the file that would both claim an account of one tier."""
        for i, a in enumerate(campaigns):
            for b in campaigns[i + 1 :]:
                shared = {t.tier for t in a.tiers} & {t.tier for t in b.tiers}
                if shared and overlapping(a.audience, b.audience):
                    self.fail(
                        f"campaigns.{b.name}.countries",
                        f"covers the same addresses as campaigns.{a.name} for tier(s) "
                        f"{', '.join(sorted(shared))}: name regions in one of them",
                    )
