"""The dialer's contact policy: may this account be called now, on which of the cardholder's
numbers, and if not, why not and when next.

(Over 500 lines on purpose: the rules and the search for the next eligible moment read one
another at every step, and compliance reads them as one text; the figures are data in
hotline/profiles.py.)

Pure: plain frozen facts in, a `Decision` out; no Flask, Twilio, session or clock (`now` is
an argument). The rules' figures are the profile's (`hotline/profiles.py`); this module
only applies them:

- the account: hard-block flags (bankruptcy, deceased, attorney, cease, dispute, fraud,
  do-not-call), an open dispute, nothing past due, reminders paused (a promise or plan);
- the numbers: only the cardholder's own numbers on file are candidates; opted out, bad,
  under review after a wrong party, or a mobile without autodial consent are never dialled;
- the time: the calling window and the holidays in *every* zone the person may be in (each
  number's zones from the numbering plan, plus the address region's), each number's
  allowed-hours preference in that number's zones;
- the history: the conversation pause and every cap, counted in local calendar days in
  every candidate zone.

A denial's `next_eligible` is the earliest instant the same facts and history would be
allowed, found by stepping through the instants where any condition can change (local
midnights, window and preference edges, DST transitions, in each zone); it is always
checked to be allowed before it is returned.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import holidays
from phonenumbers import NumberParseException

from hotline.enums import AccountFlag, Direction, PhoneType
from hotline.phones import mask_phone, time_zones_for
from hotline.profiles import AttemptOutcome, Cap, CapScope, ContactProfile, HolidayCalendar

__all__ = [
    "AccountFacts",
    "Attempt",
    "AttemptOutcome",
    "Channel",
    "Decision",
    "LocalHours",
    "PhoneFacts",
    "Reason",
    "address_zones",
    "allowed_explanation",
    "callable_numbers",
    "candidate_zones",
    "decide",
    "decide_text",
]

# How far ahead a next eligible time is looked for (after a reminder pause ends). A year
# and a bit: a person with numbers in New York and Shanghai has no common window in
# northern winter and must wait for daylight saving time.
HORIZON_DAYS = 400
DAY = dt.timedelta(days=1)


class Channel(enum.StrEnum):
    VOICE = "voice"
    SMS = "sms"


class Reason(enum.StrEnum):
    """Why an account or a number may not be called now."""

    # The account: nothing but a person's act (or the bank's file) changes these.
    BANKRUPTCY = "bankruptcy"
    DECEASED = "deceased"
    ATTORNEY = "attorney"
    CEASE = "cease"
    DISPUTE = "dispute"
    FRAUD = "fraud"
    DO_NOT_CALL = "do-not-call"
    OPEN_DISPUTE = "open-dispute"
    NOTHING_DUE = "nothing-due"
    # The numbers.
    NO_NUMBER = "no-number"
    OPTED_OUT = "opted-out"
    BAD_NUMBER = "bad-number"
    UNDER_REVIEW = "under-review"
    NO_AUTODIAL_CONSENT = "no-autodial-consent"
    NOT_A_MOBILE = "not-a-mobile"  # texts go to mobiles only
    NO_TIME_ZONE = "no-time-zone"
    # Time and history: these pass by themselves.
    REMINDERS_PAUSED = "reminders-paused"
    CONVERSATION_PAUSE = "conversation-pause"
    DEBT_CAP = "debt-cap"
    DEBTOR_CAP = "debtor-cap"
    NUMBER_CAP = "number-cap"
    HOLIDAY = "holiday"
    OUTSIDE_WINDOW = "outside-window"
    OUTSIDE_PREFERRED_HOURS = "outside-preferred-hours"


# Account flags that stop every collection call, in the order a denial names them. Fraud
# is here though hotline/enums.py BLOCKING_FLAGS leaves it out (it changes how an account is
# worked): the dialer is automated, and an automated call on a fraud case is never right.
HARD_BLOCKS: tuple[tuple[AccountFlag, Reason], ...] = (
    (AccountFlag.BANKRUPTCY, Reason.BANKRUPTCY),
    (AccountFlag.DECEASED, Reason.DECEASED),
    (AccountFlag.ATTORNEY, Reason.ATTORNEY),
    (AccountFlag.CEASE, Reason.CEASE),
    (AccountFlag.DISPUTE, Reason.DISPUTE),
    (AccountFlag.FRAUD, Reason.FRAUD),
    (AccountFlag.DNC, Reason.DO_NOT_CALL),
)

_WHY = {
    Reason.BANKRUPTCY: "account flagged bankruptcy",
    Reason.DECEASED: "account flagged deceased",
    Reason.ATTORNEY: "represented by an attorney",
    Reason.CEASE: "cease-communication request",
    Reason.DISPUTE: "account flagged disputed",
    Reason.FRAUD: "account flagged fraud",
    Reason.DO_NOT_CALL: "account on do-not-call",
    Reason.OPEN_DISPUTE: "open dispute",
    Reason.NOTHING_DUE: "nothing past due",
    Reason.NO_NUMBER: "no number that may be dialled",
    Reason.OPTED_OUT: "number opted out",
    Reason.BAD_NUMBER: "bad number",
    Reason.UNDER_REVIEW: "number under review (wrong party)",
    Reason.NO_AUTODIAL_CONSENT: "mobile without autodial consent",
    Reason.NOT_A_MOBILE: "not a mobile number (no texts)",
    Reason.NO_TIME_ZONE: "no known time zone",
    Reason.REMINDERS_PAUSED: "reminders paused (promise or plan)",
    Reason.CONVERSATION_PAUSE: "pause after a conversation",
    Reason.DEBT_CAP: "cap reached",
    Reason.DEBTOR_CAP: "cap reached",
    Reason.NUMBER_CAP: "cap reached",
    Reason.HOLIDAY: "holiday",
    Reason.OUTSIDE_WINDOW: "outside the calling window",
    Reason.OUTSIDE_PREFERRED_HOURS: "outside the hours the cardholder asked for",
}


@dataclass(frozen=True)
class LocalHours:
    """Hours of the day, [start, end), in a local time zone."""

    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("allowed hours must start before they end")

    def contains(self, moment: dt.time) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class PhoneFacts:
    """One of the cardholder's own numbers on file, as the contact rules see it."""

    e164: str
    type: PhoneType
    autodial_consent: bool
    opted_out: bool = False  # IVR 9, STOP by text, or an agent
    bad_number: bool = False  # the carrier said not in service
    removed: bool = False  # no longer on file (kept for its opt-out)
    under_review: bool = False  # a wrong party answered; not dialled until reviewed
    # When the cardholder asked to be called on this number, in its local time; None: any
    # time inside the profile's window.
    allowed_hours: LocalHours | None = None
    # The numbering plan's zones for the number, when the caller has them already (stored
    # with the phone); None: looked up here. Looking them up is most of a decision's cost.
    zones: tuple[str, ...] | None = None

    def time_zones(self) -> tuple[str, ...]:
        return self.zones if self.zones is not None else phone_zones(self.e164)


@dataclass(frozen=True)
class AccountFacts:
    account_number: str
    flags: frozenset[AccountFlag]
    open_dispute: bool
    past_due_minor: int
    days_past_due: int
    # Promises and plans pause reminders through this date (in the person's local date).
    reminders_paused_until: dt.date | None
    country: str  # ISO 3166 code of the mailing address
    address_region: str | None  # its state or province


@dataclass(frozen=True)
class Attempt:
    """A past contact with the cardholder. The history given to `decide` holds every
    contact with the person, about any of their accounts, in both directions."""

    placed_at: dt.datetime  # aware
    phone: str
    outcome: AttemptOutcome
    accounts: frozenset[str]  # the debts it was about: it counts toward each
    conversation: bool = False  # a telephone conversation with the cardholder about them
    direction: Direction = Direction.OUTBOUND
    channel: Channel = Channel.VOICE
    # A call still ringing: it may yet be answered or not, so every cap counts it (China's
    # 3 connected calls a day as much as its 6 unanswered ones to the number).
    live: bool = False

    def __post_init__(self) -> None:
        if self.placed_at.utcoffset() is None:
            raise ValueError("an attempt's time must be timezone-aware")
        if self.live and (self.channel is not Channel.VOICE or self.conversation):
            raise ValueError("a live attempt is a voice call not over yet")
        if self.conversation and (
            self.outcome is not AttemptOutcome.CONNECTED or self.channel is not Channel.VOICE
        ):
            raise ValueError("a conversation is a connected voice call")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # The numbers that may be dialled now (allow), in the order given.
    phones: tuple[str, ...]
    reason: Reason | None
    # The earliest instant the same facts would be allowed (UTC); None when allowed now, or
    # when time alone will never allow it (a hard block, no diallable number).
    next_eligible: dt.datetime | None
    explanation: str
    # The rule a cap denial names ("7-in-7 cap reached") and its source.
    rule: str | None = None
    # Numbers on file not callable now, and why: what a preview shows.
    excluded: tuple[tuple[str, Reason], ...] = field(default=())
    # A denial no instant lifts (a hard block, nothing due, no number diallable): the same
    # facts are denied at every time (dialer/plan_memo.py relies on it).
    timeless: bool = False
    # A denial whose search for the next eligible time stopped at `until`: nothing is
    # allowed before this, and the same reason is given until then (the horizon's end,
    # or the end of the pause the reason names if later; dialer/plan_memo.py).
    not_before: dt.datetime | None = None


# US states and territories to the zones a person there may be in (a state across two zones
# lists both: the address says the state, not the county).
US_STATE_ZONES: dict[str, tuple[str, ...]] = {
    "AL": ("America/Chicago",),
    "AK": ("America/Anchorage", "America/Adak"),
    "AZ": ("America/Phoenix", "America/Denver"),  # the Navajo Nation keeps DST
    "AR": ("America/Chicago",),
    "CA": ("America/Los_Angeles",),
    "CO": ("America/Denver",),
    "CT": ("America/New_York",),
    "DE": ("America/New_York",),
    "DC": ("America/New_York",),
    "FL": ("America/New_York", "America/Chicago"),
    "GA": ("America/New_York",),
    "HI": ("Pacific/Honolulu",),
    "ID": ("America/Boise", "America/Los_Angeles"),
    "IL": ("America/Chicago",),
    "IN": ("America/Indiana/Indianapolis", "America/Chicago"),
    "IA": ("America/Chicago",),
    "KS": ("America/Chicago", "America/Denver"),
    "KY": ("America/New_York", "America/Chicago"),
    "LA": ("America/Chicago",),
    "ME": ("America/New_York",),
    "MD": ("America/New_York",),
    "MA": ("America/New_York",),
    "MI": ("America/Detroit", "America/Chicago"),
    "MN": ("America/Chicago",),
    "MS": ("America/Chicago",),
    "MO": ("America/Chicago",),
    "MT": ("America/Denver",),
    "NE": ("America/Chicago", "America/Denver"),
    "NV": ("America/Los_Angeles",),
    "NH": ("America/New_York",),
    "NJ": ("America/New_York",),
    "NM": ("America/Denver",),
    "NY": ("America/New_York",),
    "NC": ("America/New_York",),
    "ND": ("America/Chicago", "America/Denver"),
    "OH": ("America/New_York",),
    "OK": ("America/Chicago",),
    "OR": ("America/Los_Angeles", "America/Boise"),
    "PA": ("America/New_York",),
    "RI": ("America/New_York",),
    "SC": ("America/New_York",),
    "SD": ("America/Chicago", "America/Denver"),
    "TN": ("America/Chicago", "America/New_York"),
    "TX": ("America/Chicago", "America/Denver"),
    "UT": ("America/Denver",),
    "VT": ("America/New_York",),
    "VA": ("America/New_York",),
    "WA": ("America/Los_Angeles",),
    "WV": ("America/New_York",),
    "WI": ("America/Chicago",),
    "WY": ("America/Denver",),
    "PR": ("America/Puerto_Rico",),
    "VI": ("America/St_Thomas",),
    "GU": ("Pacific/Guam",),
    "AS": ("Pacific/Pago_Pago",),
    "MP": ("Pacific/Saipan",),
}
# Countries with one zone for every address: Beijing time is China's legal time everywhere.
COUNTRY_ZONES: dict[str, tuple[str, ...]] = {"CN": ("Asia/Shanghai",)}


def address_zones(country: str, region: str | None) -> tuple[str, ...]:
    """The zones a mailing address puts a person in; empty when the table does not say."""
    if country == "US":
        return US_STATE_ZONES.get((region or "").upper(), ())
    return COUNTRY_ZONES.get(country, ())


def phone_zones(e164: str) -> tuple[str, ...]:
    try:
        return time_zones_for(e164)
    except NumberParseException:
        return ()


def candidate_zones(account: AccountFacts, phones: Iterable[PhoneFacts]) -> tuple[str, ...]:
    """Every zone the person may be in: the address's, then each number's on file."""
    zones = list(address_zones(account.country, account.address_region))
    for phone in phones:
        if not phone.removed:
            zones.extend(phone.time_zones())
    return tuple(dict.fromkeys(zones))


def decide(
    account: AccountFacts,
    phones: Sequence[PhoneFacts],
    history: Iterable[Attempt],
    profile: ContactProfile,
    now: dt.datetime,
    *,
    until: dt.datetime | None = None,
) -> Decision:
    """May the account be called (voice, automated) at `now`, on which numbers; if not,
    why not and when next. `history` holds every contact with the cardholder.

    `until`: the next eligible time is looked for only up to then, and is None past it
    (the planner's horizon: a later time would not queue the call, and looking a week
    ahead for the end of a cap was most of a planning run's policy time)."""
    return _decided(_prepare(account, phones, history, profile, now), now, until)


def decide_text(
    account: AccountFacts,
    phones: Sequence[PhoneFacts],
    history: Iterable[Attempt],
    profile: ContactProfile,
    now: dt.datetime,
    to: str,
) -> Decision:
    """May the dialer text `to`, one of the cardholder's numbers, at `now`; if not, why not
    and when next.

    The same rules as a call, read for a text: only a mobile on file with consent (TCPA:
    an automated text is an autodialled call), never an opted-out, bad or under-review
    number; the hard blocks and an open dispute; the calling window and holidays in every
    candidate zone; and the caps that count texts (`Cap.counts_sms`: Massachusetts'
    "communications", China's attempts per number). Not the rules that are about calls
    only: the Reg F 7-in-7 count and the pause after a conversation (calls), nothing past
    due and reminders paused (a courtesy reminder or a thank-you is sent exactly then).
    """
    return _decided(_prepare(account, phones, history, profile, now, Channel.SMS, to), now)


def _decided(
    prepared: Decision | tuple[_Rules, tuple[tuple[str, Reason], ...]],
    now: dt.datetime,
    until: dt.datetime | None = None,
) -> Decision:
    if isinstance(prepared, Decision):
        return prepared
    rules, excluded = prepared
    now = now.astimezone(dt.UTC)
    callable_now, reason, rule, time_excluded = rules.verdict(now)
    if callable_now:
        return Decision(
            allowed=True,
            phones=callable_now,
            reason=None,
            next_eligible=None,
            explanation=allowed_explanation(callable_now),
            excluded=excluded + time_excluded,
        )
    assert reason is not None
    why = rule or _WHY[reason]
    found = rules.next_allowed(now, until)
    if found is None and until is not None:
        return Decision(
            False,
            (),
            reason,
            None,
            f"{why}; not eligible by {until.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC",
            rule,
            excluded + time_excluded,
            not_before=max(until, rules.pause_end(reason, now)),
        )
    if found is None:
        return Decision(
            False,
            (),
            reason,
            None,
            f"{why}; no eligible time within {HORIZON_DAYS} days",
            rule,
            excluded + time_excluded,
        )
    local, zone = rules.shown(found)
    return Decision(
        False,
        (),
        reason,
        found,
        f"{why}; next eligible {local:%Y-%m-%d %H:%M} {zone}",
        rule,
        excluded + time_excluded,
    )


def allowed_explanation(numbers: Iterable[str]) -> str:
    """What an allowed decision says (the numbers masked)."""
    return "may be called now on " + ", ".join(mask_phone(p) for p in numbers)


def callable_numbers(
    account: AccountFacts,
    phones: Sequence[PhoneFacts],
    history: Iterable[Attempt],
    profile: ContactProfile,
    now: dt.datetime,
) -> tuple[str, ...]:
    """The numbers `decide` would allow now, without looking for a next eligible time:
    what a dialer asks again just before it places a call."""
    prepared = _prepare(account, phones, history, profile, now)
    if isinstance(prepared, Decision):
        return ()
    return prepared[0].verdict(now.astimezone(dt.UTC))[0]


def _prepare(
    account: AccountFacts,
    phones: Sequence[PhoneFacts],
    history: Iterable[Attempt],
    profile: ContactProfile,
    now: dt.datetime,
    channel: Channel = Channel.VOICE,
    only: str | None = None,
) -> Decision | tuple[_Rules, tuple[tuple[str, Reason], ...]]:
    """A denial that time will not lift, or the account's time rules ready to be asked.
    `only`: the one number asked about (a text's); the others still place the person."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    for flag, reason in HARD_BLOCKS:
        if flag in account.flags:
            return _never(reason)
    if account.open_dispute:
        return _never(Reason.OPEN_DISPUTE)
    if channel is Channel.VOICE and (account.past_due_minor <= 0 or account.days_past_due <= 0):
        return _never(Reason.NOTHING_DUE)
    on_file = [p for p in phones if not p.removed]
    asked = [p for p in on_file if only is None or p.e164 == only]
    block = _number_block if channel is Channel.VOICE else _text_block
    excluded = tuple((p.e164, r) for p in asked if (r := block(p)) is not None)
    diallable = [p for p in asked if block(p) is None]
    if not diallable:
        reasons = {r for _, r in excluded}
        reason = reasons.pop() if len(reasons) == 1 else Reason.NO_NUMBER
        return _never(reason, excluded)
    zones = candidate_zones(account, on_file)
    if not zones:
        return _never(Reason.NO_TIME_ZONE, excluded)
    rules = _Rules(
        account, diallable, list(history), profile, zones, now.astimezone(dt.UTC), channel
    )
    return rules, excluded


def _never(reason: Reason, excluded: tuple[tuple[str, Reason], ...] = ()) -> Decision:
    return Decision(
        False, (), reason, None, f"{_WHY[reason]}; not called", None, excluded, timeless=True
    )


def _number_block(phone: PhoneFacts) -> Reason | None:
    """What stops a number on file from ever being autodialled, whatever the time."""
    if phone.opted_out:
        return Reason.OPTED_OUT
    if phone.bad_number:
        return Reason.BAD_NUMBER
    if phone.under_review:
        return Reason.UNDER_REVIEW
    if phone.type is PhoneType.MOBILE and not phone.autodial_consent:
        return Reason.NO_AUTODIAL_CONSENT
    return None


def _text_block(phone: PhoneFacts) -> Reason | None:
    """What stops a number on file from ever being texted: a call's blocks, and any number
    that is not a mobile with consent."""
    if phone.type is not PhoneType.MOBILE:
        return _number_block(phone) or Reason.NOT_A_MOBILE
    if not phone.autodial_consent:
        return _number_block(phone) or Reason.NO_AUTODIAL_CONSENT
    return _number_block(phone)


@functools.lru_cache(maxsize=256)
def holiday_dates(calendar: HolidayCalendar, year: int) -> frozenset[dt.date]:
    """The calendar's public holidays in a year, weekends between holidays included when the
    calendar bridges them (cached: the package builds the list on every call)."""
    listed = holidays.country_holidays(
        calendar.country, subdiv=calendar.subdivision, years=range(year - 1, year + 2)
    )
    days = {d for d in listed if d.year == year}
    if calendar.bridge_weekends:
        day = dt.date(year, 1, 1)
        while day.year == year:
            weekend = day.weekday() >= 5
            if weekend and _weekday_near(day, -1) in listed and _weekday_near(day, 1) in listed:
                days.add(day)
            day += DAY
    return frozenset(days)


def _weekday_near(day: dt.date, step: int) -> dt.date:
    """The nearest Monday-to-Friday before (step -1) or after (step 1) a weekend day."""
    while day.weekday() >= 5:
        day += step * DAY
    return day


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local(moment: dt.datetime, zone: str) -> dt.datetime:
    return moment.astimezone(_zone(zone))


class _Rules:
    """The time-dependent rules for one account, prepared once and asked at many instants."""

    def __init__(
        self,
        account: AccountFacts,
        phones: list[PhoneFacts],
        history: list[Attempt],
        profile: ContactProfile,
        zones: tuple[str, ...],
        now: dt.datetime,
        channel: Channel = Channel.VOICE,
    ) -> None:
        self.account = account
        # A text is held to the caps that count texts only, and to no pause (see
        # decide_text); a call to every cap.
        self.text = channel is Channel.SMS
        self.phones = phones
        self.profile = profile
        self.zones = zones
        self.window_start, self.window_end = profile.window
        # Each number's preference is read in its own zones; a number the numbering plan
        # places nowhere is read in all the person's zones.
        self.preference_zones = {p.e164: p.time_zones() or zones for p in phones}
        # Attempts older than any rule looks back cannot matter (a day's slack for zones).
        reach = max([c.days for c in profile.caps] + [profile.conversation_pause_days or 0])
        oldest = now - (reach + 2) * DAY
        recent = [a for a in history if a.placed_at >= oldest]
        self.conversations = [
            a.placed_at for a in recent if a.conversation and account.account_number in a.accounts
        ]
        self.caps = [
            (cap, [a for a in recent if _counts(cap, a, account)])
            for cap in profile.caps
            if cap.counts_sms or not self.text
        ]

    # -- the verdict at one instant ------------------------------------------------------

    def verdict(
        self, t: dt.datetime
    ) -> tuple[tuple[str, ...], Reason | None, str | None, tuple[tuple[str, Reason], ...]]:
        """(numbers callable at t, else the reason and rule, numbers excluded at t and why).

        The account's reasons are tried in order of how long they last, so a denial names
        the one that decides when calls may resume (a capped account at night says "cap").
        """
        locals_ = [(z, _local(t, z)) for z in self.zones]
        paused = None if self.text else self.account.reminders_paused_until
        if paused is not None and any(loc.date() <= paused for _, loc in locals_):
            return (), Reason.REMINDERS_PAUSED, None, ()
        if not self.text and self._in_pause(locals_):
            return (), Reason.CONVERSATION_PAUSE, None, ()
        for cap, attempts in self.caps:
            if cap.scope is not CapScope.NUMBER and _over(cap, attempts, locals_):
                reason = Reason.DEBT_CAP if cap.scope is CapScope.DEBT else Reason.DEBTOR_CAP
                return (), reason, cap.label, ()
        if self._holiday(locals_):
            return (), Reason.HOLIDAY, None, ()
        if not all(self.window_start <= loc.time() < self.window_end for _, loc in locals_):
            return (), Reason.OUTSIDE_WINDOW, None, ()
        callable_now: list[str] = []
        excluded: list[tuple[str, Reason]] = []
        first_rule: str | None = None
        for phone in self.phones:
            number_reason, rule = self._number_at(phone, t, locals_)
            if number_reason is None:
                callable_now.append(phone.e164)
            else:
                excluded.append((phone.e164, number_reason))
                first_rule = first_rule or rule
        if callable_now:
            return tuple(callable_now), None, None, tuple(excluded)
        return (), excluded[0][1], first_rule, tuple(excluded)

    def allowed(self, t: dt.datetime) -> bool:
        return bool(self.verdict(t)[0])

    def _in_pause(self, locals_: list[tuple[str, dt.datetime]]) -> bool:
        days = self.profile.conversation_pause_days
        if not days:
            return False
        # The conversation's day is day 1: a conversation on D allows calls from D + days.
        return any(
            loc.date() < _local(talk, zone).date() + dt.timedelta(days=days)
            for talk in self.conversations
            for zone, loc in locals_
        )

    def _holiday(self, locals_: list[tuple[str, dt.datetime]]) -> bool:
        calendar = self.profile.holidays
        if calendar is None:
            return False
        return any(loc.date() in holiday_dates(calendar, loc.year) for _, loc in locals_)

    def _number_at(
        self, phone: PhoneFacts, t: dt.datetime, locals_: list[tuple[str, dt.datetime]]
    ) -> tuple[Reason | None, str | None]:
        for cap, attempts in self.caps:
            if cap.scope is CapScope.NUMBER:
                mine = [a for a in attempts if a.phone == phone.e164]
                if _over(cap, mine, locals_):
                    return Reason.NUMBER_CAP, cap.label
        hours = phone.allowed_hours
        if hours is not None and not all(
            hours.contains(_local(t, z).time()) for z in self.preference_zones[phone.e164]
        ):
            return Reason.OUTSIDE_PREFERRED_HOURS, None
        return None, None

    # -- when next -----------------------------------------------------------------------

    def next_allowed(
        self, now: dt.datetime, until: dt.datetime | None = None
    ) -> dt.datetime | None:
        """The earliest instant at or after `now` that is allowed, or None within the horizon
        (or by `until`, if given: the search stops there).

        Every condition depends only on each zone's local date and time of day, so the
        verdict can change only at a local midnight, a window or preference edge, or a DST
        transition in some zone: those instants are the only ones worth asking about. They
        are asked in time order, so stopping at `until` changes no instant found before it.
        """
        start = self.resume_at(now)
        if until is not None and start > until:
            return None
        if self.allowed(start):
            return start
        for k in range(HORIZON_DAYS):
            lo, hi = start + k * DAY, start + (k + 1) * DAY
            for moment in sorted({b for b in self._edges(lo, hi) if lo < b <= hi}):
                if until is not None and moment > until:
                    return None
                if self.allowed(moment):
                    return moment
        return None

    def resume_at(self, now: dt.datetime) -> dt.datetime:
        """`now`, or the end of a pause still running then: nothing is allowed before it (a
        long pause skipped in one step rather than walked edge by edge)."""
        return max(now, self._reminders_end(), self._conversation_end())

    def pause_end(self, reason: Reason, now: dt.datetime) -> dt.datetime:
        """The end of the pause `reason` names, if later than `now` (else `now`): until
        then nothing is allowed and the verdict names that pause. The verdict asks the
        reminders pause first, and a pause only ends: one named at `now` stays named."""
        if reason is Reason.REMINDERS_PAUSED:
            return max(now, self._reminders_end())
        if reason is Reason.CONVERSATION_PAUSE:
            return max(now, self._conversation_end())
        return now

    def _reminders_end(self) -> dt.datetime:
        paused = None if self.text else self.account.reminders_paused_until
        if paused is None:
            return _EARLIEST
        # The pause's last day must be over in every zone.
        return max(_midnight(paused + DAY, z) for z in self.zones)

    def _conversation_end(self) -> dt.datetime:
        days = self.profile.conversation_pause_days
        if self.text or not days or not self.conversations:
            return _EARLIEST
        # As _in_pause: a conversation on local day D allows calls from D + days.
        return max(
            _midnight(_local(talk, z).date() + days * DAY, z)
            for talk in self.conversations
            for z in self.zones
        )

    def _edges(self, lo: dt.datetime, hi: dt.datetime) -> Iterator[dt.datetime]:
        for zone in self.zones:
            times = {dt.time(0, 0), self.window_start, self.window_end}
            for phone in self.phones:
                if phone.allowed_hours and zone in self.preference_zones[phone.e164]:
                    times |= {phone.allowed_hours.start, phone.allowed_hours.end}
            first, last = _local(lo, zone).date() - DAY, _local(hi, zone).date() + DAY
            kept = frozenset(times)
            day = first
            while day <= last:
                yield from _day_edges(zone, day, kept)
                day += DAY
            yield from _transitions(zone, lo, hi)

    def shown(self, moment: dt.datetime) -> tuple[dt.datetime, str]:
        """The instant as a person reads it: in the zone whose opening it is."""
        for zone in self.zones:
            local = _local(moment, zone)
            if local.time() in (self.window_start, dt.time(0, 0)):
                return local, zone
        for phone in self.phones:
            if phone.allowed_hours is not None:
                for zone in self.preference_zones[phone.e164]:
                    local = _local(moment, zone)
                    if local.time() == phone.allowed_hours.start:
                        return local, zone
        return _local(moment, self.zones[0]), self.zones[0]


def _counts(cap: Cap, attempt: Attempt, account: AccountFacts) -> bool:
    """Whether an attempt is one the cap counts (any number; NUMBER caps filter later)."""
    if attempt.direction is not Direction.OUTBOUND:
        return False  # the cardholder's own calls are not placed calls
    if cap.scope is CapScope.DEBT and account.account_number not in attempt.accounts:
        return False
    if attempt.channel is Channel.SMS:
        failed = attempt.outcome in (AttemptOutcome.FAILED, AttemptOutcome.INVALID)
        return cap.counts_sms and not failed
    return attempt.live or attempt.outcome in cap.counts


def _over(cap: Cap, attempts: list[Attempt], locals_: list[tuple[str, dt.datetime]]) -> bool:
    """At the limit already in some zone: counted attempts on the local days [today - days
    + 1, today]; one more would exceed it."""
    for zone, loc in locals_:
        today = loc.date()
        first = today - dt.timedelta(days=cap.days - 1)
        count = sum(1 for a in attempts if first <= _local(a.placed_at, zone).date() <= today)
        if count >= cap.limit:
            return True
    return False


_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def _midnight(day: dt.date, zone: str) -> dt.datetime:
    """The instant a local date starts (a midnight skipped by DST: when the day starts)."""
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=_zone(zone)).astimezone(dt.UTC)


@functools.lru_cache(maxsize=8192)
def _day_edges(zone: str, day: dt.date, times: frozenset[dt.time]) -> tuple[dt.datetime, ...]:
    """These local times of `day` in `zone` as UTC instants, a time the clocks pass twice
    both times. The same few days, zones and windows come up for account after account
    (the planner asks every account's next allowed instant): worked out once each."""
    zone_info = _zone(zone)
    return tuple(
        dt.datetime.combine(day, moment, tzinfo=zone_info).replace(fold=fold).astimezone(dt.UTC)
        for moment in times
        for fold in (0, 1)
    )


def _transitions(zone: str, lo: dt.datetime, hi: dt.datetime) -> Iterator[dt.datetime]:
    """The instants in (lo, hi] where the zone's UTC offset changes, to the second."""
    step = dt.timedelta(hours=6)
    a = lo
    while a < hi:
        b = min(a + step, hi)
        if _local(a, zone).utcoffset() != _local(b, zone).utcoffset():
            x, y = a, b
            while y - x > dt.timedelta(seconds=1):
                mid = x + (y - x) / 2
                if _local(mid, zone).utcoffset() == _local(x, zone).utcoffset():
                    x = mid
                else:
                    y = mid
            # Offsets change on whole seconds, so the second y falls in is the transition.
            yield y.replace(microsecond=0)
        a = b
