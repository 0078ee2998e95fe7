"""The supervisor dashboard over the test client: KPIs from real rows, the CSV exports,
agency scoping, campaigns loaded, started and paused, the live figures, compliance."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dialer.campaign_file import parse_campaign_file
from dialer.campaign_store import store_file
from dialer.claims import set_campaign_limits, set_global_limits
from dialer.pacing import Limits
from dialer.planner import refresh_tiers
from hotline import arrangements, audit, cases, queueing
from hotline.demo import ensure_default_tiers
from hotline.enums import (
    AccountFlag,
    AttemptStatus,
    CampaignStatus,
    CaseKind,
    Direction,
    Language,
    Source,
    Step,
)
from hotline.kpis import EXPORT_COLUMNS
from hotline.models import (
    AccountFlagRow,
    AuditEvent,
    Campaign,
    CardAccount,
    ContactAttempt,
    IvrCall,
    Placement,
    utcnow,
)
from hotline.origin import Origin
from tests.desk_support import csrf_token, make_agency, make_user, sign_in
from tests.integration.dialer_fixtures import add_account

pytestmark = pytest.mark.usefixtures("cheap_passwords")

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns.example.toml"
NY = ZoneInfo("America/New_York")
AGENT = Origin(Source.AGENT, "agent:test")


def _accounts(Session):
    """Two accounts with a promise each made now, one placed with agency acme."""
    now = utcnow()
    with Session.begin() as session:
        ensure_default_tiers(session)
        ours = add_account(session, "4000000000000001", dpd=45)
        theirs = add_account(session, "4000000000000002", dpd=10)
        refresh_tiers(session)  # a Core UPDATE: read the tiers it set back
        session.refresh(ours)
        session.refresh(theirs)
        for account, amount in ((ours, 120_00), (theirs, 30_00)):
            arrangements.save_promise(
                session,
                account,
                amount_minor=amount,
                date=now.date() + dt.timedelta(days=5),
                origin=AGENT,
                now=now,
            )
            session.add(
                ContactAttempt(
                    direction=Direction.OUTBOUND,
                    account_id=account.id,
                    number="+14155550100",
                    status=AttemptStatus.COMPLETED,
                    tier_id=account.tier_id,
                    placed_at=now,
                    answered_at=now,
                    ended_at=now,
                    disposition="promise",
                )
            )
        ids = ours.id, theirs.id
    acme = make_agency(Session, "acme")
    with Session.begin() as session:
        session.add(
            Placement(
                account_id=ids[1], agency_id=acme, starts_on=now.date() - dt.timedelta(days=1)
            )
        )
    return ids


def _supervisor(app, Session, name="sue", **extra):
    make_user(Session, name, "supervisor", **extra)
    client = app.test_client()
    sign_in(client, name)
    return client


def _kpi_cells(html: str, tier: str) -> dict[str, str]:
    """Today's row for the tier in the KPI table."""
    today = utcnow().astimezone(NY).date().isoformat()
    row = re.search(rf'<tr[^>]*data-day="{today}" data-tier="{tier}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, f"no row for tier {tier}"
    return {
        name: re.sub(r"<[^>]+>", "", value).strip()
        for name, value in re.findall(r'data-kpi="(\w+)">(.*?)</td>', row.group(1), re.S)
    }


def test_the_dashboard_shows_todays_promises_per_tier_and_in_all(app, Session):
    _accounts(Session)
    client = _supervisor(app, Session)
    page = client.get("/desk/sup")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _kpi_cells(html, "all")["promises"] == "2"
    assert _kpi_cells(html, "mid")["promised"] == "$120.00"
    assert _kpi_cells(html, "all")["connect_rate"].startswith("100.0")
    assert 'id="kpi-data"' in html and "vendor/chartjs/chart.umd.min.js" in html
    # Vendored, no CDN: nothing the page loads comes from another host (a CSRF token once
    # held the letters "cdn", so the page's text is not what is checked).
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, re.IGNORECASE)


def test_an_agency_supervisor_sees_only_the_accounts_placed_with_the_agency(app, Session):
    _accounts(Session)
    client = _supervisor(app, Session, "amy", agency="acme")
    html = client.get("/desk/sup/kpis").get_data(as_text=True)
    assert _kpi_cells(html, "all")["promises"] == "1"
    assert _kpi_cells(html, "early")["promised"] == "$30.00"
    assert 'data-tier="mid"' not in html
    export = client.get("/desk/sup/attempts.csv").get_data(as_text=True)
    assert [r["account_number"] for r in csv.DictReader(io.StringIO(export))] == [
        "4000000000000002"
    ]
    # The bank-wide pages are not an agency's.
    assert client.get("/desk/sup/campaigns").status_code == 403


def test_the_exports_are_csv_with_their_columns(app, Session):
    _accounts(Session)
    client = _supervisor(app, Session)
    today = utcnow().astimezone(NY).date().isoformat()
    attempts = client.get(f"/desk/sup/attempts.csv?from={today}&to={today}")
    assert attempts.mimetype == "text/csv"
    assert "attachment" in attempts.headers["Content-Disposition"]
    reader = csv.DictReader(io.StringIO(attempts.get_data(as_text=True)))
    assert tuple(reader.fieldnames or ()) == EXPORT_COLUMNS
    assert {r["disposition"] for r in reader} == {"promise"}
    table = client.get(f"/desk/sup/kpis.csv?from={today}&to={today}").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [(r["tier"], r["promises"]) for r in rows] == [
        ("early", "1"),
        ("mid", "1"),
        ("all", "2"),
    ]
    assert client.get("/desk/sup/kpis.csv?from=2026-12-05&to=2026-12-01").status_code == 400


def test_a_bad_range_is_said_on_the_page_and_the_week_shown(app, Session):
    client = _supervisor(app, Session)
    html = client.get("/desk/sup/kpis?from=2026-12-05&to=2026-12-01").get_data(as_text=True)
    assert "from 2026-12-05 is after to 2026-12-01" in html


def test_a_campaigns_file_with_mistakes_is_refused_with_each_key_and_line(app, Session):
    client = _supervisor(app, Session)
    broken = EXAMPLE.read_text().replace("attempts_per_day = 1", 'attempts_per_day = "many"', 1)
    broken = broken.replace('profile = "us-regf"', 'profile = "nowhere"', 1)
    response = client.post(
        "/desk/sup/campaigns/load",
        data={"csrf_token": csrf_token(client), "file": (io.BytesIO(broken.encode()), "c.toml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    keys = re.findall(r"<td class=\"num\">(\d+)</td><td><code>([^<]+)</code>", html)
    lines = {key: int(line) for line, key in keys}
    assert any(k.endswith(".attempts_per_day") for k in lines)
    assert any(k.endswith(".profile") for k in lines)
    text_lines = broken.splitlines()
    for key, line in lines.items():
        assert key.split(".")[-1] in text_lines[line - 1]
    with Session() as session:
        assert session.scalars(select(Campaign)).all() == []


def test_a_campaign_is_loaded_started_and_paused_from_the_page_and_audited(app, Session):
    _accounts(Session)
    client = _supervisor(app, Session)
    loaded = client.post(
        "/desk/sup/campaigns/load",
        data={"csrf_token": csrf_token(client), "file": (EXAMPLE.open("rb"), "campaigns.toml")},
        content_type="multipart/form-data",
    )
    assert loaded.status_code == 302
    page = client.get("/desk/sup/campaigns").get_data(as_text=True)
    assert "created us-reminders" in page
    assert 'data-testid="preview"' in page and "4000000000000001" in page
    token = csrf_token(client)
    assert client.post("/desk/sup/campaigns/us-reminders/start").status_code == 400  # no CSRF
    assert (
        client.post(
            "/desk/sup/campaigns/us-reminders/start", data={"csrf_token": token}
        ).status_code
        == 303
    )
    with Session() as session:
        status = session.scalar(select(Campaign.status).where(Campaign.name == "us-reminders"))
        assert status is CampaignStatus.ACTIVE
    client.post("/desk/sup/campaigns/us-reminders/pause", data={"csrf_token": token})
    with Session() as session:
        status = session.scalar(select(Campaign.status).where(Campaign.name == "us-reminders"))
        actors = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action.like("campaign%"))
        ).all()
    assert status is CampaignStatus.PAUSED
    assert set(actors) == {"desk:sue"}
    unknown = client.post("/desk/sup/campaigns/nope/start", data={"csrf_token": token})
    assert unknown.status_code == 303
    assert "no campaign &#39;nope&#39;" in client.get("/desk/sup/campaigns").get_data(as_text=True)


def test_an_agent_cannot_open_the_dashboard_or_its_figures(app, Session):
    make_user(Session, "al", "agent")
    client = app.test_client()
    sign_in(client, "al")
    for path in ("/desk/sup", "/desk/sup/live", "/desk/sup/kpis", "/desk/sup/attempts.csv"):
        assert client.get(path).status_code == 403, path


def test_the_live_figures_count_calls_the_queue_and_agents_signed_in(app, Session):
    now = utcnow()
    with Session.begin() as session:
        account = add_account(session, "4000000000000001")
        for status in (AttemptStatus.RINGING, AttemptStatus.IN_PROGRESS, AttemptStatus.COMPLETED):
            session.add(
                ContactAttempt(
                    direction=Direction.OUTBOUND,
                    account_id=account.id,
                    number="+14155550100",
                    status=status,
                    placed_at=now,
                    ended_at=now if status is AttemptStatus.COMPLETED else None,
                )
            )
        session.add(
            IvrCall(
                call_sid="CA3",
                from_number="+14155550100",
                step=Step.MENU,
                started_at=now - dt.timedelta(seconds=5),
                updated_at=now - dt.timedelta(seconds=5),
            )
        )
        # Callers the lines put in the agent queue: one waiting 90 s, one 30 s, one that
        # left, one whose line has not been heard from (gone without a word).
        for sid, ago, seen_ago in (
            ("CA1", 90, 10),
            ("CA2", 30, 5),
            ("CA4", 60, 5),
            ("CA5", 900, 400),
        ):
            queueing.enqueue(
                session,
                call_sid=sid,
                line="ivr",
                account_id=account.id,
                number="+14155550100",
                language="en",
                verified=True,
                intent=None,
                path=["menu"],
                case_id=None,
                now=now - dt.timedelta(seconds=ago),
            )
            queueing.seen(session, sid, now - dt.timedelta(seconds=seen_ago))
        queueing.left(session, "CA4", "hangup", now)
    make_user(Session, "al", "agent")
    agent = app.test_client()
    sign_in(agent, "al")
    client = _supervisor(app, Session)
    live = client.get("/desk/sup/live", headers={"X-Requested-With": "fetch"}).get_json()
    assert live["outbound_in_progress"] == 2 and live["outbound_ringing"] == 1
    assert live["inbound_in_progress"] == 1
    assert live["calls_in_progress"] == 3
    assert live["queue_length"] == 2 and 90 <= live["longest_wait_seconds"] < 100
    assert live["agents_signed_in"] == 1


def test_open_complaints_and_disputes_show_their_age_against_the_sla(app, Session):
    now = utcnow()
    with Session.begin() as session:
        account = add_account(session, "4000000000000001")
        old = cases.open_case(
            session,
            account,
            kind=CaseKind.COMPLAINT,
            summary="rude call",
            origin=AGENT,
            now=now - dt.timedelta(days=20),
        )
        cases.open_case(
            session,
            account,
            kind=CaseKind.DISPUTE,
            summary="not my charge",
            origin=AGENT,
            now=now - dt.timedelta(days=3),
        )
        cases.open_case(
            session, account, kind=CaseKind.HARDSHIP, summary="lost job", origin=AGENT, now=now
        )
    client = _supervisor(app, Session)
    html = client.get("/desk/sup/compliance").get_data(as_text=True)
    table = html[
        html.index('data-testid="cases"') : html.index(
            "</table>", html.index('data-testid="cases"')
        )
    ]
    assert table.index(f"C{old.id:06d}") < table.index("not my charge")  # overdue first
    assert "overdue by 5 days" in table and "27 days left" in table
    assert "lost job" not in table  # hardship has no SLA here


def test_the_audit_log_is_searched_paged_and_its_chain_verified(app, Session):
    with Session.begin() as session:
        for n in range(60):
            audit.record(
                session,
                actor="agent:bob" if n % 2 else "dialer",
                action="promise.created" if n % 3 == 0 else "dialer.outcome",
                entity_type="card_account",
                entity_id=f"40000000000000{n:02d}",
            )
    client = _supervisor(app, Session)
    html = client.get("/desk/sup/compliance?actor=BOB&action=promise").get_data(as_text=True)
    assert "10 events match; page 1 of 1" in html
    first = client.get("/desk/sup/compliance").get_data(as_text=True)
    assert re.search(r"\d+ events match; page 1 of 2", first)
    second = client.get("/desk/sup/compliance?page=2").get_data(as_text=True)
    assert "page 2 of 2" in second and "Newer" in second
    by_entity = client.get("/desk/sup/compliance?entity=4000000000000007").get_data(as_text=True)
    assert "1 events match" in by_entity
    verified = client.get("/desk/sup/compliance?verify=1").get_data(as_text=True)
    assert "The audit chain is intact" in verified
    none_today = client.get("/desk/sup/compliance?from=2001-01-01&to=2001-01-02")
    assert "0 events match" in none_today.get_data(as_text=True)


def test_the_accounts_held_back_today_are_counted_by_reason_within_the_users_accounts(app, Session):
    _accounts(Session)
    with Session.begin() as session:
        store_file(session, parse_campaign_file(EXAMPLE.read_text()), actor="test", now=utcnow())
        bank = session.scalar(select(CardAccount).where(CardAccount.account_number.endswith("1")))
        bank.flags.append(AccountFlagRow(flag=AccountFlag.ATTORNEY, source=Source.IMPORT))
    sue = _supervisor(app, Session)
    everyone = sue.get("/desk/sup/blocked", headers={"X-Requested-With": "fetch"}).get_json()
    reasons = {(tier, reason): n for tier, reason, n in everyone["rows"]}
    assert reasons[("mid", "represented by an attorney")] == 1
    amy = _supervisor(app, Session, "amy", agency="acme")
    theirs = amy.get("/desk/sup/blocked", headers={"X-Requested-With": "fetch"}).get_json()
    assert all(tier == "early" for tier, _reason, _n in theirs["rows"])
    assert sum(n for *_, n in theirs["rows"]) <= 1


def test_every_supervisor_page_reads_in_chinese_for_a_chinese_supervisor(app, Session):
    _accounts(Session)
    with Session.begin() as session:
        store_file(session, parse_campaign_file(EXAMPLE.read_text()), actor="test", now=utcnow())
    client = _supervisor(app, Session, "li", language=Language.ZH_CN, time_zone="Asia/Shanghai")
    for path, words in (
        ("/desk/sup", "主管总览"),
        ("/desk/sup/kpis", "催收指标"),
        ("/desk/sup/campaigns", "外呼活动"),
        ("/desk/sup/compliance", "投诉与争议的处理时限"),
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        html = page.get_data(as_text=True)
        assert words in html and 'lang="zh-CN"' in html, path
    # Days in the viewer's zone: Shanghai's today, whatever New York's is.
    shanghai_today = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert f'data-day="{shanghai_today}" data-tier="all"' in client.get("/desk/sup").get_data(
        as_text=True
    )


def test_the_preview_says_when_a_campaign_has_more_to_call_than_its_pacing_places(app, Session):
    now = utcnow()
    with Session.begin() as session:
        store_file(session, parse_campaign_file(EXAMPLE.read_text()), actor="test", now=now)
        for i in range(5):
            add_account(session, f"40000000000001{i:02d}", dpd=45)
        refresh_tiers(session)
    client = _supervisor(app, Session)
    day = now.date() + dt.timedelta(days=2)
    while day.weekday() >= 5 or (day.month, day.day) in ((12, 25), (1, 1)):
        day += dt.timedelta(days=1)
    url = f"/desk/sup/campaigns?day={day.isoformat()}"
    assert 'data-testid="preview-pacing"' not in client.get(url).get_data(as_text=True)
    with Session.begin() as session:
        set_global_limits(session, Limits(0.01, 10), now)
        campaign = session.scalar(select(Campaign.id).where(Campaign.name == "us-reminders"))
        set_campaign_limits(session, campaign, Limits(2.5 / 86_400, 10), now)
    page = client.get(url).get_data(as_text=True)
    assert (
        '<p data-testid="preview-pacing">us-reminders: 5 would be called, but its pacing '
        "(2.89352e-05 a second) places at most 3 a day."
    ) in page
