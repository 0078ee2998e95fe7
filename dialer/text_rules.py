"""Which texts the dialer owes a cardholder, when, and what each says. Pure.

Three kinds, each switched on per campaign tier (dialer/campaigns.py TierSettings):

- a follow-up after a call that reached a voicemail (`sms_after = ["voicemail"]`) or rang
  unanswered (`"no_answer"`): due when the call ends, worth sending for a day;
- a courtesy reminder `courtesy_reminder_days` before an active promise's date or the next
  instalment's due date: due from the start of that local day, pointless once the date has
  come;
- a thank-you after a payment is posted (any source: the line, the dialer, the bank's
  posting file) or a promise is kept (`thank_you_sms`): due at once, worth sending for two
  days.

Whether a text may go at all (a mobile with consent, not opted out, inside the calling
window in every zone, the caps that count texts) is the contact policy's, asked when the
text is queued and again when it is sent (dialer/policy.py decide_text). What is here:
the reasons to text, their timing, one text of a kind per account a day, and the words
(prompt keys: `sms_follow_up`, `sms_reminder`, `sms_thank_you`, in the person's language).

What a text may say: a follow-up goes after a call no one answered in person, so it says
what the limited-content voicemail says and nothing more (the business name that does not
suggest debt collection, the person's name, a request to call back, the number); a
reminder or thank-you goes only about an arrangement or payment the cardholder made, to a
mobile of theirs with consent: it may name a payment and its date, never an amount, a
balance or the debt. Every text ends with how to opt out (Reply STOP / 回复退订).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dialer.campaigns import TierSettings
from hotline.enums import Disposition, TextKind

BODY_KEYS: dict[TextKind, str] = {
    TextKind.FOLLOW_UP: "sms_follow_up",
    TextKind.REMINDER: "sms_reminder",
    TextKind.THANK_YOU: "sms_thank_you",
}
# How long after its reason a text is still worth sending; after that it is skipped.
FOLLOW_UP_FOR = dt.timedelta(days=1)
THANK_YOU_FOR = dt.timedelta(days=2)
# At most one text of a kind (follow-up, thank-you) to an account within this: two calls a
# day to voicemail make one follow-up; a payment that keeps a promise, one thank-you.
ONE_A_DAY = dt.timedelta(hours=20)
# The farthest ahead a courtesy reminder may be set (the file's own bound).
MAX_REMINDER_DAYS = 30


def wants_follow_up(disposition: str | None, settings: TierSettings) -> bool:
    """Whether a campaign call that ended this way is followed by a text."""
    if disposition == Disposition.VOICEMAIL_LEFT:
        return settings.sms_after_voicemail
    if disposition == Disposition.NO_ANSWER:
        return settings.sms_after_no_answer
    return False


@dataclass(frozen=True)
class Timing:
    due_at: dt.datetime  # UTC: not sent before (the policy may put it later still)
    expires_at: dt.datetime  # UTC: skipped if not sent by then


def follow_up_timing(ended_at: dt.datetime) -> Timing:
    return Timing(ended_at, ended_at + FOLLOW_UP_FOR)


def thank_you_timing(happened_at: dt.datetime) -> Timing:
    return Timing(happened_at, happened_at + THANK_YOU_FOR)


def reminder_timing(date: dt.date, settings: TierSettings, zones: Iterable[str]) -> Timing | None:
    """When a courtesy reminder of a promise or instalment date is due: from the start of
    the day `courtesy_reminder_days` before it in every zone of the person, until the date
    starts in the first of them. None: the tier sends none."""
    days = settings.courtesy_reminder_days
    zones = tuple(zones) or ("UTC",)
    if not days or days > MAX_REMINDER_DAYS:
        return None
    day = date - dt.timedelta(days=days)
    return Timing(
        max(_midnight(day, z) for z in zones),
        min(_midnight(date, z) for z in zones),
    )


# The zone furthest ahead of UTC (Kiribati's Line Islands): no local day starts earlier.
_AHEAD_MOST = dt.timedelta(hours=14)


def earliest_reminder(date: dt.date, settings: TierSettings) -> dt.datetime | None:
    """The earliest a courtesy reminder of `date` could be due in any zone (what
    reminder_timing gives is never before it), without the person's zones; None: the
    tier sends none."""
    days = settings.courtesy_reminder_days
    if not days or days > MAX_REMINDER_DAYS:
        return None
    day = date - dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC) - _AHEAD_MOST


def reminder_dates_from(today: dt.date, lead_days: int) -> tuple[dt.date, dt.date]:
    """The promise and instalment dates a reminder may be due for on `today` (UTC date),
    when no tier reminds more than `lead_days` ahead: from yesterday (zones behind UTC) to
    the farthest reminder ahead, a day more for the zones ahead of UTC (earliest_reminder)."""
    lead_days = min(lead_days, MAX_REMINDER_DAYS)
    return today - dt.timedelta(days=1), today + dt.timedelta(days=lead_days + 1)


@dataclass(frozen=True)
class Sent:
    """A text already sent (or being sent) to the account."""

    kind: TextKind
    at: dt.datetime


def why_not_now(
    kind: TextKind,
    expires_at: dt.datetime | None,
    sent: Iterable[Sent],
    now: dt.datetime,
) -> str | None:
    """The text's own reason not to go (None: go, if the policy allows): too late, or one
    of its kind already went to the account within ONE_A_DAY. Reminders each name a date
    of their own, so they are not folded together."""
    if expires_at is not None and now >= expires_at:
        return "too late: no longer worth sending"
    if kind is not TextKind.REMINDER and any(
        s.kind is kind and now - ONE_A_DAY < s.at <= now for s in sent
    ):
        return f"a {kind.value} text already went to this account today"
    return None


def _midnight(day: dt.date, zone: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
