import pytest

from hotline.phones import (
    PhoneError,
    mask_phone,
    number_from_carrier,
    parse_phone,
    time_zones_for,
)


def test_national_and_international_forms_normalise_to_e164():
    assert parse_phone("(415) 555-2671", "US").e164 == "+14155552671"
    assert parse_phone("+1 415 555 2671", "CN").e164 == "+14155552671"
    assert parse_phone("13800138000", "CN").e164 == "+8613800138000"


def test_a_chinese_mobile_is_known_to_be_mobile():
    assert parse_phone("13800138000", "CN").is_mobile is True


@pytest.mark.parametrize("text", ["", "12", "+1 555", "call me"])
def test_invalid_numbers_are_refused(text):
    with pytest.raises(PhoneError):
        parse_phone(text, "US")


def test_time_zones_come_from_the_numbering_plan():
    assert time_zones_for("+14155552671") == ("America/Los_Angeles",)
    assert time_zones_for("+8613800138000") == ("Asia/Shanghai",)


def test_masked_numbers_keep_only_the_country_code_and_last_four():
    assert mask_phone("+14155552671") == "+1******2671"


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+8613800138000", "+8********8000"),
        ("(415) 555-2671", "(***) ***-2671"),
        ("tel:+1-415-555-2671", "tel:+1-***-***-2671"),
        ("+14155552671;ext=123", "+1******2671;ext=***"),
        ("415-555-2671 x7", "***-***-2671 x*"),
        ("+12345", "+*****"),
    ],
)
def test_masked_numbers_in_any_format_keep_only_the_last_four(number, masked):
    assert mask_phone(number) == masked


@pytest.mark.parametrize("number", ["+14155550100", "+8613800138000", "+18005550100"])
def test_a_valid_e164_number_from_the_carrier_is_a_number(number):
    assert number_from_carrier(number) == number


@pytest.mark.parametrize(
    "value",
    [
        # Withheld caller ids: the words, and the same words spelt on a keypad.
        "anonymous",
        "Anonymous",
        "restricted",
        "unknown",
        "private",
        "unavailable",
        "+266696687",  # ANONYMOUS
        "+7378742833",  # RESTRICTED
        "+2562533",  # BLOCKED
        "+8656696",  # UNKNOWN
        "+86282452253",  # UNAVAILABLE
        "+7748283",  # PRIVATE
        # Not E.164, or not anyone's number.
        "client:alice",
        "sip:alice@example.com",
        "4155550100",
        "+1 415 555 0100",
        "+14155550100To+18005550100",
        "+1415555010",
        "+0123456789",
        "",
    ],
)
def test_withheld_and_malformed_caller_ids_are_no_number(value):
    assert number_from_carrier(value) is None
