"""Phone numbers: parsing to E.164, line type and candidate time zones (phonenumbers)."""

from __future__ import annotations

import functools
import re
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


# The numbering plan's data that said which zones a number is in: stored with the zones
# (phone.time_zones_version), so a newer phonenumbers looks them up again.
ZONES_VERSION: str = phonenumbers.__version__


def stored_zones(e164: str) -> dict[str, str]:
    """A number's zones as phone rows keep them (time_zones, time_zones_version): looked
    up once, when the number is written, not on every planning run."""
    try:
        zones = time_zones_for(e164)
    except phonenumbers.NumberParseException:
        zones = ()
    return {"time_zones": " ".join(zones), "time_zones_version": ZONES_VERSION}


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What carriers put in From when the caller withholds the number, spelt on a keypad:
# ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN, UNAVAILABLE, PRIVATE. They look like E.164 and
# are nobody's number (none is valid, which is what number_from_carrier checks; listed so
# the rule does not hang on the numbering-plan metadata). The words arrive as words.
WITHHELD_NUMBERS = frozenset(
    {"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253", "+7748283"}
)


@functools.lru_cache(maxsize=4096)
def number_from_carrier(text: str) -> str | None:
    """`text` if it is an E.164 number that could be someone's phone, else None: what a
    carrier's From/To may be used as. Withheld ('anonymous', '+266696687'), SIP or client
    identities and invalid numbers are no number: nobody is identified, texted or called
    back by them. Cached: every webhook of a call asks about the same two numbers."""
    if not _E164.fullmatch(text) or text in WITHHELD_NUMBERS:
        return None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    return text if phonenumbers.is_valid_number(number) else None


def mask_phone(number: str) -> str:
    """Mask a phone number, in any format, to what tells numbers apart in a log and no more.

    '+14155550123' -> '+1******0123'; '(415) 555-0123 x55' -> '(***) ***-0123 x**';
    'tel:+1-415-555-0123' -> 'tel:+1-***-***-0123'. The last four digits of the number
    stay, and after a '+' the first digit of the country code; an extension is masked
    whole; separators stay, so the shape still shows what kind of number it was. A number
    of six digits or fewer is masked whole.
    """
    if len(number) > 7 and number[0] == "+" and number[1:].isascii() and number[1:].isdigit():
        # E.164, what every stored number is: the same masking, without the general walk.
        return number[:2] + "*" * (len(number) - 6) + number[-4:]
    extension = _EXTENSION.search(number)
    end = len(number) if extension is None else extension.start()
    main, tail = number[:end], number[end:]
    positions = [i for i, ch in enumerate(main) if ch.isdecimal()]
    kept: set[int] = set()
    if len(positions) > 6:
        kept.update(positions[-4:])
        plus = main.find("+")
        if plus != -1 and plus < positions[0]:
            kept.add(positions[0])
    masked = "".join("*" if ch.isdecimal() and i not in kept else ch for i, ch in enumerate(main))
    return masked + "".join("*" if ch.isdecimal() else ch for ch in tail)


# An extension after a number: ";ext=123" (RFC 3966), "x123", "ext. 123", "#123".
_EXTENSION = re.compile(r"(?i)(?:;\s*ext\s*=|\s*(?:extension|ext\.?|x|#)\s*)\d{1,8}$")
_EXTENSION_TEXT = r"(?:(?:;\s*ext\s*=|\s*(?:extension|ext\.?|x|#)\s*)\d{1,8}(?!\w))?"
_SEP = r"[ .\-\u00a0]"
# Phone numbers as they appear in text, in the formats the line's two countries use; each
# alternative needs a number's grouping, so dates, times, amounts and addresses do not match.
_PHONE_IN_TEXT = re.compile(
    r"(?<![\w+*])(?:"
    # tel: URIs and international numbers: '+' or '00'/'011' then 7 to 15 digits.
    r"(?:tel:)?(?:\+|\b00|\b011)[ \-]?\d(?:[ .\-()\u00a0]{0,2}\d){6,14}"
    r"|tel:\(?\d[\d().\- ]{5,20}\d"
    # North America: (415) 555-0123, 415-555-0123, 415.555.0123, 1 415 555 0123, 4155550123.
    rf"|(?:1{_SEP}?)?\(?[2-9]\d{{2}}\)?{_SEP}?[2-9]\d{{2}}{_SEP}?\d{{4}}"
    # China: mobiles 138 0013 8000 / 13800138000; landlines 010-6552 9988, (0755) 1234-5678.
    rf"|1[3-9]\d{_SEP}?\d{{4}}{_SEP}?\d{{4}}"
    rf"|\(?0[1-9]\d{{1,2}}\)?{_SEP}?\d{{3,4}}{_SEP}?\d{{4}}"
    rf"){_EXTENSION_TEXT}(?![\w*])",
    re.IGNORECASE,  # 'Ext. 12', 'X12', 'TEL:'
)


# An extension after a number already masked ('+*********1848;ext=42': a 13-digit number
# that a card-number rule masked first): its digits are masked too.
_EXTENSION_AFTER_MASKED = re.compile(
    r"(?<=\*\d{4})(?:;\s*ext\s*=|\s*(?:extension|ext\.?|x|#)\s*)\d{1,8}(?!\w)", re.IGNORECASE
)


def mask_phone_numbers(text: str) -> str:
    """Every phone number found in `text` masked with mask_phone (E.164, national formats
    of the US and China, tel: URIs, with extensions)."""
    text = _PHONE_IN_TEXT.sub(_mask_found, text)
    return _EXTENSION_AFTER_MASKED.sub(lambda m: re.sub(r"\d", "*", m.group(0)), text)


def _mask_found(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdecimal() for ch in found)
    return mask_phone(found) if digits >= 7 else found
