"""The dialer's texts as queue rows: found, claimed, and moved along their sending.

A text is a `text_message` row, one per reason to text (kind, source_key), inserted with
ON CONFLICT DO NOTHING, so finding the same follow-up on every run queues it once. It
moves QUEUED -> SENDING (claimed: worker, claimed_at, lease; the body fixed) -> SENT (the
MessageSid stored), each step its own transaction, as dialer/claims.py moves a call:

- SENDING without a SID: the sender may have died before, during or after the carrier
  request. Nobody sends it again; once its lease is over (and the carrier's list has
  settled), `resolve_unknown` lists the carrier's messages to the number since the claim:
  one with the row's body is adopted, otherwise the row is QUEUED again.
- A carrier 429 or 4xx of our own: QUEUED again after a backoff; a 5xx or no answer:
  unknown, as above; a number the carrier will not text (not a mobile, unsubscribed at the
  carrier, invalid): FAILED, and an unsubscribe is recorded as the cardholder's opt-out.

Claims read with FOR UPDATE SKIP LOCKED (no lock on SQLite, where one dialer runs). Every
step after the claim is guarded by the claim itself (worker id, claimed_at). Services here
take a session and never commit; dialer/texting.py owns the transactions.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from dialer import text_rules
from dialer.campaigns import TierSettings
from dialer.facts import AccountCase, load_cases, load_zones
from dialer.policy import Decision, decide_text
from dialer.retry import Refusal, backoff
from hotline import audit, contacts
from hotline.campaign_port import texts_held
from hotline.enums import (
    HOLDS_TEXTS,
    CampaignStatus,
    Direction,
    Disposition,
    InstalmentStatus,
    PaymentStatus,
    PhoneType,
    PlanStatus,
    PromiseStatus,
    Source,
    TextKind,
    TextStatus,
)
from hotline.models import (
    Campaign,
    CampaignTier,
    CardAccount,
    Cardholder,
    ContactAttempt,
    Payment,
    Phone,
    PlanInstalment,
    PromiseToPay,
    RepaymentPlan,
    TextMessage,
    table_of,
)
from hotline.origin import Origin
from hotline.profiles import PROFILES
from prompts.spoken import spoken_date

ACTOR = "dialer:texts"
# Rows claimed per transaction.
BATCH = 20
# Twilio: 21610 the recipient unsubscribed (replied STOP to our number); 21614 and 21635
# not a mobile / a landline; 21211 an invalid number; 21612 and 21408 not reachable from
# our number or region. None of these goes on retrying.
UNSUBSCRIBED = 21610
NEVER_TEXTABLE = frozenset({21211, 21612, 21408, 21614, 21635, UNSUBSCRIBED})


@dataclass(frozen=True)
class TextClaim:
    text_id: int
    number: str
    worker_id: str
    claimed_at: dt.datetime
    lease_until: dt.datetime


@dataclass(frozen=True)
class Voice:
    """What the texts say for the line: its names and callback number by language."""

    callback_number: str
    caller_id: str  # the sender when the campaign names none
    business: dict[str, str]  # language -> the name that does not suggest collection

    def business_for(self, language: str) -> str:
        return self.business.get(language) or self.business.get("en") or ""


# --- finding the texts that are owed -------------------------------------------------------


def queue_due(session: Session, now: dt.datetime) -> int:
    """Queue every text owed now that is not queued yet; how many new rows."""
    connection = session.connection()
    settings = _SettingsCache(connection)
    rows: list[dict[str, Any]] = []
    rows += _follow_ups(settings, connection, now)
    rows += _reminders(settings, connection, now)
    rows += _thank_yous(settings, connection, now)
    return _insert(session, rows, now)


def _follow_ups(
    settings: _SettingsCache, connection: Connection, now: dt.datetime
) -> list[dict[str, Any]]:
    """A text after each campaign call that reached a voicemail or went unanswered, where
    its tier says so, to the mobile called (or, when a landline was called, the first
    mobile on file)."""
    # Only the calls of tiers that want a text after them: the others' were read and
    # dropped on every run for the day they stayed recent (most of a run's rows).
    wanting = {
        name: settings.wanting(functools.partial(text_rules.wants_follow_up, disposition))
        for name, disposition in _AFTER.items()
    }
    if not any(wanting.values()):
        return []
    found = connection.execute(
        _ENDED_UNANSWERED, {"since": now - text_rules.FOLLOW_UP_FOR, **wanting}
    ).all()
    rows = []
    for a in found:
        tier = settings.get(a.campaign_id, a.tier_id)
        if (
            a.account_id is None
            or tier is None
            or not text_rules.wants_follow_up(a.disposition, tier)
        ):
            continue
        timing = text_rules.follow_up_timing(a.ended_at)
        rows.append(
            _row(TextKind.FOLLOW_UP, f"attempt:{a.id}", a.account_id, a.campaign_id, timing)
            | {"number": a.number}
        )
    return rows


def _reminders(
    settings: _SettingsCache, connection: Connection, now: dt.datetime
) -> list[dict[str, Any]]:
    """A courtesy reminder before each pending promise's date and each active plan's next
    instalment, where the tier that worked the account says so."""
    # Only the dates some tier's reminder could be due for: the promises of a month ahead
    # were read, and dropped, on every run of the day (most of what a run read).
    lead_days = settings.reminder_lead_days()
    if lead_days is None:
        return []
    first, last = text_rules.reminder_dates_from(now.date(), lead_days)
    dates: list[tuple[str, int, dt.date]] = [
        (f"promise:{pid}", account_id, day)
        for pid, account_id, day in connection.execute(
            _PENDING_PROMISES, {"first": first, "last": last}
        )
    ]
    # Each plan's next instalment within the reminders' reach (the lowest one still due).
    next_due: dict[int, tuple[int, int, dt.date]] = {}
    for iid, plan_id, account_id, day in connection.execute(
        _DUE_INSTALMENTS, {"first": first, "last": last}
    ):
        next_due.setdefault(plan_id, (iid, account_id, day))
    dates += [(f"instalment:{iid}", account_id, day) for iid, account_id, day in next_due.values()]
    queued = _queued(connection, TextKind.REMINDER, {source for source, _, _ in dates})
    dates = [d for d in dates if d[0] not in queued]
    worked = _worked_by(connection, {account_id for _, account_id, _ in dates}, now)
    # Only those whose reminder may be due by now in some zone have their zones looked up
    # (a promise a week or two ahead is found on every run until its reminder's day).
    dated = []
    for source, account_id, day in dates:
        if account_id not in worked:
            continue
        campaign_id, tier_id = worked[account_id]
        tier = settings.get(campaign_id, tier_id)
        earliest = text_rules.earliest_reminder(day, tier) if tier else None
        if tier is not None and earliest is not None and earliest <= now:
            dated.append((source, account_id, day, campaign_id, tier))
    if not dated:
        return []
    zones = load_zones(connection, sorted({account_id for _, account_id, _, _, _ in dated}))
    rows = []
    for source, account_id, day, campaign_id, tier in dated:
        timing = text_rules.reminder_timing(day, tier, zones.get(account_id, ()))
        if timing is None or timing.due_at > now or timing.expires_at <= now:
            continue
        row = _row(TextKind.REMINDER, source, account_id, campaign_id, timing)
        row["params"] = json.dumps({"date": day.isoformat()})
        rows.append(row)
    return rows


def _thank_yous(
    settings: _SettingsCache, connection: Connection, now: dt.datetime
) -> list[dict[str, Any]]:
    """A thank-you after each payment posted (from any source) and each promise kept."""
    since = now - text_rules.THANK_YOU_FOR
    events: list[tuple[str, int, dt.datetime | None]] = [
        (f"payment:{pid}", account_id, at)
        for pid, account_id, at in connection.execute(_PAYMENTS_POSTED, {"since": since})
    ]
    events += [
        (f"promise-kept:{pid}", account_id, at)
        for pid, account_id, at in connection.execute(_PROMISES_KEPT, {"since": since})
    ]
    worked = _worked_by(connection, {account_id for _, account_id, _ in events}, now)
    rows = []
    for source, account_id, at in events:
        if account_id not in worked or at is None:
            continue
        campaign_id, tier_id = worked[account_id]
        tier = settings.get(campaign_id, tier_id)
        if tier is None or not tier.thank_you_sms:
            continue
        rows.append(
            _row(
                TextKind.THANK_YOU,
                source,
                account_id,
                campaign_id,
                text_rules.thank_you_timing(min(at, now)),
            )
        )
    return rows


def _not_queued(kind: TextKind, prefix: str, source_id: Any) -> ColumnElement[bool]:
    """No text of `kind` is queued yet for the source `prefix` + id: what was found and
    queued on an earlier run is not read again on every run after (by the (kind,
    source_key) unique index; _insert still inserts each reason once)."""
    key = literal(prefix, String) + cast(source_id, String)
    return ~(
        select(TextMessage.id)
        .where(TextMessage.kind == kind, TextMessage.source_key == key)
        .exists()
    )


def _has_mobile(account_id: Any) -> ColumnElement[bool]:
    """The account's cardholder has a mobile on file. A reminder or thank-you goes to a
    mobile only (_insert drops a row with none): without this, each such reason was found,
    looked up and dropped again on every run while it lasted (a payment's thank-you for
    two days), most of what a run read."""
    return (
        select(Phone.id)
        .join(CardAccount, CardAccount.cardholder_id == Phone.cardholder_id)
        .where(
            CardAccount.id == account_id,
            Phone.phone_type == PhoneType.MOBILE,
            Phone.removed_at.is_(None),
        )
        .exists()
    )


def _queued(connection: Connection, kind: TextKind, sources: set[str]) -> set[str]:
    """The source keys among these with a text of `kind` queued (by the unique index)."""
    if not sources:
        return set()
    return set(connection.scalars(_QUEUED, {"kind": kind, "sources": sorted(sources)}))


class _SettingsCache:
    """Every campaign's tier settings, read in one statement the first time one is asked
    for (a handful of rows), each parsed once: a run asks for them row by row."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.stored: dict[tuple[int, int], str] | None = None
        self.known: dict[tuple[int, int], TierSettings | None] = {}

    def get(self, campaign_id: int | None, tier_id: int | None) -> TierSettings | None:
        if campaign_id is None or tier_id is None:
            return None
        key = (campaign_id, tier_id)
        if key not in self.known:
            stored = self._stored().get(key)
            self.known[key] = (
                TierSettings.from_json(json.loads(stored)) if stored is not None else None
            )
        return self.known[key]

    def wanting(self, wants: Callable[[TierSettings], bool]) -> list[tuple[int, int]]:
        """The (campaign id, tier id) of every campaign tier whose settings `wants`."""
        return [key for key in self._stored() if (tier := self.get(*key)) and wants(tier)]

    def reminder_lead_days(self) -> int | None:
        """The most days ahead any campaign tier sends a courtesy reminder; None: none does."""
        days = [
            tier.courtesy_reminder_days
            for key in self._stored()
            if (tier := self.get(*key)) and tier.courtesy_reminder_days
        ]
        return max(days, default=None)

    def _stored(self) -> dict[tuple[int, int], str]:
        if self.stored is None:
            tiers = select(CampaignTier.campaign_id, CampaignTier.tier_id, CampaignTier.settings)
            self.stored = {(c, t): stored for c, t, stored in self.connection.execute(tiers)}
        return self.stored


# How far back the campaign that worked an account is looked for.
WORKED_WITHIN = dt.timedelta(days=120)


def _worked_by(
    connection: Connection, account_ids: set[int], now: dt.datetime
) -> dict[int, tuple[int, int]]:
    """Each account's campaign and tier as of its latest campaign call: whose settings
    decide its reminders and thank-yous (an account that paid has left its tier, and an
    account no campaign has worked gets no campaign texts)."""
    worked: dict[int, tuple[int, int]] = {}
    if not account_ids:
        return worked
    for account_id, campaign_id, tier_id in connection.execute(
        _LATEST_CAMPAIGN_CALLS, {"accounts": sorted(account_ids), "since": now - WORKED_WITHIN}
    ):
        if account_id is not None and campaign_id is not None and tier_id is not None:
            worked[account_id] = (campaign_id, tier_id)
    return worked


# The statements a run of the texts job makes to find what is owed, built once: the job
# runs every few seconds, and building them afresh cost more than running them.
# The calls a follow-up may come after, by the parameter naming the tiers that want one.
_AFTER = {"after_voicemail": Disposition.VOICEMAIL_LEFT, "after_no_answer": Disposition.NO_ANSWER}
_ENDED_UNANSWERED = select(
    ContactAttempt.id,
    ContactAttempt.account_id,
    ContactAttempt.campaign_id,
    ContactAttempt.tier_id,
    ContactAttempt.number,
    ContactAttempt.disposition,
    ContactAttempt.ended_at,
).where(
    ContactAttempt.direction == Direction.OUTBOUND,
    ContactAttempt.campaign_id.is_not(None),
    or_(
        *(
            and_(
                ContactAttempt.disposition == disposition,
                tuple_(ContactAttempt.campaign_id, ContactAttempt.tier_id).in_(
                    bindparam(name, expanding=True)
                ),
            )
            for name, disposition in _AFTER.items()
        )
    ),
    ContactAttempt.ended_at >= bindparam("since", type_=ContactAttempt.ended_at.type),
    _not_queued(TextKind.FOLLOW_UP, "attempt:", ContactAttempt.id),
)
_PENDING_PROMISES = select(
    PromiseToPay.id, PromiseToPay.account_id, PromiseToPay.promised_date
).where(
    PromiseToPay.status == PromiseStatus.PENDING,
    PromiseToPay.promised_date.between(bindparam("first"), bindparam("last")),
    _has_mobile(PromiseToPay.account_id),
)
_DUE_INSTALMENTS = (
    select(
        PlanInstalment.id,
        PlanInstalment.plan_id,
        RepaymentPlan.account_id,
        PlanInstalment.due_date,
    )
    .join(RepaymentPlan, RepaymentPlan.id == PlanInstalment.plan_id)
    .where(
        RepaymentPlan.status == PlanStatus.ACTIVE,
        PlanInstalment.status == InstalmentStatus.DUE,
        PlanInstalment.due_date.between(bindparam("first"), bindparam("last")),
        _has_mobile(RepaymentPlan.account_id),
    )
    .order_by(PlanInstalment.plan_id, PlanInstalment.sequence)
)
_PAYMENTS_POSTED = select(Payment.id, Payment.account_id, Payment.posted_at).where(
    Payment.status == PaymentStatus.POSTED,
    Payment.posted_at >= bindparam("since", type_=Payment.posted_at.type),
    _not_queued(TextKind.THANK_YOU, "payment:", Payment.id),
    _has_mobile(Payment.account_id),
)
_PROMISES_KEPT = select(PromiseToPay.id, PromiseToPay.account_id, PromiseToPay.resolved_at).where(
    PromiseToPay.status == PromiseStatus.KEPT,
    PromiseToPay.resolved_at >= bindparam("since", type_=PromiseToPay.resolved_at.type),
    _not_queued(TextKind.THANK_YOU, "promise-kept:", PromiseToPay.id),
    _has_mobile(PromiseToPay.account_id),
)
_QUEUED = select(TextMessage.source_key).where(
    TextMessage.kind == bindparam("kind", type_=TextMessage.kind.type),
    TextMessage.source_key.in_(bindparam("sources", expanding=True)),
)
# Each account's latest campaign call (the highest id): one row an account, where every
# campaign call of four months was read and all but the last dropped.
_LATEST_CAMPAIGN_CALLS = select(
    ContactAttempt.account_id, ContactAttempt.campaign_id, ContactAttempt.tier_id
).where(
    ContactAttempt.id.in_(
        select(func.max(ContactAttempt.id))
        .where(
            ContactAttempt.account_id.in_(bindparam("accounts", expanding=True)),
            ContactAttempt.campaign_id.is_not(None),
            ContactAttempt.tier_id.is_not(None),
            ContactAttempt.created_at >= bindparam("since", type_=ContactAttempt.created_at.type),
        )
        .group_by(ContactAttempt.account_id)
    )
)


def _row(
    kind: TextKind,
    source: str,
    account_id: int,
    campaign_id: int | None,
    timing: text_rules.Timing,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "source_key": source,
        "account_id": account_id,
        "campaign_id": campaign_id,
        "body_key": text_rules.BODY_KEYS[kind],
        "params": "{}",
        "due_at": timing.due_at,
        "expires_at": timing.expires_at,
        "number": None,
    }


def _insert(session: Session, rows: list[dict[str, Any]], now: dt.datetime) -> int:
    """Insert the rows not queued yet (ON CONFLICT DO NOTHING on (kind, source_key)), each
    addressed to the cardholder's mobile and in their language; audited."""
    if not rows:
        return 0
    connection = session.connection()
    by_kind: dict[TextKind, set[str]] = {}
    for r in rows:
        by_kind.setdefault(r["kind"], set()).add(r["source_key"])
    existing = {
        (kind, source)
        for kind, sources in by_kind.items()
        for source in _queued(connection, kind, sources)
    }
    rows = [r for r in rows if (r["kind"], r["source_key"]) not in existing]
    if not rows:
        return 0
    people = _people(session, {r["account_id"] for r in rows})
    values = []
    for r in rows:
        language, mobiles = people[r["account_id"]]
        called = r.pop("number")
        # The mobile called; else the first mobile on file; else the number called (the
        # policy then refuses it, and the row says why no text went).
        number = called if called in mobiles else next(iter(mobiles), called)
        if number is None:
            continue  # no mobile on file and no number called: nobody to text
        values.append(
            r
            | {
                "number": number,
                "phone_id": mobiles.get(number),
                "language": language,
                "status": TextStatus.QUEUED,
                "retries": 0,
                "created_at": now,
            }
        )
    if not values:
        return 0
    table = table_of(TextMessage)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["kind", "source_key"])
        .returning(table.c.id, table.c.kind, table.c.source_key)
    )
    added = session.execute(statement).all()
    for text_id, kind, source in added:
        audit.record(
            session,
            actor=ACTOR,
            action="text.queued",
            entity_type="text_message",
            entity_id=text_id,
            data={"kind": kind, "source": source},
            now=now,
        )
    return len(added)


def _people(session: Session, account_ids: set[int]) -> dict[int, tuple[str, dict[str, int]]]:
    """Each account's cardholder: their language, and their mobiles on file (number ->
    phone id), the primary first. Two statements for them all (loading each account, its
    cardholder and their phones as objects was most of a run that queued nothing)."""
    rows = session.execute(
        select(CardAccount.id, CardAccount.cardholder_id, Cardholder.language)
        .join(Cardholder, Cardholder.id == CardAccount.cardholder_id)
        .where(CardAccount.id.in_(sorted(account_ids)))
    ).all()
    mobiles: dict[int, dict[str, int]] = {holder_id: {} for _, holder_id, _ in rows}
    for holder_id, e164, phone_id in session.execute(
        select(Phone.cardholder_id, Phone.e164, Phone.id)
        .where(
            Phone.cardholder_id.in_(sorted(mobiles)),
            Phone.phone_type == PhoneType.MOBILE,
            Phone.removed_at.is_(None),
        )
        .order_by(Phone.cardholder_id, Phone.is_primary.desc(), Phone.id)
    ):
        mobiles[holder_id][e164] = phone_id
    return {
        account_id: (language.value, mobiles[holder_id]) for account_id, holder_id, language in rows
    }


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """A claimed text, ready to go: the claim, and what to send from where."""

    claim: TextClaim
    from_: str
    body: str


@dataclass
class Claimed:
    ready: list[Outgoing]
    deferred: int = 0  # the policy allows it later: due again then
    skipped: int = 0  # the policy or the text's own rule refuses it for good


def claim_due(
    session: Session,
    *,
    worker_id: str,
    now: dt.datetime,
    lease: dt.timedelta,
    voice: Voice,
    catalogs: Any,
    limit: int = BATCH,
) -> Claimed:
    """Claim up to `limit` due texts, each asked of the contact policy first, on the facts
    as they are now: allowed ones are claimed (SENDING, body fixed), the others deferred to
    the policy's next eligible time or skipped with its reason. One at a time, each claim
    flushed before the next is asked about, so two texts to one person in a batch count
    against each other's caps."""
    result = Claimed([])
    result.skipped += _drop_moot_held(session, now, limit)
    candidates = session.scalars(_CANDIDATES, {"now": now, "limit": limit}).all()
    if not candidates:
        return result
    # One sender at a time per person: the caps count texts across a cardholder's accounts
    # and numbers, so a second sender asking about the same person waits here until the
    # first one's claim is committed, then counts it. Locked in cardholder order, so two
    # senders never hold two people each waiting for the other.
    holders = dict(
        session.execute(
            select(CardAccount.id, CardAccount.cardholder_id).where(
                CardAccount.id.in_({t.account_id for t in candidates})
            )
        ).all()
    )
    if holders:
        session.execute(
            select(Cardholder.id)
            .where(Cardholder.id.in_(set(holders.values())))
            .order_by(Cardholder.id)
            .with_for_update()
        ).all()
    for text in candidates:
        verdict = _verdict(session, text, now)
        if isinstance(verdict, str):
            _end(session, text, TextStatus.SKIPPED, verdict, now)
            result.skipped += 1
            continue
        if isinstance(verdict, dt.datetime):
            text.due_at = verdict
            result.deferred += 1
            continue
        campaign, holder_name = verdict
        params = json.loads(text.params or "{}")
        if "date" in params:
            params["date"] = spoken_date(dt.date.fromisoformat(params["date"]), text.language)
        text.body = catalogs[text.language].render(
            text.body_key,
            params
            | {
                "business": voice.business_for(text.language),
                "name": holder_name,
                "callback": voice.callback_number,
            },
        )
        text.status = TextStatus.SENDING
        text.worker_id = worker_id
        text.claimed_at = now
        text.lease_until = now + lease
        session.flush()
        claim = TextClaim(text.id, text.number, worker_id, now, now + lease)
        result.ready.append(Outgoing(claim, campaign.caller_id or voice.caller_id, text.body))
    return result


def _holding() -> Any:
    """The ids of the campaigns whose texts are held."""
    return select(Campaign.id).where(Campaign.status.in_(HOLDS_TEXTS))


# The texts due now, built once: every run of the job asks at least once, and most runs
# find none (building the statement cost more than running it).
_CANDIDATES = (
    select(TextMessage)
    .where(
        TextMessage.status == TextStatus.QUEUED,
        TextMessage.due_at <= bindparam("now", type_=TextMessage.due_at.type),
        # Held: a paused campaign's texts wait in the queue, unclaimed, for its start
        # (kept out here, so they never fill a batch that texts able to go need).
        or_(TextMessage.campaign_id.is_(None), TextMessage.campaign_id.not_in(_holding())),
    )
    .order_by(TextMessage.due_at, TextMessage.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)


def _drop_moot_held(session: Session, now: dt.datetime, limit: int) -> int:
    """Skip the held texts no longer worth sending (a reminder whose date has come, a
    follow-up or thank-you past its day or two), so a campaign started again later never
    sends them and the queue does not keep them; how many."""
    rows = session.execute(_MOOT_HELD, {"now": now, "limit": limit}).all()
    for text, name, status in rows:
        why = f"too late: no longer worth sending (held while campaign {name} was {status.value})"
        _end(session, text, TextStatus.SKIPPED, why, now)
    return len(rows)


_MOOT_HELD = (
    select(TextMessage, Campaign.name, Campaign.status)
    .join(Campaign, Campaign.id == TextMessage.campaign_id)
    .where(
        TextMessage.status == TextStatus.QUEUED,
        Campaign.status.in_(HOLDS_TEXTS),
        TextMessage.expires_at <= bindparam("now", type_=TextMessage.expires_at.type),
    )
    .order_by(TextMessage.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(of=TextMessage, skip_locked=True)
)


def still_owed(session: Session, text: TextMessage) -> str | None:
    """Why the reason the text was queued for is gone (None: still owed): a reminder of a
    promise no longer pending or an instalment no longer due, a thank-you for a payment
    reversed. Asked when the text is claimed, which may be days after it was queued (a
    campaign paused meanwhile)."""
    kind, _, raw_id = text.source_key.partition(":")
    if not raw_id.isdigit():
        return None
    row_id = int(raw_id)
    if kind in ("promise", "promise-kept"):
        promise = session.get(PromiseToPay, row_id)
        wanted = PromiseStatus.PENDING if kind == "promise" else PromiseStatus.KEPT
        if promise is None or promise.status is not wanted:
            return f"no longer owed: the promise is {promise.status.value if promise else 'gone'}"
    elif kind == "instalment":
        instalment = session.get(PlanInstalment, row_id)
        plan = session.get(RepaymentPlan, instalment.plan_id) if instalment else None
        if instalment is None or plan is None:
            return "no longer owed: the instalment is gone"
        if plan.status is not PlanStatus.ACTIVE:
            return f"no longer owed: the plan is {plan.status.value}"
        if instalment.status is not InstalmentStatus.DUE:
            return f"no longer owed: the instalment is {instalment.status.value}"
    elif kind == "payment":
        payment = session.get(Payment, row_id)
        if payment is None or payment.status is not PaymentStatus.POSTED:
            return f"no longer owed: the payment is {payment.status.value if payment else 'gone'}"
    return None


def _verdict(
    session: Session, text: TextMessage, now: dt.datetime
) -> str | dt.datetime | tuple[Campaign, str]:
    """Why the text may never go (str), when it may (datetime), or that it may go now:
    the campaign it is sent for and the cardholder's name."""
    campaign = session.get(Campaign, text.campaign_id) if text.campaign_id else None
    if campaign is None or campaign.profile not in PROFILES:
        return "no campaign profile to check the text against"
    if campaign.status in HOLDS_TEXTS:
        # Paused since the candidates were read (they leave held texts out): held, as
        # those are, not dropped; its time stays, and the claim's query passes it over.
        return text.due_at
    if campaign.status is not CampaignStatus.ACTIVE:
        return f"campaign {campaign.status.value}"
    gone = still_owed(session, text)
    if gone is not None:
        return gone
    cases = load_cases(session.connection(), [text.account_id], now).cases
    if not cases:
        return "account no longer on file"
    case: AccountCase = cases[0]
    decision: Decision = decide_text(
        case.facts, case.phones, case.history, PROFILES[campaign.profile], now, text.number
    )
    if decision.allowed:
        # The text's own rules after the policy's, so a refusal names the policy's reason
        # (opted out) before "one already went today".
        own = text_rules.why_not_now(text.kind, text.expires_at, _sent(session, text), now)
        if own is not None:
            return own
        account = session.get(CardAccount, text.account_id)
        assert account is not None
        return campaign, account.cardholder.name
    text.error_message = decision.explanation[:500]
    later = decision.next_eligible
    if later is not None and (text.expires_at is None or later < text.expires_at):
        return later
    return decision.explanation


def _sent(session: Session, text: TextMessage) -> list[text_rules.Sent]:
    """The other texts gone (or going) to the account lately."""
    since = text.due_at - text_rules.ONE_A_DAY - dt.timedelta(days=1)
    return [
        text_rules.Sent(kind, at)
        for kind, at in session.execute(
            select(TextMessage.kind, TextMessage.claimed_at).where(
                TextMessage.account_id == text.account_id,
                TextMessage.id != text.id,
                TextMessage.status.in_((TextStatus.SENDING, TextStatus.SENT)),
                TextMessage.claimed_at >= since,
            )
        )
        if at is not None
    ]


def _end(
    session: Session, text: TextMessage, status: TextStatus, why: str, now: dt.datetime
) -> None:
    text.status = status
    text.error_message = why[:500]
    text.worker_id = None
    text.lease_until = None
    audit.record(
        session,
        actor=ACTOR,
        action=f"text.{status.value}",
        entity_type="text_message",
        entity_id=text.id,
        data={"kind": text.kind.value, "reason": why[:200], "error_code": text.error_code},
        now=now,
    )


def held(claim: TextClaim):  # type: ignore[no-untyped-def]
    """The text's row, only while this claim still holds it unsent."""
    return (
        TextMessage.id == claim.text_id,
        TextMessage.status == TextStatus.SENDING,
        TextMessage.provider_sid.is_(None),
        TextMessage.worker_id == claim.worker_id,
        TextMessage.claimed_at == claim.claimed_at,
    )


def release(session: Session, claim: TextClaim) -> bool:
    """Give back a claim never sent (stopping, or its lease ran short)."""
    result = session.execute(
        update(TextMessage)
        .where(*held(claim))
        .values(status=TextStatus.QUEUED, worker_id=None, lease_until=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_sent(session: Session, claim: TextClaim, sid: str, *, now: dt.datetime) -> bool:
    """Store the MessageSid; False if the claim was taken up meanwhile."""
    text = session.scalars(select(TextMessage).where(*held(claim)).with_for_update()).one_or_none()
    if text is None:
        return False
    _mark_sent(session, text, sid, now, "text.sent")
    return True


def _mark_sent(
    session: Session, text: TextMessage, sid: str, now: dt.datetime, action: str
) -> None:
    text.status = TextStatus.SENT
    text.provider_sid = sid
    text.sent_at = text.sent_at or now
    text.lease_until = None
    text.error_code = None
    text.error_message = None
    audit.record(
        session,
        actor=ACTOR,
        action=action,
        entity_type="text_message",
        entity_id=text.id,
        data={
            "kind": text.kind.value,
            "source": text.source_key,
            "sid": sid,
            "to_last4": text.number[-4:],
            "body_key": text.body_key,
            "campaign_id": text.campaign_id,
        },
        now=now,
    )


def record_refusal(
    session: Session,
    claim: TextClaim,
    refusal: Refusal,
    *,
    code: int | None,
    message: str,
    now: dt.datetime,
) -> TextStatus | None:
    """What a carrier refusal does to the text; its new status (None: claim lost).

    A number the carrier will never text: FAILED (an unsubscribe at the carrier is also
    the cardholder's opt-out). A 429 or a 4xx of ours: QUEUED after a backoff. A 5xx or no
    answer: the text may have gone; left SENDING with its lease over, for resolve_unknown.
    """
    text = session.scalars(select(TextMessage).where(*held(claim)).with_for_update()).one_or_none()
    if text is None:
        return None
    text.error_code = str(code) if code is not None else None
    text.error_message = message[:500]
    if code in NEVER_TEXTABLE or refusal in (Refusal.INVALID_NUMBER, Refusal.REFUSED):
        if code == UNSUBSCRIBED:
            contacts.opt_out(
                session, text.number, origin=Origin(Source.DIALER, ACTOR, None), now=now
            )
        _end(session, text, TextStatus.FAILED, message, now)
        return TextStatus.FAILED
    text.due_at = now + backoff(text.retries)
    text.retries += 1
    if refusal is Refusal.UNKNOWN:
        text.lease_until = now  # over: resolve_unknown asks the carrier once it settles
        return TextStatus.SENDING
    text.status = TextStatus.QUEUED
    text.worker_id = None
    text.lease_until = None
    text.claimed_at = None
    return TextStatus.QUEUED


def unknown(session: Session, now: dt.datetime, settle: dt.timedelta) -> list[TextClaim]:
    """Texts claimed but never known sent, whose lease ended at least `settle` ago."""
    rows = session.scalars(_UNKNOWN, {"settled_by": now - settle}).all()
    return [
        TextClaim(t.id, t.number, t.worker_id or "", t.claimed_at or now, t.lease_until or now)
        for t in rows
    ]


# Built once: every run of the job asks, and almost every run finds none.
_UNKNOWN = (
    select(TextMessage)
    .where(
        TextMessage.status == TextStatus.SENDING,
        TextMessage.provider_sid.is_(None),
        TextMessage.lease_until <= bindparam("settled_by", type_=TextMessage.lease_until.type),
    )
    .order_by(TextMessage.id)
    .limit(BATCH)
    .with_for_update(skip_locked=True)
)


def resolve(
    session: Session, claim: TextClaim, found: Sequence[tuple[str, str]], now: dt.datetime
) -> str:
    """Settle an unknown sending from the carrier's messages to the number since the claim
    ((sid, body) pairs): adopt the one with the text's body, else queue it again.
    'adopted', 'requeued' or 'gone' (someone else settled it meanwhile)."""
    text = session.scalars(select(TextMessage).where(*held(claim)).with_for_update()).one_or_none()
    if text is None:
        return "gone"
    for sid, body in found:
        if body == text.body:
            _mark_sent(session, text, sid, now, "text.adopted")
            return "adopted"
    text.status = TextStatus.QUEUED
    text.worker_id = None
    text.lease_until = None
    text.claimed_at = None
    text.due_at = now
    return "requeued"


# --- what the desk shows -------------------------------------------------------------------


def account_texts(session: Session, account_id: int) -> list[TextMessage]:
    """The account's texts, newest first: the contact history's text lines (what was sent,
    when, to which number, or why not)."""
    return list(
        session.scalars(
            select(TextMessage)
            .where(TextMessage.account_id == account_id)
            .order_by(TextMessage.created_at.desc(), TextMessage.id.desc())
        )
    )


@dataclass(frozen=True)
class QueuedText:
    account_number: str
    text: TextMessage
    held: str | None  # why it is held back, whatever the policy says (its campaign paused)


def queued_by(session: Session, until: dt.datetime) -> list[QueuedText]:
    """Texts queued and due before `until`, with their account numbers, soonest first:
    what `hotline campaign preview` lists under the calls (queued by the texts job; the
    policy is asked again when each is sent; a paused campaign's are held)."""
    return [
        QueuedText(
            number,
            text,
            texts_held(name, status),
        )
        for number, text, name, status in session.execute(
            select(CardAccount.account_number, TextMessage, Campaign.name, Campaign.status)
            .join(CardAccount, CardAccount.id == TextMessage.account_id)
            .outerjoin(Campaign, Campaign.id == TextMessage.campaign_id)
            .where(TextMessage.status == TextStatus.QUEUED, TextMessage.due_at < until)
            .order_by(TextMessage.due_at, TextMessage.id)
        )
    ]
