"""The texts job on the database (SQLite, and PostgreSQL with HOTLINE_TEST_DATABASE_URL):
what is queued for which reason, once; what the policy lets go, and when; the carrier's
refusals; a sender killed between the send and the SID; two senders at once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from dialer import text_queue
from dialer.text_queue import Voice
from dialer.texting import TextConfig, send_texts
from hotline.enums import (
    AttemptStatus,
    Direction,
    Disposition,
    PaymentStatus,
    PhoneType,
    PromiseStatus,
    Source,
    TextKind,
    TextStatus,
)
from hotline.models import (
    AuditEvent,
    Campaign,
    CardAccount,
    ContactAttempt,
    Payment,
    Phone,
    PromiseToPay,
    TextMessage,
)
from telephony.gateway import GatewayError, MessageInfo
from tests.conftest import backend
from tests.dialer_support import StepClock
from tests.fakes import FakeCallGateway
from tests.integration.dialer_fixtures import (
    NOW,
    ONE_CAMPAIGN,
    add_account,
    load_campaigns,
    past_call,
)

MOBILE = "+14155550100"
CAMPAIGN = """
[tiers.mid]
days_past_due = "30-59"

[campaigns.us]
profile = "us-regf"
caller_id = "+18005550100"
status = "active"
countries = ["US"]

[campaigns.us.tiers.mid]
script = ["reminder_mid"]
attempts_per_day = 2
spacing = "3h"
retry_delay = { no_answer = "3h", busy = "30m", voicemail = "1d", failed = "2h" }
amd = "detect-message-end"
offer_agent = true
sms_after = ["voicemail"]
courtesy_reminder_days = 2
thank_you_sms = true
"""
VOICE = Voice(
    callback_number="+18005550100",
    caller_id="+18005550100",
    business={"en": "EB Services", "zh-CN": "EB服务"},
)


def config(worker: str = "t1") -> TextConfig:
    return TextConfig(voice=VOICE, worker_id=worker)


@pytest.fixture
def campaign(Session) -> int:
    load_campaigns(Session, CAMPAIGN)
    with Session() as session:
        return session.scalars(select(Campaign.id)).one()


def account_with_call(
    Session,
    campaign_id: int,
    *,
    number: str = "4000000000000001",
    phones=((MOBILE, PhoneType.MOBILE, True),),
    disposition: Disposition = Disposition.VOICEMAIL_LEFT,
    ended_at: dt.datetime = NOW,
) -> int:
    with Session.begin() as session:
        account = add_account(session, number, phones=phones)
        session.add(
            ContactAttempt(
                direction=Direction.OUTBOUND,
                account_id=account.id,
                number=phones[0][0],
                campaign_id=campaign_id,
                tier_id=account.tier_id or _tier(session),
                status=AttemptStatus.COMPLETED,
                started_at=ended_at - dt.timedelta(minutes=1),
                ended_at=ended_at,
                due_at=ended_at,
                answered_by="machine_end_beep",
                disposition=disposition,
            )
        )
        return account.id


def _tier(session) -> int:
    from hotline.models import DelinquencyTier

    return session.scalars(select(DelinquencyTier.id).where(DelinquencyTier.code == "mid")).one()


def texts(Session) -> list[TextMessage]:
    with Session() as session:
        return list(session.scalars(select(TextMessage).order_by(TextMessage.id)))


def test_a_voicemail_is_followed_by_one_text_with_the_stop_words_and_its_sid(Session, campaign):
    account_with_call(Session, campaign)
    gateway = FakeCallGateway()
    report = send_texts(Session, gateway, StepClock(NOW), config())
    assert (report.queued, report.sent) == (1, 1)
    [message] = gateway.sms
    assert message.to == MOBILE and message.from_ == "+18005550100"
    assert message.body == (
        "EB Services: a message for Test Holder. Please call us back at +18005550100. "
        "Reply STOP to opt out."
    )
    [row] = texts(Session)
    assert row.kind is TextKind.FOLLOW_UP and row.status is TextStatus.SENT
    assert row.provider_sid == message.sid and row.body == message.body
    # Found again on every run, queued and sent once.
    again = send_texts(Session, gateway, StepClock(NOW + dt.timedelta(minutes=5)), config())
    assert (again.queued, again.sent) == (0, 0) and len(gateway.sms) == 1
    with Session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "text_message")
        ).all()
    assert actions == ["text.queued", "text.sent"]
    with Session() as session:
        assert [t.id for t in text_queue.account_texts(session, row.account_id)] == [row.id]


def test_no_answer_is_not_followed_when_the_tier_texts_after_a_voicemail_only(Session, campaign):
    account_with_call(Session, campaign, disposition=Disposition.NO_ANSWER)
    gateway = FakeCallGateway()
    assert send_texts(Session, gateway, StepClock(NOW), config()).queued == 0
    assert gateway.sms == []


@pytest.mark.parametrize(
    ("phones", "reason"),
    [
        (((MOBILE, PhoneType.HOME, True),), "not a mobile"),
        (((MOBILE, PhoneType.MOBILE, False),), "without autodial consent"),
    ],
)
def test_a_landline_or_a_mobile_without_consent_is_never_texted(Session, campaign, phones, reason):
    account_with_call(Session, campaign, phones=phones)
    gateway = FakeCallGateway()
    report = send_texts(Session, gateway, StepClock(NOW), config())
    assert (report.queued, report.skipped, report.sent) == (1, 1, 0)
    assert gateway.sms == []
    [row] = texts(Session)
    assert row.status is TextStatus.SKIPPED and reason in (row.error_message or "")


def test_a_landline_called_is_followed_on_the_cardholders_mobile(Session, campaign):
    account_with_call(
        Session,
        campaign,
        phones=(("+14155550111", PhoneType.HOME, True), (MOBILE, PhoneType.MOBILE, True)),
    )
    gateway = FakeCallGateway()
    send_texts(Session, gateway, StepClock(NOW), config())
    assert [m.to for m in gateway.sms] == [MOBILE]


def test_an_opted_out_number_is_never_texted(Session, campaign):
    account_id = account_with_call(Session, campaign)
    with Session.begin() as session:
        phone = session.scalars(select(Phone).where(Phone.e164 == MOBILE)).one()
        phone.opted_out_at, phone.opted_out_source = NOW, Source.DIALER
    gateway = FakeCallGateway()
    send_texts(Session, gateway, StepClock(NOW), config())
    assert gateway.sms == []
    [row] = texts(Session)
    assert row.account_id == account_id and row.status is TextStatus.SKIPPED
    assert "opted out" in (row.error_message or "")


def test_a_text_due_at_night_waits_for_the_window_in_every_zone(Session, campaign):
    night = dt.datetime(2026, 12, 2, 11, 0, tzinfo=dt.UTC)  # 03:00 in California
    account_with_call(Session, campaign, ended_at=night)
    gateway = FakeCallGateway()
    report = send_texts(Session, gateway, StepClock(night), config())
    assert (report.deferred, report.sent) == (1, 0)
    [row] = texts(Session)
    assert row.status is TextStatus.QUEUED
    assert row.due_at == dt.datetime(2026, 12, 2, 16, 0, tzinfo=dt.UTC)  # 08:00 in California
    later = send_texts(Session, gateway, StepClock(row.due_at), config())
    assert later.sent == 1


def test_a_courtesy_reminder_goes_the_set_days_before_a_promise(Session, campaign):
    account_id = account_with_call(Session, campaign, disposition=Disposition.PROMISE)
    with Session.begin() as session:
        session.add(
            PromiseToPay(
                account_id=account_id,
                amount_minor=50_00,
                currency="USD",
                promised_date=NOW.date() + dt.timedelta(days=2),
                status=PromiseStatus.PENDING,
                source=Source.DIALER,
            )
        )
    gateway = FakeCallGateway()
    early = send_texts(Session, gateway, StepClock(NOW - dt.timedelta(days=1)), config())
    assert early.queued == 0  # three days before: not yet
    send_texts(Session, gateway, StepClock(NOW), config())
    [message] = gateway.sms
    assert "December 4, 2026" in message.body and "$" not in message.body
    assert message.body.endswith("Reply STOP to opt out.")
    assert send_texts(Session, gateway, StepClock(NOW + dt.timedelta(hours=1)), config()).sent == 0


def _posted_payment(account_id: int, reference: str) -> Payment:
    """$100 posted from the bank's file an hour before NOW."""
    return Payment(
        account_id=account_id,
        amount_minor=100_00,
        currency="USD",
        source=Source.IMPORT,
        status=PaymentStatus.POSTED,
        idempotency_key=reference,
        posted_at=NOW - dt.timedelta(hours=1),
    )


def test_a_payment_and_the_promise_it_kept_get_one_thank_you(Session, campaign):
    account_id = account_with_call(Session, campaign, disposition=Disposition.PROMISE)
    with Session.begin() as session:
        account = session.get(CardAccount, account_id)
        account.past_due_minor, account.days_past_due = 0, 0  # paid up: no call, but thanks
        session.add(_posted_payment(account_id, "bank:REF1"))
        session.add(
            PromiseToPay(
                account_id=account_id,
                amount_minor=100_00,
                currency="USD",
                promised_date=NOW.date(),
                status=PromiseStatus.KEPT,
                source=Source.DIALER,
                resolved_at=NOW - dt.timedelta(minutes=30),
            )
        )
    gateway = FakeCallGateway()
    report = send_texts(Session, gateway, StepClock(NOW), config())
    assert report.queued == 2 and report.sent == 1 and report.skipped == 1
    [message] = gateway.sms
    assert "received your payment" in message.body and "$" not in message.body


def test_a_429_defers_the_text_with_backoff_and_it_goes_later(Session, campaign):
    account_with_call(Session, campaign)
    gateway = FakeCallGateway()
    gateway.fail("send_sms", GatewayError("Too Many Requests", code=20429, status=429))
    report = send_texts(Session, gateway, StepClock(NOW), config())
    assert (report.sent, report.deferred) == (0, 1)
    [row] = texts(Session)
    assert row.status is TextStatus.QUEUED and row.due_at == NOW + dt.timedelta(seconds=30)
    gateway.failing.clear()
    assert send_texts(Session, gateway, StepClock(row.due_at), config()).sent == 1


def test_an_unsubscribed_number_at_the_carrier_fails_and_is_opted_out(Session, campaign):
    account_with_call(Session, campaign)
    gateway = FakeCallGateway()
    gateway.fail("send_sms", GatewayError("unsubscribed", code=21610, status=400))
    assert send_texts(Session, gateway, StepClock(NOW), config()).failed == 1
    with Session() as session:
        assert session.scalars(select(Phone.opted_out_at)).one() is not None


class LostAnswer(FakeCallGateway):
    """Sends the text, then the answer is lost (a 502, a dead connection)."""

    def send_sms(self, to: str, from_: str, body: str) -> MessageInfo:
        super().send_sms(to, from_, body)
        raise GatewayError("bad gateway", code=None, status=502)


def test_a_text_whose_answer_was_lost_is_found_at_the_carrier_not_sent_again(Session, campaign):
    account_with_call(Session, campaign)
    gateway = LostAnswer()
    clock = StepClock(NOW)
    gateway.now = clock.now
    report = send_texts(Session, gateway, clock, config())
    assert report.unknown == 1 and len(gateway.sms) == 1
    [row] = texts(Session)
    assert row.status is TextStatus.SENDING and row.provider_sid is None
    # The next run, after the lease: it asks the carrier, and adopts what it finds.
    again = send_texts(Session, gateway, StepClock(NOW + dt.timedelta(minutes=2)), config())
    assert (again.adopted, again.sent, len(gateway.sms)) == (1, 0, 1)
    [row] = texts(Session)
    assert row.status is TextStatus.SENT and row.provider_sid == gateway.sms[0].sid


def test_a_sender_killed_after_sending_is_settled_from_the_carriers_list(Session, campaign):
    account_with_call(Session, campaign)
    gateway = FakeCallGateway()
    gateway.now = lambda: NOW
    with Session.begin() as session:
        text_queue.queue_due(session, NOW)
    with Session.begin() as session:
        [outgoing] = text_queue.claim_due(
            session,
            worker_id="dead",
            now=NOW,
            lease=dt.timedelta(seconds=30),
            voice=VOICE,
            catalogs=_catalogs(),
        ).ready
    gateway.send_sms(outgoing.claim.number, outgoing.from_, outgoing.body)  # then kill -9
    later = NOW + dt.timedelta(minutes=1)
    report = send_texts(Session, gateway, StepClock(later), config("w2"))
    assert report.adopted == 1 and report.sent == 0 and len(gateway.sms) == 1
    [row] = texts(Session)
    assert row.status is TextStatus.SENT and row.provider_sid == gateway.sms[0].sid


def test_a_sender_killed_before_sending_sends_it_once_later(Session, campaign):
    account_with_call(Session, campaign)
    gateway = FakeCallGateway()
    with Session.begin() as session:
        text_queue.queue_due(session, NOW)
    with Session.begin() as session:
        text_queue.claim_due(
            session,
            worker_id="dead",
            now=NOW,
            lease=dt.timedelta(seconds=30),
            voice=VOICE,
            catalogs=_catalogs(),
        )
    # Within the lease nobody touches it; after it, the carrier shows nothing: queued again.
    assert (
        send_texts(Session, gateway, StepClock(NOW + dt.timedelta(seconds=10)), config()).sent == 0
    )
    report = send_texts(Session, gateway, StepClock(NOW + dt.timedelta(minutes=1)), config())
    assert (report.requeued, report.sent, len(gateway.sms)) == (1, 1, 1)


def _catalogs():
    from prompts.catalog import load_all

    return load_all()


@pytest.mark.skipif(
    backend() != "postgresql", reason="SKIP LOCKED is PostgreSQL's; SQLite runs one dialer"
)
def test_two_senders_at_once_never_send_a_text_twice(Session, campaign):
    for i in range(30):
        account_with_call(
            Session,
            campaign,
            number=f"40000000000001{i:02d}",
            phones=((f"+1415555{i:04d}", PhoneType.MOBILE, True),),
        )
    gateway = FakeCallGateway()
    lock = threading.Lock()
    sent: list[str] = []
    original = gateway.send_sms

    def send(to: str, from_: str, body: str) -> MessageInfo:
        with lock:
            sent.append(to)
        return original(to, from_, body)

    gateway.send_sms = send  # type: ignore[method-assign]
    barrier = threading.Barrier(2)
    reports = []

    def run(name: str) -> None:
        barrier.wait()
        reports.append(send_texts(Session, gateway, StepClock(NOW), config(name)))

    threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 30 and len(set(sent)) == 30
    assert sum(r.sent for r in reports) == 30
    rows = texts(Session)
    assert len(rows) == 30 and all(r.status is TextStatus.SENT for r in rows)


def test_the_preview_lists_the_texts_queued_for_the_day_and_why_they_wait(
    Session, campaign, hotline
):
    tomorrow = _follow_up_queued_tomorrow(Session, campaign, "outside the calling window")
    result = hotline("campaign", "preview", "--date", tomorrow.isoformat())
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if "follow-up" in line]
    assert "4000000000000001" in line and f"{tomorrow.isoformat()} 16:00" in line
    assert "outside the calling" in line and MOBILE not in line  # masked
    assert "1 text(s) queued" in result.stdout


@pytest.mark.skipif(
    backend() != "postgresql", reason="SKIP LOCKED is PostgreSQL's; SQLite runs one dialer"
)
def test_a_claim_in_flight_is_passed_over_by_another_sender(Session, campaign):
    for i in range(6):
        account_with_call(
            Session,
            campaign,
            number=f"40000000000002{i:02d}",
            phones=((f"+1415556{i:04d}", PhoneType.MOBILE, True),),
        )
    with Session.begin() as session:
        text_queue.queue_due(session, NOW)
    claim = {
        "now": NOW,
        "lease": dt.timedelta(seconds=30),
        "voice": VOICE,
        "catalogs": _catalogs(),
        "limit": 3,
    }
    with Session.begin() as first:
        mine = text_queue.claim_due(first, worker_id="a", **claim).ready
        # Not committed yet: another sender, meanwhile, takes the other three.
        with Session.begin() as second:
            theirs = text_queue.claim_due(second, worker_id="b", **claim).ready
    assert len(mine) == len(theirs) == 3
    assert not {o.claim.text_id for o in mine} & {o.claim.text_id for o in theirs}


def test_the_next_instalment_of_a_plan_gets_a_reminder_in_the_cardholders_language(
    Session, campaign
):
    from hotline.enums import InstalmentStatus, Language, PlanStatus
    from hotline.models import PlanInstalment, RepaymentPlan

    account_id = account_with_call(Session, campaign, disposition=Disposition.PROMISE)
    with Session.begin() as session:
        account = session.get(CardAccount, account_id)
        account.cardholder.language = Language.ZH_CN
        first = NOW.date() + dt.timedelta(days=2)
        plan = RepaymentPlan(
            account_id=account_id,
            instalment_count=2,
            total_minor=200_00,
            currency="USD",
            start_date=first,
            status=PlanStatus.ACTIVE,
            source=Source.AGENT,
        )
        for sequence, day in ((1, first), (2, first + dt.timedelta(days=30))):
            plan.instalments.append(
                PlanInstalment(
                    sequence=sequence,
                    due_date=day,
                    amount_minor=100_00,
                    status=InstalmentStatus.DUE,
                )
            )
        session.add(plan)
    gateway = FakeCallGateway()
    report = send_texts(Session, gateway, StepClock(NOW), config())
    assert (report.queued, report.sent) == (1, 1)
    [message] = gateway.sms
    assert message.body == (
        "EB服务：Test Holder您好，提醒您于2026年12月4日按约定付款。"
        "如有疑问请致电+18005550100。回复退订停止接收。"
    )
    [row] = texts(Session)
    assert row.kind is TextKind.REMINDER and row.source_key.startswith("instalment:")


@pytest.mark.skipif(
    backend() != "postgresql", reason="row locks are PostgreSQL's; SQLite runs one dialer"
)
def test_two_senders_texting_one_person_at_once_keep_to_a_cap_that_counts_texts(Session):
    """us-ma: 2 communications in 7 days, texts included. The voicemail is one; of the two
    texts owed (a follow-up and a reminder), claimed by two senders at once, one goes."""
    load_campaigns(Session, CAMPAIGN.replace('"us-regf"', '"us-ma"'))
    with Session() as session:
        campaign = session.scalars(select(Campaign.id)).one()
    account_id = account_with_call(Session, campaign, ended_at=NOW - dt.timedelta(hours=1))
    with Session.begin() as session:
        session.add(
            PromiseToPay(
                account_id=account_id,
                amount_minor=50_00,
                currency="USD",
                promised_date=NOW.date() + dt.timedelta(days=2),
                status=PromiseStatus.PENDING,
                source=Source.DIALER,
            )
        )
    with Session.begin() as session:
        assert text_queue.queue_due(session, NOW) == 2
    claim = {
        "now": NOW,
        "lease": dt.timedelta(seconds=30),
        "voice": VOICE,
        "catalogs": _catalogs(),
        "limit": 1,
    }
    second: list[text_queue.Claimed] = []

    def other_sender() -> None:
        with Session.begin() as session:
            second.append(text_queue.claim_due(session, worker_id="b", **claim))

    with Session.begin() as session:
        first = text_queue.claim_due(session, worker_id="a", **claim)
        thread = threading.Thread(target=other_sender)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # waiting for the first sender's claim on the person
    thread.join(timeout=10)
    assert len(first.ready) == 1
    [late] = second
    assert late.ready == [] and late.deferred + late.skipped == 1
    sending, other = sorted(texts(Session), key=lambda t: t.status is not TextStatus.SENDING)
    assert sending.status is TextStatus.SENDING
    assert other.status in (TextStatus.QUEUED, TextStatus.SKIPPED)
    assert "Massachusetts 2-in-7" in (other.error_message or "")


def test_a_sent_follow_up_is_in_the_desks_contact_history_with_what_it_said(Session, campaign):
    from desk.account_view import account_view

    account = account_with_call(Session, campaign)
    send_texts(Session, FakeCallGateway(), StepClock(NOW), config())
    with Session() as session:
        contacts = account_view(session, account).contacts
    kinds = [c.kind for c in contacts]
    assert sorted(kinds) == ["call", "text"]
    [text] = [c for c in contacts if c.kind == "text"]
    assert text.number == MOBILE and text.status == "sent" and text.disposition == "follow-up"
    assert text.said[0].endswith("Reply STOP to opt out.")
    assert text.campaign is not None


# --- a paused campaign holds its texts -------------------------------------------------------


def _set_campaign(Session, status, at=NOW):
    from dialer.campaign_store import set_status
    from hotline.enums import CampaignStatus

    with Session.begin() as session:
        set_status(session, "us", CampaignStatus(status), actor="test", now=at)


def _promise(Session, account_id, days=2, status=PromiseStatus.PENDING) -> int:
    with Session.begin() as session:
        promise = PromiseToPay(
            account_id=account_id,
            amount_minor=50_00,
            currency="USD",
            promised_date=NOW.date() + dt.timedelta(days=days),
            status=status,
            source=Source.DIALER,
        )
        session.add(promise)
        session.flush()
        return promise.id


def test_a_paused_campaigns_follow_up_is_held_and_goes_when_it_is_started_again(Session, campaign):
    from dialer.campaign_store import set_status
    from hotline.enums import CampaignStatus

    account_with_call(Session, campaign)
    _set_campaign(Session, "paused")
    gateway = FakeCallGateway()
    held = send_texts(Session, gateway, StepClock(NOW), config())
    assert (held.queued, held.sent, held.skipped) == (1, 0, 0)
    [row] = texts(Session)
    assert row.status is TextStatus.QUEUED  # held, not dropped
    assert _desk_text(Session, row.account_id) == ("held", ("held: campaign us is paused",))
    with Session.begin() as session:  # what pausing says (the CLI and the desk print it)
        change = set_status(session, "us", CampaignStatus.PAUSED, actor="test", now=NOW)
    assert change.said() == "1 queued text(s) held until it is started again"
    still = send_texts(Session, gateway, StepClock(NOW + dt.timedelta(hours=2)), config())
    assert (still.sent, still.skipped) == (0, 0) and gateway.sms == []
    _set_campaign(Session, "active", NOW + dt.timedelta(hours=3))
    resumed = send_texts(Session, gateway, StepClock(NOW + dt.timedelta(hours=3)), config())
    assert resumed.sent == 1
    [message] = gateway.sms
    assert message.to == MOBILE and "call us back" in message.body
    [row] = texts(Session)
    assert row.status is TextStatus.SENT
    status, said = _desk_text(Session, row.account_id)
    assert status == "sent" and said[-1].endswith("Reply STOP to opt out.")


def _desk_text(Session, account_id):
    """The account's one text as the desk's account page lists it: (status, what was said)."""
    from desk.account_view import account_view

    with Session() as session:
        [text] = [c for c in account_view(session, account_id).contacts if c.kind == "text"]
    return text.status, text.said


def test_a_held_reminder_whose_date_has_come_is_dropped_as_moot_not_sent(Session, campaign):
    account_id = account_with_call(Session, campaign, disposition=Disposition.PROMISE)
    _promise(Session, account_id, days=2)
    _set_campaign(Session, "paused")
    gateway = FakeCallGateway()
    assert send_texts(Session, gateway, StepClock(NOW), config()).queued == 1
    [row] = texts(Session)
    assert (row.kind, row.status) == (TextKind.REMINDER, TextStatus.QUEUED)
    # Still paused on the promise's date: the reminder is moot, closed with its reason.
    later = NOW + dt.timedelta(days=3)
    report = send_texts(Session, gateway, StepClock(later), config())
    assert (report.sent, report.skipped) == (0, 1)
    [row] = texts(Session)
    assert row.status is TextStatus.SKIPPED and "too late" in (row.error_message or "")
    _set_campaign(Session, "active", later)
    assert send_texts(Session, gateway, StepClock(later), config()).sent == 0
    assert gateway.sms == []


def test_a_held_reminder_of_a_promise_cancelled_meanwhile_is_not_sent_on_restart(Session, campaign):
    account_id = account_with_call(Session, campaign, disposition=Disposition.PROMISE)
    promise_id = _promise(Session, account_id, days=2)
    _set_campaign(Session, "paused")
    gateway = FakeCallGateway()
    send_texts(Session, gateway, StepClock(NOW), config())
    with Session.begin() as session:
        session.get(PromiseToPay, promise_id).status = PromiseStatus.CANCELLED
    restart = NOW + dt.timedelta(hours=2)
    _set_campaign(Session, "active", restart)
    report = send_texts(Session, gateway, StepClock(restart), config())
    assert (report.sent, report.skipped) == (0, 1) and gateway.sms == []
    [row] = texts(Session)
    assert row.status is TextStatus.SKIPPED
    assert row.error_message == "no longer owed: the promise is cancelled"


def test_a_held_reminder_still_owed_goes_on_restart_before_its_date(Session, campaign):
    account_id = account_with_call(Session, campaign, disposition=Disposition.PROMISE)
    _promise(Session, account_id, days=2)
    _set_campaign(Session, "paused")
    gateway = FakeCallGateway()
    send_texts(Session, gateway, StepClock(NOW), config())
    restart = NOW + dt.timedelta(days=1)  # the day before the promise's date
    _set_campaign(Session, "active", restart)
    assert send_texts(Session, gateway, StepClock(restart), config()).sent == 1
    [message] = gateway.sms
    assert "December 4, 2026" in message.body


def test_a_finished_campaigns_texts_are_dropped_it_will_not_start_again(Session, campaign):
    account_with_call(Session, campaign)
    _set_campaign(Session, "finished")
    gateway = FakeCallGateway()
    report = send_texts(Session, gateway, StepClock(NOW), config())
    assert (report.sent, report.skipped) == (0, 1)
    [row] = texts(Session)
    assert row.status is TextStatus.SKIPPED and row.error_message == "campaign finished"


def test_the_preview_says_a_paused_campaigns_text_is_held(Session, campaign, hotline):
    tomorrow = _follow_up_queued_tomorrow(Session, campaign)
    _set_campaign(Session, "paused")
    result = hotline("campaign", "preview", "--date", tomorrow.isoformat())
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if "follow-up" in line]
    assert "held: campaign us is paused" in line


def test_a_text_whose_campaign_is_paused_while_it_is_being_claimed_is_held_not_dropped(
    Session, campaign
):
    # The claim reads the candidates (held texts left out), then each one's campaign: one
    # paused in between (another session, PostgreSQL's read committed) is held as well.
    account_with_call(Session, campaign)
    with Session.begin() as session:
        text_queue.queue_due(session, NOW)
    _set_campaign(Session, "paused")
    with Session.begin() as session:
        [text] = session.scalars(select(TextMessage)).all()
        assert text_queue._verdict(session, text, NOW) == text.due_at


def _follow_up_queued_tomorrow(Session, campaign, why: str | None = None) -> dt.date:
    """A follow-up queued for 16:00 UTC tomorrow after a call five hours before; the day."""
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date()
    due = dt.datetime.combine(tomorrow, dt.time(16), dt.UTC)
    account_id = account_with_call(Session, campaign, ended_at=due - dt.timedelta(hours=5))
    with Session.begin() as session:
        session.add(
            TextMessage(
                account_id=account_id,
                number=MOBILE,
                campaign_id=campaign,
                kind=TextKind.FOLLOW_UP,
                source_key="attempt:1",
                body_key="sms_follow_up",
                language="en",
                status=TextStatus.QUEUED,
                due_at=due,
                error_message=why,
            )
        )
    return tomorrow


def test_a_thank_you_waits_for_a_mobile_and_goes_once_one_is_on_file(Session, campaign):
    # Reasons to text a cardholder with no mobile are left out where they are found (none
    # is queued): once a mobile is added, within the thank-you's two days, it goes.
    account_id = account_with_call(
        Session,
        campaign,
        phones=(("+14155550123", PhoneType.HOME, True),),
        disposition=Disposition.PAID,
    )
    with Session.begin() as session:
        session.add(_posted_payment(account_id, "bank:REF9"))
    gateway = FakeCallGateway()
    assert send_texts(Session, gateway, StepClock(NOW), config()).queued == 0
    assert texts(Session) == [] and gateway.sms == []
    with Session.begin() as session:
        holder = session.get(CardAccount, account_id).cardholder
        holder.phones.append(Phone(e164=MOBILE, phone_type=PhoneType.MOBILE, autodial_consent=True))
    later = send_texts(Session, gateway, StepClock(NOW + dt.timedelta(hours=2)), config())
    assert later.queued == 1 and later.sent == 1
    [message] = gateway.sms
    assert message.to == MOBILE and "received your payment" in message.body


def test_the_zones_alone_are_the_zones_of_the_whole_case(Session):
    from dialer.facts import load_cases, load_zones
    from dialer.policy import candidate_zones

    with Session.begin() as session:
        ids = [
            add_account(session, "4000000000000011", region="NY").id,
            add_account(
                session,
                "4000000000000012",
                region="TX",
                phones=(
                    ("+12065550100", PhoneType.MOBILE, True),
                    ("+13055550100", PhoneType.HOME, False),
                ),
            ).id,
            add_account(session, "4000000000000013", region="CA", phones=()).id,
        ]
        removed = session.scalars(select(Phone).where(Phone.e164 == "+13055550100")).one()
        removed.removed_at = NOW
    with Session() as session:
        connection = session.connection()
        whole = load_cases(connection, ids, NOW).cases
        zones = load_zones(connection, ids)
    assert zones == {c.account_id: candidate_zones(c.facts, c.phones) for c in whole}
    assert set(zones) == set(ids)
    assert "America/New_York" in zones[ids[0]] and "America/Los_Angeles" in zones[ids[0]]
    assert "America/Chicago" in zones[ids[1]] and "America/New_York" not in zones[ids[1]]


# --- which tier's settings decide a reminder or a thank-you ----------------------------------


def _texts_of(offer: str, days: int, thanks: bool) -> tuple[str, str]:
    return (
        f"offer_agent = {offer}\n",
        f"offer_agent = {offer}\ncourtesy_reminder_days = {days}\n"
        f"thank_you_sms = {str(thanks).lower()}\n",
    )


# The fixtures' two tiers, each with reminders and thank-yous of its own.
TWO_TIERS = ONE_CAMPAIGN.replace(*_texts_of("false", 1, False)).replace(*_texts_of("true", 9, True))


def _call_in_tier(session, account: CardAccount, code: str, at: dt.datetime) -> None:
    """A campaign call to the account in tier `code` (which tier worked it, for its texts)."""
    from hotline.models import DelinquencyTier

    past_call(
        session,
        account,
        at=at,
        status=AttemptStatus.COMPLETED,
        campaign_id=session.scalars(select(Campaign.id)).one(),
        tier_id=session.scalars(
            select(DelinquencyTier.id).where(DelinquencyTier.code == code)
        ).one(),
        disposition=Disposition.PROMISE,
    )


def test_a_reminder_goes_as_many_days_ahead_as_the_longest_leading_tier_sets(Session):
    # The texts job reads only the dates some tier reminds of: the longest lead (9 days
    # here), not the shortest, nor every date of a month ahead.
    load_campaigns(Session, TWO_TIERS)
    with Session.begin() as session:
        account = add_account(
            session, "4000000000000021", phones=((MOBILE, PhoneType.MOBILE, True),)
        )
        _call_in_tier(session, account, "mid", NOW - dt.timedelta(hours=1))
        account_id = account.id
    _promise(Session, account_id, days=9)
    gateway = FakeCallGateway()
    early = send_texts(Session, gateway, StepClock(NOW - dt.timedelta(days=1)), config())
    assert early.queued == 0  # ten days before the date: not yet
    on_the_day = send_texts(Session, gateway, StepClock(NOW), config())
    assert (on_the_day.queued, on_the_day.sent) == (1, 1)
    [message] = gateway.sms
    assert "December 11, 2026" in message.body


@pytest.mark.parametrize(("latest", "thanked"), [("mid", True), ("early", False)])
def test_the_latest_campaign_call_s_tier_decides_the_thank_you(Session, latest, thanked):
    load_campaigns(Session, TWO_TIERS)
    earlier = "early" if latest == "mid" else "mid"
    with Session.begin() as session:
        account = add_account(
            session, "4000000000000022", phones=((MOBILE, PhoneType.MOBILE, True),)
        )
        session.add(_posted_payment(account.id, "bank:REF22"))
        _call_in_tier(session, account, earlier, NOW - dt.timedelta(days=3))
        _call_in_tier(session, account, latest, NOW - dt.timedelta(days=2))
    gateway = FakeCallGateway()
    report = send_texts(Session, gateway, StepClock(NOW), config())
    assert report.sent == (1 if thanked else 0)
    assert [("received your payment" in m.body) for m in gateway.sms] == ([True] if thanked else [])
