"""KPIs read from real rows: attempts as the dialer leaves them, promises and payments
through the services, tier snapshots from the planning job; the CSV export; scoping."""

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dialer.lifecycle import run_lifecycle
from dialer.planner import plan, refresh_tiers
from hotline import arrangements, payments
from hotline.demo import ensure_default_tiers
from hotline.enums import AttemptStatus, Direction, Disposition, PromiseStatus, Source
from hotline.kpi_rules import by_day
from hotline.kpis import EXPORT_COLUMNS, export_attempts, kpis, snapshot_tiers
from hotline.models import CardAccount, ContactAttempt, DelinquencyTier, PromiseToPay, TierSnapshot
from hotline.origin import Origin
from tests.integration.dialer_fixtures import add_account

NY = ZoneInfo("America/New_York")
# 10:00 in New York on Tuesday 1 December 2026.
NOW = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
DAY = NOW.astimezone(NY).date()
AGENT = Origin(Source.AGENT, "agent:test")


def _attempt(session, account, tier_id, *, at, disposition, status=AttemptStatus.COMPLETED):
    session.add(
        ContactAttempt(
            direction=Direction.OUTBOUND,
            account_id=account.id,
            number="+14155550100",
            status=status,
            tier_id=tier_id,
            due_at=at,
            placed_at=at,
            answered_at=at if disposition in ("right-party", "promise", "wrong-party") else None,
            ended_at=at + dt.timedelta(minutes=2),
            disposition=disposition,
            provider_call_sid=f"CA{account.id:06d}{int(at.timestamp()):026d}"[:34],
        )
    )


def _portfolio(Session):
    """Two accounts in `mid`, one in `early`, with a day of calls, a promise, a payment."""
    with Session.begin() as session:
        ensure_default_tiers(session)
        a = add_account(session, "4000000000000001", dpd=45)
        b = add_account(session, "4000000000000002", dpd=40)
        c = add_account(session, "4000000000000003", dpd=10)
        refresh_tiers(session)
        tiers = {t.code: t.id for t in session.scalars(select(DelinquencyTier))}
        morning = NOW - dt.timedelta(hours=1)
        _attempt(session, a, tiers["mid"], at=morning, disposition=Disposition.PROMISE)
        _attempt(session, b, tiers["mid"], at=morning, disposition=Disposition.WRONG_PARTY)
        _attempt(
            session,
            b,
            tiers["mid"],
            at=morning + dt.timedelta(minutes=5),
            disposition=Disposition.NO_ANSWER,
            status=AttemptStatus.NO_ANSWER,
        )
        _attempt(session, c, tiers["early"], at=morning, disposition=Disposition.VOICEMAIL_LEFT)
        # 23:30 the evening before in New York (04:30 UTC today): yesterday's, not today's.
        _attempt(
            session,
            c,
            tiers["early"],
            at=dt.datetime(2026, 12, 1, 4, 30, tzinfo=dt.UTC),
            disposition=Disposition.RIGHT_PARTY,
        )
        arrangements.save_promise(session, a, amount_minor=120_00, date=DAY, origin=AGENT, now=NOW)
        payments.post_card_payment(
            session,
            c,
            amount_minor=55_50,
            key="test:payment:1",
            confirmation="CONF1",
            brand="visa",
            masked="xxxx-xxxx-xxxx-4242",
            origin=AGENT,
            now=NOW,
        )
        return {"a": a.id, "b": b.id, "c": c.id}


def test_the_days_kpis_come_from_the_rows_per_tier(Session):
    _portfolio(Session)
    with Session() as session:
        report = kpis(session, DAY - dt.timedelta(days=1), DAY, NY)
    mid, early = report.table[(DAY, "mid")], report.table[(DAY, "early")]
    assert (mid.attempts, mid.connects, mid.right_party) == (3, 2, 1)
    assert mid.connect_rate == 2 / 3
    assert (mid.promises, mid.promised_minor) == (1, {"USD": 120_00})
    assert (early.attempts, early.connects, early.right_party) == (1, 0, 0)
    assert early.collected_minor == {"USD": 55_50} and early.payments == 1
    yesterday = report.table[(DAY - dt.timedelta(days=1), "early")]
    assert (yesterday.attempts, yesterday.right_party) == (1, 1)
    assert report.tiers[-1] == "current" and report.tiers[0] == "early"


def test_the_promise_kept_rate_counts_the_promises_due_that_day(Session):
    _portfolio(Session)
    with Session.begin() as session:
        b = session.scalar(select(CardAccount).where(CardAccount.account_number.endswith("2")))
        arrangements.save_promise(session, b, amount_minor=10_00, date=DAY, origin=AGENT, now=NOW)
        for promise, status in zip(
            session.scalars(select(PromiseToPay).order_by(PromiseToPay.id)),
            (PromiseStatus.KEPT, PromiseStatus.BROKEN),
            strict=True,
        ):
            promise.status = status
    with Session() as session:
        report = kpis(session, DAY, DAY, NY)
    assert report.table[(DAY, "mid")].promise_kept_rate == 0.5


def test_scoped_kpis_count_only_the_accounts_in_scope(Session):
    ids = _portfolio(Session)
    scope = select(CardAccount.id).where(CardAccount.id == ids["c"])
    with Session() as session:
        report = kpis(session, DAY, DAY, NY, scope=scope)
        lines = list(export_attempts(session, DAY, DAY, NY, scope=scope))
    assert set(report.table) == {(DAY, "early")}
    assert report.table[(DAY, "early")].collected_minor == {"USD": 55_50}
    rows = list(csv.DictReader(io.StringIO("".join(lines))))
    assert [r["account_number"] for r in rows] == ["4000000000000003"]


def test_the_export_lists_each_attempt_with_its_outcome_in_local_time(Session):
    _portfolio(Session)
    with Session() as session:
        text = "".join(export_attempts(session, DAY, DAY, NY))
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == EXPORT_COLUMNS
    rows = list(reader)
    assert len(rows) == 4
    first = rows[0]
    assert first["direction"] == "outbound"
    assert first["placed_at_local"] == "2026-12-01T09:00:00-05:00"
    assert first["number"] != "+14155550100" and first["number"].endswith("0100")
    assert {r["disposition"] for r in rows} == {
        "promise",
        "wrong-party",
        "no-answer",
        "voicemail-left",
    }
    assert {r["tier"] for r in rows} == {"mid", "early"}


def test_roll_rates_come_from_the_daily_jobs_snapshots_day_over_day(Session):
    ids = _portfolio(Session)
    yesterday = NOW - dt.timedelta(days=1)
    with Session.begin() as session:
        plan(session, yesterday)
    assert run_lifecycle(Session, yesterday).tiers_kept == 3
    with Session.begin() as session:
        # The bank's file: a and b a day older (a rolls into late at 60), c paid up.
        for account_id, dpd in ((ids["a"], 60), (ids["b"], 41), (ids["c"], 0)):
            session.get(CardAccount, account_id).days_past_due = dpd
    with Session.begin() as session:
        plan(session, NOW)
    run_lifecycle(Session, NOW)
    run_lifecycle(Session, NOW)  # a second run the same day replaces the day's snapshot
    with Session() as session:
        assert session.query(TierSnapshot).filter_by(day=NOW.date()).count() == 3
        report = kpis(session, DAY, DAY, NY)
    by = {(r.source, r.target): r for r in report.rolls}
    assert by[("mid", "late")].accounts == 1 and by[("mid", "late")].rate == 0.5
    assert by[("mid", "mid")].rate == 0.5
    assert by[("early", "current")].rate == 1


def test_a_snapshot_keeps_every_account_and_its_tier(Session):
    _portfolio(Session)
    with Session.begin() as session:
        assert snapshot_tiers(session, DAY) == 3
    with Session() as session:
        tiers = {t.id: t.code for t in session.scalars(select(DelinquencyTier))}
        kept = sorted(tiers[s.tier_id] for s in session.scalars(select(TierSnapshot)))
    assert kept == ["early", "mid", "mid"]


def test_a_bank_files_payment_counts_on_the_day_the_bank_posted_it_not_the_day_imported(
    Session,
):
    # The file is imported at 10:00 New York on Thursday 3 December; the bank posted the
    # payment on Tuesday 1 December, when the account was in `mid` (its snapshot that day).
    from hotline.payment_import import import_payments
    from hotline.paymentrows import PAYMENT_COLUMNS

    dec1, dec3 = dt.date(2026, 12, 1), dt.date(2026, 12, 3)
    imported = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC)
    with Session.begin() as session:
        ensure_default_tiers(session)
        account = add_account(session, "4000000000000007", dpd=45)
        refresh_tiers(session)
        snapshot_tiers(session, dec1)
        session.get(CardAccount, account.id).days_past_due = 70  # late by the 3rd
        refresh_tiers(session)
        snapshot_tiers(session, dec3)
        # A card payment taken here at 23:30 New York on 1 December (04:30 UTC on the
        # 2nd): its own time, in the reporting zone, puts it on the 1st too.
        payments.post_card_payment(
            session,
            session.get(CardAccount, account.id),
            amount_minor=5_00,
            key="test:payment:late-evening",
            confirmation="CONF2",
            brand="visa",
            masked="xxxx-xxxx-xxxx-4242",
            origin=AGENT,
            now=dt.datetime(2026, 12, 2, 4, 30, tzinfo=dt.UTC),
        )
    text = "\n".join([",".join(PAYMENT_COLUMNS), "4000000000000007,40.00,USD,2026-12-01,BANK-0001"])
    with Session.begin() as session:
        report = import_payments(
            session,
            io.StringIO(text + "\n", newline=""),
            now=imported,
            actor="test",
            source={"name": "pay.csv"},
        )
    assert report.posted == 1
    with Session() as session:
        kpi = kpis(session, dec1, dec3, NY)
    days = by_day(kpi.table)
    assert (days[dec1].collected_minor, days[dec1].payments) == ({"USD": 45_00}, 2)
    # In the tier the account was in on the bank's day, not the one it is in now.
    assert kpi.table[(dec1, "mid")].collected_minor == {"USD": 40_00}
    later = {day: c.collected_minor for day, c in days.items() if day != dec1}
    assert all(not money for money in later.values()), later


def test_a_bank_posting_day_outside_the_range_is_not_counted_in_it(Session):
    from hotline.payment_import import import_payments
    from hotline.paymentrows import PAYMENT_COLUMNS

    with Session.begin() as session:
        ensure_default_tiers(session)
        add_account(session, "4000000000000008", dpd=45)
        refresh_tiers(session)
    text = "\n".join([",".join(PAYMENT_COLUMNS), "4000000000000008,40.00,USD,2026-11-30,BANK-0002"])
    with Session.begin() as session:
        import_payments(
            session,
            io.StringIO(text + "\n", newline=""),
            now=dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC),
            actor="test",
            source={"name": "pay.csv"},
        )
    with Session() as session:
        on_the_day = kpis(session, dt.date(2026, 11, 30), dt.date(2026, 11, 30), NY)
        after = kpis(session, dt.date(2026, 12, 1), dt.date(2026, 12, 2), NY)
    assert on_the_day.table[(dt.date(2026, 11, 30), "mid")].collected_minor == {"USD": 40_00}
    assert all(not c.collected_minor for c in after.table.values())
