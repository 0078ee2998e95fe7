"""The campaigns file's value types: each converter returns the value or raises
ValueError saying what is wrong with it (dialer/campaign_file.py adds the key and line).
Pure.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from dialer.campaigns import PROMPT_KEY
from dialer.history import HISTORY_DAYS
from hotline.enums import CampaignStatus

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_BAND = re.compile(r"^(\d+)\s*(?:-\s*(\d+)|(\+))$")
SMS_AFTER = {"voicemail", "no_answer"}
# The longest retry delay or spacing: the planner sees the calls of the last HISTORY_DAYS
# only, so a longer one would be cut short without a word (and "40d" is a typo for "4d").
LONGEST_DELAY = dt.timedelta(days=HISTORY_DAYS)


def band(value: Any) -> tuple[int, int | None]:
    match = _BAND.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a band")
    low = int(match[1])
    high = int(match[2]) if match[2] is not None else None
    if low < 0 or (high is not None and high < low):
        raise ValueError(f"{value!r}: the upper bound is below the lower")
    return low, high


def duration(value: Any) -> dt.timedelta:
    match = _DURATION.match(value.strip()) if isinstance(value, str) and value.strip() else None
    if not match:
        raise ValueError(f"{value!r} is not a duration")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    delta = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if delta > LONGEST_DELAY:
        raise ValueError(
            f"{value!r} is longer than {HISTORY_DAYS} days (the calls the planner looks back on)"
        )
    return delta


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def int_range(low: int, high: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{value!r} is out of range")
        return value

    return convert


def one_of(choices: Any) -> Callable[[Any], str]:
    allowed = [str(getattr(c, "value", c)) for c in choices]

    def convert(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return str(value)

    return convert


def status(value: Any) -> CampaignStatus:
    return CampaignStatus(one_of(CampaignStatus)(value))


def e164(value: Any) -> str:
    if not isinstance(value, str) or not _E164.match(value):
        raise ValueError(f"{value!r} is not an E.164 number")
    return value


def codes(length: int, *, upper: bool, empty: bool = False) -> Callable[[Any], tuple[str, ...]]:
    def convert(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or (not value and not empty):
            raise ValueError(f"{value!r} is not a list of codes")
        codes = []
        for item in value:
            if not isinstance(item, str) or not 2 <= len(item) <= length or not item.isalnum():
                raise ValueError(f"{item!r} is not a code")
            codes.append(item.upper() if upper else item)
        return tuple(dict.fromkeys(codes))

    return convert


def prompt_keys(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{value!r} is not a list of prompt keys")
    for item in value:
        if not isinstance(item, str) or not PROMPT_KEY.match(item):
            raise ValueError(f"{item!r} is not a prompt key")
    return tuple(value)


def sms_after(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{value!r} is not a list")
    unknown = set(value) - SMS_AFTER
    if unknown:
        raise ValueError(f"{sorted(unknown)} not among voicemail, no_answer")
    return frozenset(value)
