"""Cases a cardholder opens (hardship, dispute, complaint), by any line or an agent.

A dispute stops collection calls on the account until it is resolved (the flag). The
caller's session, never committed here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from hotline import accounts, audit
from hotline.enums import AccountFlag, CaseKind, CaseStatus
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
