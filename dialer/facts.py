"""The contact policy's facts, read from the database in bulk: one batch of accounts at a
time, a handful of statements per batch whatever its size (never one per account).

For each account of a batch: the account and its cardholder's address, its flags, whether
a dispute is open, the cardholder's numbers (with opt-out, consent, review and allowed
hours), every recent contact with the cardholder (outbound attempts about any of their
accounts, and verified inbound calls: conversations), the campaign calls already placed on
it, and its open attempt if one is queued or under way. The caller's session; read only.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from phonenumbers import NumberParseException
from sqlalchemy import (
    ARRAY,
    Connection,
    Integer,
    String,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import NullType

from dialer.history import HISTORY_DAYS, IN_FLIGHT, is_conversation, outcome_of
from dialer.policy import (
    AccountFacts,
    Attempt,
    Channel,
    LocalHours,
    PhoneFacts,
    candidate_zones,
)
from dialer.schedule import PastCall
from hotline.contacts import CALLBACK_REQUESTED
from hotline.enums import (
    AccountFlag,
    AttemptStatus,
    CaseKind,
    CaseStatus,
    Direction,
    TextStatus,
)
from hotline.models import (
    OPEN_ATTEMPT_STATUSES,
    AccountFlagRow,
    CardAccount,
    Cardholder,
    Case,
    ContactAttempt,
    IvrCall,
    Phone,
    TextMessage,
)
from hotline.phones import ZONES_VERSION, time_zones_for
from hotline.profiles import AttemptOutcome

OPEN_CASE = (CaseStatus.OPEN, CaseStatus.IN_PROGRESS)
# A text counts from the moment it is claimed for sending: one whose sending is unknown
# (the sender died) may have gone, and the caps err towards counting.
TEXTS_COUNTED = (TextStatus.SENDING, TextStatus.SENT)
# When a call counts for the caps, the first known of: when the carrier took it, the slot
# its claim was placed at (a call in flight), when it started (an agent's), when it was
# due. Not the due time first: a call due before midnight and placed after it, or placed
# days late, counts on the day it went (plan_sets.py's busy holders read the same).
HISTORY_TIME = (
    ContactAttempt.placed_at,
    ContactAttempt.slot_at,
    ContactAttempt.started_at,
    ContactAttempt.due_at,
)


def _among(column: Any, dialect: str) -> ColumnElement[bool]:
    """`column IN` the ids bound as `ids_<column>` (by `_ids`); on PostgreSQL one array
    parameter (`= ANY`), so the statement is the same text whatever the batch's size
    (psycopg prepares it once) and cheap to send: written as the array's text ('{1,2,3}'),
    which the driver sends as it is, where a list would be quoted element by element in
    Python.

    The parameter is untyped (no `::VARCHAR` first), so PostgreSQL reads it as the array
    once, when it is bound: cast from a VARCHAR it was parsed again for every row a
    sequential scan filtered (account_flag: 206 ms a batch of 2,000 against 0.9 ms)."""
    name = "ids_" + column.key
    result: ColumnElement[bool]
    if dialect == "postgresql":
        result = column == any_(cast(bindparam(name, type_=NullType()), ARRAY(Integer)))
    else:
        # On SQLite the ids as one JSON array, read by json_each: an expanding IN renders a
        # placeholder per id into the statement on every execution (a tenth of a planning
        # run over a thousand accounts read one by one).
        listed: Any = select(literal_column("value")).select_from(
            func.json_each(bindparam(name, type_=String()))
        )
        result = column.in_(listed.scalar_subquery())
    return result


def _ids(ids: Sequence[int], dialect: str) -> str:
    """The value of an `_among` parameter."""
    joined = ",".join(map(str, ids))
    return "{" + joined + "}" if dialect == "postgresql" else "[" + joined + "]"


@dataclass
class Batch:
    cases: list[AccountCase]
    # (phone id, zones text, phonenumbers version) for numbers whose zones were looked up
    # here: the planner stores them, so the next run need not look them up again.
    zone_updates: list[dict[str, Any]]


@dataclass
class AccountCase:
    """Everything the planner needs about one account."""

    account_id: int
    cardholder_id: int
    tier_id: int | None
    facts: AccountFacts
    phones: list[PhoneFacts] = field(default_factory=list)
    phone_ids: dict[str, int] = field(default_factory=dict)
    history: list[Attempt] = field(default_factory=list)
    past_calls: list[PastCall] = field(default_factory=list)
    # (attempt id, status, campaign id, tier id) of its open campaign attempt, if any.
    open_attempt: tuple[int, AttemptStatus, int | None, int | None] | None = None
    # A callback the cardholder asked for is queued: the campaign does not call on top.
    callback_queued: bool = False


def _accounts(ids: ColumnElement[bool]) -> Any:
    """Each account with its cardholder's address, and whether it has an open dispute."""
    dispute = (
        select(Case.id)
        .where(
            Case.account_id == CardAccount.id,
            Case.kind == CaseKind.DISPUTE,
            Case.status.in_(OPEN_CASE),
        )
        .exists()
    )
    return (
        select(
            CardAccount.id,
            CardAccount.account_number,
            CardAccount.cardholder_id,
            CardAccount.tier_id,
            CardAccount.past_due_minor,
            CardAccount.days_past_due,
            CardAccount.reminders_paused_until,
            Cardholder.country,
            Cardholder.address_region,
            dispute,
        )
        .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
        .where(ids)
    )


def account_batches(
    connection: Connection, tier_ids: Sequence[int], countries: Sequence[str], size: int
) -> list[list[int]]:
    """The ids of the accounts in these tiers with an address in these countries, in
    batches of `size` (by id, so a batch's rows sit together on disk)."""
    ids = connection.scalars(
        select(CardAccount.id)
        .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
        .where(CardAccount.tier_id.in_(tier_ids), Cardholder.country.in_(countries))
        .order_by(CardAccount.id)
    ).all()
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


_NO_FLAGS: frozenset[AccountFlag] = frozenset()


@dataclass(frozen=True)
class _Statements:
    """The loader's statements, built once per dialect: the tick loads one account's facts
    before every call, and building its statements afresh each time cost more than running
    them. Ids are bound as `ids_<column>` (`_ids`), the history's start as `since`."""

    accounts: Any
    flags: Any
    phones: Any
    holders_accounts: Any  # the cardholders' accounts (id -> account number)
    holders_of: Any  # accounts' cardholders
    history: Any
    texts: Any
    inbound: Any


@functools.cache
def _statements(dialect: str) -> _Statements:
    since = bindparam("since", type_=ContactAttempt.due_at.type)
    placed_at = func.coalesce(*HISTORY_TIME)
    sent_at = func.coalesce(TextMessage.sent_at, TextMessage.claimed_at)
    return _Statements(
        accounts=_accounts(_among(CardAccount.id, dialect)),
        flags=select(AccountFlagRow.account_id, AccountFlagRow.flag).where(
            _among(AccountFlagRow.account_id, dialect)
        ),
        phones=select(
            Phone.id,
            Phone.cardholder_id,
            Phone.e164,
            Phone.phone_type,
            Phone.autodial_consent,
            Phone.opted_out_at.is_not(None),
            Phone.bad_number,
            Phone.removed_at.is_not(None),
            Phone.under_review_at.is_not(None),
            Phone.allowed_hours_start,
            Phone.allowed_hours_end,
            Phone.time_zones,
            Phone.time_zones_version,
        )
        .where(_among(Phone.cardholder_id, dialect))
        # The primary number first: the policy keeps the order, the dialer dials the first.
        .order_by(Phone.cardholder_id, Phone.is_primary.desc(), Phone.id),
        holders_accounts=select(CardAccount.id, CardAccount.account_number).where(
            _among(CardAccount.cardholder_id, dialect)
        ),
        holders_of=select(CardAccount.id, CardAccount.cardholder_id).where(
            _among(CardAccount.id, dialect)
        ),
        history=select(
            ContactAttempt.id,
            ContactAttempt.account_id,
            ContactAttempt.campaign_id,
            ContactAttempt.tier_id,
            ContactAttempt.number,
            ContactAttempt.status,
            ContactAttempt.answered_by,
            ContactAttempt.disposition,
            *HISTORY_TIME,
        ).where(
            _among(ContactAttempt.account_id, dialect),
            ContactAttempt.direction == Direction.OUTBOUND,
            # Recent calls, and any still open however old (a callback due next week).
            (placed_at >= since) | ContactAttempt.status.in_(OPEN_ATTEMPT_STATUSES),
        ),
        texts=select(TextMessage.account_id, TextMessage.number, sent_at).where(
            _among(TextMessage.account_id, dialect),
            TextMessage.status.in_(TEXTS_COUNTED),
            sent_at >= since,
        ),
        inbound=select(IvrCall.account_id, IvrCall.from_number, IvrCall.started_at).where(
            _among(IvrCall.account_id, dialect),
            IvrCall.verified.is_(True),
            IvrCall.started_at >= since,
        ),
    )


def load_cases(
    connection: Connection,
    account_ids: Sequence[int],
    now: dt.datetime,
    *,
    not_counting: Collection[int] = (),
) -> Batch:
    """The facts of these accounts, in id order.

    `not_counting`: attempts left out of the contact history (still an account's open
    attempt): the claimed calls the dialer asks about at their slots. A claim is in flight
    by its status, and counted as a placed call it would use up a place under its own cap
    (the 7th call Reg F allows refused as the 8th).

    Rows are fetched whole (iterating a result fetches row by row) and unpacked by
    position, and a time is fetched only
    where its value matters (an opt-out, a removal, a review need only be there): the
    per-row cost is most of a large run's."""
    dialect = connection.dialect.name
    statements = _statements(dialect)
    since = now - dt.timedelta(days=HISTORY_DAYS)
    ids = _ids(account_ids, dialect)
    flags: dict[int, set[AccountFlag]] = defaultdict(set)
    for account_id, flag in connection.execute(statements.flags, {"ids_account_id": ids}).all():
        flags[account_id].add(flag)
    cases, by_holder = _load_accounts(connection, statements, ids, flags)
    holders = list(by_holder)
    updates = _add_phones(connection, statements, holders, by_holder)
    numbers = _add_history(
        connection, statements, holders, by_holder, cases, since, frozenset(not_counting)
    )
    _add_texts(connection, statements, numbers, by_holder, since)
    _add_inbound(connection, statements, list(cases), cases, since)
    return Batch([cases[i] for i in sorted(cases)], updates)


def load_zones(connection: Connection, account_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Each account's candidate time zones (policy.candidate_zones), from its address and
    its cardholder's numbers alone: two statements, where a whole case also reads the
    flags and every recent contact (the texts job asks for zones on every run while a
    reminder's day is coming)."""
    dialect = connection.dialect.name
    statements = _statements(dialect)
    cases, by_holder = _load_accounts(connection, statements, _ids(account_ids, dialect), {})
    _add_phones(connection, statements, list(by_holder), by_holder)
    return {i: candidate_zones(c.facts, c.phones) for i, c in cases.items()}


def _load_accounts(
    connection: Connection,
    statements: _Statements,
    ids: Any,
    flags: dict[int, set[AccountFlag]],
) -> tuple[dict[int, AccountCase], dict[int, list[AccountCase]]]:
    """The accounts' cases (no numbers or contacts yet), by id and by cardholder."""
    rows = connection.execute(statements.accounts, {"ids_id": ids}).all()
    cases: dict[int, AccountCase] = {}
    by_holder: dict[int, list[AccountCase]] = defaultdict(list)
    for (
        account_id,
        account_number,
        holder_id,
        tier_id,
        past_due_minor,
        days_past_due,
        paused_until,
        country,
        region,
        dispute,
    ) in rows:
        flagged = flags.get(account_id)
        case = AccountCase(
            account_id,
            holder_id,
            tier_id,
            AccountFacts(
                account_number,
                frozenset(flagged) if flagged else _NO_FLAGS,
                bool(dispute),
                past_due_minor,
                days_past_due,
                paused_until,
                country,
                region,
            ),
        )
        cases[account_id] = case
        by_holder[holder_id].append(case)
    return cases, by_holder


def _add_phones(
    connection: Connection,
    statements: _Statements,
    holders: list[int],
    by_holder: dict[int, list[AccountCase]],
) -> list[dict[str, Any]]:
    updates: list[dict[str, Any]] = []
    zones_of: dict[str, tuple[str, ...]] = {}  # each stored text split once a batch
    for (
        phone_id,
        holder_id,
        e164,
        phone_type,
        autodial_consent,
        opted_out,
        bad_number,
        removed,
        under_review,
        hours_start,
        hours_end,
        stored,
        version,
    ) in connection.execute(
        statements.phones,
        {"ids_cardholder_id": _ids(holders, connection.dialect.name)},
    ).all():
        hours = (
            LocalHours(hours_start, hours_end)
            if hours_start is not None and hours_end is not None
            else None
        )
        if stored is not None and version == ZONES_VERSION:
            zones = zones_of.get(stored)
            if zones is None:
                zones = zones_of[stored] = tuple(stored.split())
        else:
            try:
                zones = time_zones_for(e164)
            except NumberParseException:
                zones = ()
            updates.append(
                {"phone_id": phone_id, "zones": " ".join(zones), "version": ZONES_VERSION}
            )
        facts = PhoneFacts(
            e164,
            phone_type,
            autodial_consent,
            bool(opted_out),
            bad_number,
            bool(removed),
            bool(under_review),
            hours,
            zones,
        )
        for case in by_holder[holder_id]:
            case.phones.append(facts)
            case.phone_ids[e164] = phone_id
    return updates


def _add_history(
    connection: Connection,
    statements: _Statements,
    holders: list[int],
    by_holder: dict[int, list[AccountCase]],
    cases: dict[int, AccountCase],
    since: dt.datetime,
    not_counting: frozenset[int],
) -> dict[int, tuple[str, int]]:
    """Outbound attempts about any of the cardholders' accounts (the caps count per person
    and per number too), and each account's open attempt; returns those accounts (id ->
    account number, cardholder id)."""
    dialect = connection.dialect.name
    # The cardholders' accounts first (by the cardholder index), then their attempts by the
    # (account, started) index: joining on the cardholder would scan every attempt.
    numbers = dict(
        connection.execute(
            statements.holders_accounts, {"ids_cardholder_id": _ids(holders, dialect)}
        ).all()
    )
    holder_of = {c.account_id: c.cardholder_id for cs in by_holder.values() for c in cs}
    if len(holder_of) < len(numbers):
        others = [i for i in numbers if i not in holder_of]
        holder_of.update(
            connection.execute(statements.holders_of, {"ids_id": _ids(others, dialect)}).all()
        )
    for a in connection.execute(
        statements.history, {"ids_account_id": _ids(list(numbers), dialect), "since": since}
    ).all():
        mine = cases.get(a.account_id)
        if a.status in OPEN_ATTEMPT_STATUSES and mine is not None:
            # A callback asked for (by the cardholder on the line, for an agent; or
            # scheduled by an agent, for the dialer to place): not called on top of.
            if a.campaign_id is None or a.disposition == CALLBACK_REQUESTED:
                mine.callback_queued = True
            else:
                mine.open_attempt = (a.id, a.status, a.campaign_id, a.tier_id)
        if a.id in not_counting:
            continue
        outcome = outcome_of(a.status, a.answered_by, a.disposition)
        when = a.placed_at or a.slot_at or a.started_at or a.due_at
        if outcome is None or when is None or when < since:
            continue
        attempt = Attempt(
            placed_at=when,
            phone=a.number,
            outcome=outcome,
            accounts=frozenset({numbers[a.account_id]}),
            conversation=is_conversation(outcome, a.disposition),
            live=a.status in IN_FLIGHT,
        )
        for case in by_holder[holder_of[a.account_id]]:
            case.history.append(attempt)
        if mine is not None and a.campaign_id is not None:
            mine.past_calls.append(PastCall(when, outcome))
    return {i: (numbers[i], holder_of[i]) for i in numbers}


def _add_texts(
    connection: Connection,
    statements: _Statements,
    accounts: dict[int, tuple[str, int]],
    by_holder: dict[int, list[AccountCase]],
    since: dt.datetime,
) -> None:
    """The texts sent to the cardholders: the caps that count texts count them."""
    if not accounts:
        return
    for account_id, number, when in connection.execute(
        statements.texts,
        {"ids_account_id": _ids(list(accounts), connection.dialect.name), "since": since},
    ):
        account_number, holder = accounts[account_id]
        attempt = Attempt(
            placed_at=when,
            phone=number,
            outcome=AttemptOutcome.NO_ANSWER,
            accounts=frozenset({account_number}),
            channel=Channel.SMS,
        )
        for case in by_holder[holder]:
            case.history.append(attempt)


def _add_inbound(
    connection: Connection,
    statements: _Statements,
    account_ids: list[int],
    cases: dict[int, AccountCase],
    since: dt.datetime,
) -> None:
    """A verified inbound call is a conversation about its account (the pause applies)."""
    for account_id, from_number, started_at in connection.execute(
        statements.inbound,
        {"ids_account_id": _ids(account_ids, connection.dialect.name), "since": since},
    ).all():
        case = cases.get(account_id or 0)
        if case is None:
            continue
        case.history.append(
            Attempt(
                placed_at=started_at,
                phone=from_number,
                outcome=AttemptOutcome.CONNECTED,
                accounts=frozenset({case.facts.account_number}),
                conversation=True,
                direction=Direction.INBOUND,
            )
        )
