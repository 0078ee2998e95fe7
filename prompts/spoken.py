"""How a caller's language says an amount and a date, as the line speaks and texts them."""

from __future__ import annotations

import datetime as dt
import functools

from babel.core import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from hotline.money import to_major


@functools.cache
def _locale(language: str) -> Locale:
    # Parsing a locale costs more than formatting with it; a call formats a dozen amounts.
    return Locale.parse(language.replace("-", "_"))


def spoken_money(minor: int, currency: str, language: str) -> str:
    """'$1,234.56' in English; '1,234.56元' for yuan in Chinese, as a caller expects to hear;
    in the currency's own precision ('¥1,234', 'KWD 12.345')."""
    amount = to_major(minor, currency)
    if language == "zh-CN" and currency == "CNY":
        return f"{format_decimal(amount, format='#,##0.00', locale=_locale('zh-CN'))}元"
    return str(format_currency(amount, currency, locale=_locale(language)))


def spoken_date(day: dt.date, language: str) -> str:
    return str(format_date(day, format="long", locale=_locale(language)))


def spelled(code: str) -> str:
    """A confirmation code said character by character."""
    return " ".join(code.upper())
