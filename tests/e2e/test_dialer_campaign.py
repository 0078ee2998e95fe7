"""The dialer's parts together: a campaign file loaded, the planner queueing the demo
portfolio's calls, the tick placing the due ones through the twilio SDK and the simulator,
and the real app's /dialer webhooks carrying each call to its outcome."""

from __future__ import annotations

import datetime as dt
import time

import holidays
from sqlalchemy import select

from dialer import claims
from dialer.pacing import Limits
from dialer.planner import plan
from dialer.tick import tick
from hotline.enums import AttemptStatus, Disposition
from hotline.models import ContactAttempt, Phone
from simulator.callees import Script
from tests.dialer_support import StepClock, config
from tests.dialer_support import worker as new_worker
from tests.e2e.conftest import HOTLINE_NUMBER
from tests.integration.dialer_fixtures import EXAMPLE, load_campaigns

ALICE = "+14155550100"  # a demo cardholder in California


def a_working_day_at_19_utc() -> dt.datetime:
    """11:00 in California, 14:00 in New York, 03:00 in Beijing, on a day that is no US
    federal holiday: the US campaign may call, the Chinese one may not yet."""
    day = dt.datetime.now(dt.UTC).date()
    while day in holidays.US(years=day.year):
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(19), tzinfo=dt.UTC)


def test_a_campaign_is_planned_dialled_and_each_call_ends_in_its_outcome(hotline_app, clock):
    line = hotline_app
    Session = line.app.extensions["hotline"].Session
    at = a_working_day_at_19_utc()
    clock.set(at)
    load_campaigns(Session, EXAMPLE.read_text(), start=("us-reminders", "cn-reminders"))
    with Session() as session:
        report = plan(session, at, after_batch=session.commit)
        session.commit()
    assert report.planned > 0
    line.carrier.scripts[ALICE] = Script.from_dict({"answer": "human", "keys": "2"})  # not me
    with Session.begin() as session:
        claims.set_global_limits(session, Limits(50.0, 50), at)

    placed = tick(
        Session,
        line.app.extensions["hotline"].gateway,
        StepClock(source=clock),
        config(public_base_url=line.base_url, caller_id=HOTLINE_NUMBER, limits=Limits(50.0, 50)),
        new_worker(),
    )
    assert placed.placed > 0
    line.carrier.wait_all()
    give_up = time.monotonic() + 30
    while True:
        with Session() as session:
            rows = session.scalars(
                select(ContactAttempt).where(ContactAttempt.provider_call_sid.is_not(None))
            ).all()
            session.expunge_all()
        if all(r.ended_at is not None for r in rows) or time.monotonic() > give_up:
            break
        time.sleep(0.1)

    assert len(rows) == placed.placed
    # Only the cardholders' own numbers, and none where it is the middle of the night.
    assert not any(r.number.startswith("+86") for r in rows)
    assert {c.to for c in line.carrier.list_calls()} == {r.number for r in rows}
    assert all(r.status in (AttemptStatus.COMPLETED, AttemptStatus.NO_ANSWER) for r in rows)
    [alice] = [r for r in rows if r.number == ALICE]
    assert alice.disposition == Disposition.WRONG_PARTY
    assert "$" not in (alice.said or "")  # a wrong party hears nothing of the debt
    with Session() as session:
        phone = session.scalars(select(Phone).where(Phone.e164 == ALICE)).first()
        assert phone is not None and phone.under_review_at is not None
    # Everyone else (silent on answering, so taken for a machine) got the limited message.
    others = {r.disposition for r in rows if r.number != ALICE}
    assert others <= {Disposition.VOICEMAIL_LEFT, Disposition.NO_ANSWER, Disposition.UNCONFIRMED}
    assert all("$" not in (r.said or "") for r in rows)
