"""adv15: two bank files sharing a reference (a corrected file sent while the first still
imports), on PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from hotline import audit, payments
from hotline.enums import Source
from hotline.models import Payment
from hotline.origin import Origin
from hotline.paymentrows import bank_key
from tests.conftest import backend
from tests.integration.test_import import ALICE, WANG
from tests.integration.test_payment_import import (  # noqa: F401
    NOW,
    accounts,
    alice,
    payments_csv,
    run,
)

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="row and advisory locks")


def _wang(session):
    from hotline.models import CardAccount

    return session.scalars(
        select(CardAccount).where(CardAccount.account_number == WANG["account_number"])
    ).one()


def test_a_reference_in_two_files_at_once_posts_once_and_neither_import_dies(Session, accounts):  # noqa: F811
    errors: list[BaseException] = []
    # File B, mid-chunk: it has posted BANK-Y on Wang's account (so it holds the audit
    # chain's lock) and is about to post BANK-X, also on Wang's account.
    b = Session()
    b.begin()
    assert payments.post_card_payment(
        b,
        _wang(b),
        amount_minor=100,
        key=bank_key("BANK-Y"),
        confirmation="BANK-Y",
        brand=None,
        masked=None,
        origin=Origin(Source.IMPORT, "test"),
        now=NOW,
    )

    def file_a():
        try:
            run(Session, payments_csv(f"{ALICE['account_number']},50.00,USD,2026-11-22,BANK-X"))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=file_a)
    thread.start()
    time.sleep(1.0)  # file A has inserted BANK-X and waits for the chain's lock
    try:
        payments.post_card_payment(
            b,
            _wang(b),
            amount_minor=100,
            key=bank_key("BANK-X"),
            confirmation="BANK-X",
            brand=None,
            masked=None,
            origin=Origin(Source.IMPORT, "test"),
            now=NOW,
        )
        b.commit()
    except BaseException as exc:
        errors.append(exc)
        b.rollback()
    finally:
        b.close()
    thread.join()
    # Expected: both imports finish; BANK-X is posted once (the other file's row rejected
    # as a conflicting reference). Actual: PostgreSQL detects a deadlock (B waits on A's
    # uncommitted BANK-X, A waits on the chain's advisory lock B holds) and one import dies.
    assert not errors, [type(e).__name__ + ": " + str(e).splitlines()[0] for e in errors]
    with Session() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Payment)
                .where(Payment.idempotency_key == "bank:BANK-X")
            )
            == 1
        )
        assert audit.verify_chain(session).ok
