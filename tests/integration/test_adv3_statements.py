"""The dialer's statements built once, with parameters (claims, recheck, facts, reconcile,
call events): an adversarial review's checks that they behave as the statements built per
call did, with zoned times, lost and adopted claims, empty and large id lists, paused
campaigns and concurrent claimers on PostgreSQL, and first use from several threads."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import select, update

from dialer.campaign_store import set_status
from dialer.claims import claim_due, record_placed
from dialer.facts import load_cases
from dialer.pacing import Limits
from dialer.recheck import load_facts, refusal_at
from dialer.reconcile import resolve_unknown_placements
from hotline.enums import AttemptStatus, CampaignStatus
from hotline.models import Campaign, CardAccount, ContactAttempt
from telephony.gateway import CallInfo
from tests.conftest import backend
from tests.dialer_support import T0, config, make_campaign, numbers, plan, set_limits
from tests.fakes import FakeCallGateway

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
PST = dt.timezone(dt.timedelta(hours=-8))

pg_only = pytest.mark.skipif(backend() != "postgresql", reason="PostgreSQL races")


def _claim(Session, worker, now, limit=20):
    with Session.begin() as session:
        return claim_due(
            session,
            worker_id=worker,
            clock=lambda: now,
            lease=dt.timedelta(minutes=5),
            horizon=now + dt.timedelta(hours=1),
            limit=limit,
        )


@pg_only
@pytest.mark.parametrize("run", range(3))
def test_concurrent_claimers_no_double_claim_no_paused(Session, run):
    set_limits(Session, Limits(1e6, 100000))
    a = make_campaign(Session, "a", caller_id="+18005550001")
    b = make_campaign(Session, "b", caller_id="+18005550002")
    p = make_campaign(Session, "p", status=CampaignStatus.PAUSED, caller_id="+18005550003")
    plan(Session, a, numbers(150, 0))
    plan(Session, b, numbers(150, 150))
    plan(Session, p, numbers(100, 300))
    got: list = []
    errors: list = []
    barrier = threading.Barrier(6)

    def go(name):
        try:
            barrier.wait()
            while True:
                c = _claim(Session, name, T0)
                if not c:
                    return
                got.extend(c)
        except BaseException as exc:
            errors.append(exc)

    ts = [threading.Thread(target=go, args=(f"w{i}",)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == [], [repr(e)[:300] for e in errors]
    ids = Counter(c.attempt_id for c in got)
    assert max(ids.values()) == 1
    assert len(ids) == 300
    by_campaign = {a: "+18005550001", b: "+18005550002"}
    assert {c.campaign_id for c in got} == {a, b}
    assert all(c.caller_id == by_campaign[c.campaign_id] for c in got)
    with Session() as s:
        rows = s.execute(select(ContactAttempt.id, ContactAttempt.worker_id)).all()
    workers = {c.attempt_id: c.worker_id for c in got}
    for i, w in rows:
        if i in workers:
            assert w == workers[i]


def _pause_beside_claimers(Session, pause):
    """Four claimers over campaigns a and b while `pause(session, b)` commits: no claim
    that started after the pause took b's attempts; the claimed rows are the DIALING ones."""
    set_limits(Session, Limits(1e6, 100000))
    a = make_campaign(Session, "a")
    b = make_campaign(Session, "b")
    plan(Session, a, numbers(200, 0))
    plan(Session, b, numbers(200, 200))
    paused = threading.Event()
    late: list = []
    got: list = []
    errors: list = []

    def claimer(name):
        try:
            for _ in range(40):
                was_paused = paused.is_set()
                c = _claim(Session, name, T0, limit=5)
                got.extend(c)
                if was_paused:
                    late.extend(x for x in c if x.campaign_id == b)
        except BaseException as exc:
            errors.append(exc)

    def pauser():
        try:
            with Session.begin() as s:
                pause(s, b)
            paused.set()
        except BaseException as exc:
            errors.append(exc)

    ts = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in ts:
        t.start()
    timer = threading.Timer(0.05, pauser)
    timer.start()
    for t in ts:
        t.join()
    timer.join()
    assert errors == [], [repr(e)[:300] for e in errors]
    assert late == []
    claimed = {c.attempt_id for c in got}
    with Session() as s:
        for i, st in s.execute(select(ContactAttempt.id, ContactAttempt.status)):
            assert (i in claimed) == (st == AttemptStatus.DIALING), (i, st)


def _flip_to_paused(session, campaign_id):
    # A raw status flip, with no cancellation of its queued calls.
    session.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(status=CampaignStatus.PAUSED)
    )


def _set_paused(session, campaign_id):
    set_status(session, "b", CampaignStatus.PAUSED, actor="t", now=T0)


@pg_only
@pytest.mark.parametrize("run", range(3))
@pytest.mark.parametrize("pause", (_flip_to_paused, _set_paused), ids=("flip", "set_status"))
def test_a_pause_committed_beside_claimers_stops_its_claims(Session, run, pause):
    _pause_beside_claimers(Session, pause)


@pytest.mark.parametrize("zone", (dt.UTC, IST, PST))
def test_record_placed_and_recheck_with_zoned_times(Session, zone):
    set_limits(Session, Limits(1e6, 100))
    a = make_campaign(Session, "a")
    [aid] = plan(Session, a, numbers(1))
    now = (T0 + dt.timedelta(microseconds=123457)).astimezone(zone)
    [c] = _claim(Session, "w1", now)
    with Session.begin() as s:
        facts = load_facts(s, [c], now)
        assert refusal_at(s, c, now, facts) is None
    with Session.begin() as s:
        ok = record_placed(
            s,
            c,
            CallInfo("CA1", "queued", c.number, "+1", "outbound-api"),
            now.astimezone(PST),
            now=now,
        )
    assert ok
    with Session() as s:
        row = s.get(ContactAttempt, aid)
        assert row.provider_call_sid == "CA1" and row.status == AttemptStatus.QUEUED
        assert row.placed_at == now and row.lease_until is None


def test_record_placed_claim_lost_and_adopted(Session):
    set_limits(Session, Limits(1e6, 100))
    a = make_campaign(Session, "a")
    plan(Session, a, numbers(2))
    c1, c2 = _claim(Session, "w1", T0)
    # c1: lost (another worker took the row)
    with Session.begin() as s:
        s.execute(
            update(ContactAttempt).where(ContactAttempt.id == c1.attempt_id).values(worker_id="w2")
        )
    with Session.begin() as s:
        assert not record_placed(
            s, c1, CallInfo("CA1", "queued", c1.number, "+1", "outbound-api"), T0, now=T0
        )
    # c2: callback adopted the sid first
    with Session.begin() as s:
        s.execute(
            update(ContactAttempt)
            .where(ContactAttempt.id == c2.attempt_id)
            .values(provider_call_sid="CA2", status=AttemptStatus.RINGING)
        )
    with Session.begin() as s:
        assert record_placed(
            s, c2, CallInfo("CA2", "queued", c2.number, "+1", "outbound-api"), T0, now=T0
        )
    with Session() as s:
        r2 = s.get(ContactAttempt, c2.attempt_id)
        assert r2.status == AttemptStatus.RINGING and r2.placed_at == T0
        r1 = s.get(ContactAttempt, c1.attempt_id)
        assert r1.provider_call_sid is None


@pytest.mark.parametrize("alone", (None, "set", "recent"))
def test_orphans_alone_since(Session, alone):
    set_limits(Session, Limits(1e6, 100))
    a = make_campaign(Session, "a")
    ids = plan(Session, a, numbers(3))
    cs = _claim(Session, "dead", T0)
    assert len(cs) == 3
    later = T0 + dt.timedelta(seconds=20)  # lease 5 min: not expired
    with Session.begin() as s:  # one row with claimed_at NULL, one expired
        s.execute(update(ContactAttempt).where(ContactAttempt.id == ids[1]).values(claimed_at=None))
        s.execute(
            update(ContactAttempt)
            .where(ContactAttempt.id == ids[2])
            .values(lease_until=T0 - dt.timedelta(seconds=1))
        )
    alone_since = {
        None: None,
        "set": (T0 + dt.timedelta(seconds=1)).astimezone(IST),
        "recent": later,
    }[alone]
    carrier = FakeCallGateway()
    carrier.now = lambda: later
    adopted, replanned = resolve_unknown_placements(
        Session, carrier, later, config(), worker_id="me", alone_since=alone_since
    )
    expected = {None: 1, "set": 3, "recent": 1}[alone]
    assert adopted + replanned == expected


@pytest.mark.parametrize("n", (0, 1, 5000))
def test_load_cases_big_and_empty(Session, engine, n):
    a = make_campaign(Session, "a")
    if n:
        plan(Session, a, [f"+1415{i:07d}" for i in range(n)])
    with Session() as s:
        ids = list(s.scalars(select(CardAccount.id).order_by(CardAccount.id)))
    assert len(ids) == n
    with engine.connect() as conn:
        whole = load_cases(conn, ids, T0)
        parts = []
        for i in range(0, n, 700):
            parts += load_cases(conn, ids[i : i + 700], T0).cases
        assert [c.account_id for c in whole.cases] == ids
        assert repr(whole.cases) == repr(parts)
        assert load_cases(conn, [], T0).cases == []
        assert load_cases(conn, tuple(ids[:3]), T0).cases == whole.cases[:3]


def test_threads_first_use(Session, engine):
    set_limits(Session, Limits(1e6, 100000))
    a = make_campaign(Session, "a")
    plan(Session, a, numbers(400))
    with Session() as s:
        ids = list(s.scalars(select(CardAccount.id)))
    errors: list = []
    got: list = []
    barrier = threading.Barrier(12)

    def go(i):
        try:
            barrier.wait()
            if i % 2:
                with engine.connect() as conn:
                    for _ in range(20):
                        assert len(load_cases(conn, ids[i * 10 : i * 10 + 30], T0).cases) == 30
            else:
                while c := _claim(Session, f"w{i}", T0, limit=7):
                    with Session.begin() as s:
                        f = load_facts(s, c, T0)
                        for x in c:
                            assert refusal_at(s, x, T0, f) is None
                    got.extend(c)
        except BaseException as exc:
            errors.append(exc)

    ts = [threading.Thread(target=go, args=(i,)) for i in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == [], [repr(e)[:300] for e in errors]
    assert sorted(Counter(c.attempt_id for c in got).values()) == [1] * 400


@pg_only
def test_claim_not_blocked_by_campaign_row_lock(Session, engine):
    from sqlalchemy import text

    set_limits(Session, Limits(1e6, 100000))
    a = make_campaign(Session, "a")
    plan(Session, a, numbers(3))
    with engine.connect() as other:
        other.begin()
        other.execute(text("SELECT * FROM campaign FOR UPDATE"))
        other.execute(text("UPDATE campaign SET caller_id = caller_id"))
        with Session.begin() as s:
            s.execute(text("SET LOCAL lock_timeout = '2s'"))
            got = claim_due(
                s,
                worker_id="w",
                clock=lambda: T0,
                lease=dt.timedelta(minutes=5),
                horizon=T0 + dt.timedelta(hours=1),
                limit=10,
            )
        assert len(got) == 3
        other.rollback()


def test_call_events_from_threads(Session):
    from hotline.contacts import record_call_event

    set_limits(Session, Limits(1e6, 100))
    a = make_campaign(Session, "a")
    ids = plan(Session, a, numbers(4))
    with Session.begin() as s:
        for k, i in enumerate(ids):
            s.execute(
                update(ContactAttempt)
                .where(ContactAttempt.id == i)
                .values(provider_call_sid=f"CA{k}")
            )
    results: list = []
    errors: list = []
    barrier = threading.Barrier(8)

    def go(t):
        try:
            barrier.wait()
            for n in range(30):
                for _try in range(20):
                    try:
                        with Session.begin() as s:
                            results.append(
                                (
                                    f"CA{n % 4}",
                                    n,
                                    record_call_event(
                                        s,
                                        call_sid=f"CA{n % 4}",
                                        kind="status",
                                        sequence=str(n),
                                        payload={"t": str(t)},
                                        now=T0.astimezone(IST),
                                    ),
                                )
                            )
                        break
                    except Exception as exc:  # SQLite busy: retry
                        if "locked" not in str(exc):
                            raise
        except BaseException as exc:
            errors.append(exc)

    ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == [], [repr(e)[:300] for e in errors]
    new = Counter(n for _, n, ok in results if ok)
    assert set(new) == set(range(30)) and set(new.values()) == {1}
    from sqlalchemy import text

    with Session() as s:
        rows = s.execute(text("SELECT call_sid, attempt_id, received_at FROM call_event")).all()
    by_sid = {f"CA{k}": i for k, i in enumerate(ids)}
    assert len(rows) == 30 and all(by_sid[sid] == att for sid, att, _ in rows)
