import datetime as dt
import io

import pytest

from hotline.csvrows import COLUMNS, AccountRow, HeaderError, read_rows

HEADER = ",".join(COLUMNS)
GOOD = {
    "account_number": "4000000000000001",
    "name": "Alice Example",
    "language": "en",
    "phone": "(415) 555-0100",
    "phone_type": "mobile",
    "alt_phones": "+1 212 555 0101",
    "autodial_consent": "yes",
    "address_region": "ca",
    "postal_code": "94107",
    "country": "US",
    "currency": "USD",
    "balance": "1234.56",
    "minimum_due": "120.00",
    "past_due": "80.00",
    "due_date": "2026-11-01",
    "days_past_due": "22",
    "verify_digits": "94107",
    "flags": "hardship; dispute",
}


def csv_text(*rows: dict, header: str = HEADER) -> io.StringIO:
    lines = [header]
    for row in rows:
        lines.append(",".join(f'"{row.get(c, "")}"' for c in COLUMNS))
    return io.StringIO("\n".join(lines) + "\n", newline="")


def rows_of(*rows: dict) -> list:
    return list(read_rows(csv_text(*rows), us_subdivisions=frozenset({"CA", "NY"})))


def test_a_good_row_parses_into_typed_values():
    [row] = rows_of(GOOD)
    assert isinstance(row, AccountRow)
    assert row.line == 2
    assert row.balance_minor == 123456 and row.minimum_due_minor == 12000
    assert row.due_date == dt.date(2026, 11, 1)
    assert row.address_region == "CA"
    assert row.flags == frozenset({"hardship", "dispute"})
    assert [(p.e164, p.phone_type, p.is_primary) for p in row.phones] == [
        ("+14155550100", "mobile", True),
        ("+12125550101", "mobile", False),  # US plan can't tell: treated as needing consent
    ]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("phone", "555", "not a valid number"),
        ("language", "fr", "not en or zh-CN"),
        ("currency", "DOLLARS", "ISO 4217"),
        ("balance", "1,234.56", "plain decimal"),
        ("minimum_due", "2000.00", "more than the balance"),
        ("due_date", "01/11/2026", "ISO date"),
        ("days_past_due", "-3", "whole number"),
        ("verify_digits", "12a4", "4 to 10 digits"),
        ("flags", "vip", "unknown flag"),
        ("autodial_consent", "maybe", "not yes or no"),
        ("address_region", "ZZ", "not a US state"),
        ("phone_type", "pager", "not one of"),
        ("name", "", "is empty"),
    ],
)
def test_each_bad_field_is_reported_with_line_column_and_reason(column, value, reason):
    [errors] = rows_of({**GOOD, column: value})
    assert isinstance(errors, list)
    assert [(e.line, e.column) for e in errors] == [(2, column)]
    assert reason in errors[0].reason


def test_every_problem_in_a_row_is_reported_not_just_the_first():
    [errors] = rows_of({**GOOD, "phone": "1", "balance": "x", "flags": "vip"})
    assert {e.column for e in errors} == {"phone", "balance", "flags"}


def test_line_numbers_count_physical_lines_including_multiline_fields():
    text = io.StringIO(
        HEADER
        + "\n"
        + ",".join(f'"{GOOD[c]}"' if c != "name" else '"Alice\nExample"' for c in COLUMNS)
        + "\n"
        + "\n"
        + ",".join(f'"{GOOD[c]}"' if c != "balance" else '"oops"' for c in COLUMNS)
        + "\n",
        newline="",
    )
    results = list(read_rows(text))
    assert isinstance(results[0], AccountRow) and results[0].line == 2
    assert [(e.line, e.column) for e in results[1]] == [(5, "balance")]


def test_a_repeated_account_number_is_rejected_naming_the_first_line():
    first, second = rows_of(GOOD, GOOD)
    assert isinstance(first, AccountRow)
    assert [str(e) for e in second] == [
        "line 3, column account_number: repeats the account on line 2"
    ]


def test_short_and_long_rows_are_reported():
    text = io.StringIO(HEADER + '\n"4000000000000009","Bob"\n', newline="")
    [errors] = list(read_rows(text))
    assert "is missing" in errors[0].reason


def test_column_order_is_free():
    reordered = list(reversed(COLUMNS))
    text = io.StringIO(
        ",".join(reordered) + "\n" + ",".join(f'"{GOOD[c]}"' for c in reordered) + "\n", newline=""
    )
    [row] = list(read_rows(text))
    assert isinstance(row, AccountRow) and row.account_number == GOOD["account_number"]


def test_unknown_and_missing_columns_fail_the_whole_file_naming_them():
    with pytest.raises(HeaderError, match="unknown column\\(s\\): shoe_size") as excinfo:
        list(read_rows(io.StringIO(HEADER.replace("flags", "shoe_size") + "\n")))
    assert "missing column(s): flags" in str(excinfo.value)


def test_an_empty_file_needs_a_header():
    with pytest.raises(HeaderError, match="header"):
        list(read_rows(io.StringIO("")))
