"""Import the bank's payments posting file: each reference posted once, row by row.

The service takes the caller's session and never commits. Each good row is posted through
the one posting service (hotline.payments.post_card_payment, key "bank:<reference>"), so
a payment made at a branch or online lowers the balance and past due exactly as one taken
on the line does, and is audited the same way; the file as a whole is one audit event
more. Re-importing a file changes nothing; a reference seen before with other content (a
different account, amount, currency or day) is a rejected row, never a silent overwrite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline import audit, payments
from hotline.csvrows import RowError
from hotline.enums import Source
from hotline.importer import record_file, write_in_chunks
from hotline.models import CardAccount, Payment
from hotline.origin import Origin
from hotline.paymentrows import PaymentRow, read_payment_rows

CHUNK_SIZE = 500


@dataclass
class PaymentImportReport:
    rows_read: int = 0
    posted: int = 0
    already_posted: int = 0
    rejected: list[RowError] = field(default_factory=list)
    # Every row read is exactly one of posted, already posted or rejected.
    rejected_rows: int = 0

    def summary(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "posted": self.posted,
            "already_posted": self.already_posted,
            "rejected": self.rejected_rows,
        }

    def reject(self, error: RowError) -> None:
        self.rejected.append(error)
        self.rejected_rows += 1


def import_payments(
    session: Session,
    stream: TextIO,
    *,
    now: dt.datetime,
    actor: str,
    source: dict[str, Any],
    on_progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
    after_chunk: Callable[[], None] | None = None,
) -> PaymentImportReport:
    """Post every good row of a payments CSV once; HeaderError if the file is not one.

    `after_chunk` runs after each chunk is posted (the entry point may commit there, so no
    account or the audit chain is held for a whole large file)."""
    report = PaymentImportReport()
    origin = Origin(Source.IMPORT, actor)
    write_in_chunks(
        read_payment_rows(stream, today=now.date()),
        PaymentRow,
        lambda chunk: _post(session, chunk, origin, now, report),
        report,
        chunk_size=chunk_size,
        after_chunk=after_chunk,
        on_progress=on_progress,
    )
    # A row's format errors are found as it is read, its account's and currency's when its
    # chunk is posted: put them back in the file's order, so the first errors shown (the
    # CLI shows 50) are the file's first, not every malformed row before any account check.
    report.rejected.sort(key=lambda error: error.line)
    record_file(session, "payments", source, report.summary(), actor=actor, now=now)
    return report


def _post(
    session: Session,
    rows: Sequence[PaymentRow],
    origin: Origin,
    now: dt.datetime,
    report: PaymentImportReport,
) -> None:
    # Every account of the chunk locked first, in id order, before any posting takes the
    # audit chain's lock: two imports of one file, or an import and a call paying, then
    # wait on each other in one order and never deadlock.
    numbers = sorted({row.account_number for row in rows})
    by_number = {
        account.account_number: account
        for account in session.scalars(
            select(CardAccount)
            .where(CardAccount.account_number.in_(numbers))
            .order_by(CardAccount.id)
            .with_for_update(key_share=True)
        )
    }
    # Then the audit chain's lock, before any payment is inserted: a payment inserted first
    # (its reference's unique key held uncommitted) while waiting for the chain would
    # deadlock with another file holding the chain and inserting the same reference.
    audit.lock_chain(session)
    earlier = {
        payment.idempotency_key: payment
        for payment in session.scalars(
            select(Payment).where(Payment.idempotency_key.in_([row.key for row in rows]))
        )
    }
    for row in rows:
        account = by_number.get(row.account_number)
        if account is None:
            report.reject(RowError(row.line, "account_number", "no such account on file"))
            continue
        if row.currency != account.currency:
            report.reject(
                RowError(
                    row.line,
                    "currency",
                    f"{row.currency} is not the account's currency ({account.currency})",
                )
            )
            continue
        before = earlier.get(row.key)
        if before is None and payments.post_card_payment(
            session,
            account,
            amount_minor=row.amount_minor,
            key=row.key,
            confirmation=row.reference,
            brand=None,
            masked=None,
            origin=origin,
            now=now,
            posted_on=row.posted_on,
        ):
            report.posted += 1
            continue
        if before is None:  # another import posted it meanwhile: compare with theirs
            before = session.scalars(
                select(Payment).where(Payment.idempotency_key == row.key)
            ).one()
        if _same(before, row, account):
            report.already_posted += 1
        else:
            report.reject(RowError(row.line, "reference", _conflict(before, row, account)))


def _same(payment: Payment, row: PaymentRow, account: CardAccount) -> bool:
    return (payment.account_id, payment.amount_minor, payment.currency, payment.posted_on) == (
        account.id,
        row.amount_minor,
        row.currency,
        row.posted_on,
    )


def _conflict(payment: Payment, row: PaymentRow, account: CardAccount) -> str:
    differs = [
        name
        for name, was, now in (
            ("account_number", payment.account_id, account.id),
            ("amount", payment.amount_minor, row.amount_minor),
            ("currency", payment.currency, row.currency),
            ("posted_date", payment.posted_on, row.posted_on),
        )
        if was != now
    ]
    return (
        f"reference {row.reference!r} was posted before with another {', '.join(differs)}; "
        "not posted again (a correction needs a new reference)"
    )
