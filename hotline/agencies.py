"""Which accounts an agency may see: those placed with it on the day in question.

A placement runs from `starts_on` to `ends_on`, both inclusive (no end: until recalled).
Bank staff (no agency) see every account. The clause is what every desk query, export and
API filters CardAccount by, so scoping is one expression rather than a check per page.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, exists, or_, select, true
from sqlalchemy.orm import Session

from hotline.models import CardAccount, Placement


def placed_with(agency_id: int, on: dt.date) -> ColumnElement[bool]:
    """CardAccount rows placed with the agency on the day."""
    return exists(
        select(Placement.id).where(
            Placement.account_id == CardAccount.id,
            Placement.agency_id == agency_id,
            Placement.starts_on <= on,
            or_(Placement.ends_on.is_(None), Placement.ends_on >= on),
        )
    )


def visible_to(agency_id: int | None, on: dt.date) -> ColumnElement[bool]:
    """CardAccount rows someone of this agency sees on the day (None: the bank's own staff,
    who see all)."""
    return true() if agency_id is None else placed_with(agency_id, on)


def account_visible(session: Session, agency_id: int | None, account_id: int, on: dt.date) -> bool:
    """Whether the account exists and someone of this agency sees it on the day."""
    found = session.scalar(
        select(CardAccount.id).where(CardAccount.id == account_id, visible_to(agency_id, on))
    )
    return found is not None
