"""Cases a cardholder opens (hardship, dispute, complaint), by any line or an agent.

A dispute stops collection calls on the account until it is resolved (the flag). The
caller's session, never committed here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline import accounts, audit
from hotline.enums import AccountFlag, CaseKind, CaseStatus, Source
from hotline.models import AccountFlagRow, CardAccount, Case
from hotline.origin import Origin


def open_case(
    session: Session,
    account: CardAccount,
    *,
    kind: CaseKind,
    summary: str,
    origin: Origin,
    now: dt.datetime,
) -> Case:
    # The account's row, locked and read afresh first: two disputes opened at once (two
    # lines, or a caller and an agent) would each see no flag and both insert one.
    accounts.lock(session, account)
    case_row = Case(
        account_id=account.id,
        kind=kind,
        status=CaseStatus.OPEN,
        source=origin.source,
        call_sid=origin.call_sid,
        opened_at=now,
        summary=summary,
    )
    session.add(case_row)
    session.flush()
    if kind == CaseKind.DISPUTE and AccountFlag.DISPUTE not in account.flag_set:
        account.flags.append(
            AccountFlagRow(flag=AccountFlag.DISPUTE, source=origin.source, set_at=now)
        )
    audit.record(
        session,
        actor=origin.actor,
        action="case.opened",
        entity_type="card_account",
        entity_id=account.account_number,
        data={"case_id": case_row.id, "kind": str(kind), "call_sid": origin.call_sid},
        now=now,
    )
    return case_row


class CaseNotOpen(LookupError):
    """No open case of that account has that id."""


def resolve_case(
    session: Session,
    account: CardAccount,
    case_id: int,
    *,
    resolution: str,
    origin: Origin,
    now: dt.datetime,
) -> Case:
    """Resolve an open case. A dispute's flag is lifted with it, unless the bank's file set
    the flag or another dispute of the account is still open."""
    accounts.lock(session, account)
    case_row = session.get(Case, case_id, with_for_update=True)
    if (
        case_row is None
        or case_row.account_id != account.id
        or case_row.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED)
    ):
        raise CaseNotOpen(case_id)
    case_row.status, case_row.resolved_at, case_row.resolution = (
        CaseStatus.RESOLVED,
        now,
        resolution,
    )
    session.flush()
    lifted = False
    if case_row.kind == CaseKind.DISPUTE:
        others = session.scalar(
            select(func.count(Case.id)).where(
                Case.account_id == account.id,
                Case.kind == CaseKind.DISPUTE,
                Case.status.in_((CaseStatus.OPEN, CaseStatus.IN_PROGRESS)),
            )
        )
        flag = next((f for f in account.flags if f.flag == AccountFlag.DISPUTE), None)
        if not others and flag is not None and flag.source != Source.IMPORT:
            account.flags.remove(flag)
            lifted = True
    audit.record(
        session,
        actor=origin.actor,
        action="case.resolved",
        entity_type="card_account",
        entity_id=account.account_number,
        data={"case_id": case_row.id, "kind": str(case_row.kind), "dispute_flag_lifted": lifted},
        now=now,
    )
    return case_row
