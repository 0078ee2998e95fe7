"""Contact-rule profiles as data: what the line must say and when and how often it may call.

Figures and sources: shared/reference/contact-rules.md. Each profile is one record below,
written so that compliance can read it without reading the code that enforces it
(`dialer/policy.py`); the README's "The dialer's contact policy" restates them as a table.

Choices made here, on purpose (edit the record, not the policy, to change one):
- A calling window is half-open, [start, end) in the person's local time: a call may start
  at 08:00:00 and at 20:59:59, not at 21:00:00 ("no call after 21:00").
- Where two rules set a window (Reg F 08:00-21:00 and Washington's 07:30-21:00), the
  profile lists both and the dialer keeps to their intersection: `us-wa` calls 08:00-21:00,
  because Reg F still applies in Washington.
- A cap counts attempts in a run of local calendar days, today included ("7 in 7": today and
  the 6 days before), in every zone the person may be in; a rolling run is stricter than a
  calendar week, so it also honours "3 in a single week".
- Holidays block calls in every profile that ships: the US profiles on the federal (bank)
  holidays, plus the state's own for MA and WA (nobody staffs the callback number, and a
  call on Thanksgiving is the inconvenient time the FDCPA speaks of); `cn-default` on the
  statutory days off (法定节假日 and the substituted days off), Spring Festival included.
  A bank that calls on holidays sets `holidays=None`.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

# US states where recording a call needs every party's consent: play a notice there.
ALL_PARTY_CONSENT_STATES = frozenset({"CA", "FL", "IL", "MD", "MA", "MT", "NV", "NH", "PA", "WA"})


class AttemptOutcome(enum.StrEnum):
    """How a contact attempt ended, as far as the contact rules care."""

    CONNECTED = "connected"  # a person (or an automated line) answered
    NO_ANSWER = "no-answer"  # it rang unanswered
    VOICEMAIL = "voicemail"  # a machine took it (a message may have been left)
    BUSY = "busy"
    FAILED = "failed"  # never reached the callee's line (carrier or network failure)
    INVALID = "invalid"  # number not in service


class CapScope(enum.StrEnum):
    """What a cap counts attempts per."""

    DEBT = "debt"  # attempts about this account, on any of the person's numbers
    DEBTOR = "debtor"  # attempts to the person, about any account
    NUMBER = "number"  # attempts to one phone number


@dataclass(frozen=True)
class CallingWindow:
    """Local hours a call may start in: [start, end), in every zone the person may be in."""

    start: dt.time
    end: dt.time
    source: str

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"{self.source}: a window's start must come before its end")


@dataclass(frozen=True)
class Cap:
    """At most `limit` counted attempts in `days` consecutive local days, today included."""

    label: str  # what a denial says: "7-in-7 cap reached"
    limit: int
    days: int
    scope: CapScope
    counts: frozenset[AttemptOutcome]
    source: str
    counts_sms: bool = False  # a text message sent counts as an attempt

    def __post_init__(self) -> None:
        if self.limit < 1 or self.days < 1:
            raise ValueError(f"{self.label}: limit and days must be at least 1")


@dataclass(frozen=True)
class HolidayCalendar:
    """Days on which no call is placed, from the `holidays` package."""

    country: str  # ISO 3166 code the `holidays` package knows
    subdivision: str | None  # its state or province code, if any
    source: str
    # A weekend between two holidays belongs to the break: China's Golden Week and Spring
    # Festival run through a weekend the package lists as ordinary days.
    bridge_weekends: bool = False


@dataclass(frozen=True)
class ContactProfile:
    name: str
    # Reg F / FDCPA practice: the first communication says it is a debt collector trying to
    # collect a debt; later ones say it is a debt collector.
    debt_collector_disclosure: bool
    # Calls are recorded (China: Art. 68 guidance); a notice is played where consent is needed.
    records_calls: bool
    # When calls may start, in the person's local time; every window listed must hold.
    windows: tuple[CallingWindow, ...]
    # Frequency caps; every cap listed must hold.
    caps: tuple[Cap, ...]
    # Days with no call after a telephone conversation about the debt, the conversation's
    # day being day 1 (7: a conversation on the 1st allows the next call on the 8th).
    conversation_pause_days: int | None
    # Days with no call at all; None: holidays are ordinary days.
    holidays: HolidayCalendar | None

    @property
    def window(self) -> tuple[dt.time, dt.time]:
        """The hours all the listed windows allow: [latest start, earliest end)."""
        return max(w.start for w in self.windows), min(w.end for w in self.windows)

    @property
    def sms_counts_toward_caps(self) -> bool:
        """Whether a text the dialer sends counts toward any cap (set per cap, `counts_sms`:
        us-ma's 2-in-7 "communications" and cn-default's attempts per number do; Reg F's
        7-in-7 and Washington's 3-in-7 count calls only). A text is held to the caps that
        count it, and a call to every cap, texts included where they count."""
        return any(cap.counts_sms for cap in self.caps)


# Reg F §1006.14(b)(3): calls that connect, ring unanswered or reach voicemail count as
# placed; calls that do not connect (busy, number not in service, failed) do not.
PLACED = frozenset({AttemptOutcome.CONNECTED, AttemptOutcome.NO_ANSWER, AttemptOutcome.VOICEMAIL})
# China: an attempt is unanswered (未接通) unless a person picked up; a busy line and a
# machine count. A call that failed in the network or hit a dead number reached nobody.
UNANSWERED = frozenset({AttemptOutcome.NO_ANSWER, AttemptOutcome.VOICEMAIL, AttemptOutcome.BUSY})
CONNECTED = frozenset({AttemptOutcome.CONNECTED})

REG_F_WINDOW = CallingWindow(dt.time(8, 0), dt.time(21, 0), "Reg F §1006.6(b)(1)(i)")
REG_F_CAP = Cap(
    "7-in-7 cap reached",
    limit=7,
    days=7,
    scope=CapScope.DEBT,
    counts=PLACED,
    source="Reg F §1006.14(b)(2)(i)(A)",
)
US_FEDERAL_HOLIDAYS = HolidayCalendar("US", None, "US federal holidays (bank holidays)")

PROFILES = {
    "us-regf": ContactProfile(
        "us-regf",
        debt_collector_disclosure=True,
        records_calls=False,
        windows=(REG_F_WINDOW,),
        caps=(REG_F_CAP,),
        conversation_pause_days=7,
        holidays=US_FEDERAL_HOLIDAYS,
    ),
    "us-ma": ContactProfile(
        "us-ma",
        debt_collector_disclosure=True,
        records_calls=False,
        windows=(REG_F_WINDOW,),
        caps=(
            REG_F_CAP,
            # "Communications" include texts and recorded messages. Unanswered calls and
            # voicemails count as Reg F counts them (the cautious reading; confirm with counsel).
            Cap(
                "Massachusetts 2-in-7 cap reached",
                limit=2,
                days=7,
                scope=CapScope.DEBT,
                counts=PLACED,
                source="940 CMR 7.04(1)(f)",
                counts_sms=True,
            ),
        ),
        conversation_pause_days=7,
        holidays=HolidayCalendar("US", "MA", "US federal and Massachusetts holidays"),
    ),
    "us-wa": ContactProfile(
        "us-wa",
        debt_collector_disclosure=True,
        records_calls=False,
        windows=(
            REG_F_WINDOW,
            CallingWindow(dt.time(7, 30), dt.time(21, 0), "RCW 19.16.250"),
        ),
        caps=(
            REG_F_CAP,
            Cap(
                "Washington 3-in-7 cap reached",
                limit=3,
                days=7,
                scope=CapScope.DEBT,
                counts=PLACED,
                source="RCW 19.16.250 (more than 3 a week presumed harassment)",
            ),
        ),
        conversation_pause_days=7,
        holidays=HolidayCalendar("US", "WA", "US federal and Washington holidays"),
    ),
    "cn-default": ContactProfile(
        "cn-default",
        debt_collector_disclosure=False,
        records_calls=True,
        windows=(
            CallingWindow(
                dt.time(8, 0), dt.time(21, 0), "bank practice within GB/T 45251-2025 (08-22)"
            ),
        ),
        caps=(
            # "Attempts per contact number per day": a text to the number is an attempt on
            # that channel that nobody answers, so it counts (the dialer's own reading).
            Cap(
                "6 unanswered calls today to this number",
                limit=6,
                days=1,
                scope=CapScope.NUMBER,
                counts=UNANSWERED,
                source="CBA collection guideline 2026, GB/T 45251-2025",
                counts_sms=True,
            ),
            Cap(
                "3 connected calls today",
                limit=3,
                days=1,
                scope=CapScope.DEBTOR,
                counts=CONNECTED,
                source="CBA collection guideline 2026, GB/T 45251-2025",
            ),
        ),
        conversation_pause_days=None,
        holidays=HolidayCalendar(
            "CN", None, "PRC statutory holidays and substituted days off", bridge_weekends=True
        ),
    ),
}


def recording_notice_needed(records_calls: bool, country: str, region: str | None) -> bool:
    """Whether a recorded caller must be told first: all-party-consent US states, and
    everywhere outside the US (the safe default)."""
    if not records_calls:
        return False
    if country == "US":
        return (region or "") in ALL_PARTY_CONSENT_STATES
    return True
