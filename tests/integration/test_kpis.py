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
