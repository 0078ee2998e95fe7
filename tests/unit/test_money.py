from decimal import Decimal

import pytest

from hotline.money import MoneyError, format_money, normalise_currency, parse_major, to_major


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1234.56", "USD", 123456),
        ("0.1", "USD", 10),
        ("7", "CNY", 700),
        ("1500", "JPY", 1500),
        (" 12.00 ", "usd", 1200),
    ],
)
def test_major_units_parse_to_integer_minor_units(text, currency, minor):
    assert parse_major(text, normalise_currency(currency)) == minor


@pytest.mark.parametrize("text", ["", "-5.00", "1,234.56", "1e3", "12.345", "1.2.3", "abc"])
def test_ambiguous_or_malformed_amounts_are_refused(text):
    with pytest.raises(MoneyError):
        parse_major(text, "USD")


def test_yen_has_no_minor_unit():
    with pytest.raises(MoneyError, match="more than 0 decimal places"):
        parse_major("10.5", "JPY")


def test_minor_units_round_trip_through_decimal_exactly():
    assert to_major(123456, "USD") == Decimal("1234.56")
    assert to_major(5, "CNY") == Decimal("0.05")


def test_amounts_display_per_locale():
    assert format_money(123456, "USD", "en") == "$1,234.56"
    assert format_money(123456, "CNY", "zh-CN") == "¥1,234.56"


def test_unknown_currency_is_refused():
    with pytest.raises(MoneyError, match="ISO 4217"):
        normalise_currency("XYZQ")
