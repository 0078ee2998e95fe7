"""Redaction rules: card numbers, XML-forbidden characters, controls, card_last4."""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.redact import (
    card_last4,
    clean_input,
    escape_controls,
    luhn_valid,
    mask_card_numbers,
    xml_safe,
)


def _check_digit(body: str) -> str:
    """The digit that makes body + digit pass Luhn (computed here, not by the module)."""
    total = 0
    for position, ch in enumerate(reversed(body)):
        digit = int(ch)
        if position % 2 == 0:  # doubled once the check digit is appended
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    return body + _check_digit(body)


SEPARATORS = st.sampled_from(["", " ", "-", ".", " - ", "  ", "\u00a0", "\u200b", "\u202e"])
# Text around a number that does not itself end or begin with a digit: letters (any
# script), punctuation, spaces, emoji; whatever touches the number.
NO_DIGITS = st.text(st.characters(exclude_categories=["Nd", "Cs"]), max_size=20)


@st.composite
def grouped(draw: st.DrawFn, number: str) -> str:
    """`number` with separators between some of its digits."""
    out = number[0]
    for digit in number[1:]:
        out += draw(SEPARATORS) + digit
    return out


@settings(max_examples=500)
@given(data=st.data(), number=card_numbers(), before=NO_DIGITS, after=NO_DIGITS)
def test_any_card_number_in_any_text_with_any_separators_is_masked_to_its_last_four(
    data, number, before, after
):
    assert luhn_valid(number)
    text = before + data.draw(grouped(number)) + after
    masked = mask_card_numbers(text)
    assert masked.startswith(before) and masked.endswith(after)
    middle = masked[len(before) : len(masked) - len(after)]
    assert middle == "*" * (len(number) - 4) + number[-4:]


@settings(max_examples=300)
@given(number=card_numbers(), before=st.text("0123456789", max_size=6), after=NO_DIGITS)
def test_a_card_number_glued_to_other_digits_is_still_masked(number, before, after):
    masked = mask_card_numbers(before + number + after)
    assert number not in masked and number[:-4] not in masked
    assert masked.endswith(number[-4:] + after)


@settings(max_examples=300)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=80))
def test_masking_never_adds_digits_and_is_idempotent(text):
    masked = mask_card_numbers(text)
    assert sum(c.isdecimal() for c in masked) <= sum(c.isdecimal() for c in text)
    assert mask_card_numbers(masked) == masked


@pytest.mark.parametrize(
    "text",
    [
        "posted 1234.56 on 2026-11-23 for account 42",
        "due 2026-12-01, paid $1,234,567.89 at 08:44:18",
        "call +14155550100 or (415) 555-0100",
        "+8613800138000",
        "order 123456789012",  # 12 digits: shorter than any card
        "4111111111111113",  # fails Luhn, and no 13 to 19 of its digits pass either
        "CA" + "9" * 32,
    ],
)
def test_dates_amounts_phone_numbers_and_other_numbers_are_left_alone(text):
    assert mask_card_numbers(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("ch_4111111111111111", "ch_************1111"),
        ("4111 1111 1111 1111", "************1111"),
        ("3782-822463-10005", "***********0005"),
        ("６０１１１１１１１１１１１１１７", "************１１１７"),  # full-width digits
        ("[parameters: ('4012888888881881', 5)]", "[parameters: ('************1881', 5)]"),
    ],
)
def test_card_numbers_in_examples(text, masked):
    assert mask_card_numbers(text) == masked


def _naive_has_card(digits: str) -> bool:
    return any(
        luhn_valid(digits[start : start + length])
        for length in range(13, 20)
        for start in range(len(digits) - length + 1)
    )


@settings(max_examples=500)
@given(st.text("0123456789", min_size=1, max_size=40))
def test_a_digit_run_is_masked_exactly_when_some_13_to_19_of_its_digits_pass_luhn(digits):
    masked = mask_card_numbers(digits)
    assert (masked != digits) == _naive_has_card(digits)
    if masked != digits:
        assert masked == "*" * (len(digits) - 4) + digits[-4:]
        assert re.fullmatch(r"\*+[0-9]{4}", masked)


def test_a_long_digit_run_is_masked_in_linear_time():
    import time

    started = time.perf_counter()
    mask_card_numbers("9" * 100_000)
    assert time.perf_counter() - started < 2.0


# --- XML and controls -----------------------------------------------------------------------


@given(st.text())  # any code points, lone surrogates included
def test_xml_safe_text_always_parses_as_xml_text_and_attribute(text):
    safe = xml_safe(text)
    element = ET.Element("Say", {"voice": safe})
    element.text = safe
    parsed = ET.fromstring(ET.tostring(element, encoding="unicode"))
    assert parsed.get("voice") is not None


def test_xml_safe_removes_only_what_xml_forbids():
    assert xml_safe("ch_77\uffff") == "ch_77"
    assert xml_safe("a\x00b\x0bc\x1fd\ufffee\ud800f") == "abcdef"
    assert xml_safe("tab\tline\nreturn\r 中文 🙂 \u202e") == "tab\tline\nreturn\r 中文 🙂 \u202e"


@given(st.text())
def test_clean_input_leaves_no_control_bidi_or_forbidden_character(text):
    cleaned = clean_input(text)
    assert xml_safe(cleaned) == cleaned
    assert not any(
        ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029\u202a\u202e\u2066\ufeff"
        for c in cleaned
    )


def test_clean_input_keeps_text_in_any_script():
    assert clean_input("付款 pay 🙂 é") == "付款 pay 🙂 é"


@given(st.text())
def test_escaped_text_has_no_control_bidi_or_separator_character(text):
    escaped = escape_controls(text)
    assert not any(
        unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")
        or unicodedata.bidirectional(c)
        in ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI", "LRM", "RLM", "ALM")
        for c in escaped
    )


def test_escapes_are_visible():
    assert escape_controls("a\nb\r\tc\x1b[31md\x85e\u2028f\u202eg") == (
        "a\\nb\\r\\tc\\x1b[31md\\x85e\\u2028f\\u202eg"
    )


# --- card_last4 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("masked", "last4"),
    [
        ("xxxx-xxxx-xxxx-4242", "4242"),
        ("xxxx-xxxxxx-x4001", "4001"),
        ("************1111", "1111"),
        ("4111111111111111", "1111"),
        ("1234", "1234"),
        ("xxxx-xxxx-xxxx-١٢٣٤", None),  # Arabic-Indic digits: isdigit() says yes
        ("４２４２", None),  # full-width digits
        ("123", None),
        ("", None),
        (None, None),
    ],
)
def test_card_last4_is_exactly_four_ascii_digits_or_none(masked, last4):
    assert card_last4(masked) == last4


@given(st.one_of(st.none(), st.text()))
def test_card_last4_never_returns_anything_but_four_ascii_digits(masked):
    result = card_last4(masked)
    assert result is None or (len(result) == 4 and all(c in "0123456789" for c in result))


@pytest.mark.parametrize(
    "shaped",
    [
        "4111/1111/1111/1111",
        "4111_1111_1111_1111",
        "4111,1111,1111,1111",
        "4111 -- 1111 -- 1111 -- 1111",
    ],
)
def test_a_card_number_grouped_by_any_separator_is_masked(shaped):
    masked = mask_card_numbers(f"ch_{shaped}")
    assert "4111" not in masked.replace("1111", "", 1)[:-4] and masked.endswith("1111")
    assert sum(ch.isdigit() for ch in masked) == 4
