"""Planning the plain majority of a portfolio as sets, in SQL: most accounts are never read
into Python one by one.

Most accounts in a campaign's tiers have no recent contact at all. For those, the
schedule (dialer/schedule.py) depends only on the account's *shape*: its tier, address,
flags, open dispute, whether anything is due, reminder pause, and, number by number in
the order dialled, each number's type, consent, blocks, allowed hours and zones; never on
the account number or the digits of a number (dialer.schedule.ScheduleMemo relies on the
same fact). So one planning run here:

1. `plan_busy`: the cardholders who are *not* plain: any outbound attempt about any of
   their accounts placed within the history window or still open (a planned campaign
   attempt aside: the planner replaces or keeps it), a counted text, a verified inbound
   call. They, and accounts whose numbers are odd (zones not yet stored, more than
   MAX_NUMBERS numbers, not E.164), are left to the planner's account-by-account path.
2. `plan_stage`: every other account of the running campaigns' tiers and countries, one
   row each, with its shape as a text key, its first MAX_NUMBERS numbers (ids, E.164) and
   its planned campaign attempt, if any.
3. Per distinct shape (a few hundred in a million accounts): one account of it, its facts
   read by the planner's own loader (dialer/facts.py) and scheduled exactly as the
   planner would; the decision kept with its numbers and days past due as tokens, and
   checked: filled in with that account's own values it must be, byte for byte, the
   decision the planner writes for it. A shape that fails the check, or whose account
   turns out not plain after all (a call placed meanwhile), goes back to the
   account-by-account path whole.
4. Then, per row, in SQL, exactly what the planner does for one account: a planned
   attempt that is no longer due, or for another campaign or tier, is cancelled (with the
   planner's reasons); one that stays is counted; a due account without one gets a
   `planned` attempt (ON CONFLICT DO NOTHING on the one-open-attempt index, as the
   planner's inserts), with the number at the shape's position and its decision filled in.
   With a pacing bound, the set's best calls are handed to the planner instead, to compete
   with the rest's for each campaign's room (dialer/queue_room.py).

The temporary tables live for the run and are dropped at its end. Read and written in the
caller's transaction; never committed here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    exists,
    insert,
    literal_column,
    select,
    table,
    text,
)

from dialer.campaign_store import StoredCampaign
from dialer.facts import HISTORY_TIME, OPEN_CASE, TEXTS_COUNTED, AccountCase, load_cases
from dialer.history import HISTORY_DAYS
from dialer.queue_room import Rank
from dialer.schedule import Schedule, renumbered
from hotline.contacts import CALLBACK_REQUESTED
from hotline.enums import AccountFlag, AttemptStatus, CaseKind, Direction, TextStatus
from hotline.models import OPEN_ATTEMPT_STATUSES, OPEN_CAMPAIGN_ATTEMPT, ContactAttempt, table_of
from hotline.phones import ZONES_VERSION, mask_phone

# Accounts whose cardholder has more numbers than this take the account-by-account path.
MAX_NUMBERS = 4
# Representatives read per batch (dialer/facts.py reads in bulk).
REPRESENTATIVES_PER_BATCH = 500

_ATTEMPTS = table_of(ContactAttempt)
_NEVER_PLACED = (AttemptStatus.PLANNED, AttemptStatus.CANCELED, AttemptStatus.SKIPPED)
_POSITIONS = range(1, MAX_NUMBERS + 1)

# What the planner does with one account, given its shape's schedule: (the campaign it
# belongs to, if running; the schedule, if any), decided by dialer.planner.
ShapePlan = tuple[StoredCampaign | None, Schedule | None]


@dataclass(frozen=True)
class ShapeOutcome:
    """What a shape's accounts get."""

    campaign_id: int | None
    due_at: dt.datetime | None  # None: not due (then `reason` says why)
    position: int | None  # which of the account's numbers is dialled (1-based)
    template: str | None  # the decision, with tokens for the numbers and days past due
    reason: str | None


@dataclass
class SetReport:
    considered: int = 0
    planned: int = 0
    already_open: int = 0
    cancelled: int = 0
    not_due: dict[str, int] | None = None
    # Whether the queues' room was read here (after the set's cancellations), and what it
    # was: None, no bound (the set's calls are then inserted here).
    room_read: bool = False
    room: dict[int, int] | None = None
    # With a bound: the set's calls competing for it, (campaign, rank, row), at most each
    # campaign's room of them, the best; the planner inserts those that win a place.
    candidates: list[tuple[int, Rank, dict[str, Any]]] | None = None
    # Due, but not among the candidates: no room left in the campaign's queue.
    queue_full: int = 0


def _token_number(position: int) -> str:
    # An E.164-shaped stand-in for the number at `position`: its mask ('+9*******0001')
    # is what the template holds, and what SQL replaces with the real number's mask.
    return f"+9{position:011d}"


_DPD_TOKEN = "@days-past-due@"


def _mask_sql(column: str) -> str:
    """hotline.phones.mask_phone of an E.164 number, in SQL (both dialects): the first two
    characters, a star for each of the middle ones, the last four."""
    return (
        f"substr({column}, 1, 2) || substr('****************', 1, length({column}) - 6)"
        f" || substr({column}, length({column}) - 3)"
    )


def _digits_only(column: str, dialect: str) -> str:
    """SQL: `column` is '+' and digits only (as mask_phone's E.164 branch wants)."""
    if dialect == "postgresql":
        return f"{column} ~ '^[+][0-9]+$'"
    return f"substr({column}, 2) NOT GLOB '*[^0-9]*'"


def _flags_sql() -> str:
    # The account's flags as a fixed-order string of 0/1, one place per flag.
    places = " || ".join(
        f"CAST(max(CASE WHEN flag = '{flag.value}' THEN 1 ELSE 0 END) AS TEXT)"
        for flag in AccountFlag
    )
    return f"SELECT account_id, {places} AS flags FROM account_flag GROUP BY account_id"


def _busy_sql() -> str:
    open_statuses = ", ".join(f"'{s.value}'" for s in OPEN_ATTEMPT_STATUSES)
    never = ", ".join(f"'{s.value}'" for s in _NEVER_PLACED)
    # The texts the caps count (dialer.facts.TEXTS_COUNTED), by the (status, sent_at) index:
    # every one still sending, whenever claimed, and those sent since.
    assert set(TEXTS_COUNTED) == {TextStatus.SENDING, TextStatus.SENT}
    history_time = ", ".join(f"a.{column.key}" for column in HISTORY_TIME)
    return f"""
CREATE TEMPORARY TABLE plan_busy AS
SELECT ca.cardholder_id AS cardholder_id
FROM contact_attempt a JOIN card_account ca ON ca.id = a.account_id
WHERE a.direction = '{Direction.OUTBOUND.value}' AND (
  (a.status NOT IN ({never}) AND (a.ended_at >= :since OR a.ended_at IS NULL)
   AND COALESCE({history_time}) >= :since)
  OR (a.status IN ({open_statuses}) AND NOT (
    a.status = '{AttemptStatus.PLANNED.value}' AND a.campaign_id IS NOT NULL
    AND COALESCE(a.disposition, '') <> '{CALLBACK_REQUESTED}')))
UNION
SELECT ca.cardholder_id FROM text_message t JOIN card_account ca ON ca.id = t.account_id
WHERE t.status = '{TextStatus.SENDING.value}' OR (t.status = '{TextStatus.SENT.value}'
  AND (t.sent_at >= :since OR (t.sent_at IS NULL AND t.claimed_at >= :since)))
UNION
SELECT ca.cardholder_id FROM ivr_call i JOIN card_account ca ON ca.id = i.account_id
WHERE i.verified AND i.started_at >= :since
"""


def _stage_sql(dialect: str) -> str:
    """The stage's rows (parameters: the tiers and countries, expanding)."""

    def flag(condition: str) -> str:
        return f"CASE WHEN {condition} THEN '1' ELSE '0' END"

    signature = " || ',' || ".join(
        [
            "p.phone_type",
            flag("p.autodial_consent"),
            flag("p.opted_out_at IS NOT NULL"),
            flag("p.bad_number"),
            flag("p.removed_at IS NOT NULL"),
            flag("p.under_review_at IS NOT NULL"),
            "COALESCE(CAST(p.allowed_hours_start AS TEXT), '')",
            "COALESCE(CAST(p.allowed_hours_end AS TEXT), '')",
            "p.time_zones",
        ]
    )
    odd = (
        f"p.time_zones IS NULL OR p.time_zones_version IS NULL "
        f"OR p.time_zones_version <> '{ZONES_VERSION}' OR length(p.e164) < 8 "
        f"OR substr(p.e164, 1, 1) <> '+' OR NOT ({_digits_only('p.e164', dialect)})"
    )
    per_position = ",\n    ".join(
        f"max(CASE WHEN pos = {k} THEN sig END) AS s{k}, "
        f"max(CASE WHEN pos = {k} THEN id END) AS p{k}, "
        f"max(CASE WHEN pos = {k} THEN e164 END) AS e{k}"
        for k in _POSITIONS
    )
    shape = " || '|' || ".join(
        [
            "CAST(ca.tier_id AS TEXT)",
            "ch.country",
            "COALESCE(ch.address_region, '')",
            "COALESCE(f.flags, '')",
            "CASE WHEN d.account_id IS NULL THEN '0' ELSE '1' END",
            flag("ca.past_due_minor > 0 AND ca.days_past_due > 0"),
            "COALESCE(CAST(ca.reminders_paused_until AS TEXT), '')",
            "CAST(h.n AS TEXT)",
            *(f"COALESCE(h.s{k}, '')" for k in _POSITIONS),
        ]
    )
    open_case = ", ".join(f"'{status.value}'" for status in OPEN_CASE)
    dispute = (
        f"SELECT DISTINCT account_id FROM service_case WHERE kind = '{CaseKind.DISPUTE.value}' "
        f"AND status IN ({open_case})"
    )
    candidates = (
        "SELECT ca.id, ca.cardholder_id FROM card_account ca "
        "JOIN cardholder ch ON ch.id = ca.cardholder_id "
        "WHERE ca.tier_id IN :tiers AND ch.country IN :countries"
    )
    # A busy cardholder's numbers are left out before they are ranked and grouped; their
    # accounts, without a holder row, with them.
    return f"""
CREATE TEMPORARY TABLE plan_stage AS
WITH ranked AS (
  SELECT p.cardholder_id, p.id, p.e164,
    row_number() OVER (PARTITION BY p.cardholder_id ORDER BY p.is_primary DESC, p.id) AS pos,
    {signature} AS sig,
    CASE WHEN {odd} THEN 1 ELSE 0 END AS odd
  FROM phone p
  WHERE p.cardholder_id IN (SELECT cardholder_id FROM ({candidates}) c)
    AND NOT EXISTS (SELECT 1 FROM plan_busy b WHERE b.cardholder_id = p.cardholder_id)
), holder AS (
  SELECT cardholder_id, count(*) AS n, max(odd) AS odd,
    {per_position}
  FROM ranked GROUP BY cardholder_id
)
SELECT ca.id AS account_id, ca.tier_id AS tier_id, ca.days_past_due AS dpd,
  h.n AS numbers, h.odd AS odd,
  {", ".join(f"h.p{k} AS p{k}, h.e{k} AS e{k}" for k in _POSITIONS)},
  op.id AS open_id, op.campaign_id AS open_campaign, op.tier_id AS open_tier,
  {shape} AS shape
FROM card_account ca
JOIN cardholder ch ON ch.id = ca.cardholder_id
JOIN holder h ON h.cardholder_id = ca.cardholder_id
LEFT JOIN ({_flags_sql()}) f ON f.account_id = ca.id
LEFT JOIN ({dispute}) d ON d.account_id = ca.id
LEFT JOIN contact_attempt op ON op.account_id = ca.id AND op.campaign_id IS NOT NULL
  AND op.status = '{AttemptStatus.PLANNED.value}'
WHERE ca.tier_id IN :tiers AND ch.country IN :countries
"""


# The stage's rows that are not plain after all: numbers odd, or too many of them. Deleted
# from the stage once it is made rather than filtered out in it: PostgreSQL estimates a
# filter on the holders' aggregates at a thousandth of the holders, and then joins a
# million of them to their accounts by nested loops.
_NOT_PLAIN_SQL = f"DELETE FROM plan_stage WHERE odd <> 0 OR numbers > {MAX_NUMBERS}"


_SHAPES = Table(
    "plan_shape",
    MetaData(),
    Column("shape", Text),
    Column("campaign_id", Integer),
    Column("due", Integer),
    Column("due_at", _ATTEMPTS.c.due_at.type),
    Column("position", Integer),
    Column("template", Text),
    prefixes=["TEMPORARY"],
)


# Rows written before PostgreSQL's statistics are brought up to date (ANALYZE) by a run
# that changed this many: autovacuum comes later, and until then the planner's estimates
# (a tier no account was in, no planned attempts) choose nested loops over a million rows.
ANALYZE_AFTER = 10_000
WORK_MEM = "64MB"


def analyze(connection: Connection, name: str) -> None:
    """PostgreSQL's statistics for table `name`, now (a temporary table never gets them
    otherwise). A role that does not own the table gets a warning, not an error."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"ANALYZE {name}"))


def _drop(connection: Connection) -> None:
    # Named in the temporary schema: never a table of the same name in the database's own.
    schema = "pg_temp" if connection.dialect.name == "postgresql" else "temp"
    for name in ("plan_shape", "plan_stage", "plan_busy"):
        connection.execute(text(f"DROP TABLE IF EXISTS {schema}.{name}"))


def staged(account_id: Any) -> Any:
    """SQL: the account `account_id` was planned here (valid until `finish`). NOT EXISTS,
    not NOT IN: PostgreSQL hashes a NOT IN list only if it fits in work_mem, and checks a
    million ids one by one against it otherwise; the stage's index answers it either way."""
    return exists(
        select(literal_column("1"))
        .select_from(table("plan_stage"))
        .where(literal_column("plan_stage.account_id") == account_id)
    )


def plan_plain(
    connection: Connection,
    tier_ids: Sequence[int],
    countries: Sequence[str],
    now: dt.datetime,
    decide: Callable[[AccountCase], ShapePlan],
    decision_of: Callable[[Schedule, StoredCampaign, AccountCase, Any], str],
    room_of: Callable[[], dict[int, int] | None],
) -> SetReport:
    """Plan the plain accounts of these tiers and countries (see the module's docstring).

    `decide` is the planner's own choice for one account (its campaign, if running, and
    its schedule); `decision_of(result, campaign, case, days_past_due)` the decision it
    stores (days_past_due: None for the account's own); `room_of()` the campaigns' queue
    room, read once the set's cancellations are made. `staged` tells the accounts
    planned here, until `finish` drops the run's tables: all in the caller's transaction."""
    report = SetReport(not_due={})
    _drop(connection)
    if not tier_ids or not countries:
        connection.execute(text("CREATE TEMPORARY TABLE plan_stage (account_id integer)"))
        return report
    since = now - dt.timedelta(days=HISTORY_DAYS)
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # A million rows sorted (each holder's numbers in order) and hashed (the shapes):
        # in memory, for this transaction only, rather than in temporary files.
        connection.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    connection.execute(
        text(_busy_sql()).bindparams(bindparam("since", since, type_=_ATTEMPTS.c.due_at.type))
    )
    # The stage asks it NOT EXISTS for every number: SQLite, without an index, scanned the
    # whole of it each time (a second a run over 10,000 accounts once most were called).
    connection.execute(text("CREATE INDEX plan_busy_holder ON plan_busy (cardholder_id)"))
    analyze(connection, "plan_busy")
    connection.execute(
        text(_stage_sql(dialect)).bindparams(
            bindparam("tiers", list(tier_ids), expanding=True),
            bindparam("countries", list(countries), expanding=True),
        )
    )
    connection.execute(text(_NOT_PLAIN_SQL))
    # For `staged`: whatever the estimates (a planned attempt the statistics have not seen
    # yet), a lookup by index, never a scan of the stage per row.
    connection.execute(text("CREATE INDEX plan_stage_account ON plan_stage (account_id)"))
    analyze(connection, "plan_stage")
    representatives = connection.execute(
        text("SELECT shape, min(account_id) FROM plan_stage GROUP BY shape")
    ).all()
    outcomes = _outcomes(connection, representatives, now, decide, decision_of)
    unsure = [shape for shape, outcome in outcomes.items() if outcome is None]
    if unsure:
        # Back to the account-by-account path, whole.
        connection.execute(
            text("DELETE FROM plan_stage WHERE shape IN :shapes").bindparams(
                bindparam("shapes", unsure, expanding=True)
            )
        )
    _SHAPES.create(connection)
    rows = [
        {
            "shape": shape,
            "campaign_id": o.campaign_id,
            "due": 1 if o.due_at is not None else 0,
            "due_at": o.due_at,
            "position": o.position,
            "template": o.template,
        }
        for shape, o in outcomes.items()
        if o is not None
    ]
    if rows:
        connection.execute(insert(_SHAPES), rows)
    reasons = {shape: o.reason for shape, o in outcomes.items() if o is not None}
    _count(connection, report, reasons)
    report.cancelled = _cancel(connection, now)
    report.room_read, report.room = True, room_of()
    if report.room is None:
        report.planned = _insert(connection, now)
    else:
        report.candidates = _candidates(connection, report, now)
    return report


def finish(connection: Connection) -> None:
    """Drop the run's temporary tables."""
    _drop(connection)


def _outcomes(
    connection: Connection,
    representatives: Sequence[Any],
    now: dt.datetime,
    decide: Callable[[AccountCase], ShapePlan],
    decision_of: Callable[[Schedule, StoredCampaign, AccountCase, Any], str],
) -> dict[str, ShapeOutcome | None]:
    """Each shape's outcome, from one account of it; None: not plannable as a set."""
    outcomes: dict[str, ShapeOutcome | None] = {}
    by_account = {account_id: shape for shape, account_id in representatives}
    ids = sorted(by_account)
    for start in range(0, len(ids), REPRESENTATIVES_PER_BATCH):
        batch = load_cases(connection, ids[start : start + REPRESENTATIVES_PER_BATCH], now)
        changed_zones = {u["phone_id"] for u in batch.zone_updates}
        for case in batch.cases:
            outcomes[by_account[case.account_id]] = _outcome(
                case, changed_zones, decide, decision_of
            )
    return outcomes


def _outcome(
    case: AccountCase,
    changed_zones: set[int],
    decide: Callable[[AccountCase], ShapePlan],
    decision_of: Callable[[Schedule, StoredCampaign, AccountCase, Any], str],
) -> ShapeOutcome | None:
    plain = (
        not case.history
        and not case.past_calls
        and not case.callback_queued
        and (case.open_attempt is None or case.open_attempt[1] is AttemptStatus.PLANNED)
        and not changed_zones.intersection(case.phone_ids.values())
        and 1 <= len(case.phones) <= MAX_NUMBERS
    )
    if not plain:
        return None
    campaign, result = decide(case)
    if campaign is None:
        return ShapeOutcome(None, None, None, None, "not in a running campaign")
    assert result is not None
    if result.due_at is None or result.decision is None or result.number is None:
        reason = str(result.first.reason or result.campaign_reason or "not due")
        return ShapeOutcome(campaign.id, None, None, None, reason)
    numbers = [p.e164 for p in case.phones]
    masks = [mask_phone(n) for n in numbers]
    if len(set(masks)) != len(masks):
        return None  # two numbers masked alike: the template could not tell them apart
    tokens = {n: _token_number(k) for k, n in enumerate(numbers, start=1)}
    template = decision_of(renumbered(result, tokens), campaign, case, _DPD_TOKEN)
    filled = _fill(template, masks, case.facts.days_past_due)
    if filled != decision_of(result, campaign, case, None):
        return None
    position = numbers.index(result.number) + 1
    return ShapeOutcome(campaign.id, result.due_at, position, template, None)


def _fill(template: str, masks: Sequence[str], days_past_due: int) -> str:
    """The template with one account's values, as the SQL in _insert fills it in."""
    filled = template
    for k in _POSITIONS:
        mask = masks[k - 1] if k <= len(masks) else ""
        filled = filled.replace(mask_phone(_token_number(k)), mask)
    return filled.replace(f'"{_DPD_TOKEN}"', str(days_past_due))


def _same(s: str = "s", h: str = "h") -> str:
    # The account's planned attempt is for the campaign and tier it belongs to now.
    return f"{s}.open_campaign = {h}.campaign_id AND COALESCE({s}.open_tier, -1) = {s}.tier_id"


def _wanted(s: str = "s", h: str = "h") -> str:
    # The account is due and has no planned attempt that stands: it gets one.
    return f"{h}.due = 1 AND ({s}.open_id IS NULL OR NOT ({_same(s, h)}))"


_JOINED = "FROM plan_stage s JOIN plan_shape h ON h.shape = s.shape"


def _count(connection: Connection, report: SetReport, reasons: dict[str, str | None]) -> None:
    assert report.not_due is not None
    for shape, accounts, staying in connection.execute(
        text(
            "SELECT s.shape, count(*), "
            f"sum(CASE WHEN s.open_id IS NOT NULL AND h.due = 1 AND {_same()} THEN 1 ELSE 0 END) "
            f"{_JOINED} GROUP BY s.shape"
        )
    ).all():
        report.considered += accounts
        report.already_open += int(staying or 0)
        reason = reasons.get(shape)
        if reason is not None:
            report.not_due[reason] = report.not_due.get(reason, 0) + accounts


def _cancel(connection: Connection, now: dt.datetime) -> int:
    """Cancel the planned attempts that no longer stand, with the planner's reasons: one
    UPDATE ... FROM (PostgreSQL, and SQLite from 3.33)."""
    result = connection.execute(
        text(
            f"UPDATE contact_attempt SET status = '{AttemptStatus.CANCELED.value}', "
            "disposition = c.why, ended_at = :now FROM ("
            "SELECT s.open_id AS id, CASE WHEN h.campaign_id IS NULL THEN 'left-campaign' "
            f"WHEN NOT ({_same()}) THEN 'tier-changed' ELSE 'not-due' END AS why "
            f"{_JOINED} "
            f"WHERE s.open_id IS NOT NULL AND NOT (h.due = 1 AND {_same()})) AS c "
            f"WHERE contact_attempt.id = c.id AND contact_attempt.status = "
            f"'{AttemptStatus.PLANNED.value}'"
        ).bindparams(bindparam("now", now, type_=_ATTEMPTS.c.ended_at.type))
    )
    return int(result.rowcount)


def _filled_sql() -> str:
    """SQL, per stage row joined with its shape: the number dialled (phone_id, number)
    and the decision filled in (what _fill does in Python, for the check)."""
    decision = "h.template"
    for k in _POSITIONS:
        decision = (
            f"replace({decision}, '{mask_phone(_token_number(k))}', "
            f"COALESCE({_mask_sql(f's.e{k}')}, ''))"
        )
    decision = f"replace({decision}, '\"{_DPD_TOKEN}\"', CAST(s.dpd AS TEXT))"
    phone_id = " ".join(f"WHEN {k} THEN s.p{k}" for k in _POSITIONS)
    number = " ".join(f"WHEN {k} THEN s.e{k}" for k in _POSITIONS)
    return (
        f"CASE h.position {phone_id} END AS phone_id, "
        f"CASE h.position {number} END AS number, {decision} AS decision"
    )


def _insert(connection: Connection, now: dt.datetime) -> int:
    """A planned attempt for every due account without one that stands (no bound)."""
    result = connection.execute(
        text(
            "INSERT INTO contact_attempt (direction, status, created_at, account_id, "
            "phone_id, number, decision, campaign_id, tier_id, due_at) "
            f"SELECT '{Direction.OUTBOUND.value}', '{AttemptStatus.PLANNED.value}', :now, "
            f"s.account_id, {_filled_sql()}, h.campaign_id, s.tier_id, h.due_at "
            # In account order, as every planner inserts: two at once then wait for each
            # other's rows in one order, never each for the other's (a deadlock).
            f"{_JOINED} WHERE {_wanted()} ORDER BY s.account_id "
            f"ON CONFLICT (account_id) WHERE {OPEN_CAMPAIGN_ATTEMPT} DO NOTHING"
        ).bindparams(bindparam("now", now, type_=_ATTEMPTS.c.created_at.type))
    )
    return int(result.rowcount)


def _candidates(
    connection: Connection, report: SetReport, now: dt.datetime
) -> list[tuple[int, Rank, dict[str, Any]]]:
    """Each campaign's best due calls, at most its room (report.room), as the planner's
    rows: the earliest due, then the lowest account (none of them recently contacted: the
    first two terms of their Rank); the rest counted in report.queue_full."""
    room = report.room or {}
    counted = f"SELECT h.campaign_id, count(*) {_JOINED} WHERE {_wanted()} GROUP BY h.campaign_id"
    wanted = {int(c): int(n) for c, n in connection.execute(text(counted)).all()}
    limits = {c: min(n, room.get(c, 0)) for c, n in wanted.items()}
    report.queue_full = sum(wanted.values()) - sum(limits.values())
    limits = {c: n for c, n in limits.items() if n > 0}
    if not limits:
        return []
    bound = " ".join(f"WHEN {c} THEN {n}" for c, n in sorted(limits.items()))
    found = connection.execute(
        text(
            "SELECT r.account_id, r.phone_id, r.number, r.decision, r.campaign_id, "
            "r.tier_id, r.due_at FROM (SELECT s.account_id, "
            f"{_filled_sql()}, h.campaign_id, s.tier_id, h.due_at, row_number() OVER "
            "(PARTITION BY h.campaign_id ORDER BY h.due_at, s.account_id) AS n "
            f"{_JOINED} WHERE {_wanted()} AND h.campaign_id IN "
            f"({', '.join(str(c) for c in sorted(limits))})) r "
            f"WHERE r.n <= CASE r.campaign_id {bound} END"
        ).columns(
            account_id=Integer(),
            phone_id=Integer(),
            number=Text(),
            decision=Text(),
            campaign_id=Integer(),
            tier_id=Integer(),
            due_at=_ATTEMPTS.c.due_at.type,
        )
    ).all()
    candidates = []
    for account_id, phone_id, number, decision, campaign_id, tier_id, due_at in found:
        row = {  # as dialer.planner._plan_one's rows
            "direction": Direction.OUTBOUND,
            "account_id": account_id,
            "phone_id": phone_id,
            "number": number,
            "campaign_id": campaign_id,
            "tier_id": tier_id,
            "status": AttemptStatus.PLANNED,
            "due_at": max(due_at, now),
            "decision": decision,
            "created_at": now,
        }
        candidates.append((campaign_id, Rank.of(row["due_at"], None, account_id), row))
    return candidates
