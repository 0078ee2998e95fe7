"""Phone numbers: parsing to E.164, line type and candidate time zones (phonenumbers)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, timezone

PHONE_TYPES = ("mobile", "home", "work")


class PhoneError(ValueError):
    """Text that is not a valid phone number for the region."""


@dataclass(frozen=True)
class ParsedPhone:
    e164: str
    # What the numbering plan says about the line; None when it can't tell (e.g. most US
    # numbers are FIXED_LINE_OR_MOBILE). Consent rules treat None as possibly mobile.
    is_mobile: bool | None


def parse_phone(text: str, region: str) -> ParsedPhone:
    """Parse E.164 or national-format text for the region; PhoneError if not a valid number."""
    raw = text.strip()
    if not raw:
        raise PhoneError("is empty")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(f"{raw!r} is not a phone number ({exc._msg})") from None
    # number_type is UNKNOWN exactly when is_valid_number is false; asking once halves
    # the cost of the slowest step of an import.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise PhoneError(f"{raw!r} is not a valid number for {region}")
    is_mobile: bool | None
    if kind == PhoneNumberType.MOBILE:
        is_mobile = True
    elif kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE, PhoneNumberType.VOIP):
        is_mobile = False if kind != PhoneNumberType.VOIP else None
    else:
        is_mobile = None
    return ParsedPhone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        is_mobile=is_mobile,
    )


@functools.lru_cache(maxsize=4096)
def time_zones_for(e164: str) -> tuple[str, ...]:
    """IANA zones the number may be in; empty when the numbering plan does not say.

    Cached: every IVR turn asks for the caller's zone, and parsing the number was a tenth of
    a turn's time. Raises NumberParseException for what is not a number.
    """
    number = phonenumbers.parse(e164, None)
    zones = timezone.time_zones_for_number(number)
    return tuple(z for z in zones if z != "Etc/Unknown")


def mask_phone(e164: str) -> str:
    """'+14155550123' -> '+1******0123': enough to tell numbers apart in a log, no more."""
    if len(e164) <= 6:
        return "*" * len(e164)
    return e164[:2] + "*" * (len(e164) - 6) + e164[-4:]
