"""Adversarial probes of the re-check at the slot: the batch's claims are left out of the
history the policy is asked about, and a text and a call never both take the last place
under a cap that counts both. PostgreSQL only where two sessions race."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from dialer import text_queue
from dialer.pacing import Limits
from dialer.tick import tick
from hotline.enums import AttemptStatus, Direction, PhoneType, TextStatus
from hotline.models import Campaign, CardAccount, ContactAttempt, TextMessage
from tests.conftest import backend
from tests.dialer_support import StepClock, config, set_limits, worker
from tests.fakes import FakeCallGateway
from tests.integration.dialer_fixtures import NOW, load_campaigns
from tests.integration.test_texts import CAMPAIGN, VOICE, _catalogs, account_with_call

pg_only = pytest.mark.skipif(backend() != "postgresql", reason="two sessions racing: PostgreSQL")


def _ma_account_with_planned_call(Session) -> tuple[int, int, int]:
    """us-ma (2 communications in 7 days, texts counted): one voicemail an hour ago (which
    owes a follow-up text), and a campaign call planned for now. (campaign, account, call)"""
    load_campaigns(Session, CAMPAIGN.replace('"us-regf"', '"us-ma"'))
    with Session() as session:
        campaign = session.scalars(select(Campaign.id)).one()
    account_id = account_with_call(Session, campaign, ended_at=NOW - dt.timedelta(hours=1))
    with Session.begin() as session:
        call_id = _planned_call(session, campaign, account_id)
    with Session.begin() as session:
        assert text_queue.queue_due(session, NOW) == 1  # the voicemail's follow-up
    set_limits(Session, Limits(1.0, 10), NOW)
    return campaign, account_id, call_id


def _planned_call(session, campaign: int, account_id: int) -> int:
    """A campaign call planned for now on the account's first number; its id."""
    phone = session.get(CardAccount, account_id).cardholder.phones[0]
    call = ContactAttempt(
        direction=Direction.OUTBOUND,
        campaign_id=campaign,
        account_id=account_id,
        phone_id=phone.id,
        number=phone.e164,
        status=AttemptStatus.PLANNED,
        due_at=NOW,
        created_at=NOW,
    )
    session.add(call)
    session.flush()
    return call.id


def _communications(Session, account_id: int) -> tuple[int, int]:
    """(calls placed or in flight, texts sending or sent) for the account."""
    with Session() as session:
        calls = session.scalars(
            select(ContactAttempt).where(
                ContactAttempt.account_id == account_id,
                ContactAttempt.status.not_in(
                    (AttemptStatus.PLANNED, AttemptStatus.SKIPPED, AttemptStatus.CANCELED)
                ),
            )
        ).all()
        texts = session.scalars(
            select(TextMessage).where(
                TextMessage.account_id == account_id,
                TextMessage.status.in_((TextStatus.SENDING, TextStatus.SENT)),
            )
        ).all()
    return len(calls), len(texts)


def _claim_texts(session):
    return text_queue.claim_due(
        session,
        worker_id="texts",
        now=NOW,
        lease=dt.timedelta(seconds=30),
        voice=VOICE,
        catalogs=_catalogs(),
    )


@pytest.mark.parametrize("order", ["text-first", "call-first"])
def test_ma_text_and_call_one_after_the_other_keep_to_two_in_seven(Session, order):
    """Control: one after the other, the second of the two is refused (1 voicemail + 1)."""
    _, account_id, _ = _ma_account_with_planned_call(Session)
    carrier = FakeCallGateway()
    clock = StepClock(NOW)
    carrier.now = clock.now
    if order == "text-first":
        with Session.begin() as session:
            assert len(_claim_texts(session).ready) == 1
        report = tick(Session, carrier, clock, config(), worker())
        assert (report.placed, report.skipped) == (0, 1)
    else:
        report = tick(Session, carrier, clock, config(), worker())
        assert report.placed == 1
        with Session.begin() as session:
            assert _claim_texts(session).ready == []
    assert sum(_communications(Session, account_id)) == 2  # the voicemail, and one more


@pg_only
def test_ma_text_claimed_while_the_dialer_places_a_call_keeps_to_two_in_seven(Session):
    """The texts job asks the policy, then marks the text SENDING, in one transaction under
    the cardholder's row lock; the dialer commits its claim, then asks. With the text's
    transaction still open while the tick runs, neither saw the other (the re-check took
    no cardholder lock): the call and the text both went, three communications in seven
    days where Massachusetts allows two. The re-check now waits for the text's claim."""
    _, account_id, call_id = _ma_account_with_planned_call(Session)
    carrier = FakeCallGateway()
    clock = StepClock(NOW)
    carrier.now = clock.now
    reports = []
    with Session.begin() as texts_session:
        claimed = _claim_texts(texts_session)
        assert len(claimed.ready) == 1  # the text is allowed: 1 voicemail so far
        # The texts job's transaction is still open (rendering the batch's other texts, ...);
        # meanwhile the tick, in the same dialer process (apscheduler's pool) or another one:
        dialer = threading.Thread(
            target=lambda: reports.append(tick(Session, carrier, clock, config(), worker()))
        )
        dialer.start()
        dialer.join(timeout=2)  # a dialer that waits for the texts job's claim is fine too
    dialer.join(timeout=30)
    [report] = reports
    with Session() as session:
        call = session.get(ContactAttempt, call_id)
        status, why = call.status, call.error_message
    calls, texts = _communications(Session, account_id)
    # Intended: the voicemail and ONE more communication (either the text or the call).
    assert calls + texts <= 2, (
        f"{calls} calls (voicemail + {report.placed} placed, attempt {status}: {why}) and "
        f"{texts} text(s) in 7 days under us-ma's 2-in-7"
    )


@pg_only
def test_ma_texts_job_and_tick_running_side_by_side_keep_to_two_in_seven(Session):
    """The dialer process runs the texts job beside the tick (apscheduler's pool): N
    accounts, each with a voicemail an hour ago (its follow-up text owed) and a campaign
    call due now, under us-ma. Each account may get one more communication, not two."""
    from dialer.texting import send_texts
    from tests.integration.test_texts import config as text_config

    load_campaigns(Session, CAMPAIGN.replace('"us-regf"', '"us-ma"'))
    with Session() as session:
        campaign = session.scalars(select(Campaign.id)).one()
    n = 120
    ids = []
    for i in range(n):
        number = f"+1415557{i:04d}"
        ids.append(
            account_with_call(
                Session,
                campaign,
                number=f"40000000001{i:05d}",
                phones=((number, PhoneType.MOBILE, True),),
                ended_at=NOW - dt.timedelta(hours=1),
            )
        )
    with Session.begin() as session:
        for account_id in ids:
            _planned_call(session, campaign, account_id)
    set_limits(Session, Limits(200.0, 1000), NOW)
    clock = StepClock(NOW)
    carrier = FakeCallGateway()
    carrier.now = clock.now
    texter = FakeCallGateway()
    go = threading.Barrier(2)
    out = {}

    def dial():
        go.wait()
        out["tick"] = tick(Session, carrier, clock, config(limits=Limits(200.0, 1000)), worker())

    def text():
        go.wait()
        out["texts"] = send_texts(Session, texter, clock, text_config())

    threads = [threading.Thread(target=dial), threading.Thread(target=text)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    over = [a for a in ids if sum(_communications(Session, a)) > 2]
    assert not over, (
        f"{len(over)} of {n} accounts got 3 communications in 7 days (us-ma allows 2): "
        f"tick {out.get('tick')}, texts sent {out['texts'].sent}"
    )


def test_a_claim_whose_lease_ran_out_and_was_placed_by_another_worker_is_not_dialled_again(
    Session,
):
    """w1 claims and reads the batch's facts (its own claim not counted), then stalls past
    its lease; w2 reconciles (no call at the carrier: planned again), claims and places it.
    w1 resumes on its stale facts: the claim is lost, nothing is dialled twice."""
    from dialer import claims, recheck
    from dialer.tick import TickReport, place, reconcile
    from tests.dialer_support import make_campaign, numbers, plan

    clock = StepClock(NOW)
    carrier = FakeCallGateway()
    carrier.now = clock.now
    set_limits(Session, Limits(1.0, 10), NOW)
    [attempt] = plan(Session, make_campaign(Session), numbers(1))
    with Session.begin() as session:
        [stale] = claims.claim_due(
            session,
            worker_id="w1",
            clock=clock.now,
            lease=dt.timedelta(seconds=30),
            horizon=clock.now() + dt.timedelta(seconds=2),
            limit=1,
        )
        facts = recheck.load_facts(session, [stale], stale.slot)
    assert facts.cases[attempt] is not None
    clock.advance(40)
    assert reconcile(Session, carrier, clock, config(), worker("w2")).replanned == 1
    assert tick(Session, carrier, clock, config(), worker("w2")).placed == 1
    report = TickReport()
    place(Session, carrier, clock, config(), worker("w1"), stale, report, facts)
    assert (report.placed, report.skipped, len(carrier.placed)) == (0, 1, 1)
    with Session() as session:
        row = session.get(ContactAttempt, attempt)
        assert row.worker_id == "w2" and row.provider_call_sid is not None
