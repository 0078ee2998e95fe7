"""Money as integer minor units plus an ISO 4217 code; parsing and display per locale.

Amounts never pass through float: text is parsed with Decimal and checked against the
currency's precision (USD and CNY 2, JPY 0), then held as an int of cents/fen.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, list_currencies

_KNOWN_CURRENCIES = frozenset(list_currencies())


class MoneyError(ValueError):
    """Text that is not an amount in the given currency."""


def normalise_currency(code: str) -> str:
    """Upper-case ISO 4217 code; MoneyError if babel does not know it."""
    upper = code.strip().upper()
    if upper not in _KNOWN_CURRENCIES:
        raise MoneyError(f"{code!r} is not an ISO 4217 currency code")
    return upper


def precision(currency: str) -> int:
    """Digits after the decimal point for the currency's minor unit."""
    return int(get_currency_precision(currency))


def parse_major(text: str, currency: str) -> int:
    """Parse '1234.56' (major units) into minor units (123456) for the currency.

    Rejects signs, thousands separators, exponents and more decimals than the currency has,
    rather than guess: a misplaced separator in a balance is a real error.
    """
    raw = text.strip()
    if not raw or not all(ch.isdigit() or ch == "." for ch in raw) or raw.count(".") > 1:
        raise MoneyError(f"{text!r} is not a plain decimal amount like 1234.56")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise MoneyError(f"{text!r} is not a decimal amount") from None
    places = precision(currency)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise MoneyError(f"{text!r} has more than {places} decimal places for {currency}")
    return int(amount.scaleb(places))


def to_major(minor: int, currency: str) -> Decimal:
    """Minor units back to a Decimal in major units (123456 -> Decimal('1234.56'))."""
    places = precision(currency)
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def format_money(minor: int, currency: str, locale: str) -> str:
    """Display text for the person's locale, e.g. '$1,234.56' or '¥1,234.56'."""
    return str(
        format_currency(to_major(minor, currency), currency, locale=locale.replace("-", "_"))
    )
