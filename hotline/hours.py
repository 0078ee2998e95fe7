"""Opening hours like "mon-fri 08:00-20:00", evaluated in a time zone. Pure."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PATTERN = re.compile(
    r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$"
)


class HoursError(ValueError):
    pass


@dataclass(frozen=True)
class Hours:
    days: frozenset[int]  # 0 = Monday
    start: dt.time
    end: dt.time | None  # None: until midnight

    def open_at(self, moment: dt.datetime, zone: str) -> bool:
        local = moment.astimezone(ZoneInfo(zone))
        if local.weekday() not in self.days:
            return False
        now = local.time()
        return now >= self.start and (self.end is None or now < self.end)

    def next_opening(self, moment: dt.datetime, zone: str) -> dt.datetime | None:
        """The next moment the hours open (now, if open), in UTC; None if never."""
        if not self.days:
            return None
        local = moment.astimezone(ZoneInfo(zone))
        for offset in range(8):
            day = local.date() + dt.timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opening = dt.datetime.combine(day, self.start, tzinfo=ZoneInfo(zone))
            closing = (
                dt.datetime.combine(day, self.end, tzinfo=ZoneInfo(zone))
                if self.end
                else opening.replace(hour=23, minute=59)
            )
            if local < closing:
                return max(opening, local).astimezone(dt.UTC)
        return None


def parse_hours(text: str) -> Hours:
    value = " ".join(text.lower().split())
    if value == "always":
        return Hours(frozenset(range(7)), dt.time(0, 0), None)
    if value == "never":
        return Hours(frozenset(), dt.time(0, 0), None)
    match = _PATTERN.match(value)
    if not match:
        raise HoursError(f"{text!r} is not like 'mon-fri 08:00-20:00', 'always' or 'never'")
    first, _, last = match["days"].partition("-")
    if first not in DAYS or (last and last not in DAYS):
        raise HoursError(f"{match['days']!r}: days are {', '.join(DAYS)}")
    start_index, end_index = DAYS.index(first), DAYS.index(last or first)
    days = frozenset(
        d % 7
        for d in range(start_index, start_index + 7)
        if (d - start_index) % 7 <= (end_index - start_index) % 7
    )
    try:
        start = dt.time.fromisoformat(match["start"])
        end = None if match["end"] == "24:00" else dt.time.fromisoformat(match["end"])
    except ValueError:
        raise HoursError(f"{text!r}: times are HH:MM, 00:00 to 24:00") from None
    if end is not None and end <= start:
        raise HoursError(f"{text!r}: closing must come after opening")
    return Hours(days, start, end)
