"""What the agent's screen shows of an account: plain reads, a few statements per page.

`account_view` gathers the account (balance, minimum, past due, days past due, tier,
flags, lock), the cardholder and their numbers, the contact history (attempts with their
outcome and what was said, agents' notes, texts), payments, promises, plans, cases and fee
waivers; `current_call` what the line knew of the caller an agent has just taken. Each list
is bounded (the newest first), so the page costs the same for an account called a hundred
times as for one called once.

Texts: the dialer's `text_message` rows (sent, queued, skipped or failed), read by
`texts_of` and merged into the contact history by time.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select
from sqlalchemy.orm import Session, selectinload

from hotline.accounts import core
from hotline.campaign_port import texts_held
from hotline.enums import CaseStatus, TextStatus
from hotline.models import (
    AccountFlagRow,
    Campaign,
    CardAccount,
    Cardholder,
    Case,
    ContactAttempt,
    DelinquencyTier,
    DeskNote,
    FeeWaiver,
    IvrCall,
    Payment,
    Phone,
    PromiseToPay,
    QueueEntry,
    RepaymentPlan,
    TextMessage,
)

HISTORY_LIMIT = 50
LIST_LIMIT = 20


class NotFound(LookupError):
    """No such account, or not one this user may see (the desk answers 404 for both)."""


@dataclass(frozen=True)
class Contact:
    """One contact with the cardholder: a call either way, or a text (texts_of)."""

    kind: str  # "call" or "text"
    direction: str
    at: dt.datetime | None
    number: str
    status: str
    disposition: str | None
    answered_by: str | None
    duration_seconds: int | None
    campaign: str | None
    said: tuple[str, ...]


@dataclass(frozen=True)
class AccountView:
    account: CardAccount
    cardholder: Cardholder
    tier: DelinquencyTier | None
    flags: tuple[AccountFlagRow, ...]
    phones: tuple[Phone, ...]
    contacts: tuple[Contact, ...]
    notes: tuple[DeskNote, ...]
    payments: tuple[Payment, ...]
    promises: tuple[PromiseToPay, ...]
    plans: tuple[RepaymentPlan, ...]
    cases: tuple[Case, ...]
    waivers: tuple[FeeWaiver, ...]

    @property
    def open_cases(self) -> tuple[Case, ...]:
        return tuple(c for c in self.cases if c.status in (CaseStatus.OPEN, CaseStatus.IN_PROGRESS))

    @property
    def flag_names(self) -> frozenset[str]:
        return frozenset(str(f.flag) for f in self.flags)


def visible_account(
    session: Session, account_id: int, scope: ColumnElement[bool] | None = None
) -> CardAccount:
    """The account, if this user may see it (`scope`: a condition on CardAccount, e.g. an
    agency's placements); NotFound otherwise, whether it does not exist or is not theirs."""
    query = select(CardAccount).where(CardAccount.id == account_id)
    if scope is not None:
        query = query.where(scope)
    account = session.scalars(query).one_or_none()
    if account is None:
        raise NotFound(account_id)
    return account


def account_view(
    session: Session, account_id: int, *, scope: ColumnElement[bool] | None = None
) -> AccountView:
    """Everything the agent's screen shows of one account (see the module)."""
    account = visible_account(session, account_id, scope)
    cardholder = session.get(Cardholder, account.cardholder_id)
    assert cardholder is not None
    tier = session.get(DelinquencyTier, account.tier_id) if account.tier_id else None
    flags = session.scalars(
        select(AccountFlagRow).where(AccountFlagRow.account_id == account.id)
    ).all()
    phones = session.scalars(
        select(Phone).where(Phone.cardholder_id == cardholder.id).order_by(Phone.id)
    ).all()
    return AccountView(
        account=account,
        cardholder=cardholder,
        tier=tier,
        flags=tuple(flags),
        phones=tuple(phones),
        contacts=contacts_of(session, account.id),
        notes=_newest(session, DeskNote, DeskNote.created_at, account.id),
        payments=_newest(session, Payment, Payment.created_at, account.id),
        promises=_newest(session, PromiseToPay, PromiseToPay.created_at, account.id),
        plans=tuple(
            session.scalars(
                select(RepaymentPlan)
                .where(RepaymentPlan.account_id == account.id)
                .options(selectinload(RepaymentPlan.instalments))
                .order_by(RepaymentPlan.created_at.desc())
                .limit(LIST_LIMIT)
            ).all()
        ),
        cases=_newest(session, Case, Case.opened_at, account.id),
        waivers=_newest(session, FeeWaiver, FeeWaiver.requested_at, account.id),
    )


def _newest(session: Session, model: Any, column: Any, account_id: int) -> tuple[Any, ...]:
    return tuple(
        session.scalars(
            select(model)
            .where(model.account_id == account_id)
            .order_by(column.desc(), model.id.desc())
            .limit(LIST_LIMIT)
        ).all()
    )


# Built once at import (building a statement costs more than running it): the newest calls
# of an account, only the columns the history shows. The line's inbound calls are kept by
# CallSid, their account on the call's row (ivr_call).
_CONTACTS = (
    select(
        ContactAttempt.direction,
        ContactAttempt.placed_at,
        ContactAttempt.started_at,
        ContactAttempt.due_at,
        ContactAttempt.created_at,
        ContactAttempt.number,
        ContactAttempt.status,
        ContactAttempt.disposition,
        ContactAttempt.answered_by,
        ContactAttempt.duration_seconds,
        ContactAttempt.said,
        Campaign.name.label("campaign"),
    )
    .outerjoin(Campaign, Campaign.id == ContactAttempt.campaign_id)
    .where(
        (ContactAttempt.account_id == bindparam("account_id"))
        | ContactAttempt.provider_call_sid.in_(
            select(IvrCall.call_sid).where(IvrCall.account_id == bindparam("account_id"))
        )
    )
    .order_by(ContactAttempt.created_at.desc(), ContactAttempt.id.desc())
    .limit(HISTORY_LIMIT)
)


def contacts_of(session: Session, account_id: int) -> tuple[Contact, ...]:
    """The newest contacts with the account's cardholder, calls and texts, newest first."""
    calls = [
        Contact(
            kind="call",
            direction=str(a.direction),
            at=a.placed_at or a.started_at or a.due_at or a.created_at,
            number=a.number,
            status=str(a.status),
            disposition=a.disposition,
            answered_by=a.answered_by,
            duration_seconds=a.duration_seconds,
            campaign=a.campaign,
            said=tuple(line for line in (a.said or "").splitlines() if line.strip()),
        )
        for a in core(session).execute(_CONTACTS, {"account_id": account_id})
    ]
    texts = texts_of(session, account_id)
    if not texts:
        return tuple(calls)
    merged = calls + list(texts)
    merged.sort(key=lambda c: c.at or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)
    return tuple(merged[:HISTORY_LIMIT])


def texts_of(session: Session, account_id: int) -> tuple[Contact, ...]:
    """The dialer's texts to the account's cardholder, newest first, at most HISTORY_LIMIT,
    as contacts: what was sent (the body), or why not (a skipped or failed text's reason)."""
    rows = session.execute(
        select(TextMessage, Campaign.name, Campaign.status)
        .outerjoin(Campaign, Campaign.id == TextMessage.campaign_id)
        .where(TextMessage.account_id == account_id)
        .order_by(TextMessage.created_at.desc(), TextMessage.id.desc())
        .limit(HISTORY_LIMIT)
    )
    contacts = []
    for text, campaign, campaign_status in rows:
        said = text.body or text.error_message or ""
        status = str(text.status)
        held = texts_held(campaign, campaign_status)
        if text.status is TextStatus.QUEUED and held:
            # Not on its way: it waits for the campaign's start (dialer.text_queue).
            status, said = "held", held
        contacts.append(
            Contact(
                kind="text",
                direction="outbound",
                at=text.sent_at or text.due_at,
                number=text.number,
                status=status,
                disposition=str(text.kind),
                answered_by=None,
                duration_seconds=None,
                campaign=campaign,
                said=tuple(line for line in said.splitlines() if line),
            )
        )
    return tuple(contacts)


@dataclass(frozen=True)
class CurrentCall:
    """The caller an agent has taken, as the line knew them."""

    entry_id: int
    call_sid: str
    line: str
    number: str
    language: str
    verified: bool
    intent: str | None
    path: tuple[str, ...]
    status: str
    queued_at: dt.datetime
    accepted_at: dt.datetime | None
    accepted_by: str | None
    account_id: int | None


def current_call(session: Session, entry_id: int) -> CurrentCall | None:
    entry = session.get(QueueEntry, entry_id)
    if entry is None:
        return None
    try:
        path = tuple(str(p) for p in json.loads(entry.path or "[]"))
    except (ValueError, TypeError):
        path = ()
    return CurrentCall(
        entry_id=entry.id,
        call_sid=entry.call_sid,
        line=entry.line,
        number=entry.number,
        language=entry.language,
        verified=entry.verified,
        intent=entry.intent,
        path=path,
        status=entry.status,
        queued_at=entry.queued_at,
        accepted_at=entry.accepted_at,
        accepted_by=entry.accepted_by,
        account_id=entry.account_id,
    )
