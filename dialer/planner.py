"""Planning: put each account in its tier, and queue the campaign calls that are due.

`plan(session, now)` is the planning job (the dialer's scheduler runs it; so can a
simulation, with a virtual clock): it never commits, the entry point does.

1. Tiers: each account's tier_id is set from its days past due (one UPDATE per tier).
2. Campaigns not running: their attempts still planned are cancelled.
3. For each account in a running campaign's tier (and each with a planned attempt), in
   batches read in bulk (dialer/facts.py): which campaign it belongs to (its tier and
   address), then dialer/schedule.py for the first instant within the horizon that both
   the contact policy and the tier's pacing allow. Due: a `planned` attempt with that
   due time, the number to dial and the decision. Not due (blocked, paid, paused by a
   promise, capped past the horizon): no attempt, and a planned one is cancelled. Moved
   to another tier or campaign: its planned attempt is cancelled and a new one queued.
   A campaign's queue takes at most what its pacing can place within the horizon
   (dialer/queue_room.py), the earliest due first; the rest wait for a later run.
4. At most one open campaign attempt per account: the partial unique index
   uq_contact_attempt_open_per_account decides, and inserts that lose to it (a second
   planner running at once) are skipped by ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, func, null, select, text, update
from sqlalchemy import case as sql_case
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from dialer import plan_changes, plan_sets
from dialer.campaign_store import StoredCampaign, cancel_planned, read_campaigns
from dialer.facts import AccountCase, load_cases
from dialer.plan_memo import PlanMemo
from dialer.queue_room import QUEUE_FULL, QUEUE_FULL_UNCHECKED, Places, Rank, queue_room
from dialer.schedule import Schedule, ScheduleMemo, schedule
from hotline import audit
from hotline.accounts import core
from hotline.enums import AttemptStatus, CampaignStatus, Direction
from hotline.models import (
    OPEN_ATTEMPT_STATUSES,
    OPEN_CAMPAIGN_ATTEMPT,
    CardAccount,
    Cardholder,
    ContactAttempt,
    DelinquencyTier,
    Phone,
    table_of,
)
from hotline.phones import mask_phone

BATCH_SIZE = 2000
# From this many accounts in the running campaigns' tiers, the plain ones are planned as
# sets (dialer/plan_sets.py).
SETS_FROM = 2000
# Calls are queued this far ahead: a daily run queues the day's calls at their due times.
HORIZON = dt.timedelta(hours=24)


@dataclass
class PlanReport:
    tiers_changed: int = 0
    accounts_considered: int = 0
    planned: int = 0
    already_open: int = 0
    cancelled: int = 0
    not_due: dict[str, int] = field(default_factory=dict)
    # Of accounts_considered, those planned as sets (dialer/plan_sets.py).
    considered_as_sets: int = 0
    # Of the rest, those whose schedule was known from the last run (dialer/plan_memo.py),
    # and of those, the ones not even read: their cardholder had not changed.
    remembered: int = 0
    not_read: int = 0

    def count(self, reason: str) -> None:
        self.not_due[reason] = self.not_due.get(reason, 0) + 1


def refresh_tiers(session: Session) -> int:
    """Set every account's tier from its days past due; how many accounts changed tier.

    One UPDATE for all the tiers (their bands never overlap: hotline.tiers), writing only
    the rows whose tier changes: one pass over the accounts, where a statement per tier
    read them all once per tier."""
    tiers = session.execute(
        select(
            DelinquencyTier.id, DelinquencyTier.min_days_past_due, DelinquencyTier.max_days_past_due
        ).order_by(DelinquencyTier.id)
    ).all()
    dpd = CardAccount.days_past_due
    bands = [
        (dpd >= low if high is None else dpd.between(low, high), tier_id)
        for tier_id, low, high in tiers
    ]
    tier: Any = sql_case(*bands, else_=null()) if bands else null()
    connection = core(session)
    result = connection.execute(
        update(CardAccount).where(CardAccount.tier_id.is_distinct_from(tier)).values(tier_id=tier)
    )
    if result.rowcount >= plan_sets.ANALYZE_AFTER:
        plan_sets.analyze(connection, CardAccount.__tablename__)
    return int(result.rowcount)


def campaign_for(case: AccountCase, campaigns: Sequence[StoredCampaign]) -> StoredCampaign | None:
    """The campaign an account belongs to (campaign_of its tier and address)."""
    return campaign_of(case.tier_id, case.facts.country, case.facts.address_region, campaigns)


def campaign_of(
    tier_id: int | None,
    country: str,
    region: str | None,
    campaigns: Sequence[StoredCampaign],
) -> StoredCampaign | None:
    """The campaign an account in this tier, at this address, belongs to, among campaigns
    not finished: of those whose audience covers its address, the ones naming regions take
    it over the ones that do not (a Massachusetts campaign under us-ma beside a US-wide
    one), whatever its tier; of those, one working its tier (the oldest). None: no
    campaign works it (a running check is the caller's: a paused regional campaign does
    not hand its accounts over)."""
    if tier_id is None:
        return None
    covering = [
        c
        for c in campaigns
        if c.status is not CampaignStatus.FINISHED and c.audience.covers(country, region)
    ]
    if not covering:
        return None
    closest = max(c.audience.specificity for c in covering)
    for c in covering:
        if c.audience.specificity == closest and tier_id in c.tiers:
            return c
    return None


def schedule_case(
    case: AccountCase,
    campaign: StoredCampaign,
    start: dt.datetime,
    until: dt.datetime,
    memo: ScheduleMemo | None = None,
    *,
    exact: bool = True,
    bounded: bool = False,
) -> Schedule:
    """The account's schedule under its campaign (`bounded`: the planner's, see
    dialer.schedule.schedule)."""
    assert case.tier_id is not None
    arguments = (
        case.facts,
        case.phones,
        case.history,
        case.past_calls,
        campaign.profile,
        campaign.tiers[case.tier_id],
        start,
        until,
    )
    if memo is None:
        return schedule(*arguments, bounded=bounded)
    return memo.schedule(*arguments, exact=exact, bounded=bounded)


def plan(
    session: Session,
    now: dt.datetime,
    *,
    horizon: dt.timedelta = HORIZON,
    batch_size: int = BATCH_SIZE,
    actor: str = "dialer:planner",
    after_batch: Callable[[], None] | None = None,
    as_sets: bool | None = None,
    last_run: PlanMemo | None = None,
) -> PlanReport:
    """Refresh tiers and queue the due campaign calls (see the module's docstring).

    `after_batch` (e.g. the entry point's session.commit) runs after the tier refresh and
    after each batch: a run over a large portfolio then holds no account row it changed
    (a tier) for longer than a batch, so a caller's turn on the IVR never waits for the
    whole run. Every step is safe to repeat, so a run cut short is simply run again.
    `as_sets`: None plans as sets from SETS_FROM accounts in the running campaigns (below
    that the set path's fixed statements cost more than it saves: 95 against 75 ms a run
    over 300 accounts on SQLite, a rehearsal's planning every 5 simulated minutes); False:
    every account one by one, what the set path must equal (the tests compare the two).
    `last_run`: the planning job's memo (dialer/plan_memo.py): an account read one by one
    whose case has not changed since it was last computed is not scheduled again when the
    answer, and a not-due one's reason, is known; one whose cardholder has not changed is
    not even read. A run given a memo is to be committed: one that fails makes it forget.
    """
    try:
        return _plan(session, now, horizon, batch_size, actor, after_batch, as_sets, last_run)
    except BaseException:
        if last_run is not None:
            last_run.forget()
        raise


def _plan(
    session: Session,
    now: dt.datetime,
    horizon: dt.timedelta,
    batch_size: int,
    actor: str,
    after_batch: Callable[[], None] | None,
    as_sets: bool | None,
    last_run: PlanMemo | None,
) -> PlanReport:
    _one_planner_at_a_time(session)
    if last_run is not None:
        # First, before this run writes anything: its own rows then all come after.
        last_run.catch_up(core(session))
    report = PlanReport(tiers_changed=refresh_tiers(session))
    if after_batch is not None:
        after_batch = _then_one_at_a_time(after_batch, session)
        after_batch()
    campaigns = read_campaigns(session)
    running = [c for c in campaigns if c.status is CampaignStatus.ACTIVE and c.runs_on(now.date())]
    running_ids = {c.id for c in running}
    stopped = [c.id for c in campaigns if c.id not in running_ids]
    report.cancelled += cancel_planned(session, stopped, "campaign-not-running", now)
    connection = core(session)
    tier_ids = sorted({t for c in running for t in c.tiers})
    countries = sorted({country for c in running for country in c.audience.countries})

    def decide(case: AccountCase) -> plan_sets.ShapePlan:
        campaign = campaign_for(case, campaigns)
        if campaign is None or campaign.id not in running_ids:
            return None, None
        return campaign, schedule_case(case, campaign, now, now + horizon, bounded=True)

    # The plain majority as sets (dialer/plan_sets.py), then the rest account by account;
    # both in this transaction, on this connection (its temporary tables).
    if as_sets is None:
        in_campaigns = _in_campaigns_count(connection, tier_ids, countries) if tier_ids else 0
        as_sets = in_campaigns >= SETS_FROM
    sets = plan_sets.plan_plain(
        connection,
        tier_ids if as_sets else [],
        countries,
        now,
        decide,
        decision_json,
        # After the sets' cancellations: the places they free are taken this run.
        lambda: queue_room(connection, sorted(running_ids), now, horizon),
    )
    report.accounts_considered += sets.considered
    report.considered_as_sets = sets.considered
    report.planned += sets.planned
    report.already_open += sets.already_open
    report.cancelled += sets.cancelled
    room = (
        sets.room if sets.room_read else queue_room(connection, sorted(running_ids), now, horizon)
    )
    for reason, count in (sets.not_due or {}).items():
        report.not_due[reason] = report.not_due.get(reason, 0) + count
    # With a bound, every due call competes for its campaign's room (dialer/queue_room.py),
    # the set's and the rest's alike; the winners go in once all are known.
    places = Places(dict(room)) if room is not None else None
    if places is not None:
        places.waiting += sets.queue_full
        places.offer_all(sets.candidates or [])
    ids, unchecked, spots = _accounts_to_plan(
        connection, tier_ids, countries, campaigns, places, now, spots=last_run is not None
    )
    report.accounts_considered += unchecked
    memo = ScheduleMemo()
    skipped_before = unread_before = 0
    if last_run is not None:
        last_run.begin(campaigns)
        skipped_before, unread_before = last_run.skipped, last_run.unread
        ids = _not_known(ids, spots, running_ids, last_run, now, horizon, report)
    if unchecked:
        report.not_due[QUEUE_FULL_UNCHECKED] = unchecked
    plan_sets.finish(connection)
    if after_batch is not None and (sets.planned or sets.cancelled):
        after_batch()  # the sets' calls are visible to the dialers while the rest go on
        connection = core(session)
    if sets.planned + sets.cancelled >= plan_sets.ANALYZE_AFTER:
        # Its lock (held to the commit) is only ANALYZE's own, and is let go at once.
        plan_sets.analyze(connection, ContactAttempt.__tablename__)
        if after_batch is not None:
            after_batch()
            connection = core(session)
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        rows: list[dict[str, Any]] = []
        cancels: list[dict[str, Any]] = []
        loaded = load_cases(connection, batch, now)
        if loaded.zone_updates:
            connection.execute(_STORE_ZONES, loaded.zone_updates)
        for case in loaded.cases:
            report.accounts_considered += 1
            queued = len(rows)
            _plan_one(
                case, campaigns, running_ids, now, horizon, memo, report, rows, cancels, last_run
            )
            if places is None:
                continue
            if len(rows) > queued:
                row = rows.pop()
                last = max((a.placed_at for a in case.history), default=None)
                places.offer(row["campaign_id"], Rank.of(row["due_at"], last, case.account_id), row)
        if cancels:
            connection.execute(_CANCEL, cancels)
            report.cancelled += len(cancels)
        if rows:
            report.planned += _insert_planned(connection, rows, now)
        if after_batch is not None:
            after_batch()
            connection = core(session)
    if last_run is not None:
        report.remembered = last_run.skipped - skipped_before
        report.not_read = last_run.unread - unread_before
    if places is not None:
        taken = places.taken()
        for start in range(0, len(taken), batch_size):
            report.planned += _insert_planned(connection, taken[start : start + batch_size], now)
        if places.waiting:
            report.not_due[QUEUE_FULL] = places.waiting
        if after_batch is not None:
            after_batch()
    plan_changes.prune(core(session))  # the connection may be a batch's, committed
    audit.record(
        session,
        actor=actor,
        action="dialer.planned",
        entity_type="campaign",
        entity_id=",".join(c.name for c in running)[:64] or "-",
        data={
            "tiers_changed": report.tiers_changed,
            "considered": report.accounts_considered,
            "planned": report.planned,
            "already_open": report.already_open,
            "cancelled": report.cancelled,
            # Why the rest were not queued, by reason: the run's answer to "why was this
            # account not called" in sum (the preview gives each account's).
            "not_queued": dict(sorted(report.not_due.items())),
        },
        now=now,
    )
    return report


# Names the PostgreSQL advisory lock that keeps planners' transactions from overlapping.
_PLANNER_LOCK_KEY = 0x504C414E  # "PLAN"


def _one_planner_at_a_time(session: Session) -> None:
    """Wait for any other planner's transaction (a second dialer's, `hotline campaign
    plan`) to end. Two at once cancel and insert the same accounts' rows each in its own
    order (the set's, then the rest's), and PostgreSQL broke the deadlocks that made by
    failing one of them; one at a time, the second finds the first's calls queued. Held
    to the transaction's end: a run committed batch by batch takes it again after each
    commit (_then_one_at_a_time). SQLite runs one writer at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({_PLANNER_LOCK_KEY})"))


def _then_one_at_a_time(commit: Callable[[], None], session: Session) -> Callable[[], None]:
    def committed() -> None:
        commit()
        _one_planner_at_a_time(session)

    return committed


def _plan_one(
    case: AccountCase,
    campaigns: Sequence[StoredCampaign],
    running_ids: set[int],
    now: dt.datetime,
    horizon: dt.timedelta,
    memo: ScheduleMemo,
    report: PlanReport,
    rows: list[dict[str, Any]],
    cancels: list[dict[str, Any]],
    last_run: PlanMemo | None = None,
) -> None:
    campaign = campaign_for(case, campaigns)
    if campaign is not None and campaign.id not in running_ids:
        campaign = None
    open_attempt = case.open_attempt
    if open_attempt is not None and open_attempt[1] is not AttemptStatus.PLANNED:
        report.already_open += 1  # a dialer has it: it finishes first
        return
    if case.callback_queued:
        report.count("callback queued")
        return
    same = (
        open_attempt is not None
        and campaign is not None
        and (open_attempt[2], open_attempt[3]) == (campaign.id, case.tier_id)
    )
    # Unchanged since the last run: what its schedule says may be known (dialer/plan_memo.py).
    fingerprint = last_run.fingerprint(case, campaign) if last_run and campaign else None
    if fingerprint is not None and last_run is not None:
        if same and last_run.still_due(case.account_id, fingerprint, now, horizon):
            report.already_open += 1
            return
        if open_attempt is None:
            reason = last_run.not_due_reason(case.account_id, fingerprint, now, horizon)
            if reason is not None:
                report.count(reason)
                return
    # An open attempt that stays needs only to know it is still due: the memo may answer
    # with another account's numbers then (exact=False), which is all the cheaper.
    exact = open_attempt is None
    result = (
        schedule_case(case, campaign, now, now + horizon, memo, exact=exact, bounded=True)
        if campaign
        else None
    )
    if open_attempt is not None:
        if same and result is not None and result.due_at is not None:
            report.already_open += 1
            _remember(last_run, case, campaign, fingerprint, result, now, open_same=True)
            return
        why = "left-campaign" if campaign is None else "tier-changed" if not same else "not-due"
        cancels.append({"attempt_id": open_attempt[0], "disposition": why, "now": now})
        if campaign is not None:
            result = schedule_case(case, campaign, now, now + horizon, memo, bounded=True)
    if campaign is None:
        report.count("not in a running campaign")
        return
    assert result is not None
    _remember(last_run, case, campaign, fingerprint, result, now, open_same=False)
    if result.due_at is None or result.decision is None or result.number is None:
        report.count(_not_due_reason(result))
        return
    rows.append(
        {
            "direction": Direction.OUTBOUND,
            "account_id": case.account_id,
            "phone_id": case.phone_ids.get(result.number),
            "number": result.number,
            "campaign_id": campaign.id,
            "tier_id": case.tier_id,
            "status": AttemptStatus.PLANNED,
            "due_at": max(result.due_at, now),
            "decision": decision_json(result, campaign, case),
            "created_at": now,
        }
    )


def _not_due_reason(result: Schedule) -> str:
    return str(result.first.reason or result.campaign_reason or "not due")


def _remember(
    last_run: PlanMemo | None,
    case: AccountCase,
    campaign: StoredCampaign | None,
    fingerprint: int | None,
    result: Schedule,
    now: dt.datetime,
    *,
    open_same: bool,
) -> None:
    if last_run is not None and fingerprint is not None and campaign is not None:
        reason = None if result.due_at is not None else _not_due_reason(result)
        read = last_run.read_as(case, campaign, open_same)
        last_run.remember(case.account_id, fingerprint, result, now, reason, read)


def _not_known(
    ids: list[int],
    spots: dict[int, tuple[int, StoredCampaign]],
    running_ids: set[int],
    last_run: PlanMemo,
    now: dt.datetime,
    horizon: dt.timedelta,
    report: PlanReport,
) -> list[int]:
    """The accounts still to read: the others' answers the memo knows without reading
    them (their cardholder unchanged: dialer/plan_memo.py), counted here as the reading
    would have counted them."""
    rest = []
    for account_id in ids:
        spot = spots.get(account_id)
        known = (
            last_run.known(account_id, spot[1], spot[0], now, horizon)
            if spot is not None and spot[1].id in running_ids
            else None
        )
        if known is None:
            rest.append(account_id)
            continue
        report.accounts_considered += 1
        stands, reason = known
        if stands:
            report.already_open += 1
        else:
            report.count(reason or "not due")
    return rest


def decision_json(
    result: Schedule,
    campaign: StoredCampaign,
    case: AccountCase,
    days_past_due: Any = None,
) -> str:
    """What is kept with the attempt: why this call, on this number, at this time, and
    what held it back until then (the policy's reason code, or the campaign's pacing).

    Compact: what the attempt's row says already is not repeated (the due time is its
    due_at, the time of the decision its created_at, the numbers allowed are in the
    explanation), and no spaces: a million-account run writes a million of these.
    `days_past_due`: written instead of the account's own (dialer/plan_sets.py's token)."""
    assert case.tier_id is not None and result.decision is not None
    decision, first = result.decision, result.first
    return _DUMPS(
        {
            "allowed": decision.allowed,
            "explanation": decision.explanation,
            "excluded": [[mask_phone(p), r.value] for p, r in decision.excluded],
            "held_back": None
            if first.allowed
            else {"reason": first.reason, "rule": first.rule, "explanation": first.explanation},
            "campaign_reason": result.campaign_reason,
            "profile": campaign.profile.name,
            "campaign": campaign.name,
            "tier": campaign.tiers[case.tier_id].tier,
            "days_past_due": case.facts.days_past_due if days_past_due is None else days_past_due,
        }
    )


_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _in_campaigns_count(
    connection: Connection, tier_ids: Sequence[int], countries: Sequence[str]
) -> int:
    return int(
        connection.scalar(
            select(func.count())
            .select_from(CardAccount)
            .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
            .where(CardAccount.tier_id.in_(tier_ids), Cardholder.country.in_(countries))
        )
        or 0
    )


def _accounts_to_plan(
    connection: Connection,
    tier_ids: Sequence[int],
    countries: Sequence[str],
    campaigns: Sequence[StoredCampaign],
    places: Places | None,
    now: dt.datetime,
    *,
    spots: bool = False,
) -> tuple[list[int], int, dict[int, tuple[int, StoredCampaign]]]:
    """Accounts in a running campaign's tier and country, and every account with a planned
    campaign attempt (it may have left: then the attempt is cancelled); but not those
    planned as sets this run (plan_sets.staged), nor those without an open attempt that
    could not win a place in their campaign's queue (Places.cannot_place: not read, only
    counted, the second figure). Third, if `spots` (a memo asks): each account in a
    campaign's tier, with its tier and the campaign it belongs to (campaign_of).
    """
    staged = ~plan_sets.staged(CardAccount.id)
    in_campaigns = (
        select(CardAccount.id, CardAccount.tier_id, Cardholder.country, Cardholder.address_region)
        .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
        .where(CardAccount.tier_id.in_(tier_ids), Cardholder.country.in_(countries), staged)
    )
    with_planned = select(ContactAttempt.account_id).where(
        ContactAttempt.campaign_id.is_not(None),
        ContactAttempt.status == AttemptStatus.PLANNED,
        ContactAttempt.account_id.is_not(None),
        ~plan_sets.staged(ContactAttempt.account_id),
    )
    ids = {i for i in connection.scalars(with_planned) if i is not None}
    # A call under way is read whatever the room: the run says it is open.
    in_flight = (
        set(
            connection.scalars(
                select(ContactAttempt.account_id).where(
                    ContactAttempt.campaign_id.is_not(None),
                    ContactAttempt.status.in_(OPEN_ATTEMPT_STATUSES),
                    ContactAttempt.status != AttemptStatus.PLANNED,
                )
            )
        )
        if places is not None
        else set()
    )
    unchecked = 0
    where: dict[int, tuple[int, StoredCampaign]] = {}
    if tier_ids:
        for account_id, tier_id, country, region in connection.execute(in_campaigns):
            queued = account_id in ids
            if queued and not spots:
                continue
            campaign = campaign_of(tier_id, country, region, campaigns)
            if spots and campaign is not None and tier_id is not None:
                where[account_id] = (tier_id, campaign)
            if queued:
                continue
            if (
                places is not None
                and campaign is not None
                and account_id not in in_flight
                and places.cannot_place(campaign.id, account_id, now)
            ):
                unchecked += 1
            else:
                ids.add(account_id)
    return sorted(ids), unchecked, where


_ATTEMPTS = table_of(ContactAttempt)
_PHONES = table_of(Phone)
_STORE_ZONES = (
    update(_PHONES)
    .where(_PHONES.c.id == bindparam("phone_id"))
    .values(time_zones=bindparam("zones"), time_zones_version=bindparam("version"))
)
_CANCEL = (
    update(_ATTEMPTS)
    .where(
        _ATTEMPTS.c.id == bindparam("attempt_id"),
        _ATTEMPTS.c.status == AttemptStatus.PLANNED,
    )
    .values(
        status=AttemptStatus.CANCELED,
        disposition=bindparam("disposition"),
        ended_at=bindparam("now"),
    )
)


def _insert_planned(connection: Connection, rows: list[dict[str, Any]], now: dt.datetime) -> int:
    """INSERT planned attempts, each unless its account has an open one (the partial unique
    index): a second planner's row is then skipped, not an error. How many went in.

    PostgreSQL takes the batch by COPY into a temporary table (the driver writes COPY rows
    in C; array or per-row parameters are quoted in Python, most of a batch's cost for the
    decisions' text), then one INSERT ... SELECT from it."""
    if connection.dialect.name != "postgresql":
        return len(connection.execute(_INSERT_SQLITE, rows).all())
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_STAGE_CREATE)
        with cursor.copy(_STAGE_COPY) as copy:
            for row in rows:
                copy.write_row([row[name] for name in _STAGE_COLUMNS])
        cursor.execute(_STAGE_INSERT, {"now": now})
        return int(cursor.rowcount)
    finally:
        cursor.close()


_INSERT_SQLITE = (
    sqlite.insert(_ATTEMPTS)
    .on_conflict_do_nothing(index_elements=["account_id"], index_where=OPEN_CAMPAIGN_ATTEMPT)
    .returning(_ATTEMPTS.c.id)
)
_STAGE_COLUMNS = (
    "account_id",
    "phone_id",
    "number",
    "campaign_id",
    "tier_id",
    "due_at",
    "decision",
)
# ON COMMIT DROP: the table lives for the planning transaction only (or one batch's, when
# the caller commits after each); TRUNCATE empties it for the next batch of the same one.
_STAGE_CREATE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS planned_stage (account_id integer, "
    "phone_id integer, number text, campaign_id integer, tier_id integer, "
    "due_at timestamptz, decision text) ON COMMIT DROP; TRUNCATE planned_stage"
)
_STAGE_COPY = f"COPY planned_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN"
_STAGE_INSERT = (
    "INSERT INTO contact_attempt (direction, status, created_at, "
    + ", ".join(_STAGE_COLUMNS)
    + f") SELECT '{Direction.OUTBOUND.value}', '{AttemptStatus.PLANNED.value}', %(now)s, "
    + ", ".join(_STAGE_COLUMNS)
    + " FROM planned_stage ORDER BY account_id ON CONFLICT (account_id) WHERE "
    + str(OPEN_CAMPAIGN_ATTEMPT)
    + " DO NOTHING"
)
