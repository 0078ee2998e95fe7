"""The accounts CSV format: header checks and row parsing. Pure: no database, no clock.

A row either parses into an AccountRow or yields every problem found in it, each with the
line number, the column and the reason, so one bad field does not hide another.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO, TypeVar

from hotline.money import MoneyError, normalise_currency, parse_major
from hotline.phones import PHONE_TYPES, ParsedPhone, PhoneError, parse_phone

R = TypeVar("R")

COLUMNS = (
    "account_number",
    "name",
    "language",
    "phone",
    "phone_type",
    "alt_phones",
    "autodial_consent",
    "address_region",
    "postal_code",
    "country",
    "currency",
    "balance",
    "minimum_due",
    "past_due",
    "due_date",
    "days_past_due",
    "verify_digits",
    "flags",
)
# May be left empty; every other column needs a value.
OPTIONAL_COLUMNS = frozenset({"alt_phones", "address_region", "postal_code", "flags"})

LANGUAGES = {"en": "en", "zh-cn": "zh-CN"}
FLAGS = ("dnc", "bankruptcy", "deceased", "attorney", "dispute", "cease", "hardship", "fraud")
YES = frozenset({"yes", "y", "true", "1"})
NO = frozenset({"no", "n", "false", "0"})
MAX_DAYS_PAST_DUE = 3650
# A quoted field may hold line breaks, but no field of this format needs many: a record
# running over more lines than this is a quote left open.
MAX_LINES_PER_RECORD = 5
UNCLOSED_QUOTE = (
    "a quote opened on this line is never closed; the row is skipped and reading resumes "
    "on the next line"
)


@dataclass(frozen=True)
class PhoneEntry:
    e164: str
    phone_type: str
    is_primary: bool


@dataclass(frozen=True)
class AccountRow:
    line: int
    account_number: str
    name: str
    language: str
    phones: tuple[PhoneEntry, ...]
    autodial_consent: bool
    address_region: str | None
    postal_code: str | None
    country: str
    currency: str
    balance_minor: int
    minimum_due_minor: int
    past_due_minor: int
    due_date: dt.date
    days_past_due: int
    verify_digits: str
    flags: frozenset[str]


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


class HeaderError(ValueError):
    """The file cannot be read as the accounts format at all."""


def check_header(fieldnames: Sequence[str] | None, columns: Sequence[str] = COLUMNS) -> None:
    """HeaderError unless the header names each of `columns` once and nothing else."""
    if not fieldnames:
        raise HeaderError("the file is empty: a header row naming the columns is required")
    names = [name.strip() for name in fieldnames]
    unknown = [name for name in names if name not in columns]
    missing = [name for name in columns if name not in names]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if duplicated:
        problems.append(f"repeated column(s): {', '.join(duplicated)}")
    if problems:
        raise HeaderError("; ".join(problems))


def decode(raw: bytes, encoding: str = "utf-8") -> str:
    """The file's text; HeaderError naming the line of the first byte not in `encoding`.

    Never decoded with replacement characters: a name or a number read as "\ufffd" would be
    imported as if the bank had sent it.
    """
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise HeaderError(f"{encoding!r} is not an encoding Python knows") from None
    # A UTF-8 file from a spreadsheet often starts with a byte-order mark: not data.
    name = "utf-8-sig" if codec.name == "utf-8" else codec.name
    try:
        return raw.decode(name)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise HeaderError(
            f"line {line} is not {codec.name} (byte 0x{raw[exc.start]:02x}): save the file as "
            "UTF-8, or name its encoding with --encoding (for example gb18030)"
        ) from None


class _PhysicalLines:
    """The stream's lines, counted, with a way to read some of them again.

    csv.reader pulls one physical line at a time and no further than the end of its
    record, so `taken` is exactly the last line of the record just read.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = iter(stream)
        self._again: list[str] = []
        self.taken = 0
        self.record: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self._again.pop() if self._again else next(self._stream)
        self.taken += 1
        self.record.append(line)
        return line

    def start_record(self) -> int:
        """Begin a record; the number of its first line."""
        self.record = []
        return self.taken + 1

    def resume_after(self, line: int) -> None:
        """Forget the record that began on `line`; read again from the line after it."""
        self._again.extend(reversed(self.record[1:]))
        self.record = []
        self.taken = line


def records(stream: TextIO, width: int = len(COLUMNS)) -> Iterator[tuple[int, list[str] | str]]:
    """(first physical line, fields) per record, or (line, why) for one that is not a row.

    `width` is how many columns a row of the format has (the accounts file's by default).

    Python's csv module reads a quote that is never closed into one field running to the
    end of the file, taking every row after it. A record is treated as such when the csv
    module refuses it (strict: end of data inside a quote, text after a closing quote), or
    when it runs over more than MAX_LINES_PER_RECORD lines, or when a field with a line
    break holds as many commas as a whole row. It is reported on the line where the quote
    opened (the record's first: it would have ended there otherwise), and reading resumes
    on the line after it, so the rows it swallowed are read as the rows they are.
    """
    lines = _PhysicalLines(stream)
    reader = csv.reader(lines, strict=True)
    while True:
        start = lines.start_record()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            spanned = lines.taken > start
            lines.resume_after(start)
            reader = csv.reader(lines, strict=True)
            if spanned or "end of data" in str(exc) or "field limit" in str(exc):
                yield start, UNCLOSED_QUOTE
            else:
                yield start, f'cannot be read as CSV ({exc}; a quote inside a field is written "")'
            continue
        if lines.taken > start and _runs_on(fields, lines.taken - start + 1, width):
            lines.resume_after(start)
            reader = csv.reader(lines, strict=True)
            yield start, UNCLOSED_QUOTE
            continue
        yield start, fields


def _runs_on(fields: Sequence[str], physical_lines: int, width: int) -> bool:
    if physical_lines > MAX_LINES_PER_RECORD:
        return True
    return any(
        ("\n" in field or "\r" in field) and field.count(",") >= width - 1 for field in fields
    )


def raw_rows(
    stream: TextIO, columns: Sequence[str]
) -> Iterator[tuple[int, dict[str, object] | RowError]]:
    """(line, column -> text) per data row of a CSV whose header must name exactly
    `columns`, or (line, its error) for a record that is not a row; HeaderError if the
    header is wrong. Fields beyond the header's are kept under "__extra__".

    Line numbers are physical lines of the file (1 is the header), where the row begins.
    Blank lines are skipped and are not rows.
    """
    rows = records(stream, len(columns))
    first = next(rows, None)
    if first is not None and isinstance(first[1], str):
        raise HeaderError(f"line {first[0]}: {first[1]}")
    fieldnames = [name.strip() for name in first[1]] if first is not None else None
    check_header(fieldnames, columns)
    assert fieldnames is not None
    width = len(fieldnames)
    for line, fields in rows:
        if isinstance(fields, str):
            yield line, RowError(line, "(row)", fields)
            continue
        if not any(value.strip() for value in fields):
            continue  # blank line
        raw: dict[str, object] = dict(zip(fieldnames, fields, strict=False))
        if len(fields) > width:
            raw["__extra__"] = fields[width:]
        yield line, raw


def read_rows(
    stream: TextIO, *, us_subdivisions: frozenset[str] = frozenset()
) -> Iterator[AccountRow | list[RowError]]:
    """Yield each data row parsed, or its errors; HeaderError if the header is wrong
    (see raw_rows for lines)."""
    return keyed_rows(
        raw_rows(stream, COLUMNS),
        lambda line, raw: parse_row(line, raw, us_subdivisions=us_subdivisions),
        AccountRow,
        key=lambda row: row.account_number,
        column="account_number",
        what="account",
    )


def keyed_rows(
    rows: Iterator[tuple[int, Mapping[str, object] | RowError]],
    parse: Callable[[int, Mapping[str, object]], R | list[RowError]],
    parsed: type[R],
    *,
    key: Callable[[R], str],
    column: str,
    what: str,
) -> Iterator[R | list[RowError]]:
    """Each raw row parsed, or its errors; a row whose key an earlier line of the file
    already had is refused on its later lines (the first stands), whatever its content."""
    seen: dict[str, int] = {}
    for line, raw in rows:
        if isinstance(raw, RowError):
            yield [raw]
            continue
        result = parse(line, raw)
        if isinstance(result, parsed):
            first_line = seen.setdefault(key(result), line)
            if first_line != line:
                result = [RowError(line, column, f"repeats the {what} on line {first_line}")]
        yield result


def parse_row(
    line: int, raw: Mapping[str, object], *, us_subdivisions: frozenset[str] = frozenset()
) -> AccountRow | list[RowError]:
    """Parse one CSV record (column -> text); collect every problem in it."""
    errors: list[RowError] = []
    if raw.get("__extra__"):
        errors.append(RowError(line, "(row)", "has more fields than the header"))

    def value(column: str) -> str:
        text = raw.get(column)
        if text is None:
            if column not in OPTIONAL_COLUMNS:
                errors.append(RowError(line, column, "is missing (row has fewer fields)"))
            return ""
        stripped = str(text).strip()
        if not stripped and column not in OPTIONAL_COLUMNS:
            errors.append(RowError(line, column, "is empty"))
        return stripped

    def fail(column: str, reason: str) -> None:
        errors.append(RowError(line, column, reason))

    account_number = value("account_number")
    if account_number and (len(account_number) > 32 or not account_number.isascii()):
        fail("account_number", "must be at most 32 ASCII characters")

    name = value("name")
    if len(name) > 200:
        fail("name", "is longer than 200 characters")

    language_text = value("language")
    language = LANGUAGES.get(language_text.lower(), "")
    if language_text and not language:
        fail("language", f"{language_text!r} is not en or zh-CN")

    country = value("country").upper()
    if country and (len(country) != 2 or not country.isalpha()):
        fail("country", f"{country!r} is not an ISO 3166 two-letter code")
        country = ""

    region = value("address_region").upper() or None
    if region and country == "US" and us_subdivisions and region not in us_subdivisions:
        fail("address_region", f"{region!r} is not a US state or territory code")
    elif region and len(region) > 32:
        fail("address_region", "is longer than 32 characters")

    postal_code = value("postal_code") or None
    if postal_code and len(postal_code) > 16:
        fail("postal_code", "is longer than 16 characters")

    phones = _parse_phones(
        line, value("phone"), value("phone_type"), value("alt_phones"), country, errors
    )

    consent_text = value("autodial_consent").lower()
    if consent_text and consent_text not in YES | NO:
        fail("autodial_consent", f"{consent_text!r} is not yes or no")

    currency = value("currency")
    if currency:
        try:
            currency = normalise_currency(currency)
        except MoneyError as exc:
            fail("currency", str(exc))
            currency = ""
    amounts: dict[str, int] = {}
    for column in ("balance", "minimum_due", "past_due"):
        text = value(column)
        if text and currency:
            try:
                amounts[column] = parse_major(text, currency)
            except MoneyError as exc:
                fail(column, str(exc))
    if "balance" in amounts:
        for column in ("minimum_due", "past_due"):
            if column in amounts and amounts[column] > amounts["balance"]:
                fail(column, "is more than the balance")

    due_text = value("due_date")
    due_date = None
    if due_text:
        try:
            due_date = dt.date.fromisoformat(due_text)
        except ValueError:
            fail("due_date", f"{due_text!r} is not an ISO date (YYYY-MM-DD)")

    dpd_text = value("days_past_due")
    days_past_due = None
    if dpd_text:
        dpd_digits = ascii_digits(dpd_text)
        if dpd_digits is not None and int(dpd_digits) <= MAX_DAYS_PAST_DUE:
            days_past_due = int(dpd_digits)
        else:
            fail(
                "days_past_due", f"{dpd_text!r} is not a whole number from 0 to {MAX_DAYS_PAST_DUE}"
            )

    verify_text = value("verify_digits")
    # Hashed as the caller keys them: full-width digits (a Chinese IME's) as ASCII ones.
    verify_digits = ascii_digits(verify_text) or ""
    if verify_text and not 4 <= len(verify_digits) <= 10:
        fail("verify_digits", "must be 4 to 10 digits")

    flags = frozenset(f.strip().lower() for f in value("flags").split(";") if f.strip())
    unknown_flags = sorted(flags - set(FLAGS))
    if unknown_flags:
        fail("flags", f"unknown flag(s) {', '.join(unknown_flags)} (known: {', '.join(FLAGS)})")

    if errors:
        return errors
    assert due_date is not None and days_past_due is not None
    return AccountRow(
        line=line,
        account_number=account_number,
        name=name,
        language=language,
        phones=phones,
        autodial_consent=consent_text in YES,
        address_region=region,
        postal_code=postal_code,
        country=country,
        currency=currency,
        balance_minor=amounts["balance"],
        minimum_due_minor=amounts["minimum_due"],
        past_due_minor=amounts["past_due"],
        due_date=due_date,
        days_past_due=days_past_due,
        verify_digits=verify_digits,
        flags=flags,
    )


_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def ascii_digits(text: str) -> str | None:
    """`text` as ASCII digits, full-width ones (U+FF10-FF19, what NFKC maps to ASCII)
    included; None if anything else is in it. Not str.isdigit(): that also passes
    superscripts and other scripts' digits, which int() refuses or a keypad cannot key."""
    digits = text.translate(_FULL_WIDTH_DIGITS)
    return digits if digits.isascii() and digits.isdigit() else None


def _parse_phones(
    line: int,
    primary: str,
    primary_type: str,
    alternates: str,
    country: str,
    errors: list[RowError],
) -> tuple[PhoneEntry, ...]:
    region = country or "US"
    entries: list[PhoneEntry] = []
    phone_type = primary_type.lower()
    if primary_type and phone_type not in PHONE_TYPES:
        errors.append(
            RowError(line, "phone_type", f"{primary_type!r} is not one of {', '.join(PHONE_TYPES)}")
        )
    if primary:
        try:
            parsed = parse_phone(primary, region)
            entries.append(PhoneEntry(parsed.e164, phone_type, True))
        except PhoneError as exc:
            errors.append(RowError(line, "phone", str(exc)))
    for text in (part for part in alternates.split(";") if part.strip()):
        try:
            parsed = parse_phone(text, region)
        except PhoneError as exc:
            errors.append(RowError(line, "alt_phones", str(exc)))
            continue
        if all(entry.e164 != parsed.e164 for entry in entries):
            entries.append(PhoneEntry(parsed.e164, _inferred_type(parsed), False))
    return tuple(entries)


def _inferred_type(parsed: ParsedPhone) -> str:
    # The file gives a type only for the main number. When the numbering plan cannot tell a
    # mobile from a landline (most US numbers), call it mobile: mobiles need autodial
    # consent, so the cautious guess never lets the dialer call without it.
    return "home" if parsed.is_mobile is False else "mobile"
