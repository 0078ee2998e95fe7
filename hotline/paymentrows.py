"""The bank's payments posting file: header checks and row parsing. Pure: no database, no
clock (`today` is an argument).

The same CSV conventions as the accounts file (hotline/csvrows.py): a header naming
exactly the columns, a row either parses into a PaymentRow or yields every problem found in
it with its line and column, quotes left open reported on the line where they opened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TextIO

from hotline.csvrows import RowError, keyed_rows, raw_rows
from hotline.money import MoneyError, normalise_currency, parse_major

PAYMENT_COLUMNS = ("account_number", "amount", "currency", "posted_date", "reference")
# A reference is the bank's own id for the posting; the payment's idempotency key is
# "bank:" + the reference (hotline.models.Payment.idempotency_key holds 200 characters).
MAX_REFERENCE = 100
# A posting dated after today (UTC) by more than this is refused: a bank books what it
# received; a day's slack for a file written in a zone ahead of UTC.
FUTURE_SLACK = dt.timedelta(days=1)
# More than any card posting, and well inside a BIGINT: a figure past it is a typo.
MAX_AMOUNT_MINOR = 10**15


@dataclass(frozen=True)
class PaymentRow:
    line: int
    account_number: str
    amount_minor: int
    currency: str
    posted_on: dt.date
    reference: str

    @property
    def key(self) -> str:
        return bank_key(self.reference)


def bank_key(reference: str) -> str:
    """The payment's idempotency key: one posting per reference, whatever the file."""
    return f"bank:{reference}"


def read_payment_rows(stream: TextIO, *, today: dt.date) -> Iterator[PaymentRow | list[RowError]]:
    """Yield each data row parsed, or its errors; HeaderError if the header is wrong.

    A reference repeated within the file is refused on its later lines (the first stands),
    whatever their content: a bank never books one reference twice."""
    return keyed_rows(
        raw_rows(stream, PAYMENT_COLUMNS),
        lambda line, raw: parse_payment_row(line, raw, today=today),
        PaymentRow,
        key=lambda row: row.reference,
        column="reference",
        what="reference",
    )


def parse_payment_row(
    line: int, raw: Mapping[str, object], *, today: dt.date
) -> PaymentRow | list[RowError]:
    """Parse one record (column -> text); collect every problem in it."""
    errors: list[RowError] = []
    if raw.get("__extra__"):
        errors.append(RowError(line, "(row)", "has more fields than the header"))

    def fail(column: str, reason: str) -> None:
        errors.append(RowError(line, column, reason))

    def value(column: str) -> str:
        text = raw.get(column)
        if text is None:
            fail(column, "is missing (row has fewer fields)")
            return ""
        stripped = str(text).strip()
        if not stripped:
            fail(column, "is empty")
        return stripped

    account_number = value("account_number")
    if account_number and (len(account_number) > 32 or not account_number.isascii()):
        fail("account_number", "must be at most 32 ASCII characters")

    currency = value("currency")
    if currency:
        try:
            currency = normalise_currency(currency)
        except MoneyError as exc:
            fail("currency", str(exc))
            currency = ""

    amount_text = value("amount")
    amount_minor = 0
    if amount_text and currency:
        try:
            amount_minor = parse_major(amount_text, currency)
        except MoneyError as exc:
            fail("amount", str(exc))
        else:
            if amount_minor <= 0:
                fail("amount", "must be more than zero")
            elif amount_minor > MAX_AMOUNT_MINOR:
                fail("amount", "is larger than any posting could be")

    date_text = value("posted_date")
    posted_on = None
    if date_text:
        try:
            posted_on = dt.date.fromisoformat(date_text)
        except ValueError:
            fail("posted_date", f"{date_text!r} is not an ISO date (YYYY-MM-DD)")
        else:
            if posted_on > today + FUTURE_SLACK:
                fail("posted_date", f"{posted_on.isoformat()} is in the future")

    reference = value("reference")
    if reference and (
        len(reference) > MAX_REFERENCE or not reference.isascii() or not reference.isprintable()
    ):
        fail("reference", f"must be at most {MAX_REFERENCE} printable ASCII characters")

    if errors:
        return errors
    assert posted_on is not None
    return PaymentRow(
        line=line,
        account_number=account_number,
        amount_minor=amount_minor,
        currency=currency,
        posted_on=posted_on,
        reference=reference,
    )
