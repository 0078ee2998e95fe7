"""Redaction: text made safe to keep, speak or log. Pure functions, no I/O.

- `mask_card_numbers`: anything shaped like a card number (PAN) is masked to its last four.
- `clean_input`: what a carrier sent, without the characters nothing legitimate contains.
- `xml_safe`: text without the characters XML 1.0 forbids, so a document always parses.
- `escape_controls`: a log line with control and bidi characters written as escapes.
- `card_last4`: the four ASCII digits we may keep of a card, or None.
"""

from __future__ import annotations

import re

# XML 1.0 allows #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]:
# the rest (C0 controls, lone surrogates, U+FFFE, U+FFFF) makes a document no parser accepts.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Invisible characters that change how text reads without being text: bidi embeddings,
# overrides and isolates (U+202E shows "1234" as "4321"), zero-width characters, the BOM.
_INVISIBLE = "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
# What a webhook value loses: all of the above, every C0/C1 control (tab and newline too:
# no parameter we read is multi-line), DEL, and the line and paragraph separators.
_UNSAFE_INPUT = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_INVISIBLE}\ud800-\udfff\ufffe\uffff]")
# What a log line shows as an escape instead, so one record stays one line that reads as
# what it is (ESC starts terminal sequences, U+2028 breaks lines in some viewers).
_LOG_UNSAFE = _UNSAFE_INPUT
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# A run of digits that may be grouped: up to four separators (spaces, dashes, dots, commas,
# slashes, underscores and the invisible characters above, so none can hide a number).
# \d is any Unicode decimal digit: a card number in full-width digits is still one.
_SEPARATOR = f"[\\s.,/_\\-\u00a0\u2010-\u2015\x00-\x1f\x7f-\x9f{_INVISIBLE}]"
_DIGIT_RUN = re.compile(f"\\d(?:{_SEPARATOR}{{0,4}}\\d)*")
PAN_MIN, PAN_MAX = 13, 19  # ISO/IEC 7812 lengths (Maestro's 12 is left to the log rules)
_ASCII_DIGITS = re.compile("[0-9]")


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (tab, CR and LF stay)."""
    return _XML_FORBIDDEN.sub("", text)


def clean_input(text: str) -> str:
    """A carrier's value without controls, invisible characters or XML-forbidden ones."""
    return _UNSAFE_INPUT.sub("", text)


def escape_controls(text: str) -> str:
    """Control, bidi and separator characters as visible escapes (\\n, \\x1b, \\u202e)."""
    return _LOG_UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def mask_card_numbers(text: str) -> str:
    """Mask every card-number-shaped digit run to its last four: '************1111'.

    A run is digits, optionally grouped by separators, whatever touches it (letters do not
    hide a number: 'ch_4111111111111111'). It is masked, separators and all, when any
    13 to 19 consecutive digits in it pass the Luhn check: a card number glued to other
    digits is still found. Shorter runs (amounts, dates, phone numbers) are left alone.
    """
    return _DIGIT_RUN.sub(_mask_run, text)


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = [int(ch) for ch in run if ch.isdecimal()]
    if len(digits) < PAN_MIN or not _has_luhn_window(digits):
        return run
    kept = "".join(ch for ch in run if ch.isdecimal())[-4:]
    return "*" * (len(digits) - 4) + kept


def _has_luhn_window(digits: list[int]) -> bool:
    """Whether some PAN_MIN..PAN_MAX consecutive digits pass Luhn; linear in the run's length.

    Luhn doubles every second digit counting from the right, so which digits a window
    doubles depends only on the parity of its last position: prefix sums per parity give
    each window's checksum in constant time.
    """
    n = len(digits)
    doubled = [2 * d - 9 if d > 4 else 2 * d for d in digits]
    plain_sum = [[0] * (n + 1), [0] * (n + 1)]
    doubled_sum = [[0] * (n + 1), [0] * (n + 1)]
    for k in range(n):
        for parity in (0, 1):
            same = k % 2 == parity
            plain_sum[parity][k + 1] = plain_sum[parity][k] + (digits[k] if same else 0)
            doubled_sum[parity][k + 1] = doubled_sum[parity][k] + (doubled[k] if same else 0)
    for end in range(PAN_MIN, n + 1):
        parity = (end - 1) % 2  # the check digit's parity: those digits are not doubled
        for length in range(PAN_MIN, min(PAN_MAX, end) + 1):
            start = end - length
            total = (plain_sum[parity][end] - plain_sum[parity][start]) + (
                doubled_sum[1 - parity][end] - doubled_sum[1 - parity][start]
            )
            if total % 10 == 0:
                return True
    return False


def luhn_valid(number: str) -> bool:
    """The Luhn check of a string of ASCII digits (False for anything else)."""
    if not number or not number.isascii() or not number.isdigit():
        return False
    total = 0
    for position, ch in enumerate(reversed(number)):
        digit = int(ch)
        if position % 2:
            digit = 2 * digit - 9 if digit > 4 else 2 * digit
        total += digit
    return total % 10 == 0


def card_last4(masked: str | None) -> str | None:
    """The last four ASCII digits of a masked card number ('xxxx-xxxx-xxxx-4242' -> '4242'),
    or None when it has fewer: exactly what payment.card_last4 may hold.

    Only 0-9 count: str.isdigit() also accepts '١' or '４', which are not what a
    cardholder would recognise on a receipt and are no card's digits.
    """
    digits = _ASCII_DIGITS.findall(masked or "")
    return "".join(digits[-4:]) if len(digits) >= 4 else None
