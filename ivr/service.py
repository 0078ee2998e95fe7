"""The IVR's services: call state by CallSid, facts for the flow, and the flow's effects.

Functions take the caller's session and never commit; the webhook owns the transaction.
A call's row is locked for the length of a request, so Twilio's retries and replays of
the same call are handled one after another; a request for a step the call has already
left gets the answer it got the first time, and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from babel.core import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline import audit
from hotline.enums import (
    BLOCKING_FLAGS,
    AccountFlag,
    AttemptStatus,
    CaseKind,
    CaseStatus,
    Direction,
    InstalmentStatus,
    PaymentStatus,
    PlanStatus,
    PromiseStatus,
    Source,
)
from hotline.hours import Hours
from hotline.models import (
    AccountFlagRow,
    CallEvent,
    CardAccount,
    Cardholder,
    Case,
    ContactAttempt,
    IvrCall,
    Payment,
    Phone,
    PlanInstalment,
    PromiseToPay,
    RepaymentPlan,
    UTCDateTime,
    VerificationAttempt,
)
from hotline.money import to_major
from hotline.phones import time_zones_for
from hotline.profiles import ContactProfile, recording_notice_needed
from hotline.secrets import verify_digits_match
from ivr import flow
from ivr.flow import AccountFacts, CallState, Facts, Heard, Money, Outcome, PayResult, PlanOption
from telephony.gateway import CallGateway, GatewayError

log = logging.getLogger(__name__)

ACTOR = "ivr"
# Flags under which no instalment plan is offered by phone: an agent decides instead.
NO_PLAN_FLAGS = BLOCKING_FLAGS | {AccountFlag.FRAUD}
# Verification failures within this window count toward locking self-service.
FAILURE_WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class LineConfig:
    """The line's policy, from settings, built once per process."""

    bank: str
    secret_key: str
    agent_hours: Hours
    timezone: str
    profile: ContactProfile
    min_payment_minor: int
    promise_window_days: int
    plan_min_balance_minor: int
    plan_months: tuple[int, ...]
    sms_confirmations: bool
    caller_id: str
    record_calls: bool
    # The bank's name by language, where it differs from `bank` (HOTLINE_BANK_NAME_ZH).
    bank_names: Mapping[str, str] = field(default_factory=dict)

    def bank_for(self, language: str) -> str:
        return self.bank_names.get(language) or self.bank


@dataclass(frozen=True)
class Sms:
    to: str
    from_: str
    key: str
    params: Mapping[str, str]
    language: str


@dataclass
class CallRecord:
    """The ivr_call row a request works on, read and written with Core statements.

    `exists` is False for a call this request began: remember() inserts it then.
    """

    call_sid: str
    from_number: str
    state: CallState
    last_twiml: str | None
    case_id: int | None
    started_at: dt.datetime
    exists: bool
    account: AccountRow | None = None  # the account the call is about, read with the call


@dataclass(frozen=True)
class AccountRow:
    """An account as one turn reads it: the row, its cardholder and counts, in one query."""

    id: int
    account_number: str
    cardholder_id: int
    currency: str
    balance_minor: int
    minimum_due_minor: int
    past_due_minor: int
    due_date: dt.date
    locked: bool
    language: str
    country: str
    address_region: str | None
    verify_salt: str
    verify_hash: str
    last_payment_minor: int | None
    last_payment_at: dt.datetime | None
    failures_last_24h: int
    ever_verified: bool
    plan_excluded: bool  # a plan is running, or a flag rules plans out


@dataclass
class Reply:
    """What the webhook should answer: a new turn, or the answer given before (a replay)."""

    call: CallRecord
    language: str
    outcome: Outcome | None = None
    replay: str | None = None
    outbox: list[Sms] = field(default_factory=list)


# --- the hot path's statements, built once (building one costs more than running it) -----

_CALLS = IvrCall.__table__
# Core UPDATE with no .values(): the SET clause is the parameters' column names.
_UPDATE_CALL = update(_CALLS).where(_CALLS.c.call_sid == bindparam("where_call_sid"))
_INSERT_ATTEMPT = insert(ContactAttempt.__table__)
_INSERT_VERIFICATION = insert(VerificationAttempt.__table__)
_ATTEMPT_FOR_CALL = select(ContactAttempt.id).where(
    ContactAttempt.provider_call_sid == bindparam("call_sid")
)
_ACCOUNT_BY_NUMBER = select(CardAccount.id).where(
    CardAccount.account_number == bindparam("account_number")
)
# Verification attempts on one account queue up behind this lock, so however many calls
# key digits at once, each counts the failures committed before it (at most 5 are checked).
_LOCK_ACCOUNT = (
    select(CardAccount.id).where(CardAccount.id == bindparam("account_id")).with_for_update()
)
_HOLDER_NUMBERS = (
    select(Phone.e164).where(Phone.cardholder_id == bindparam("cardholder_id")).order_by(Phone.id)
)


def _account_columns() -> list[Any]:
    """The account, its cardholder and the counts a turn needs, labelled as AccountRow's
    fields; correlated to CardAccount, so the same columns serve both statements below."""
    last_payment = (
        select(Payment.amount_minor, Payment.posted_at)
        .where(Payment.account_id == CardAccount.id, Payment.status == PaymentStatus.POSTED)
        .order_by(Payment.posted_at.desc())
        .limit(1)
    )
    return [
        CardAccount.id,
        CardAccount.account_number,
        CardAccount.cardholder_id,
        CardAccount.currency,
        CardAccount.balance_minor,
        CardAccount.minimum_due_minor,
        CardAccount.past_due_minor,
        CardAccount.due_date,
        CardAccount.self_service_locked_at.is_not(None).label("locked"),
        Cardholder.language,
        Cardholder.country,
        Cardholder.address_region,
        Cardholder.verify_salt,
        Cardholder.verify_hash,
        last_payment.with_only_columns(Payment.amount_minor)
        .scalar_subquery()
        .label("last_payment_minor"),
        last_payment.with_only_columns(Payment.posted_at)
        .scalar_subquery()
        .label("last_payment_at"),
        select(func.count())
        .where(
            VerificationAttempt.account_id == CardAccount.id,
            VerificationAttempt.succeeded.is_(False),
            VerificationAttempt.attempted_at > bindparam("since", type_=UTCDateTime()),
            # An unlock starts the count afresh.
            or_(
                CardAccount.verification_reset_at.is_(None),
                VerificationAttempt.attempted_at > CardAccount.verification_reset_at,
            ),
        )
        .scalar_subquery()
        .label("failures_last_24h"),
        select(VerificationAttempt.id)
        .where(
            VerificationAttempt.account_id == CardAccount.id,
            VerificationAttempt.succeeded.is_(True),
        )
        .exists()
        .label("ever_verified"),
        or_(
            select(RepaymentPlan.id)
            .where(
                RepaymentPlan.account_id == CardAccount.id,
                RepaymentPlan.status == PlanStatus.ACTIVE,
            )
            .exists(),
            select(AccountFlagRow.flag)
            .where(
                AccountFlagRow.account_id == CardAccount.id,
                # OR of equalities, not IN: an IN list is re-rendered on every execution.
                or_(*(AccountFlagRow.flag == flag for flag in sorted(NO_PLAN_FLAGS))),
            )
            .exists(),
        ).label("plan_excluded"),
    ]


_ACCOUNT_ROW = (
    select(*_account_columns())
    .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
    .where(CardAccount.id == bindparam("account_id"))
)
# The accounts of whoever has this number on file (two are enough to know it is not one).
_ACCOUNTS_FOR_NUMBER = (
    select(*_account_columns())
    .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
    .where(
        CardAccount.cardholder_id.in_(
            select(Phone.cardholder_id).where(
                Phone.e164 == bindparam("number"), Phone.removed_at.is_(None)
            )
        )
    )
    .limit(2)
)
# The call's row, locked for the request, with the account it is about: one round trip for
# the usual turn. Only the call's row is locked (FOR UPDATE OF ivr_call); account rows come
# from the statement's snapshot, and what changes money re-reads the account (_entity).
_CALL_FOR_UPDATE = (
    select(
        _CALLS.c.from_number,
        _CALLS.c.state,
        _CALLS.c.case_id,
        _CALLS.c.started_at,
        *_account_columns(),
    )
    .select_from(_CALLS)
    .outerjoin(CardAccount, CardAccount.id == _CALLS.c.account_id)
    .outerjoin(Cardholder, Cardholder.id == CardAccount.cardholder_id)
    .where(_CALLS.c.call_sid == bindparam("call_sid"))
    .with_for_update(of=_CALLS)
)


_CALL_VALUES = (
    "call_sid",
    "from_number",
    "started_at",
    "step",
    "language",
    "account_id",
    "verified",
    "intent",
    "case_id",
    "state",
    "updated_at",
)
_ATTEMPT_VALUES = ("direction", "number", "status", "started_at", "answered_at", "created_at")


def _claim_statements(dialect: str) -> tuple[Any, Any | None]:
    """INSERT a new call's row unless another request for the same CallSid already has
    (the loser waits for the winner's commit, then answers what it answered), and its
    contact attempt. On PostgreSQL the two are one statement: the attempt is inserted from
    the call's RETURNING, so a lost claim inserts neither, in one round trip."""
    module = postgresql if dialect == "postgresql" else sqlite
    claim = (
        module.insert(_CALLS)
        .values({name: bindparam(name, type_=_CALLS.c[name].type) for name in _CALL_VALUES})
        .on_conflict_do_nothing(index_elements=["call_sid"])
        .returning(_CALLS.c.id)
    )
    if dialect != "postgresql":
        return claim, None
    attempts = ContactAttempt.__table__
    claimed = claim.cte("claimed")
    columns = [attempts.c[name] for name in _ATTEMPT_VALUES]
    both = (
        insert(attempts)
        .from_select(
            [*(c.name for c in columns), "provider_call_sid"],
            select(
                *(bindparam(f"attempt_{c.name}", type_=c.type) for c in columns),
                bindparam("call_sid", type_=attempts.c.provider_call_sid.type),
            ).select_from(claimed),
        )
        .returning(attempts.c.id)
    )
    return claim, both


_CLAIM_CALL = {name: _claim_statements(name) for name in ("postgresql", "sqlite")}


def _core(session: Session) -> Connection:
    """The session's connection, for the hot path's Core statements: executing them
    through the session adds ORM bookkeeping they do not need. The ORM's pending changes
    are flushed first, so what they read and what the ORM wrote agree."""
    session.flush()
    return session.connection()


# --- call state ---------------------------------------------------------------------------


def _load(session: Session, call_sid: str, now: dt.datetime) -> CallRecord | None:
    """The call's row, locked until the transaction ends, or None for a call not begun."""
    row = (
        _core(session)
        .execute(_CALL_FOR_UPDATE, {"call_sid": call_sid, "since": _since(now)})
        .one_or_none()
    )
    if row is None:
        return None
    try:
        data = json.loads(row.state or "{}")
    except ValueError:
        data = {}
    return CallRecord(
        call_sid=call_sid,
        from_number=row.from_number,
        state=CallState.from_dict(data),
        last_twiml=data.get("last_twiml"),
        case_id=row.case_id,
        started_at=row.started_at,
        exists=True,
        account=_account_row(row._mapping) if row.id is not None else None,
    )


def remember(
    session: Session, call: CallRecord, state: CallState, twiml: str, now: dt.datetime
) -> str:
    """Keep the new state and the TwiML answered, for replays of this same request; return
    the TwiML to answer (for a new call another request claimed first: what it answered)."""
    values = {
        "step": state.step,
        "language": state.language,
        "account_id": state.account_id,
        "verified": state.verified,
        "intent": state.intent,
        "case_id": call.case_id,
        "state": json.dumps({**state.as_dict(), "last_twiml": twiml}, ensure_ascii=False),
        "updated_at": now,
    }
    if call.exists:
        _core(session).execute(_UPDATE_CALL, {"where_call_sid": call.call_sid, **values})
    elif not _claim(session, call, values, now):
        # Another request for this CallSid was first (a retry racing the original): its
        # row was locked until it committed, so its answer is there to give again.
        first = _load(session, call.call_sid, now)
        if first is None or first.last_twiml is None:
            raise LookupError(f"call {call.call_sid} was claimed but is not there")
        return first.last_twiml
    call.state, call.last_twiml = state, twiml
    return twiml


def _claim(session: Session, call: CallRecord, values: Mapping[str, Any], now: dt.datetime) -> bool:
    """Insert a new call's row and its inbound contact attempt; False if another request
    for the same CallSid inserted the row first (then neither is inserted)."""
    connection = _core(session)
    claim, with_attempt = _CLAIM_CALL[connection.dialect.name]
    row = {
        "call_sid": call.call_sid,
        "from_number": call.from_number,
        "started_at": call.started_at,
        **values,
    }
    attempt = {
        "direction": Direction.INBOUND,
        "number": call.from_number,
        "status": AttemptStatus.IN_PROGRESS,
        "started_at": now,
        "answered_at": now,
        "created_at": now,
    }
    if with_attempt is not None:
        claimed = connection.execute(
            with_attempt, {**row, **{f"attempt_{k}": v for k, v in attempt.items()}}
        ).first()
    else:
        claimed = connection.execute(claim, row).first()
        if claimed is not None:
            connection.execute(_INSERT_ATTEMPT, {**attempt, "provider_call_sid": call.call_sid})
    call.exists = claimed is not None
    return call.exists


def begin(
    session: Session, config: LineConfig, *, call_sid: str, caller: str, now: dt.datetime
) -> Reply:
    """The voice URL: a new call, or Twilio asking again for one already begun.

    Nothing is read first: the call's row is inserted with its first answer (remember),
    and a request that finds the row there already answers what was answered before.
    """
    call = CallRecord(
        call_sid=call_sid,
        from_number=caller[:64],
        state=CallState(),
        last_twiml=None,
        case_id=None,
        started_at=now,
        exists=False,
    )
    account = identify(session, caller, now)
    facts = build_facts(session, config, now, caller, account, language=None)
    outcome = flow.start(CallState(), facts)
    return Reply(call, outcome.state.language, outcome=outcome)


def answer(
    session: Session,
    config: LineConfig,
    gateway: CallGateway,
    *,
    call_sid: str,
    caller: str,
    step: str,
    listen: Callable[[str, str], Heard],
    now: dt.datetime,
) -> Reply:
    """The caller answered a prompt (a <Gather> action); `listen(step, language)` reads it."""
    call = _load(session, call_sid, now)
    if call is None:  # unknown or expired call: start it afresh rather than fail
        return begin(session, config, call_sid=call_sid, caller=caller, now=now)
    state = call.state
    if step != state.step and call.last_twiml is not None:
        return Reply(call, state.language, replay=call.last_twiml)
    heard = listen(state.step, state.language)
    account = call.account
    digits_match = None
    if state.step == flow.ACCOUNT and heard.digits:
        found = _core(session).scalar(_ACCOUNT_BY_NUMBER, {"account_number": heard.digits})
        account = _account(session, found, now)
    if state.step == flow.VERIFY and account is not None and heard.digits:
        # Count the failures under the account's lock: a burst of calls guessing at once
        # is checked one after another, and none after the limit.
        _core(session).execute(_LOCK_ACCOUNT, {"account_id": account.id})
        account = _account(session, account.id, now)
        if (
            account is not None
            and not account.locked
            and (account.failures_last_24h < flow.LOCK_AFTER_FAILURES_IN_24H)
        ):
            digits_match = verify_digits_match(
                config.secret_key, account.verify_salt, heard.digits, account.verify_hash
            )
    facts = build_facts(
        session, config, now, caller, account, language=state.language, digits_match=digits_match
    )
    outcome = flow.advance(state, heard, facts)
    pausing = any(isinstance(e, flow.PauseRecording) for e in outcome.effects)
    if pausing and not _set_recording(gateway, call_sid, paused=True):
        # No <Pay> while a recording may be running: the caller hears that payment is
        # unavailable and may try again or ask for a person.
        unavailable = PayResult("payment-connector-error", error="recording not paused")
        outcome = replace(
            flow.pay_result(outcome.state, replace(facts, pay_result=unavailable)), effects=()
        )
    reply = Reply(call, outcome.state.language, outcome=outcome)
    _carry_out(session, config, reply, account, caller, now)
    return reply


def pay_result(
    session: Session,
    config: LineConfig,
    gateway: CallGateway,
    *,
    call_sid: str,
    caller: str,
    form: Mapping[str, str],
    token: str,
    now: dt.datetime,
) -> Reply:
    """<Pay> `token` finished: post a successful payment exactly once, with that <Pay>'s
    own amount, then let the flow speak.

    A result for an earlier <Pay> of the call (a late retry, a replay) is still posted if it
    succeeded, since the card was charged, but changes nothing else: the call has moved on.
    """
    call = _load(session, call_sid, now)
    if call is None:
        return begin(session, config, call_sid=call_sid, caller=caller, now=now)
    state = call.state
    amount_minor = state.pays.get(token, 0)
    current = state.step == flow.PAY_RESULT and state.pending.get("pay") == token
    if not token and state.step == flow.PAY_RESULT and "pay" not in state.pending:
        # A <Pay> sent before results carried tokens (a call in progress across an upgrade).
        amount_minor, current = int(state.pending.get("amount_minor") or 0), True
    account = call.account
    result_name = form.get("Result", "")
    code = form.get("PaymentConfirmationCode", "")
    charged = result_name == "success" and bool(code) and amount_minor > 0
    if charged and account is not None:
        post_payment(
            session,
            _entity(session, account),
            amount_minor=amount_minor,
            call_sid=call_sid,
            pay_token=token,
            code=code,
            brand=form.get("PaymentCardType"),
            masked=form.get("PaymentCardNumber"),
            now=now,
        )
    if not current and call.last_twiml is not None:
        return Reply(call, state.language, replay=call.last_twiml)
    facts = build_facts(session, config, now, caller, account, language=state.language)
    result = PayResult(result=result_name, error=form.get("PaymentError", ""))
    if charged:
        result = PayResult("success", Money(amount_minor, facts.speak_money), _spell(code[-6:]))
    elif result_name == "success":
        result = PayResult("payment-connector-error", error="no confirmation code")
    facts = replace(facts, pay_result=result)
    outcome = flow.pay_result(state, facts)
    if any(isinstance(e, flow.ResumeRecording) for e in outcome.effects):
        _set_recording(gateway, call_sid, paused=False)
    return Reply(call, outcome.state.language, outcome=outcome)


def _set_recording(gateway: CallGateway, call_sid: str, *, paused: bool) -> bool:
    """Pause or resume the call's recording; False (and a log line) if the carrier refused."""
    try:
        if paused:
            gateway.pause_recording(call_sid)
        else:
            gateway.resume_recording(call_sid)
    except (GatewayError, OSError):
        log.warning(
            "could not %s the recording of call %s",
            "pause" if paused else "resume",
            call_sid,
            exc_info=True,
        )
        return False
    return True


def record_recording(
    session: Session,
    *,
    call_sid: str,
    recording_sid: str,
    status: str,
    details: Mapping[str, str],
    now: dt.datetime,
) -> bool:
    """Keep a recording's status callback once per (recording, status); True if it is new."""
    attempt_id = _core(session).scalar(_ATTEMPT_FOR_CALL, {"call_sid": call_sid})
    try:
        with session.begin_nested():
            session.add(
                CallEvent(
                    call_sid=call_sid,
                    kind="recording",
                    sequence=f"{recording_sid}:{status}",
                    attempt_id=attempt_id,
                    payload=json.dumps(
                        {"recording_sid": recording_sid, "status": status, **details}
                    ),
                    received_at=now,
                )
            )
            session.flush()
    except IntegrityError:
        return False  # a replayed callback
    return True


# --- looking things up --------------------------------------------------------------------


def identify(session: Session, caller: str, now: dt.datetime) -> AccountRow | None:
    """The one account whose cardholder has this number on file, or None (none or several)."""
    rows = (
        _core(session).execute(_ACCOUNTS_FOR_NUMBER, {"number": caller, "since": _since(now)}).all()
    )
    return _account_row(rows[0]._mapping) if len(rows) == 1 else None


def _account(session: Session, account_id: int | None, now: dt.datetime) -> AccountRow | None:
    if account_id is None:
        return None
    row = (
        _core(session)
        .execute(_ACCOUNT_ROW, {"account_id": account_id, "since": _since(now)})
        .one_or_none()
    )
    return _account_row(row._mapping) if row is not None else None


def _since(now: dt.datetime) -> dt.datetime:
    """Where the window for counting verification failures starts."""
    return now - FAILURE_WINDOW


def _account_row(row: Mapping[str, Any]) -> AccountRow:
    last_payment_at = row["last_payment_at"]
    if isinstance(last_payment_at, str):  # SQLite returns a subquery's timestamp as text
        last_payment_at = dt.datetime.fromisoformat(last_payment_at)
    return AccountRow(
        id=row["id"],
        account_number=row["account_number"],
        cardholder_id=row["cardholder_id"],
        currency=row["currency"],
        balance_minor=row["balance_minor"],
        minimum_due_minor=row["minimum_due_minor"],
        past_due_minor=row["past_due_minor"],
        due_date=row["due_date"],
        locked=bool(row["locked"]),
        language=str(row["language"]),
        country=row["country"],
        address_region=row["address_region"],
        verify_salt=row["verify_salt"],
        verify_hash=row["verify_hash"],
        last_payment_minor=row["last_payment_minor"],
        last_payment_at=last_payment_at,
        failures_last_24h=int(row["failures_last_24h"] or 0),
        ever_verified=bool(row["ever_verified"]),
        plan_excluded=bool(row["plan_excluded"]),
    )


def _entity(session: Session, account: AccountRow) -> CardAccount:
    """The ORM object, for the effects that change an account (rare next to reading one)."""
    entity = session.get(CardAccount, account.id)
    assert entity is not None, "the account was read in this same transaction"
    return entity


def build_facts(
    session: Session,
    config: LineConfig,
    now: dt.datetime,
    caller: str,
    account: AccountRow | None,
    *,
    language: str | None,
    digits_match: bool | None = None,
) -> Facts:
    lang = language or (account.language if account else "en")
    zone = _zone(session, account, caller, config.timezone)
    currency = account.currency if account else "USD"

    def speak_money(minor: int) -> str:
        return spoken_money(minor, currency, lang)

    def speak_date(day: dt.date) -> str:
        return spoken_date(day, lang)

    facts_account = _account_facts(config, account, speak_money, zone) if account else None
    return Facts(
        bank=config.bank_for(lang),
        agents_open=config.agent_hours.open_at(now, config.timezone),
        today=now.astimezone(ZoneInfo(zone)).date(),
        promise_window_days=config.promise_window_days,
        first_disclosure=bool(
            config.profile.debt_collector_disclosure
            and account is not None
            and not account.ever_verified
        ),
        record_calls=config.record_calls,
        later_disclosure=bool(
            config.profile.debt_collector_disclosure
            and account is not None
            and account.ever_verified
        ),
        recording_notice=recording_notice_needed(
            config.record_calls,
            account.country if account else "",
            account.address_region if account else None,
        ),
        caller_last4=("".join(ch for ch in caller if ch.isdigit())[-4:] or "----"),
        speak_money=speak_money,
        speak_date=speak_date,
        account=facts_account,
        digits_match=digits_match,
    )


def _account_facts(
    config: LineConfig, account: AccountRow, speak_money: Callable[[int], str], zone: str
) -> AccountFacts:
    """The account as the flow sees it."""

    def money(minor: int) -> Money:
        return Money(minor, speak_money)

    return AccountFacts(
        account_id=account.id,
        language=account.language,
        currency=account.currency,
        balance=money(account.balance_minor),
        minimum_due=money(account.minimum_due_minor),
        past_due=money(account.past_due_minor),
        due_date=account.due_date,
        # The day as the caller lived it, not the UTC day.
        last_payment=(
            money(account.last_payment_minor),
            account.last_payment_at.astimezone(ZoneInfo(zone)).date(),
        )
        if account.last_payment_minor is not None and account.last_payment_at is not None
        else None,
        locked=account.locked,
        failures_last_24h=account.failures_last_24h,
        min_payment=money(config.min_payment_minor),
        plan_options=_plan_options(config, account, money),
    )


def _plan_options(
    config: LineConfig, account: AccountRow, money: Callable[[int], Money]
) -> tuple[PlanOption, ...]:
    """The plans offered by phone, if any."""
    if account.plan_excluded or account.balance_minor < config.plan_min_balance_minor:
        return ()
    options = []
    for count in config.plan_months:
        split = flow.plan_instalments(account.balance_minor, count)
        if split is None:
            continue  # a balance too small for so many instalments
        instalment, last = split
        options.append(
            PlanOption(count, money(instalment), money(last) if last != instalment else None)
        )
    return tuple(options)


def _zone(session: Session, account: AccountRow | None, caller: str, default: str) -> str:
    """The caller's time zone: from the caller id, else the cardholder's numbers on file."""

    def numbers() -> Iterator[str]:
        yield caller
        if account is not None:
            yield from _core(session).scalars(
                _HOLDER_NUMBERS, {"cardholder_id": account.cardholder_id}
            )

    for number in numbers():
        try:
            zones = time_zones_for(number)
        except Exception:  # a caller id like "anonymous" has no zone
            continue
        if len(zones) == 1:
            return zones[0]
    return default


@functools.cache
def _locale(language: str) -> Locale:
    # Parsing a locale costs more than formatting with it; a call formats a dozen amounts.
    return Locale.parse(language.replace("-", "_"))


def spoken_money(minor: int, currency: str, language: str) -> str:
    """'$1,234.56' in English; '1,234.56元' for yuan in Chinese, as a caller expects to hear."""
    amount = to_major(minor, currency)
    if language == "zh-CN" and currency == "CNY":
        return f"{format_decimal(amount, format='#,##0.00', locale=_locale('zh-CN'))}元"
    return str(format_currency(amount, currency, locale=_locale(language)))


def spoken_date(day: dt.date, language: str) -> str:
    return str(format_date(day, format="long", locale=_locale(language)))


def _spell(code: str) -> str:
    return " ".join(code.upper())


# --- carrying out the flow's effects ------------------------------------------------------


def _carry_out(
    session: Session,
    config: LineConfig,
    reply: Reply,
    row: AccountRow | None,
    caller: str,
    now: dt.datetime,
) -> None:
    outcome = reply.outcome
    assert outcome is not None
    call = reply.call
    references: dict[str, str] = {}
    for effect in outcome.effects:
        if isinstance(effect, flow.PauseRecording | flow.ResumeRecording):
            continue  # done around <Pay>, before the answer is sent (answer, pay_result)
        if isinstance(effect, flow.RecordVerification):
            if row is not None:
                _core(session).execute(
                    _INSERT_VERIFICATION,
                    {
                        "account_id": row.id,
                        "call_sid": call.call_sid,
                        "succeeded": effect.succeeded,
                        "attempted_at": now,
                    },
                )
            continue
        # The other effects change the account through the ORM (rare next to reading it).
        account = _entity(session, row) if row is not None else None
        if isinstance(effect, flow.LockSelfService) and account is not None:
            if account.self_service_locked_at is not None:
                continue
            account.self_service_locked_at = now
            _audit(
                session,
                account,
                "self-service.locked",
                {"call_sid": call.call_sid, "reason": "verification failures"},
                now,
            )
        elif isinstance(effect, flow.SavePromise) and account is not None:
            reference = _save_promise(session, account, effect, call.call_sid, now)
            references["reference"] = reference
            _queue_sms(
                config,
                reply,
                caller,
                "sms_promise",
                {
                    "bank": config.bank_for(reply.language),
                    "amount": spoken_money(effect.amount_minor, account.currency, reply.language),
                    "date": effect.date.isoformat(),
                    "reference": reference,
                },
            )
        elif isinstance(effect, flow.SavePlan) and account is not None:
            reference = _save_plan(session, account, effect, call.call_sid, now)
            _queue_sms(
                config,
                reply,
                caller,
                "sms_plan",
                {
                    "bank": config.bank_for(reply.language),
                    "count": str(effect.count),
                    "amount": spoken_money(
                        effect.instalment_minor, account.currency, reply.language
                    ),
                    "start": effect.start.isoformat(),
                    "reference": reference,
                },
            )
        elif isinstance(effect, flow.OpenCase) and account is not None:
            case_row = _open_case(session, account, effect.kind, call, outcome.state, now)
            references["reference"] = " ".join(f"{case_row.id:06d}")
        elif isinstance(effect, flow.OptOut):
            _opt_out(session, caller, call.call_sid, now)
        elif isinstance(effect, flow.RequestCallback) and account is not None:
            _request_callback(session, config, account, caller, call.call_sid, now)
        elif isinstance(effect, flow.TransferToAgent):
            audit.record(
                session,
                actor=ACTOR,
                action="call.transferred",
                entity_type="call",
                entity_id=call.call_sid,
                data={"intent": effect.intent, "verified": outcome.state.verified},
                now=now,
            )
    if references:
        reply.outcome = _fill_references(outcome, references)


def _fill_references(outcome: Outcome, values: Mapping[str, str]) -> Outcome:
    says = tuple(
        replace(
            say,
            params={
                k: values.get("reference", v) if v == flow.REFERENCE else v
                for k, v in say.params.items()
            },
        )
        for say in outcome.turn.says
    )
    return replace(outcome, turn=replace(outcome.turn, says=says))


def _queue_sms(
    config: LineConfig, reply: Reply, caller: str, key: str, params: Mapping[str, str]
) -> None:
    if config.sms_confirmations and caller.startswith("+"):
        reply.outbox.append(Sms(caller, config.caller_id, key, params, reply.language))


def post_payment(
    session: Session,
    account: CardAccount,
    *,
    amount_minor: int,
    call_sid: str,
    pay_token: str,
    code: str,
    brand: str | None,
    masked: str | None,
    now: dt.datetime,
) -> bool:
    """Post a card payment once per <Pay> (call and token); True if this request posted it.

    One <Pay> charges a card at most once, so the key is the call and the <Pay>'s token:
    bounded whatever the carrier sends, and a replay with another confirmation code (a
    re-cut request) cannot post twice. The key's unique constraint decides: a replay, or a
    concurrent duplicate that loses the race, meets the row already there and changes
    nothing. The whole amount is posted; what exceeds the balance (two payments racing)
    becomes a credit on the account, never clamped away.
    """
    key = f"ivr:{call_sid}:pay:{pay_token}" if pay_token else _code_key(call_sid, code)
    last4 = _last4(masked)
    # The account's row, locked and read afresh before anything else (inserting the payment
    # first would take a key-share lock that two racing payments would deadlock on): the
    # balance another call's payment may just have lowered decides what is credit.
    locked = session.get(CardAccount, account.id, with_for_update=True, populate_existing=True)
    assert locked is account
    try:
        with session.begin_nested():
            payment = Payment(
                account_id=account.id,
                amount_minor=amount_minor,
                currency=account.currency,
                source=Source.IVR,
                status=PaymentStatus.POSTED,
                idempotency_key=key,
                processor_confirmation=code[:100],
                card_brand=(brand or "")[:20] or None,
                card_last4=last4,
                call_sid=call_sid,
                created_at=now,
                posted_at=now,
            )
            session.add(payment)
            session.flush()
    except IntegrityError:
        return False
    applied = min(amount_minor, account.balance_minor)
    credited = amount_minor - applied
    account.balance_minor -= applied
    account.credit_minor += credited
    account.minimum_due_minor = max(0, account.minimum_due_minor - amount_minor)
    account.past_due_minor = max(0, account.past_due_minor - amount_minor)
    session.flush()
    _audit(
        session,
        account,
        "payment.posted",
        {
            "payment_id": payment.id,
            "amount_minor": amount_minor,
            "currency": account.currency,
            "call_sid": call_sid,
            "confirmation": code[:100],
            "credited_minor": credited,
        },
        now,
    )
    return True


def _code_key(call_sid: str, code: str) -> str:
    """The key of a result not tied to a <Pay> token: the confirmation code, hashed when
    long, so no code's length can stop a charged payment from posting."""
    if len(code) <= 64:
        return f"ivr:{call_sid}:{code}"
    return f"ivr:{call_sid}:sha256:{hashlib.sha256(code.encode()).hexdigest()}"


def _last4(masked: str | None) -> str | None:
    """Exactly four ASCII digits from the masked card number Twilio sends, or nothing."""
    digits = "".join(ch for ch in (masked or "") if ch in "0123456789")
    return digits[-4:] if len(digits) >= 4 else None


def _save_promise(
    session: Session,
    account: CardAccount,
    effect: flow.SavePromise,
    call_sid: str,
    now: dt.datetime,
) -> str:
    promise = PromiseToPay(
        account_id=account.id,
        amount_minor=effect.amount_minor,
        currency=account.currency,
        promised_date=effect.date,
        status=PromiseStatus.PENDING,
        source=Source.IVR,
        call_sid=call_sid,
        created_at=now,
    )
    session.add(promise)
    session.flush()
    _pause_reminders(account, effect.date)
    _audit(
        session,
        account,
        "promise.created",
        {
            "promise_id": promise.id,
            "amount_minor": effect.amount_minor,
            "date": effect.date.isoformat(),
            "call_sid": call_sid,
        },
        now,
    )
    return f"P{promise.id:06d}"


def _save_plan(
    session: Session, account: CardAccount, effect: flow.SavePlan, call_sid: str, now: dt.datetime
) -> str:
    plan = RepaymentPlan(
        account_id=account.id,
        instalment_count=effect.count,
        total_minor=account.balance_minor,
        currency=account.currency,
        start_date=effect.start,
        status=PlanStatus.ACTIVE,
        source=Source.IVR,
        call_sid=call_sid,
        created_at=now,
    )
    remaining = account.balance_minor
    for sequence in range(1, effect.count + 1):
        amount = min(effect.instalment_minor, remaining) if sequence < effect.count else remaining
        remaining -= amount
        plan.instalments.append(
            PlanInstalment(
                sequence=sequence,
                due_date=_add_months(effect.start, sequence - 1),
                amount_minor=amount,
                status=InstalmentStatus.DUE,
            )
        )
    session.add(plan)
    session.flush()
    _pause_reminders(account, plan.instalments[-1].due_date)
    _audit(
        session,
        account,
        "plan.created",
        {
            "plan_id": plan.id,
            "count": effect.count,
            "instalment_minor": effect.instalment_minor,
            "start": effect.start.isoformat(),
            "call_sid": call_sid,
        },
        now,
    )
    return f"L{plan.id:06d}"


def _audit(
    session: Session,
    account: CardAccount,
    action: str,
    data: Mapping[str, object],
    now: dt.datetime,
) -> None:
    """An audit event about an account, by the line."""
    audit.record(
        session,
        actor=ACTOR,
        action=action,
        entity_type="card_account",
        entity_id=account.account_number,
        data=data,
        now=now,
    )


def _pause_reminders(account: CardAccount, until: dt.date) -> None:
    if account.reminders_paused_until is None or account.reminders_paused_until < until:
        account.reminders_paused_until = until


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    return dt.date(day.year + month_index // 12, month_index % 12 + 1, min(day.day, 28))


def _open_case(
    session: Session,
    account: CardAccount,
    kind: str,
    call: CallRecord,
    state: CallState,
    now: dt.datetime,
) -> Case:
    case_row = Case(
        account_id=account.id,
        kind=CaseKind(kind),
        status=CaseStatus.OPEN,
        source=Source.IVR,
        call_sid=call.call_sid,
        opened_at=now,
        summary=f"Opened by the caller on the phone line; path: {' > '.join(state.path)}",
    )
    session.add(case_row)
    session.flush()
    call.case_id = case_row.id
    if kind == "dispute" and AccountFlag.DISPUTE not in account.flag_set:
        # A dispute stops collection calls on the account until it is resolved.
        account.flags.append(
            AccountFlagRow(flag=AccountFlag.DISPUTE, source=Source.IVR, set_at=now)
        )
    _audit(
        session,
        account,
        "case.opened",
        {"case_id": case_row.id, "kind": kind, "call_sid": call.call_sid},
        now,
    )
    return case_row


def _opt_out(session: Session, caller: str, call_sid: str, now: dt.datetime) -> None:
    """Stop calls to this number, whoever it is on file for, at once."""
    phones = session.scalars(select(Phone).where(Phone.e164 == caller)).all()
    for phone in phones:
        if phone.opted_out_at is None:
            phone.opted_out_at, phone.opted_out_source = now, Source.IVR
        phone.autodial_consent = False
        phone.consent_source, phone.consent_changed_at = Source.IVR, now
    audit.record(
        session,
        actor=ACTOR,
        action="phone.opted-out",
        entity_type="phone",
        entity_id=caller[-4:],
        data={"call_sid": call_sid, "rows": len(phones)},
        now=now,
    )


def _request_callback(
    session: Session,
    config: LineConfig,
    account: CardAccount,
    caller: str,
    call_sid: str,
    now: dt.datetime,
) -> None:
    due = config.agent_hours.next_opening(now, config.timezone) or now
    phone = session.scalars(
        select(Phone).where(Phone.e164 == caller, Phone.cardholder_id == account.cardholder_id)
    ).first()
    attempt = ContactAttempt(
        direction=Direction.OUTBOUND,
        account_id=account.id,
        phone_id=phone.id if phone else None,
        number=caller[:64],
        status=AttemptStatus.PLANNED,
        due_at=due,
        disposition="callback-requested",
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    _audit(
        session,
        account,
        "callback.requested",
        {"attempt_id": attempt.id, "due_at": due.isoformat(), "call_sid": call_sid},
        now,
    )
