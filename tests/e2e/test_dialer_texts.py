"""A voicemail leads to a follow-up text the simulator carries, with how to opt out; a STOP
texted back then blocks every further text. The campaign file, the planner, the tick and
the real /dialer webhooks place the call; the texts job sends through the twilio SDK."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

from sqlalchemy import select

from dialer import claims
from dialer.pacing import Limits
from dialer.planner import plan
from dialer.texting import TextConfig, send_texts
from dialer.tick import tick
from hotline.enums import AttemptStatus, Direction, Disposition, PhoneType, TextStatus
from hotline.models import ContactAttempt, Phone, TextMessage
from simulator.callees import Script
from tests.dialer_support import StepClock, config
from tests.dialer_support import worker as new_worker
from tests.e2e.conftest import HOTLINE_NUMBER
from tests.e2e.test_dialer_campaign import a_working_day_at_19_utc
from tests.integration.dialer_fixtures import EXAMPLE, load_campaigns

ALICE = "+14155550100"  # a demo cardholder in California, 45 days past due (tier mid)


def ended_calls(Session, give_up_after: float = 30.0) -> list[ContactAttempt]:
    give_up = time.monotonic() + give_up_after
    while True:
        with Session() as session:
            rows = session.scalars(
                select(ContactAttempt).where(ContactAttempt.provider_call_sid.is_not(None))
            ).all()
            session.expunge_all()
        if (rows and all(r.ended_at is not None for r in rows)) or time.monotonic() > give_up:
            return list(rows)
        time.sleep(0.1)


def test_a_voicemail_is_followed_by_a_text_and_a_stop_blocks_the_next(hotline_app, clock):
    line = hotline_app
    runtime = line.app.extensions["hotline"]
    Session = runtime.Session
    at = a_working_day_at_19_utc()
    clock.set(at)
    # The call's webhooks stamp its end on the test's clock, as the dialer's jobs read it:
    # on the wall clock, an end after 19:00 real time made the follow-up due in the future.
    line.app.extensions["dialer"] = dataclasses.replace(
        line.app.extensions["dialer"], clock=clock.now
    )
    with Session.begin() as session:
        for phone in session.scalars(select(Phone).where(Phone.e164 == ALICE)):
            phone.phone_type, phone.autodial_consent = PhoneType.MOBILE, True
    load_campaigns(Session, EXAMPLE.read_text(), start=("us-reminders",))
    with Session() as session:
        plan(session, at, after_batch=session.commit)
        session.commit()
    # Alice's phone goes to voicemail: a greeting, then the beep.
    line.carrier.scripts[ALICE] = Script.from_dict({"answer": "machine"})
    with Session.begin() as session:
        claims.set_global_limits(session, Limits(50.0, 50), at)
    dialer_clock = StepClock(source=clock)
    placed = tick(
        Session,
        runtime.gateway,
        dialer_clock,
        config(public_base_url=line.base_url, caller_id=HOTLINE_NUMBER, limits=Limits(50.0, 50)),
        new_worker(),
    )
    assert placed.placed > 0
    line.carrier.wait_all()
    [alice_call] = [r for r in ended_calls(Session) if r.number == ALICE]
    assert alice_call.disposition == Disposition.VOICEMAIL_LEFT

    texts = TextConfig.from_settings(runtime.settings, "texts-1")
    report = send_texts(Session, runtime.gateway, dialer_clock, texts)
    assert report.sent >= 1
    line.carrier.wait_messages()
    [text] = [m for m in line.carrier.list_messages() if m.to == ALICE]
    assert text.from_ == HOTLINE_NUMBER and text.direction == "outbound-api"
    assert text.status == "delivered"
    assert text.body.endswith("Reply STOP to opt out.")
    assert "call us back at " + HOTLINE_NUMBER in text.body
    assert "$" not in text.body and "due" not in text.body.lower()
    with Session() as session:
        row = session.scalars(select(TextMessage).where(TextMessage.number == ALICE)).one()
        assert row.status is TextStatus.SENT and row.provider_sid == text.sid

    # Alice texts STOP back: her number is opted out at once.
    line.carrier.text_line(ALICE, "STOP")
    with Session() as session:
        assert all(
            p.opted_out_at is not None
            for p in session.scalars(select(Phone).where(Phone.e164 == ALICE))
        )
    # Another voicemail on a later call: no text follows it, whatever the tier says.
    later = at + dt.timedelta(hours=4)
    clock.set(later)
    with Session.begin() as session:
        session.add(
            ContactAttempt(
                direction=Direction.OUTBOUND,
                account_id=alice_call.account_id,
                number=ALICE,
                campaign_id=alice_call.campaign_id,
                tier_id=alice_call.tier_id,
                status=AttemptStatus.COMPLETED,
                started_at=later - dt.timedelta(minutes=1),
                ended_at=later,
                answered_by="machine_end_beep",
                disposition=Disposition.VOICEMAIL_LEFT,
            )
        )
    again = send_texts(Session, runtime.gateway, dialer_clock, texts)
    assert again.queued >= 1 and again.sent == 0
    to_alice = [
        m for m in line.carrier.list_messages() if m.to == ALICE and m.direction == "outbound-api"
    ]
    assert [m.sid for m in to_alice] == [text.sid]
    with Session() as session:
        rows = session.scalars(
            select(TextMessage).where(TextMessage.number == ALICE).order_by(TextMessage.id)
        ).all()
    assert [r.status for r in rows] == [TextStatus.SENT, TextStatus.SKIPPED]
    assert "opted out" in (rows[1].error_message or "")


def test_the_twilio_adapter_lists_the_texts_sent_to_a_number_since_a_moment(gateway, clock):
    """What settles a text whose sending is unknown: the Messages list by To, through the
    twilio SDK, oldest first, none older than asked for, none to another number."""
    mobile, other = "+14155550123", "+14155550124"
    start = clock.now()
    first = gateway.send_sms(mobile, HOTLINE_NUMBER, "one")
    gateway.send_sms(other, HOTLINE_NUMBER, "elsewhere")
    clock.advance(5)
    middle = clock.now()
    second = gateway.send_sms(mobile, HOTLINE_NUMBER, "two")
    listed = gateway.list_messages(mobile, start)
    assert [(m.sid, m.body, m.to) for m in listed] == [
        (first.sid, "one", mobile),
        (second.sid, "two", mobile),
    ]
    assert all(m.direction == "outbound-api" and m.created_at is not None for m in listed)
    assert [m.sid for m in gateway.list_messages(mobile, middle)] == [second.sid]
    assert gateway.list_messages("+14155550125", start) == []
