"""The supervisor dashboard in a real browser (Chromium): today's KPIs as a chart and a
table with a promise an agent recorded, the live figures refreshing without a reload, and
a campaign loaded from a file, started and paused."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import expect
from sqlalchemy import select

from dialer.campaign_file import parse_campaign_file
from dialer.campaign_store import store_file
from dialer.planner import refresh_tiers
from hotline import arrangements, payments
from hotline.demo import ensure_default_tiers
from hotline.enums import AttemptStatus, CampaignStatus, Direction, Source
from hotline.kpis import snapshot_tiers
from hotline.models import Campaign, CardAccount, ContactAttempt, utcnow
from hotline.origin import Origin
from tests.browser.conftest import sign_in_as
from tests.desk_support import make_user

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns.example.toml"


def _promise_by_an_agent(Session) -> str:
    """A promise recorded through the service the desk's agents use; its account number."""
    now = utcnow()
    with Session.begin() as session:
        ensure_default_tiers(session)
        refresh_tiers(session)
        account = session.scalars(
            select(CardAccount)
            .where(CardAccount.tier_id.is_not(None), CardAccount.currency == "USD")
            .order_by(CardAccount.id)
        ).first()
        assert account is not None
        session.refresh(account)
        arrangements.save_promise(
            session,
            account,
            amount_minor=150_00,
            date=now.date() + dt.timedelta(days=7),
            origin=Origin(Source.AGENT, "desk:al"),
            now=now,
        )
        return account.account_number


def _a_week_on_the_line(Session) -> None:
    """A week of outbound calls as the dialer leaves its attempt rows, payments posted by
    the service, tier snapshots on two days (for roll rates), and the example campaigns
    (for the accounts held back): what makes the pictures in docs/ worth looking at."""
    now = utcnow()
    outcomes = ("promise", "right-party", "no-answer", "voicemail-left", "wrong-party", "busy")
    with Session.begin() as session:
        store_file(session, parse_campaign_file(EXAMPLE.read_text()), actor="test", now=now)
        accounts = session.scalars(
            select(CardAccount).where(CardAccount.tier_id.is_not(None)).order_by(CardAccount.id)
        ).all()
        snapshot_tiers(session, now.date() - dt.timedelta(days=1))
        for n, account in enumerate(accounts):
            for back in range(7):
                for k in range((n + back) % 3 + 1):
                    at = now - dt.timedelta(days=back, minutes=30 + 7 * k)
                    session.add(
                        ContactAttempt(
                            direction=Direction.OUTBOUND,
                            account_id=account.id,
                            number="+14155550100",
                            status=AttemptStatus.COMPLETED,
                            tier_id=account.tier_id,
                            placed_at=at,
                            ended_at=at,
                            disposition=outcomes[(n + back + k) % len(outcomes)],
                        )
                    )
        for account in accounts[:3]:
            payments.post_card_payment(
                session,
                account,
                amount_minor=80_00,
                key=f"test:{account.id}",
                confirmation="C1",
                brand="visa",
                masked="xxxx4242",
                origin=Origin(Source.AGENT, "desk:al"),
                now=now,
            )
        accounts[0].days_past_due += 30  # rolled into the next tier today
    with Session.begin() as session:
        refresh_tiers(session)
        snapshot_tiers(session, now.date())


def _chart_drawn(page, canvas_id: str) -> bool:
    """Whether Chart.js drew on the canvas (a blank canvas has no painted pixel); waits
    for the page's script to have run."""
    page.wait_for_function(
        """(id) => {
            const canvas = document.getElementById(id);
            if (!canvas || !window.Chart || !Chart.getChart(canvas)) return false;
            const context = canvas.getContext("2d");
            const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
            return false;
        }""",
        arg=canvas_id,
        timeout=10_000,
    )
    return True


def test_the_supervisor_sees_todays_promise_in_the_kpis_chart_and_table(
    page, desk_line, screenshots
):
    Session = desk_line.app.extensions["hotline"].Session
    make_user(Session, "sue", "supervisor", time_zone="America/New_York")
    _promise_by_an_agent(Session)
    _a_week_on_the_line(Session)
    sign_in_as(page, desk_line.base_url, "sue")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Supervisor dashboard")).to_be_visible()

    today = utcnow().astimezone(ZoneInfo("America/New_York")).date()
    total = page.locator('[data-testid="kpi-table"] tr[data-tier="all"]')
    expect(total.locator('[data-kpi="promises"]')).to_have_text("1")
    expect(total.locator('[data-kpi="promised"]')).to_contain_text("$150.00")
    assert total.get_attribute("data-day") == today.isoformat()  # the viewer's day
    assert _chart_drawn(page, "chart-attempts") and _chart_drawn(page, "chart-outcomes")

    # The live figures arrive by polling, the page is never reloaded.
    live = page.locator("#live")
    expect(live).to_have_attribute("data-updated", re.compile(r"^\d{4}-"))
    first = live.get_attribute("data-updated")
    page.evaluate("window.__same_page = true")
    expect(live).not_to_have_attribute("data-updated", first or "", timeout=12_000)
    assert page.evaluate("window.__same_page") is True
    expect(page.locator('[data-live="agents_signed_in"]')).to_have_text("0")
    # The accounts held back today arrive after the page (the preview reads them all).
    expect(page.locator("#blocked")).to_have_attribute("data-loaded", "rows")
    expect(page.get_by_test_id("blocked").locator("tbody tr").first).to_be_visible()
    page.screenshot(path=str(screenshots / "desk-dashboard.png"), full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="KPIs").click()
    expect(page.get_by_role("heading", name="Collections KPIs")).to_be_visible()
    expect(
        page.locator('[data-testid="kpi-table"] tr[data-tier="all"]').last.locator(
            '[data-kpi="promises"]'
        )
    ).to_have_text("1")
    assert _chart_drawn(page, "chart-attempts")
    page.screenshot(path=str(screenshots / "desk-kpis.png"), full_page=True)


def test_the_supervisor_loads_a_campaigns_file_starts_and_pauses_a_campaign(page, desk_line):
    Session = desk_line.app.extensions["hotline"].Session
    make_user(Session, "sue", "supervisor")
    sign_in_as(page, desk_line.base_url, "sue")
    page.goto(f"{desk_line.base_url}/desk/sup/campaigns")
    expect(page.get_by_text("No campaigns yet")).to_be_visible()

    # A file with a mistake first: refused, with the key and its line.
    broken = EXAMPLE.read_text().replace('profile = "us-regf"', 'profile = "nowhere"', 1)
    page.get_by_label("Campaigns file (.toml)").set_input_files(
        files=[{"name": "campaigns.toml", "mimeType": "text/plain", "buffer": broken.encode()}]
    )
    page.get_by_role("button", name="Check and load").click()
    expect(page.get_by_role("heading", name="Campaigns file not loaded")).to_be_visible()
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if '"nowhere"' in text)
    row = page.locator('[data-testid="problems"] tbody tr').filter(has_text="profile")
    expect(row.locator("td").first).to_have_text(str(line))
    page.get_by_role("link", name="Back to the campaigns").click()

    page.get_by_label("Campaigns file (.toml)").set_input_files(str(EXAMPLE))
    page.get_by_role("button", name="Check and load").click()
    expect(page.get_by_role("status").first).to_contain_text("created us-reminders")
    campaign = page.locator('tr[data-campaign="us-reminders"]')
    expect(campaign.get_by_test_id("status")).to_have_text("draft")
    expect(page.get_by_test_id("preview-summary")).to_contain_text("accounts would be called")

    campaign.get_by_role("button", name="Start").click()
    expect(campaign.get_by_test_id("status")).to_have_text("active")
    campaign.get_by_role("button", name="Pause").click()
    expect(campaign.get_by_test_id("status")).to_have_text("paused")
    with Session() as session:
        status = session.scalar(select(Campaign.status).where(Campaign.name == "us-reminders"))
    assert status is CampaignStatus.PAUSED
