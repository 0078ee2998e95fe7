"""GET Calls.json as Twilio answers it: its filters, newest first, pages that keep them.

Pure: given the calls the list may show (newest first) and the request's query, it picks
the page and builds Twilio's envelope. What the filters mean follows the Calls resource's
reference: To, From, Status and ParentCallSid match exactly; StartTime and EndTime compare
by UTC day (`YYYY-MM-DD`; the SDK sends a datetime, whose day is used): `StartTime` on
that day, `StartTime<` before it, `StartTime>` on or after it; a call that has not started
(or ended) yet matches no time filter. Every filter combines with the others.

Paging: `next_page_uri` repeats the filters and the page size, and adds `PageToken=PA<sid>`
naming the last call of the page, so the next page starts after that call however many
calls were created in between (Twilio's tokens have the same shape). `PB<sid>` is the way
back: the page just before that call.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from simulator.carrier.records import ApiError, SimCall

EXACT = (
    ("To", "to"),
    ("From", "from_"),
    ("Status", "status"),
    ("ParentCallSid", "parent_call_sid"),
)
DAY_FILTERS = tuple(f"{name}{op}" for name in ("StartTime", "EndTime") for op in ("", "<", ">"))
FILTERS = tuple(name for name, _ in EXACT) + DAY_FILTERS
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000
_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ].*)?")


@dataclass(frozen=True)
class DayRange:
    """A StartTime or EndTime filter: on a day, before a day, on or after a day."""

    on: dt.date | None = None
    before: dt.date | None = None
    on_or_after: dt.date | None = None

    @property
    def open(self) -> bool:
        return self.on is None and self.before is None and self.on_or_after is None

    def admits(self, moment: dt.datetime | None) -> bool:
        if self.open:
            return True
        if moment is None:
            return False
        day = moment.astimezone(dt.UTC).date()
        return (
            (self.on is None or day == self.on)
            and (self.before is None or day < self.before)
            and (self.on_or_after is None or day >= self.on_or_after)
        )


@dataclass(frozen=True)
class CallQuery:
    """The filters of one GET Calls.json, as given (`given` rebuilds the page URIs)."""

    exact: tuple[tuple[str, str], ...]  # (SimCall attribute, wanted value)
    start: DayRange
    end: DayRange
    given: tuple[tuple[str, str], ...]

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> CallQuery:
        exact = tuple((attr, args[name]) for name, attr in EXACT if args.get(name))
        days = {name: _day(name, args[name]) for name in DAY_FILTERS if args.get(name)}
        return cls(
            exact=exact,
            start=DayRange(days.get("StartTime"), days.get("StartTime<"), days.get("StartTime>")),
            end=DayRange(days.get("EndTime"), days.get("EndTime<"), days.get("EndTime>")),
            given=tuple((name, args[name]) for name in FILTERS if args.get(name)),
        )

    def matches(self, call: SimCall) -> bool:
        return (
            all(getattr(call, attr) == wanted for attr, wanted in self.exact)
            and self.start.admits(call.start_time)
            and self.end.admits(call.end_time)
        )


def page_envelope(
    calls: Sequence[SimCall],
    args: Mapping[str, str],
    list_uri: str,
    render: Callable[[SimCall], dict[str, Any]],
) -> dict[str, Any]:
    """One page of `calls` (newest first) under the request's filters, in Twilio's envelope."""
    query = CallQuery.from_args(args)
    matching = [c for c in calls if query.matches(c)]
    page_size = min(max(whole_number(args, "PageSize", DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
    page = max(whole_number(args, "Page", 0), 0)
    first, stop = _bounds(calls, matching, args.get("PageToken"), page, page_size)
    chunk = matching[first:stop]

    def uri(page_number: int, token: str | None = None) -> str:
        params = [*query.given, ("PageSize", str(page_size)), ("Page", str(page_number))]
        if token:
            params.append(("PageToken", token))
        return f"{list_uri}?{urlencode(params)}"

    has_next = stop < len(matching)
    return {
        "calls": [render(c) for c in chunk],
        "page": page,
        "page_size": page_size,
        "start": page * page_size,
        "end": page * page_size + max(len(chunk) - 1, 0),
        "uri": uri(page, args.get("PageToken")),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, "PA" + chunk[-1].sid) if has_next and chunk else None,
        "previous_page_uri": uri(page - 1, "PB" + chunk[0].sid) if page and chunk else None,
    }


def _bounds(
    calls: Sequence[SimCall], matching: Sequence[SimCall], token: str | None, page: int, size: int
) -> tuple[int, int]:
    """The page's slice of `matching`: after (PA) or just before (PB) the token's call, else
    Page * PageSize. The token's call is placed among all listed calls, so a call that no
    longer matches (its status moved on) still marks where the previous page ended."""
    if not token:
        return page * size, page * size + size
    order = {c.sid: i for i, c in enumerate(calls)}
    anchor = order.get(token[2:])
    if token[:2] not in ("PA", "PB") or anchor is None:
        raise ApiError(400, 21200, f"Invalid PageToken {token!r}")
    if token.startswith("PA"):
        first = sum(1 for c in matching if order[c.sid] <= anchor)
        return first, first + size
    stop = sum(1 for c in matching if order[c.sid] < anchor)
    return max(stop - size, 0), stop


def _day(name: str, value: str) -> dt.date:
    match = _DAY.fullmatch(value.strip())
    try:
        if match is None:
            raise ValueError(value)
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        raise ApiError(400, 21200, f"Invalid {name} {value!r}: a UTC date, YYYY-MM-DD") from None


def whole_number(args: Mapping[str, str], name: str, default: int) -> int:
    """A paging parameter: ASCII digits only (str.isdigit also takes '²', which int refuses)."""
    value = args.get(name) or ""
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):
        raise ApiError(400, 21200, f"Invalid {name} {value!r}: a whole number")
    return int(value)
