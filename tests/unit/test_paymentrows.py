"""The payments file's rows, pure: what a row must hold, every problem with its column, and
no text at all that makes the parser fail instead of answering."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.csvrows import HeaderError, RowError
from hotline.paymentrows import PAYMENT_COLUMNS, PaymentRow, parse_payment_row, read_payment_rows

TODAY = dt.date(2026, 12, 1)
GOOD = {
    "account_number": "4000123400000001",
    "amount": "100.50",
    "currency": "usd",
    "posted_date": "2026-11-30",
    "reference": "BK-20261130-0001",
}


def test_a_good_row_is_read_in_minor_units_of_its_currency():
    row = parse_payment_row(2, GOOD, today=TODAY)
    assert row == PaymentRow(
        2, "4000123400000001", 10050, "USD", dt.date(2026, 11, 30), "BK-20261130-0001"
    )
    assert row.key == "bank:BK-20261130-0001"
    yen = parse_payment_row(2, {**GOOD, "amount": "1500", "currency": "JPY"}, today=TODAY)
    assert isinstance(yen, PaymentRow) and yen.amount_minor == 1500


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("amount", "1,234.56", "not a plain decimal"),
        ("amount", "-5", "not a plain decimal"),
        ("amount", "0.00", "more than zero"),
        ("amount", "10.001", "more than 2 decimal places"),
        ("amount", "9" * 30, "larger than any posting"),
        ("currency", "dollars", "not an ISO 4217"),
        ("posted_date", "30/11/2026", "not an ISO date"),
        ("posted_date", "2026-12-03", "in the future"),
        ("reference", "x" * 101, "at most 100 printable ASCII"),
        ("reference", "ref\tone", "at most 100 printable ASCII"),
        ("account_number", "4" * 33, "at most 32 ASCII"),
        ("account_number", " ", "is empty"),
    ],
)
def test_a_bad_field_is_named_with_its_reason(column, value, reason):
    errors = parse_payment_row(7, {**GOOD, column: value}, today=TODAY)
    assert isinstance(errors, list)
    assert [(e.line, e.column) for e in errors] == [(7, column)]
    assert reason in errors[0].reason


def test_tomorrow_is_allowed_for_a_file_written_ahead_of_utc():
    row = parse_payment_row(2, {**GOOD, "posted_date": "2026-12-02"}, today=TODAY)
    assert isinstance(row, PaymentRow)


def test_the_header_must_name_exactly_the_columns():
    with pytest.raises(HeaderError, match="unknown column"):
        list(read_payment_rows(io.StringIO(",".join(PAYMENT_COLUMNS) + ",note\n"), today=TODAY))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(PAYMENT_COLUMNS), st.text(max_size=40)))
def test_any_text_in_any_field_gives_a_row_or_its_errors(raw):
    result = parse_payment_row(3, raw, today=TODAY)
    if isinstance(result, list):
        assert result and all(isinstance(e, RowError) and e.line == 3 for e in result)
    else:
        assert result.amount_minor > 0 and result.reference.isascii()
