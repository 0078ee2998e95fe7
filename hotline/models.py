"""The data model: cardholders, their phones and card accounts, what happens to them.

Money is integer minor units with the account's currency. Every timestamp is UTC and comes
back timezone-aware on SQLite as on PostgreSQL (UTCDateTime). Enumerations are stored as
their string values with a CHECK constraint, so the database rejects a typo as loudly as
Python does. Tables that record what happened (payments, attempts, call events, audit) are
appended to; their rows change only along their state machines.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from hotline.enums import (
    AccountFlag,
    AttemptStatus,
    CampaignStatus,
    CaseKind,
    CaseStatus,
    DeskRole,
    Direction,
    InstalmentStatus,
    Language,
    LoginOutcome,
    PaymentStatus,
    PhoneType,
    PlanStatus,
    PromiseStatus,
    Source,
    TextKind,
    TextStatus,
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Store UTC; always return an aware UTC datetime (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)


# Stable constraint names, so Alembic migrations drop and alter them by name on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}


def table_of(model: type[Base]) -> Table:
    """The model's Table, for Core statements. SQLAlchemy types `__table__` as any
    FromClause (a class may be mapped to a join or a select); every model here declares a
    __tablename__, so declarative made it a Table."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


# The vocabularies live in hotline.enums (pure, shared with the rules); re-exported here.
class Cardholder(Base):
    """A person who owes on one or more card accounts."""

    __tablename__ = "cardholder"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[Language] = mapped_column(_enum(Language, "language"))
    address_region: Mapped[str | None] = mapped_column(String(32))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    country: Mapped[str] = mapped_column(String(2))
    # The digits the cardholder keys to prove identity, kept only as HMAC-SHA256 under the
    # server's secret key with a per-row salt (see hotline.secrets): short digit strings
    # are easy to brute-force from a plain hash.
    verify_salt: Mapped[str] = mapped_column(String(32))
    verify_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    phones: Mapped[list[Phone]] = relationship(back_populates="cardholder", order_by="Phone.id")
    accounts: Mapped[list[CardAccount]] = relationship(back_populates="cardholder")

    def __repr__(self) -> str:
        return f"Cardholder(id={self.id!r}, language={self.language!r}, country={self.country!r})"


class Phone(Base):
    """A number on file for a cardholder, with what the law needs to know before dialing it."""

    __tablename__ = "phone"
    __table_args__ = (
        UniqueConstraint("cardholder_id", "e164"),
        # Hours the cardholder asked to be called in: both ends or neither, start first.
        CheckConstraint(
            "(allowed_hours_start IS NULL AND allowed_hours_end IS NULL) OR "
            "(allowed_hours_start IS NOT NULL AND allowed_hours_end IS NOT NULL "
            "AND allowed_hours_start < allowed_hours_end)",
            name="allowed_hours_ordered",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cardholder_id: Mapped[int] = mapped_column(ForeignKey("cardholder.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(16), index=True)
    phone_type: Mapped[PhoneType] = mapped_column(_enum(PhoneType, "phone_type"))
    is_primary: Mapped[bool] = mapped_column(default=False)
    autodial_consent: Mapped[bool] = mapped_column(default=False)
    consent_changed_at: Mapped[dt.datetime | None]
    consent_source: Mapped[Source | None] = mapped_column(_enum(Source, "consent_source"))
    opted_out_at: Mapped[dt.datetime | None]
    opted_out_source: Mapped[Source | None] = mapped_column(_enum(Source, "opted_out_source"))
    bad_number: Mapped[bool] = mapped_column(default=False)
    bad_number_at: Mapped[dt.datetime | None]
    # Set when the bank's file stops listing the number. The row stays so that an opt-out
    # or revocation is still honoured if the number comes back.
    removed_at: Mapped[dt.datetime | None]
    # "Call me only between 18:00 and 20:00": [start, end) in the number's own local time
    # (its zones from the numbering plan); the dialer calls it only inside them, and inside
    # the profile's window. Set by the cardholder through an agent or the line.
    allowed_hours_start: Mapped[dt.time | None] = mapped_column(Time)
    allowed_hours_end: Mapped[dt.time | None] = mapped_column(Time)
    allowed_hours_source: Mapped[Source | None] = mapped_column(
        _enum(Source, "allowed_hours_source")
    )
    allowed_hours_set_at: Mapped[dt.datetime | None]
    # A wrong party answered: not dialled again until someone reviews the number.
    under_review_at: Mapped[dt.datetime | None]
    review_source: Mapped[Source | None] = mapped_column(_enum(Source, "review_source"))
    # The zones the numbering plan gives the number (space-separated IANA names, "" for
    # none), and the phonenumbers version that said so: looked up once, not on every
    # planning run (the lookup is most of a contact decision's cost); a new version of the
    # numbering plan's data looks it up again.
    time_zones: Mapped[str | None] = mapped_column(Text)
    time_zones_version: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    cardholder: Mapped[Cardholder] = relationship(back_populates="phones")

    def __repr__(self) -> str:
        return f"Phone(id={self.id!r}, type={self.phone_type!r}, opted_out={self.opted_out_at!r})"


class CardAccount(Base):
    """A card account in arrears: the debt that collection calls are about."""

    __tablename__ = "card_account"
    __table_args__ = (
        CheckConstraint("balance_minor >= 0", name="balance_not_negative"),
        CheckConstraint("minimum_due_minor >= 0", name="minimum_due_not_negative"),
        CheckConstraint("past_due_minor >= 0", name="past_due_not_negative"),
        CheckConstraint("days_past_due >= 0", name="days_past_due_not_negative"),
        CheckConstraint("credit_minor >= 0", name="credit_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_number: Mapped[str] = mapped_column(String(32), unique=True)
    cardholder_id: Mapped[int] = mapped_column(ForeignKey("cardholder.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    minimum_due_minor: Mapped[int] = mapped_column(BigInteger)
    past_due_minor: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[dt.date] = mapped_column(Date)
    days_past_due: Mapped[int] = mapped_column(Integer, index=True)
    # What was paid beyond the balance (two payments racing, or a payment posted after the
    # balance fell): kept in full, never clamped away.
    credit_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Set after repeated failed verifications; only an agent clears it.
    self_service_locked_at: Mapped[dt.datetime | None]
    # When self-service was last unlocked: failures before it no longer count toward a lock.
    verification_reset_at: Mapped[dt.datetime | None]
    # A promise or a plan being kept pauses reminder calls until this day (inclusive).
    reminders_paused_until: Mapped[dt.date | None] = mapped_column(Date)
    # The tier its days past due put it in, as the planner last refreshed it (None: current
    # or outside every tier); what campaigns select on.
    tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("delinquency_tier.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    cardholder: Mapped[Cardholder] = relationship(back_populates="accounts")
    flags: Mapped[list[AccountFlagRow]] = relationship(
        back_populates="account", cascade="all, delete-orphan"
    )

    @property
    def flag_set(self) -> frozenset[AccountFlag]:
        return frozenset(f.flag for f in self.flags)

    def __repr__(self) -> str:
        return (
            f"CardAccount(id={self.id!r}, dpd={self.days_past_due!r}, currency={self.currency!r})"
        )


class AccountFlagRow(Base):
    """One flag on an account, with who set it: an import may clear only what it set."""

    __tablename__ = "account_flag"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("card_account.id", ondelete="CASCADE"), primary_key=True
    )
    flag: Mapped[AccountFlag] = mapped_column(_enum(AccountFlag, "account_flag"), primary_key=True)
    source: Mapped[Source] = mapped_column(_enum(Source, "flag_source"))
    set_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    account: Mapped[CardAccount] = relationship(back_populates="flags")


class Payment(Base):
    """Money received against an account. Posted once per idempotency key."""

    __tablename__ = "payment"
    __table_args__ = (
        # The texts job's look for payments just posted (thank-yous): migration 0008.
        Index("ix_payment_posted", "posted_at"),
        # The KPIs' collected per bank posting day (hotline/kpis.py): migration 0014.
        Index("ix_payment_posted_on", "posted_on"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        # Exactly four ASCII digits or NULL; the expression reads the same in SQLite and
        # PostgreSQL (migration 0004 says why).
        CheckConstraint(
            "card_last4 IS NULL OR "
            "(length(card_last4) = 4 AND trim(card_last4, '0123456789') = '')",
            name="card_last4_four_digits",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("card_account.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[Source] = mapped_column(_enum(Source, "payment_source"))
    status: Mapped[PaymentStatus] = mapped_column(_enum(PaymentStatus, "payment_status"))
    # e.g. "ivr:{CallSid}:{PaymentConfirmationCode}": a replayed callback hits this key.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    processor_confirmation: Mapped[str | None] = mapped_column(String(100))
    # What PCI DSS allows us to keep: brand and last four. Never the number or the code.
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    call_sid: Mapped[str | None] = mapped_column(String(34))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    posted_at: Mapped[dt.datetime | None]
    # The day the bank booked it, as its posting file says (migration 0009): a payment from
    # the file has a day, not an instant; None for payments taken here (posted_at says).
    posted_on: Mapped[dt.date | None] = mapped_column(Date)


class PaymentAllocation(Base):
    """What part of a payment counted toward a promise or an instalment (migration 0009).

    Written when the lifecycle job finds the promise kept or the instalment paid, one row
    per payment drawn on: a payment's rows never add up to more than its amount, so it
    counts once, toward one arrangement or split across several (dialer/lifecycle.py).
    """

    __tablename__ = "payment_allocation"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("(promise_id IS NULL) <> (instalment_id IS NULL)", name="one_arrangement"),
        UniqueConstraint("payment_id", "promise_id"),
        UniqueConstraint("payment_id", "instalment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    promise_id: Mapped[int | None] = mapped_column(ForeignKey("promise_to_pay.id"), index=True)
    instalment_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_instalment.id", ondelete="CASCADE"), index=True
    )
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    allocated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PromiseToPay(Base):
    __tablename__ = "promise_to_pay"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        # The texts job's reminders (pending, by date) and thank-yous (kept, since): 0013.
        Index("ix_promise_to_pay_status_date", "status", "promised_date"),
        Index("ix_promise_to_pay_status_resolved", "status", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("card_account.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    promised_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[PromiseStatus] = mapped_column(_enum(PromiseStatus, "promise_status"))
    source: Mapped[Source] = mapped_column(_enum(Source, "promise_source"))
    call_sid: Mapped[str | None] = mapped_column(String(34))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]


class RepaymentPlan(Base):
    __tablename__ = "repayment_plan"
    __table_args__ = (
        CheckConstraint("instalment_count > 0", name="instalments_positive"),
        CheckConstraint("total_minor > 0", name="total_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("card_account.id"), index=True)
    instalment_count: Mapped[int]
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    start_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[PlanStatus] = mapped_column(_enum(PlanStatus, "plan_status"))
    source: Mapped[Source] = mapped_column(_enum(Source, "plan_source"))
    call_sid: Mapped[str | None] = mapped_column(String(34))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    instalments: Mapped[list[PlanInstalment]] = relationship(
        back_populates="plan", order_by="PlanInstalment.sequence", cascade="all, delete-orphan"
    )


class PlanInstalment(Base):
    __tablename__ = "plan_instalment"
    __table_args__ = (
        UniqueConstraint("plan_id", "sequence"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_plan_instalment_status_due", "status", "due_date"),  # reminders: 0013
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("repayment_plan.id", ondelete="CASCADE"))
    sequence: Mapped[int]
    due_date: Mapped[dt.date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[InstalmentStatus] = mapped_column(_enum(InstalmentStatus, "instalment_status"))
    paid_at: Mapped[dt.datetime | None]

    plan: Mapped[RepaymentPlan] = relationship(back_populates="instalments")


class Case(Base):
    """A dispute, complaint, hardship or fee-waiver request, worked by an agent."""

    __tablename__ = "service_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("card_account.id"), index=True)
    kind: Mapped[CaseKind] = mapped_column(_enum(CaseKind, "case_kind"))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus, "case_status"))
    owner: Mapped[str | None] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[Source] = mapped_column(_enum(Source, "case_source"))
    call_sid: Mapped[str | None] = mapped_column(String(34))
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)


class DelinquencyTier(Base):
    """A band of days past due that campaigns target (e.g. 30-59 days)."""

    __tablename__ = "delinquency_tier"
    __table_args__ = (
        CheckConstraint("min_days_past_due >= 0", name="min_not_negative"),
        CheckConstraint(
            "max_days_past_due IS NULL OR max_days_past_due >= min_days_past_due",
            name="max_not_below_min",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    min_days_past_due: Mapped[int]
    max_days_past_due: Mapped[int | None]  # None: no upper bound

    def __repr__(self) -> str:
        return f"DelinquencyTier({self.code!r}, {self.min_days_past_due}-{self.max_days_past_due})"


class TierSnapshot(Base):
    """The tier each account was in on a day (UTC date of the run that took it): what roll
    rates between tiers are read from, day over day. Written whole for a day by the
    dialer's daily lifecycle job (hotline.kpis.snapshot_tiers); a later run the same day
    replaces it."""

    __tablename__ = "tier_snapshot"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("card_account.id", ondelete="CASCADE"), primary_key=True
    )
    tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("delinquency_tier.id", ondelete="SET NULL")
    )
    days_past_due: Mapped[int]

    def __repr__(self) -> str:
        return f"TierSnapshot({self.day!r}, account={self.account_id!r}, tier={self.tier_id!r})"


class Campaign(Base):
    """An outbound reminder campaign under one contact-rule profile, over one or more tiers
    (campaign_tier), for the cardholders its audience names.

    `settings` is JSON (description and audience, dialer.campaigns.CampaignSpec): read whole
    by the planner, never queried by, and checked by the pure record on the way in and out.
    """

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    profile: Mapped[str] = mapped_column(String(32))
    status: Mapped[CampaignStatus] = mapped_column(_enum(CampaignStatus, "campaign_status"))
    caller_id: Mapped[str] = mapped_column(String(16))
    max_attempts_per_account: Mapped[int] = mapped_column(default=3)
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    settings: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None]

    tiers: Mapped[list[CampaignTier]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="CampaignTier.id"
    )

    def __repr__(self) -> str:
        return f"Campaign({self.name!r}, {self.profile!r}, {self.status!r})"


class CampaignTier(Base):
    """How a campaign works the accounts of one tier: script, attempts per day, spacing,
    retry delays, AMD, agent, texts (JSON of dialer.campaigns.TierSettings)."""

    __tablename__ = "campaign_tier"
    __table_args__ = (UniqueConstraint("campaign_id", "tier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    tier_id: Mapped[int] = mapped_column(
        ForeignKey("delinquency_tier.id", ondelete="CASCADE"), index=True
    )
    settings: Mapped[str] = mapped_column(Text)

    campaign: Mapped[Campaign] = relationship(back_populates="tiers")
    tier: Mapped[DelinquencyTier] = relationship()


# Attempt states in which a call is still to come or under way: at most one per account and
# campaign attempt (the partial unique index below), so two planners running at once, or a
# planner and a dialer, can never queue a second call for the same debt.
OPEN_ATTEMPT_STATUSES = (
    AttemptStatus.PLANNED,
    AttemptStatus.DIALING,
    AttemptStatus.QUEUED,
    AttemptStatus.RINGING,
    AttemptStatus.IN_PROGRESS,
)
OPEN_CAMPAIGN_ATTEMPT = text(
    "campaign_id IS NOT NULL AND status IN ("
    + ", ".join(f"'{s.value}'" for s in OPEN_ATTEMPT_STATUSES)
    + ")"
)


class ContactAttempt(Base):
    """One call, inbound or outbound; for the dialer also the queue row it claims."""

    __tablename__ = "contact_attempt"
    __table_args__ = (
        Index("ix_contact_attempt_due", "status", "due_at"),
        Index("ix_contact_attempt_account_started", "account_id", "started_at"),
        # The texts job's look for calls just ended (follow-ups): migration 0008.
        Index("ix_contact_attempt_ended", "ended_at"),
        # Claims without a CallSid (reconcile, every tick): migration 0013. Without it
        # SQLite reads `provider_call_sid IS NULL` from the CallSid's unique index, every
        # attempt never placed.
        Index("ix_contact_attempt_status_sid", "status", "provider_call_sid"),
        Index(
            "uq_contact_attempt_open_per_account",
            "account_id",
            unique=True,
            sqlite_where=OPEN_CAMPAIGN_ATTEMPT,
            postgresql_where=OPEN_CAMPAIGN_ATTEMPT,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("card_account.id"))
    phone_id: Mapped[int | None] = mapped_column(ForeignKey("phone.id"))
    number: Mapped[str] = mapped_column(String(64))  # E.164, or the raw caller id inbound
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), index=True)
    provider_call_sid: Mapped[str | None] = mapped_column(String(34), unique=True)
    status: Mapped[AttemptStatus] = mapped_column(_enum(AttemptStatus, "attempt_status"))
    due_at: Mapped[dt.datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(32))
    duration_seconds: Mapped[int | None]
    disposition: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(String(500))
    # The tier the planner placed the account in (its settings: campaign_tier).
    tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("delinquency_tier.id", ondelete="SET NULL")
    )
    # Why the planner queued this call: the policy's decision (allowed, numbers, reason
    # codes, explanation), the profile and tier, and when it was evaluated; JSON.
    decision: Mapped[str | None] = mapped_column(Text)
    # An outbound call's flow state and last answer, as JSON (dialer.calls): the attempt is
    # the call's row, locked per webhook like the IVR's ivr_call.
    call_state: Mapped[str | None] = mapped_column(Text)
    # What the callee heard, one line per turn, in the words of the call's language.
    said: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # --- dialer placement (migration 0006; dialer/claims.py says how they move) ---------
    # When the current claim was taken: the start of the window in which the carrier is
    # asked for this attempt's call if the claimer died before storing its CallSid.
    claimed_at: Mapped[dt.datetime | None]
    # The pacing slot its latest claim took (migration 0014): the call goes at it, never
    # before, so the slots of the calls placed show the rate every dialer kept together.
    slot_at: Mapped[dt.datetime | None]
    # When the carrier accepted the call (its CallSid stored).
    placed_at: Mapped[dt.datetime | None]
    # Carrier refusals (429, 5xx) so far: the exponent of the next backoff.
    # A server default only: the IVR inserts attempts with INSERT ... SELECT (ivr/calls.py),
    # where a Python-side default would be sent as a parameter nobody fills.
    dial_retries: Mapped[int] = mapped_column(server_default="0")
    # When reconcile last fetched the call from the carrier (callbacks overdue).
    carrier_checked_at: Mapped[dt.datetime | None]


class PlanChange(Base):
    """A cardholder whose planning facts changed: written by the database's own triggers
    (migration 0016) on every table the planner reads about an account, never by the
    code; read by the planning job's memo (dialer/plan_changes.py)."""

    __tablename__ = "plan_change"
    # AUTOINCREMENT: ids never reused, so the rows are read in order by id.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    cardholder_id: Mapped[int]
    # The writing transaction's id on PostgreSQL (a server default there); NULL on SQLite.
    xact: Mapped[int | None] = mapped_column(BigInteger, index=True)
    changed_at: Mapped[dt.datetime] = mapped_column(
        server_default=text("CURRENT_TIMESTAMP"), index=True
    )


class PlanChangeEpoch(Base):
    """One token, made anew when the feed above cannot be trusted to hold every change
    (the migration that made it; a TRUNCATE on PostgreSQL): a memo that read another
    starts over."""

    __tablename__ = "plan_change_epoch"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(36))


class TextMessage(Base):
    """A text the dialer sends a cardholder: a queue row with its placement state.

    One row per reason to text (`kind`, `source_key`: "attempt:12", "promise:3",
    "instalment:9", "payment:40", "promise-kept:3"), so finding the same reason twice queues
    nothing new. It moves QUEUED -> SENDING (claimed: worker, claimed_at, lease) -> SENT
    (provider_sid stored), each step its own transaction (dialer/text_queue.py); a SENDING
    row without a SID whose lease is over is resolved by listing the carrier's messages to
    the number before it could ever be sent again.
    """

    __tablename__ = "text_message"
    __table_args__ = (
        UniqueConstraint("kind", "source_key"),
        Index("ix_text_message_due", "status", "due_at"),
        Index("ix_text_message_account_created", "account_id", "created_at"),
        Index("ix_text_message_status_sid", "status", "provider_sid"),  # unknown sendings: 0013
        Index("ix_text_message_status_sent", "status", "sent_at"),  # texts the caps count: 0015
        Index("ix_text_message_account_status", "account_id", "status"),  # an account's: 0017
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("card_account.id"))
    phone_id: Mapped[int | None] = mapped_column(ForeignKey("phone.id"))
    number: Mapped[str] = mapped_column(String(16))  # E.164
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"))
    kind: Mapped[TextKind] = mapped_column(_enum(TextKind, "text_kind"))
    source_key: Mapped[str] = mapped_column(String(64))
    body_key: Mapped[str] = mapped_column(String(64))  # the prompt key (prompts/*.toml)
    language: Mapped[str] = mapped_column(String(8))
    # The prompt's parameters (JSON; never an amount) and the text as sent.
    params: Mapped[str] = mapped_column(Text, default="{}")
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[TextStatus] = mapped_column(_enum(TextStatus, "text_status"))
    due_at: Mapped[dt.datetime]
    # Past this the text is pointless (a reminder after its date): skipped, not sent late.
    expires_at: Mapped[dt.datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None]
    lease_until: Mapped[dt.datetime | None]
    provider_sid: Mapped[str | None] = mapped_column(String(34), unique=True)
    sent_at: Mapped[dt.datetime | None]
    retries: Mapped[int] = mapped_column(server_default="0", default=0)
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"TextMessage(id={self.id!r}, kind={self.kind!r}, status={self.status!r})"


class DialerPacing(Base):
    """A pacing scope's limits and its token-bucket state, shared by every dialer process.

    One row `global` and one per campaign that has limits of its own (`campaign:<id>`). The
    bucket is kept as the earliest moment the next call may go (`next_slot_at`, GCRA with a
    burst of one); a claim locks the rows it draws on (FOR UPDATE on PostgreSQL), so
    several dialers never hand out the same slot (dialer/pacing.py, dialer/claims.py).
    """

    __tablename__ = "dialer_pacing"
    __table_args__ = (
        CheckConstraint("calls_per_second > 0", name="rate_positive"),
        CheckConstraint("max_concurrent > 0", name="concurrency_positive"),
    )

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), unique=True
    )
    calls_per_second: Mapped[float] = mapped_column(Float)
    max_concurrent: Mapped[int]
    next_slot_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return (
            f"DialerPacing({self.scope!r}, cps={self.calls_per_second}, max={self.max_concurrent})"
        )


class VerificationAttempt(Base):
    """Each time a caller keys verification digits for an account: counts toward a lock."""

    __tablename__ = "verification_attempt"
    __table_args__ = (Index("ix_verification_attempt_account_at", "account_id", "attempted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("card_account.id"))
    call_sid: Mapped[str] = mapped_column(String(34))
    succeeded: Mapped[bool]
    attempted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IvrCall(Base):
    """An inbound call's state, kept by CallSid; also what an agent sees on transfer."""

    __tablename__ = "ivr_call"
    # Verified calls of the last days (the planner's recent contacts): 0015.
    __table_args__ = (Index("ix_ivr_call_started", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34), unique=True)
    from_number: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("card_account.id"), index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    step: Mapped[str] = mapped_column(String(32))
    verified: Mapped[bool] = mapped_column(default=False)
    # The flow's own state (retries, amounts being confirmed, the path taken), as JSON.
    state: Mapped[str] = mapped_column(Text, default="{}")
    intent: Mapped[str | None] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("service_case.id"))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CallEvent(Base):
    """A webhook or status callback received for a call; the unique key makes replays no-ops."""

    __tablename__ = "call_event"
    __table_args__ = (UniqueConstraint("call_sid", "kind", "sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34))
    kind: Mapped[str] = mapped_column(String(32))
    sequence: Mapped[str] = mapped_column(String(64))
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("contact_attempt.id"))
    payload: Mapped[str] = mapped_column(Text)  # JSON, PII-masked
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Append-only, hash-chained record of who did what, when and why.

    Each row's hash covers its content and the previous row's hash, and `seq` has no gaps,
    so an edited, inserted or deleted row shows up when the chain is verified
    (hotline.audit.verify_chain). The database also refuses UPDATE and DELETE (trigger).
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    # Canonical JSON text (sorted keys), hashed byte for byte; not JSONB, which reorders.
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"AuditEvent(seq={self.seq!r}, action={self.action!r}, entity={self.entity_id!r})"


# --- the agent desk (migration 0011) ---------------------------------------------------------

QUEUE_ENTRY_STATUSES = ("waiting", "accepted", "bridged", "ended", "left")


class QueueEntry(Base):
    """A caller waiting for an agent, from either line: the desk's live queue.

    The line that <Enqueue>s the caller inserts it (flows.carry_out on the turn's
    TransferToAgent, or the queue's first wait request for a caller enqueued by an
    apology); the wait requests keep `last_seen_at` fresh, the queue's action ends it.
    An agent takes it by moving it from `waiting` to `accepted` in one guarded UPDATE, so
    of two agents accepting at once exactly one wins (desk.queue.accept).
    """

    __tablename__ = "desk_queue_entry"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in QUEUE_ENTRY_STATUSES) + ")",
            name="status_known",
        ),
        CheckConstraint("line IN ('ivr', 'dialer')", name="line_known"),
        Index("ix_desk_queue_entry_status_queued", "status", "queued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34), unique=True)
    line: Mapped[str] = mapped_column(String(16))  # "ivr" or "dialer"
    # The dialer's attempt (its call's row), or the IVR call's inbound attempt.
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("contact_attempt.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("card_account.id"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="en")
    verified: Mapped[bool] = mapped_column(default=False)
    intent: Mapped[str | None] = mapped_column(String(32))
    # The steps the caller took on the line before asking for a person (JSON list).
    path: Mapped[str] = mapped_column(Text, default="[]")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("service_case.id"))
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    queued_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    accepted_by: Mapped[str | None] = mapped_column(String(100))
    accepted_by_user_id: Mapped[int | None]
    accepted_at: Mapped[dt.datetime | None]
    agent_number: Mapped[str | None] = mapped_column(String(16))
    bridged_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    # Twilio's QueueResult, or the <Dial> to the agent's DialCallStatus.
    result: Mapped[str | None] = mapped_column(String(32))

    def __repr__(self) -> str:
        return f"QueueEntry(id={self.id!r}, line={self.line!r}, status={self.status!r})"


class DeskNote(Base):
    """An agent's disposition and note on an account (and the call it was about)."""

    __tablename__ = "desk_note"
    __table_args__ = (Index("ix_desk_note_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("card_account.id"))
    call_sid: Mapped[str | None] = mapped_column(String(34))
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("contact_attempt.id"))
    author: Mapped[str] = mapped_column(String(100))
    disposition: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


WAIVER_STATUSES = ("applied", "pending", "rejected")


class FeeWaiver(Base):
    """A late fee taken off an account by an agent: applied at once within the agent's
    authority (desk_user.waiver_limit_minor), otherwise pending until a supervisor
    approves (then applied) or rejects it."""

    __tablename__ = "fee_waiver"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in WAIVER_STATUSES) + ")",
            name="status_known",
        ),
        Index("ix_fee_waiver_status_requested", "status", "requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("card_account.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_by_user_id: Mapped[int | None]
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    call_sid: Mapped[str | None] = mapped_column(String(34))

    def __repr__(self) -> str:
        return f"FeeWaiver(id={self.id!r}, amount={self.amount_minor!r}, status={self.status!r})"


# --- the desk: agencies, placements, users, sessions, sign-in attempts (migration 0010) ---


class Agency(Base):
    """An outside collection agency the bank places accounts with."""

    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Agency({self.code!r})"


class Placement(Base):
    """An account placed with an agency from one day to another, both inclusive (no end:
    until recalled). An account is with at most one agency on any day; the placements
    import refuses a row that would overlap another agency's (hotline/placements.py)."""

    __tablename__ = "placement"
    __table_args__ = (
        UniqueConstraint("account_id", "agency_id", "starts_on"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ends_not_before_start"),
        Index("ix_placement_agency_account", "agency_id", "account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("card_account.id", ondelete="CASCADE"), index=True
    )
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    agency: Mapped[Agency] = relationship()

    def __repr__(self) -> str:
        return (
            f"Placement(account={self.account_id!r}, agency={self.agency_id!r}, "
            f"{self.starts_on}..{self.ends_on})"
        )


class DeskUser(Base):
    """A person who signs in to the desk: an agent, a supervisor or an administrator."""

    __tablename__ = "desk_user"
    __table_args__ = (CheckConstraint("waiver_limit_minor >= 0", name="waiver_limit_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Lower-case, as typed at sign-in after folding (hotline/users.py normalises).
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # argon2id, PHC string format (argon2-cffi): algorithm, cost and salt travel with it.
    password_hash: Mapped[str] = mapped_column(String(200))
    # Failed sign-ins before this no longer count toward the rate limit (a reset clears it).
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    role: Mapped[DeskRole] = mapped_column(_enum(DeskRole, "desk_role"))
    display_name: Mapped[str] = mapped_column(String(100))
    language: Mapped[Language] = mapped_column(_enum(Language, "desk_language"))
    time_zone: Mapped[str] = mapped_column(String(64))
    # E.164: the phone the desk bridges an accepted caller to.
    phone: Mapped[str | None] = mapped_column(String(16))
    # NULL: bank staff, who see every account; else only accounts placed with the agency.
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"), index=True)
    # Late-fee waivers up to this much (in waiver_currency) without a supervisor.
    waiver_limit_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    waiver_currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    disabled_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime | None]

    agency: Mapped[Agency | None] = relationship()

    def __repr__(self) -> str:
        return f"DeskUser({self.username!r}, {self.role!r}, agency={self.agency_id!r})"


class DeskSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is kept, so a
    copy of this table signs nobody in. Ended at sign-out, on a password reset or when the
    user is disabled; expired when idle too long or too old (desk/sessions.py)."""

    __tablename__ = "desk_session"
    __table_args__ = (Index("ix_desk_session_user_open", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("desk_user.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
    # signed-out, expired, password-reset, disabled
    end_reason: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[DeskUser] = relationship()


class LoginAttempt(Base):
    """Each desk sign-in attempt, kept in the database so that the rate limit holds across
    gunicorn workers and hosts (hotline/users.py says how it is counted)."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "attempted_at"),
        Index("ix_login_attempt_address_at", "address", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # As typed (normalised, cut to 64): attempts on unknown names are limited as well.
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("desk_user.id", ondelete="SET NULL"))
    outcome: Mapped[LoginOutcome] = mapped_column(_enum(LoginOutcome, "login_outcome"))
    attempted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
