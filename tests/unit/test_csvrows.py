import datetime as dt
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.csvrows import COLUMNS, AccountRow, HeaderError, decode, read_rows

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


def test_full_width_digits_are_read_as_the_caller_keys_them():
    [row] = rows_of({**GOOD, "verify_digits": "９４１０７", "days_past_due": "２２"})
    assert isinstance(row, AccountRow)
    assert (row.verify_digits, row.days_past_due) == ("94107", 22)


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
        ("verify_digits", "²²²²", "4 to 10 digits"),
        ("verify_digits", "١٢٣٤", "4 to 10 digits"),
        ("days_past_due", "²", "whole number"),
        ("days_past_due", "١٢", "whole number"),
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


# --- what the csv module would get wrong: unclosed quotes, and bytes that are not text ---

PLAIN = ",".join(GOOD[c] for c in COLUMNS if c != "flags") + ",hardship"


def plain_row(number: int) -> str:
    """A row written without quotes, as spreadsheets export it (account number varies)."""
    return PLAIN.replace(GOOD["account_number"], f"40000000000{number:05d}", 1).replace(
        "+1 212 555 0101", ""
    )


def lines_and_results(lines: list[str]) -> list:
    return list(read_rows(io.StringIO("\n".join([HEADER, *lines]) + "\n", newline="")))


def outcome(result) -> tuple[int, str]:
    if isinstance(result, AccountRow):
        return result.line, "ok"
    return result[0].line, result[0].column


@pytest.mark.parametrize("column", ["name", "postal_code", "flags"])
def test_an_unclosed_quote_is_reported_where_it_opened_and_the_next_rows_still_read(column):
    rows = [plain_row(n) for n in range(5)]
    fields = rows[1].split(",")
    index = COLUMNS.index(column)
    fields[index] = '"' + fields[index]
    rows[1] = ",".join(fields)
    results = lines_and_results(rows)
    assert [outcome(r) for r in results] == [
        (2, "ok"),
        (3, "(row)"),
        (4, "ok"),
        (5, "ok"),
        (6, "ok"),
    ]
    assert "quote opened on this line is never closed" in results[1][0].reason


def test_a_quote_closed_rows_later_is_an_unclosed_quote_not_one_long_field():
    rows = [plain_row(n) for n in range(4)]
    rows[0] = rows[0].replace("Alice Example", '"Alice Example')
    # The next quote in the file, two rows on, closes it: a valid-looking 3-line record.
    rows[2] = rows[2].replace("Alice Example", 'Alice Example"')
    assert [outcome(r) for r in lines_and_results(rows)] == [
        (2, "(row)"),
        (3, "ok"),
        (4, "ok"),  # a quote inside an unquoted field is a character, as in csv
        (5, "ok"),
    ]


def test_a_field_with_a_few_line_breaks_is_still_one_row():
    row = ",".join(f'"{GOOD[c]}"' if c != "name" else '"Alice\nB.\nExample"' for c in COLUMNS)
    [result, after] = lines_and_results([row, plain_row(7)])
    assert isinstance(result, AccountRow) and result.name == "Alice\nB.\nExample"
    assert outcome(after) == (5, "ok")


def test_an_unclosed_quote_in_the_header_fails_the_file_naming_line_1():
    text = io.StringIO('"account_number,name\n' + plain_row(1) + "\n", newline="")
    with pytest.raises(HeaderError, match="line 1: a quote opened on this line is never closed"):
        list(read_rows(text))


@given(
    st.lists(
        st.sampled_from(["good", "bad", "blank", "unclosed", "multiline"]), min_size=1, max_size=12
    )
)
@settings(max_examples=60, deadline=None)
def test_every_data_row_is_one_result_on_its_own_first_line(kinds):
    """Whatever mix of rows, each non-blank row gives one result, at the line it starts on."""
    lines: list[str] = []
    expected: list[tuple[int, str]] = []
    for n, kind in enumerate(kinds):
        first = len(lines) + 2
        if kind == "blank":
            lines.append("")
            continue
        row = plain_row(n)
        if kind == "bad":
            row = row.replace("1234.56", "12x4", 1)
            expected.append((first, "balance"))
        elif kind == "unclosed":
            row = row.replace("Alice Example", '"Alice Example', 1)
            expected.append((first, "(row)"))
        elif kind == "multiline":
            row = row.replace("Alice Example", '"Alice\nExample"', 1)
            expected.append((first, "ok"))
        else:
            expected.append((first, "ok"))
        lines.extend(row.split("\n"))
    assert [outcome(r) for r in lines_and_results(lines)] == expected


def test_decode_refuses_bytes_that_are_not_utf8_naming_the_line():
    raw = (HEADER + "\n" + plain_row(1) + "\n" + "王芳\n").encode("gb18030")
    with pytest.raises(HeaderError, match="line 3 is not utf-8 \\(byte 0xcd\\)"):
        decode(raw)
    assert decode(raw, "gb18030").endswith("王芳\n")


def test_decode_drops_a_utf8_byte_order_mark_and_keeps_every_character():
    assert decode("\ufeffaccount_number,名\n".encode()) == "account_number,名\n"
    assert "\ufffd" not in decode("王芳".encode())


def test_text_after_a_closing_quote_is_reported_and_the_row_skipped():
    rows = [plain_row(1).replace("Alice Example", '"Alice" Example', 1), plain_row(2)]
    first, second = lines_and_results(rows)
    assert outcome(first) == (2, "(row)") and "cannot be read as CSV" in first[0].reason
    assert outcome(second) == (3, "ok")
