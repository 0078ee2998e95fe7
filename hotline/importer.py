"""Import the bank's accounts file: upsert by account number, idempotent, row by row.

The service takes the caller's session and never commits. Good rows are written in chunks
(new accounts with bulk INSERTs, existing ones compared field by field), bad rows are
returned with their line numbers, and the file as a whole is one audit event. Re-importing
the same file changes nothing; a changed row is updated and audited with what changed.

What a person asked for through the line is never undone by a file: a consent revoked or a
flag set through the IVR or by an agent stays, an opt-out is not touched by the import.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO, TypeVar

import holidays
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from hotline import audit, contacts
from hotline.accounts import tier_id_for
from hotline.csvrows import AccountRow, RowError, read_rows
from hotline.enums import AccountFlag, Language, PhoneType, Source
from hotline.models import AccountFlagRow, CardAccount, Cardholder, Phone
from hotline.phones import mask_phone, stored_zones
from hotline.secrets import hash_verify_digits, new_salt, verify_digits_match

R = TypeVar("R")
US_SUBDIVISIONS = frozenset(holidays.US.subdivisions)
CHUNK_SIZE = 1000

# Account fields whose old and new values may go into the audit trail; for the others
# (names, addresses, numbers, secrets) only the fact of a change is recorded.
_AUDITED_VALUES = frozenset(
    {
        "currency",
        "balance_minor",
        "minimum_due_minor",
        "past_due_minor",
        "due_date",
        "days_past_due",
        "language",
        "country",
        "address_region",
        "flags",
    }
)


@dataclass
class ImportReport:
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)
    # Rows imported, but with something the file asked for not applied (and why).
    notes: list[str] = field(default_factory=list)
    # Counted per row as it is read, not from the errors' line numbers: every row read is
    # exactly one of created, updated, unchanged or rejected, and the summary adds up.
    rejected_rows: int = 0

    def summary(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected_rows,
        }


@dataclass(frozen=True)
class _Context:
    session: Session
    secret_key: str
    now: dt.datetime
    actor: str
    report: ImportReport
    # The tier each account's days past due put it in, written with them (planning's
    # refresh, dialer.planner.refresh_tiers, then finds them current, and rewrites only
    # what a change of the tiers themselves moved): read for each chunk, in _upsert.
    tier_id_of: Callable[[int], int | None] = lambda _days: None


def import_accounts(
    session: Session,
    stream: TextIO,
    *,
    secret_key: str,
    now: dt.datetime,
    actor: str,
    source: dict[str, Any],
    on_progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
    after_chunk: Callable[[], None] | None = None,
) -> ImportReport:
    """Upsert every good row of an accounts CSV; HeaderError if the file is not one.

    `after_chunk` runs after each chunk of rows is written: the entry point may commit
    there, so no lock (the audit chain's above all) is held for a whole large file."""
    report = ImportReport()
    context = _Context(session, secret_key, now, actor, report)
    write_in_chunks(
        read_rows(stream, us_subdivisions=US_SUBDIVISIONS),
        AccountRow,
        lambda chunk: _upsert(context, chunk),
        report,
        chunk_size=chunk_size,
        after_chunk=after_chunk,
        on_progress=on_progress,
    )
    record_file(session, "accounts", source, report.summary(), actor=actor, now=now)
    return report


class RowCounts(Protocol):
    """What a file's report counts of the rows read (every import's report has these)."""

    rows_read: int
    rejected: list[RowError]
    rejected_rows: int


def record_file(
    session: Session,
    kind: str,
    source: Mapping[str, Any],
    summary: Mapping[str, Any],
    *,
    actor: str,
    now: dt.datetime,
) -> None:
    """The audit event of one bank file imported (`import.<kind>`): the file as the CLI
    read it (name, SHA-256, size, encoding) and what became of its rows."""
    audit.record(
        session,
        actor=actor,
        action=f"import.{kind}",
        entity_type="import",
        entity_id=str(source.get("name", "stream"))[-64:],
        data={**source, **summary},
        now=now,
    )


def write_in_chunks(
    results: Iterable[R | list[RowError]],
    good: type[R],
    write: Callable[[list[R]], None],
    counts: RowCounts,
    *,
    chunk_size: int,
    after_chunk: Callable[[], None] | None,
    on_progress: Callable[[int], None] | None,
) -> None:
    """Count each row read, keep each bad one's errors, and `write` the good ones a chunk
    at a time, `after_chunk` after each full chunk (the entry point commits there)."""
    chunk: list[R] = []
    for result in results:
        counts.rows_read += 1
        if isinstance(result, good):
            chunk.append(result)
        else:
            assert isinstance(result, list)
            counts.rejected.extend(result)
            counts.rejected_rows += 1
        if len(chunk) >= chunk_size:
            write(chunk)
            chunk = []
            if after_chunk is not None:
                after_chunk()
        if on_progress is not None:
            on_progress(1)
    if chunk:
        write(chunk)


def _upsert(context: _Context, rows: Sequence[AccountRow]) -> None:
    # The tiers as they are now: a campaign file stored between two chunks (each chunk
    # may be committed) can have dropped one since the last.
    context = dataclasses.replace(context, tier_id_of=tier_id_for(context.session))
    existing = {
        account.account_number: account
        for account in context.session.scalars(
            select(CardAccount)
            .where(CardAccount.account_number.in_([row.account_number for row in rows]))
            .options(
                selectinload(CardAccount.cardholder).selectinload(Cardholder.phones),
                selectinload(CardAccount.flags),
            )
        )
    }
    new_rows = [row for row in rows if row.account_number not in existing]
    if new_rows:
        _insert_new(context, new_rows)
    for row in rows:
        account = existing.get(row.account_number)
        if account is not None:
            _update_existing(context, account, row)
    context.session.flush()


def _insert_new(context: _Context, rows: Sequence[AccountRow]) -> None:
    """Bulk INSERTs: one statement per table for the whole chunk."""
    session, now = context.session, context.now
    holders = []
    for row in rows:
        salt = new_salt()
        holders.append(
            {
                "name": row.name,
                "language": Language(row.language),
                "address_region": row.address_region,
                "postal_code": row.postal_code,
                "country": row.country,
                "verify_salt": salt,
                "verify_hash": hash_verify_digits(context.secret_key, salt, row.verify_digits),
                "created_at": now,
                "updated_at": now,
            }
        )
    holder_ids = session.scalars(
        insert(Cardholder).returning(Cardholder.id, sort_by_parameter_order=True), holders
    ).all()
    account_ids = session.scalars(
        insert(CardAccount).returning(CardAccount.id, sort_by_parameter_order=True),
        [
            {
                "account_number": row.account_number,
                "cardholder_id": holder_id,
                "currency": row.currency,
                "balance_minor": row.balance_minor,
                "minimum_due_minor": row.minimum_due_minor,
                "past_due_minor": row.past_due_minor,
                "due_date": row.due_date,
                "days_past_due": row.days_past_due,
                "tier_id": context.tier_id_of(row.days_past_due),
                "created_at": now,
                "updated_at": now,
            }
            for row, holder_id in zip(rows, holder_ids, strict=True)
        ],
    ).all()
    phones = [
        {
            "cardholder_id": holder_id,
            "e164": entry.e164,
            "phone_type": PhoneType(entry.phone_type),
            "is_primary": entry.is_primary,
            "autodial_consent": row.autodial_consent,
            "consent_changed_at": now,
            "consent_source": Source.IMPORT,
            "bad_number": False,
            "created_at": now,
            **stored_zones(entry.e164),
        }
        for row, holder_id in zip(rows, holder_ids, strict=True)
        for entry in row.phones
    ]
    if phones:
        session.execute(insert(Phone), phones)
    flags = [
        {
            "account_id": account_id,
            "flag": AccountFlag(flag),
            "source": Source.IMPORT,
            "set_at": now,
        }
        for row, account_id in zip(rows, account_ids, strict=True)
        for flag in sorted(row.flags)
    ]
    if flags:
        session.execute(insert(AccountFlagRow), flags)
    context.report.created += len(rows)


def _update_existing(context: _Context, account: CardAccount, row: AccountRow) -> None:
    changes: dict[str, Any] = {}

    def apply(target: Any, attribute: str, new: Any) -> None:
        old = getattr(target, attribute)
        if old != new:
            setattr(target, attribute, new)
            changes[attribute] = [_plain(old), _plain(new)]

    holder = account.cardholder
    apply(holder, "name", row.name)
    apply(holder, "language", Language(row.language))
    apply(holder, "address_region", row.address_region)
    apply(holder, "postal_code", row.postal_code)
    apply(holder, "country", row.country)
    if not verify_digits_match(
        context.secret_key, holder.verify_salt, row.verify_digits, holder.verify_hash
    ):
        holder.verify_salt = new_salt()
        holder.verify_hash = hash_verify_digits(
            context.secret_key, holder.verify_salt, row.verify_digits
        )
        changes["verify_digits"] = True
    apply(account, "currency", row.currency)
    apply(account, "balance_minor", row.balance_minor)
    apply(account, "minimum_due_minor", row.minimum_due_minor)
    apply(account, "past_due_minor", row.past_due_minor)
    apply(account, "due_date", row.due_date)
    apply(account, "days_past_due", row.days_past_due)
    tier_id = context.tier_id_of(account.days_past_due)
    if account.tier_id != tier_id:
        account.tier_id = tier_id  # follows the days past due: not a change of its own
    if _sync_phones(context, holder, row):
        changes["phones"] = True
    flag_change = _sync_flags(context, account, row)
    if flag_change:
        changes["flags"] = flag_change

    if not changes:
        context.report.unchanged += 1
        return
    context.report.updated += 1
    if "past_due_minor" in changes and account.past_due_minor == 0:
        # Current now: out of its campaign at once, as a payment that clears it does.
        contacts.cancel_planned_calls(context.session, account.id, now=context.now)
    audit.record(
        context.session,
        actor=context.actor,
        action="account.updated",
        entity_type="card_account",
        entity_id=account.account_number,
        data={
            "line": row.line,
            "changed": {
                name: (value if name in _AUDITED_VALUES else True)
                for name, value in sorted(changes.items())
            },
        },
        now=context.now,
    )


def _sync_phones(context: _Context, holder: Cardholder, row: AccountRow) -> bool:
    now, changed = context.now, False
    by_number = {phone.e164: phone for phone in holder.phones}
    listed = {entry.e164 for entry in row.phones}
    for entry in row.phones:
        phone = by_number.get(entry.e164)
        if phone is None:
            holder.phones.append(
                Phone(
                    e164=entry.e164,
                    phone_type=PhoneType(entry.phone_type),
                    is_primary=entry.is_primary,
                    autodial_consent=row.autodial_consent,
                    consent_changed_at=now,
                    consent_source=Source.IMPORT,
                    created_at=now,
                    **stored_zones(entry.e164),
                )
            )
            changed = True
            continue
        if phone.removed_at is not None:
            phone.removed_at, changed = None, True
        if phone.is_primary != entry.is_primary:
            phone.is_primary, changed = entry.is_primary, True
        if entry.is_primary and phone.phone_type != entry.phone_type:
            phone.phone_type, changed = PhoneType(entry.phone_type), True
        if phone.autodial_consent != row.autodial_consent:
            revoked_by_person = not phone.autodial_consent and phone.consent_source not in (
                None,
                Source.IMPORT,
            )
            if revoked_by_person and row.autodial_consent:
                context.report.notes.append(
                    f"line {row.line}: autodial consent for {mask_phone(phone.e164)} was "
                    f"revoked through {phone.consent_source}; the file's 'yes' is not applied"
                )
            else:
                phone.autodial_consent = row.autodial_consent
                phone.consent_source, phone.consent_changed_at = Source.IMPORT, now
                changed = True
    for phone in holder.phones:
        if phone.e164 not in listed and phone.removed_at is None and phone.id is not None:
            phone.removed_at, changed = now, True
    return changed


def _sync_flags(context: _Context, account: CardAccount, row: AccountRow) -> list[list[str]]:
    """Set the file's flags; clear only flags that an earlier import set."""
    wanted = {AccountFlag(flag) for flag in row.flags}
    have = {flag_row.flag: flag_row for flag_row in account.flags}
    added = sorted(wanted - have.keys())
    removed = sorted(
        flag
        for flag, flag_row in have.items()
        if flag not in wanted and flag_row.source == Source.IMPORT
    )
    for flag in added:
        account.flags.append(AccountFlagRow(flag=flag, source=Source.IMPORT, set_at=context.now))
    for flag in removed:
        account.flags.remove(have[flag])
    kept = sorted(
        flag
        for flag, flag_row in have.items()
        if flag not in wanted and flag_row.source != Source.IMPORT
    )
    if kept:
        context.report.notes.append(
            f"line {row.line}: flag(s) {', '.join(kept)} set through the line are kept"
        )
    if not added and not removed:
        return []
    return [[str(f) for f in added], [str(f) for f in removed]]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if isinstance(value, str) else value
