"""adv15: a promise form submitted twice (a double click, a browser retry)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from desk import actions
from desk.queue import Agent
from dialer.lifecycle import run_lifecycle
from hotline import payments
from hotline.enums import PromiseStatus, Source
from hotline.models import CardAccount, PromiseToPay
from hotline.origin import Origin
from hotline.rules import Limits
from tests.integration.dialer_fixtures import NOW, add_account

AMY = Agent(user_id=1, username="amy", phone="+14155550299", waiver_limit_minor=25_00)
TODAY = NOW.date()


def test_a_promise_submitted_twice_is_one_promise_and_paying_it_breaks_nothing(Session):
    with Session.begin() as session:
        account = add_account(session, "P1").id
    date = TODAY + dt.timedelta(days=3)
    for _ in range(2):  # the same form, posted twice
        with Session.begin() as session:
            actions.promise(
                session,
                AMY,
                session.get_one(CardAccount, account),
                amount_minor=100_00,
                date=date,
                today=TODAY,
                limits=Limits(),
                call_sid=None,
                now=NOW,
            )
    with Session.begin() as session:
        payments.post_card_payment(
            session,
            session.get_one(CardAccount, account),
            amount_minor=100_00,
            key="pay-1",
            confirmation="pay-1",
            brand=None,
            masked=None,
            origin=Origin(Source.IVR, "test"),
            now=NOW + dt.timedelta(hours=1),
        )
    run_lifecycle(Session, NOW + dt.timedelta(days=5))
    with Session() as session:
        statuses = [
            p.status for p in session.scalars(select(PromiseToPay).order_by(PromiseToPay.id))
        ]
    # Expected: one promise, kept. Actual: two promises; the cardholder who paid exactly
    # what was promised is marked as having broken a promise (and is queued again).
    assert PromiseStatus.BROKEN not in statuses, statuses
    assert statuses == [PromiseStatus.KEPT], statuses
