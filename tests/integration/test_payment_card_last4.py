"""The database keeps payment.card_last4 to exactly four ASCII digits, or nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline.models import CardAccount, Payment, PaymentStatus, Source
from tests.conftest import seed_demo

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _post(Session, last4: str | None, key: str) -> None:
    with Session.begin() as session:
        account_id = session.scalars(select(CardAccount.id).limit(1)).one()
        session.add(
            Payment(
                account_id=account_id,
                amount_minor=100,
                currency="USD",
                source=Source.IVR,
                status=PaymentStatus.POSTED,
                idempotency_key=key,
                card_last4=last4,
                created_at=NOW,
                posted_at=NOW,
            )
        )


@pytest.mark.parametrize("last4", ["4242", "0000", None])
def test_four_ascii_digits_or_nothing_is_kept(Session, last4):
    seed_demo(Session, size=1)
    _post(Session, last4, f"ok-{last4}")
    with Session() as session:
        assert session.scalars(select(Payment.card_last4)).one() == last4


@pytest.mark.parametrize("last4", ["١٢٣٤", "４２４２", "424", "", "42a2", " 424", "4 24"])
def test_anything_else_is_refused_by_the_database(Session, last4):
    seed_demo(Session, size=1)
    with pytest.raises(IntegrityError, match="card_last4"):
        _post(Session, last4, "bad")
    with Session() as session:
        assert session.scalars(select(Payment)).all() == []
