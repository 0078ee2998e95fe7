"""The product's vocabularies as plain StrEnums: what models store and rules decide on.

No SQLAlchemy here, so pure rules (call flows, the contact policy) and the data model use
the same members; the database stores their values behind a CHECK constraint.
"""

from __future__ import annotations

import enum


class Language(enum.StrEnum):
    EN = "en"
    ZH_CN = "zh-CN"


class PhoneType(enum.StrEnum):
    MOBILE = "mobile"
    HOME = "home"
    WORK = "work"


class AccountFlag(enum.StrEnum):
    DNC = "dnc"
    BANKRUPTCY = "bankruptcy"
    DECEASED = "deceased"
    ATTORNEY = "attorney"
    DISPUTE = "dispute"
    CEASE = "cease"
    HARDSHIP = "hardship"
    FRAUD = "fraud"


# Flags that stop every outbound collection call on the account (hardship and fraud change
# how the account is worked, not whether it may be called).
BLOCKING_FLAGS = frozenset(
    {
        AccountFlag.DNC,
        AccountFlag.BANKRUPTCY,
        AccountFlag.DECEASED,
        AccountFlag.ATTORNEY,
        AccountFlag.DISPUTE,
        AccountFlag.CEASE,
    }
)


class Source(enum.StrEnum):
    """Who or what made a change: the import may not undo what a person asked for."""

    IMPORT = "import"
    IVR = "ivr"
    AGENT = "agent"
    DIALER = "dialer"
    SYSTEM = "system"


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    FAILED = "failed"
    REVERSED = "reversed"


class PromiseStatus(enum.StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class PlanStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class InstalmentStatus(enum.StrEnum):
    DUE = "due"
    PAID = "paid"
    MISSED = "missed"


class CaseKind(enum.StrEnum):
    DISPUTE = "dispute"
    COMPLAINT = "complaint"
    HARDSHIP = "hardship"
    FEE_WAIVER = "fee-waiver"


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in-progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class AttemptStatus(enum.StrEnum):
    """A contact attempt's state machine; the dialer claims `planned` rows like a queue."""

    PLANNED = "planned"
    DIALING = "dialing"
    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"


class Disposition(enum.StrEnum):
    """How an outbound attempt ended, as a collections team reads it (one per attempt)."""

    RIGHT_PARTY = "right-party"  # the cardholder confirmed who they are and heard the call
    WRONG_PARTY = "wrong-party"  # whoever answered is not the cardholder: number to review
    UNCONFIRMED = "unconfirmed"  # a person answered but never said whether they are
    VOICEMAIL_LEFT = "voicemail-left"  # a machine took the limited-content message
    FAX = "fax"  # a fax or modem answered; nothing said
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"  # the carrier could not complete it (not the number's fault)
    INVALID_NUMBER = "invalid-number"  # not in service: the number is marked bad
    PROMISE = "promise"
    PAID = "paid"
    OPTED_OUT = "opted-out"
    TRANSFERRED = "transferred"


# Which disposition an attempt keeps when a call earns several (a right party who promises,
# then asks for an agent): the higher one. What the call achieved outranks how it went.
DISPOSITION_RANK: dict[Disposition, int] = {
    Disposition.FAILED: 1,
    Disposition.BUSY: 1,
    Disposition.NO_ANSWER: 1,
    Disposition.INVALID_NUMBER: 2,
    Disposition.FAX: 2,
    Disposition.UNCONFIRMED: 3,
    Disposition.VOICEMAIL_LEFT: 4,
    Disposition.WRONG_PARTY: 5,
    Disposition.RIGHT_PARTY: 5,
    Disposition.TRANSFERRED: 6,
    Disposition.OPTED_OUT: 7,
    Disposition.PROMISE: 8,
    Disposition.PAID: 9,
}


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    FINISHED = "finished"


# A campaign in one of these may be started again: its texts are held (left queued, not
# claimed) and go when it is, if still owed, still allowed and still worth sending. A
# finished campaign is not started again: its texts are dropped when next claimed.
HOLDS_TEXTS = (CampaignStatus.PAUSED, CampaignStatus.DRAFT)


class TextKind(enum.StrEnum):
    """Why the dialer texts a cardholder (a campaign tier's settings say which it sends)."""

    FOLLOW_UP = "follow-up"  # after a call that reached a voicemail or went unanswered
    REMINDER = "reminder"  # a courtesy reminder before a promise's or instalment's date
    THANK_YOU = "thank-you"  # after a payment is posted, or a promise is kept


class TextStatus(enum.StrEnum):
    """A queued text's state: queued -> sending (claimed) -> sent; or skipped / failed."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"  # the policy or the text's own rule refused it for good
    FAILED = "failed"  # the carrier refused it for good


class Step(enum.StrEnum):
    """Where a call's next answer goes: the steps of the call flows."""

    LANGUAGE = "language"
    ACCOUNT = "account"
    VERIFY = "verify"
    MENU = "menu"
    PAY_CHOICE = "pay-choice"
    PAY_AMOUNT = "pay-amount"
    PAY_CONFIRM = "pay-confirm"
    PAY_RESULT = "pay-result"
    PAY_RETRY = "pay-retry"
    ARRANGEMENT = "arrangement"
    PROMISE_AMOUNT = "promise-amount"
    PROMISE_DATE = "promise-date"
    PROMISE_CONFIRM = "promise-confirm"
    PLAN_CHOICE = "plan-choice"
    PLAN_CONFIRM = "plan-confirm"
    CASES = "cases"
    CASE_NEXT = "case-next"
    OPTOUT = "optout"
    CALLBACK = "callback"
    RIGHT_PARTY = "right-party"  # an outbound call asks who answered before anything else
    QUEUED = "queued"
    ENDED = "ended"


class Intent(enum.StrEnum):
    """Why the caller is on the line, as far as the flow can tell (shown to an agent)."""

    BALANCE = "balance"
    PAYMENT = "payment"
    ARRANGEMENT = "arrangement"
    PROMISE = "promise"
    PLAN = "plan"
    CASE = "case"
    HARDSHIP = "hardship"
    DISPUTE = "dispute"
    COMPLAINT = "complaint"
    OPT_OUT = "opt-out"


class PayChoice(enum.StrEnum):
    """What a caller chose to pay at the pay menu, kept with the amount being confirmed
    (so the amount can be worked out again from the account when it is confirmed)."""

    MINIMUM = "minimum"
    PAST_DUE = "past-due"
    BALANCE = "balance"
    OTHER = "other"  # an amount the caller keyed

    @classmethod
    def of(cls, value: object) -> PayChoice:
        """The choice a call's stored state names; anything else is a keyed amount."""
        return (
            cls(value) if isinstance(value, str) and value in cls._value2member_map_ else cls.OTHER
        )


class PayOutcome(enum.StrEnum):
    """Twilio's <Pay> `Result` values."""

    SUCCESS = "success"
    CALLER_INTERRUPTED = "caller-interrupted-with-star"
    CALLER_HUNG_UP = "caller-hung-up"
    TOO_MANY_FAILED_ATTEMPTS = "too-many-failed-attempts"
    CONNECTOR_ERROR = "payment-connector-error"


class DeskRole(enum.StrEnum):
    """Who a desk user is; each role reaches its own pages and those of the roles below it
    (agent < supervisor < admin: see desk/access.py)."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class LoginOutcome(enum.StrEnum):
    """A desk sign-in attempt: `pending` while its password is being checked (it counts as
    a failure until then, so racing attempts cannot slip past the limit), then one of the
    others; `refused` attempts were turned away by the rate limit and checked nothing."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"
