"""The placements CSV (account, agency, from, to): header checks and row parsing. Pure.

`from` and `to` are ISO dates, both inclusive; an empty `to` leaves the placement open
until a later file ends it. Each row parses or yields all of its problems with the line
and the column, as the accounts file does (hotline.csvrows, whose reader this shares).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from hotline.csvrows import HeaderError, RowError, check_header, records

PLACEMENT_COLUMNS = ("account", "agency", "from", "to")


@dataclass(frozen=True)
class PlacementRow:
    line: int
    account_number: str
    agency_code: str
    starts_on: dt.date
    ends_on: dt.date | None


def _date(line: int, column: str, text: str, errors: list[RowError]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append(RowError(line, column, f"{text!r} is not an ISO date (YYYY-MM-DD)"))
        return None


def parse_placement(line: int, raw: dict[str, str]) -> PlacementRow | list[RowError]:
    errors: list[RowError] = []
    account = raw.get("account", "").strip()
    agency = raw.get("agency", "").strip().upper()
    start_text, end_text = raw.get("from", "").strip(), raw.get("to", "").strip()
    if not account:
        errors.append(RowError(line, "account", "is empty"))
    elif len(account) > 32 or not account.isascii():
        errors.append(RowError(line, "account", "must be at most 32 ASCII characters"))
    if not agency:
        errors.append(RowError(line, "agency", "is empty"))
    elif len(agency) > 32:
        errors.append(RowError(line, "agency", "is longer than 32 characters"))
    starts_on = _date(line, "from", start_text, errors) if start_text else None
    if not start_text:
        errors.append(RowError(line, "from", "is empty (the first day with the agency)"))
    ends_on = _date(line, "to", end_text, errors) if end_text else None
    if starts_on and ends_on and ends_on < starts_on:
        errors.append(RowError(line, "to", f"{ends_on} is before the start {starts_on}"))
    if errors:
        return errors
    assert starts_on is not None
    return PlacementRow(line, account, agency, starts_on, ends_on)


def read_placements(stream: TextIO) -> Iterator[PlacementRow | list[RowError]]:
    """Each data row parsed, or its errors; HeaderError if the header is not this format."""
    rows = records(stream, width=len(PLACEMENT_COLUMNS))
    first = next(rows, None)
    if first is not None and isinstance(first[1], str):
        raise HeaderError(f"line {first[0]}: {first[1]}")
    names = [name.strip() for name in first[1]] if first is not None else None
    check_header(names, PLACEMENT_COLUMNS)
    assert names is not None
    seen: dict[tuple[str, str, dt.date], int] = {}
    for line, fields in rows:
        if isinstance(fields, str):
            yield [RowError(line, "(row)", fields)]
            continue
        if not any(value.strip() for value in fields):
            continue
        if len(fields) != len(names):
            yield [RowError(line, "(row)", f"has {len(fields)} fields, the header {len(names)}")]
            continue
        result = parse_placement(line, dict(zip(names, fields, strict=True)))
        if isinstance(result, PlacementRow):
            key = (result.account_number, result.agency_code, result.starts_on)
            first_line = seen.setdefault(key, line)
            if first_line != line:
                result = [RowError(line, "(row)", f"repeats the placement on line {first_line}")]
        yield result
