"""Import placements: which agency works which account, from when to when. Idempotent.

A placement is keyed by (account, agency, from): the same row again changes nothing; the
same key with another `to` moves its end (an early recall, or an open placement closed).
An account is with at most one agency on any day, so a row whose days overlap another
placement of the account (of any agency) is refused with the line and the placement it
meets. The accounts' rows are locked while their placements are compared, so two imports
at once cannot both place one account. Every change is audited, and the file as a whole.
The caller's session, never committed here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline import audit
from hotline.csvrows import RowError
from hotline.importer import ImportReport, record_file
from hotline.models import Agency, CardAccount, Placement
from hotline.placement_rows import PlacementRow, read_placements

CHUNK_SIZE = 1000


# The accounts import's report: every row read is created (placed), updated (its end
# moved), unchanged or rejected.
PlacementReport = ImportReport


def _overlaps(
    a_start: dt.date, a_end: dt.date | None, b_start: dt.date, b_end: dt.date | None
) -> bool:
    return (a_end is None or b_start <= a_end) and (b_end is None or a_start <= b_end)


def _span(start: dt.date, end: dt.date | None) -> str:
    return f"from {start} to {end}" if end else f"from {start} (open)"


def import_placements(
    session: Session,
    stream: TextIO,
    *,
    actor: str,
    now: dt.datetime,
    source: dict[str, Any],
    chunk_size: int = CHUNK_SIZE,
) -> PlacementReport:
    """Apply every good row of a placements CSV; HeaderError if the file is not one."""
    report = PlacementReport()
    agencies = {a.code: a for a in session.scalars(select(Agency))}
    chunk: list[PlacementRow] = []
    for result in read_placements(stream):
        report.rows_read += 1
        if isinstance(result, PlacementRow):
            chunk.append(result)
        else:
            report.rejected.extend(result)
            report.rejected_rows += 1
        if len(chunk) >= chunk_size:
            _apply(session, chunk, agencies, report, actor=actor, now=now)
            chunk = []
    if chunk:
        _apply(session, chunk, agencies, report, actor=actor, now=now)
    report.rejected.sort(key=lambda error: error.line)
    record_file(session, "placements", source, report.summary(), actor=actor, now=now)
    return report


def _apply(
    session: Session,
    rows: Sequence[PlacementRow],
    agencies: dict[str, Agency],
    report: PlacementReport,
    *,
    actor: str,
    now: dt.datetime,
) -> None:
    accounts = {
        account.account_number: account
        for account in session.scalars(
            select(CardAccount)
            .where(CardAccount.account_number.in_({row.account_number for row in rows}))
            .order_by(CardAccount.id)
            .with_for_update()
        )
    }
    placements: dict[int, list[Placement]] = {}
    for placement in session.scalars(
        select(Placement).where(Placement.account_id.in_([a.id for a in accounts.values()]))
    ):
        placements.setdefault(placement.account_id, []).append(placement)
    codes = {agency.id: code for code, agency in agencies.items()}

    def reject(row: PlacementRow, column: str, reason: str) -> None:
        report.rejected.append(RowError(row.line, column, reason))
        report.rejected_rows += 1

    for row in rows:
        account = accounts.get(row.account_number)
        agency = agencies.get(row.agency_code)
        if account is None or agency is None:
            if account is None:
                reject(row, "account", f"no account {row.account_number!r}")
            if agency is None:
                known = ", ".join(sorted(agencies)) or "none"
                reason = f"no agency {row.agency_code!r} (known: {known})"
                if account is None:  # one row, two reasons: still one rejected row
                    report.rejected.append(RowError(row.line, "agency", reason))
                else:
                    reject(row, "agency", reason)
            continue
        held = placements.setdefault(account.id, [])
        same = next(
            (p for p in held if p.agency_id == agency.id and p.starts_on == row.starts_on), None
        )
        if same is not None and same.ends_on == row.ends_on:
            report.unchanged += 1
            continue
        clash = next(
            (
                p
                for p in held
                if p is not same and _overlaps(p.starts_on, p.ends_on, row.starts_on, row.ends_on)
            ),
            None,
        )
        if clash is not None:
            reject(
                row,
                "from",
                f"overlaps the account's placement with {codes.get(clash.agency_id, '?')} "
                f"{_span(clash.starts_on, clash.ends_on)}",
            )
            continue
        data = {
            "agency": agency.code,
            "from": row.starts_on.isoformat(),
            "to": row.ends_on.isoformat() if row.ends_on else None,
            "line": row.line,
        }
        if same is not None:
            data["was_to"] = same.ends_on.isoformat() if same.ends_on else None
            same.ends_on, same.updated_at = row.ends_on, now
            report.updated += 1
            action = "placement.changed"
        else:
            placement = Placement(
                account_id=account.id,
                agency_id=agency.id,
                starts_on=row.starts_on,
                ends_on=row.ends_on,
                created_at=now,
                updated_at=now,
            )
            session.add(placement)
            held.append(placement)
            report.created += 1
            action = "placement.added"
        audit.record(
            session,
            actor=actor,
            action=action,
            entity_type="card_account",
            entity_id=account.account_number,
            data=data,
            now=now,
        )
    session.flush()
