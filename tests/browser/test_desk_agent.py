"""The agent desk in a real browser: a caller presses 0 on the real line (through the
simulator), appears in the agent's queue without a reload, is accepted and put through to
the agent's phone; the screen pops with the path taken on the line; the agent records a
promise, and a supervisor sees it in the day's KPIs. And a waiver above an agent's
authority waits for a supervisor, who approves it.

Screenshots (with `--desk-screenshots docs`): docs/desk-agent-queue.png, docs/desk-account.png.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from dialer.planner import refresh_tiers
from hotline.demo import ensure_default_tiers
from hotline.models import CardAccount, FeeWaiver, PromiseToPay, QueueEntry
from simulator.callees import Party, Script
from tests.browser.conftest import sign_in_as
from tests.desk_support import make_user
from tests.e2e.scripted_app import children, wait_until

pytestmark = pytest.mark.realtime
AGENT_PHONE = "+14155550299"
ALICE = "+14155550100"  # the demo caller: verification digits 94107


def test_a_caller_who_presses_0_is_seen_accepted_bridged_and_promises(
    desk_line, browser, page, screenshots
):
    from playwright.sync_api import expect

    line = desk_line
    Session = line.app.extensions["hotline"].Session
    with Session.begin() as session:  # the accounts' tiers, as the planner keeps them
        ensure_default_tiers(session)
        refresh_tiers(session)
    make_user(Session, "amy", "agent", phone=AGENT_PHONE)
    make_user(Session, "sue", "supervisor", time_zone="America/New_York")
    line.carrier.scripts[AGENT_PHONE] = Script(ring_seconds=1, talk_seconds=120)
    sign_in_as(page, line.base_url, "amy")
    page.goto(f"{line.base_url}/desk/queue")
    expect(page.get_by_test_id("queue-empty")).to_be_visible()

    caller = line.carrier.start_inbound(
        ALICE, party=Party(Script.from_dict({"keys": "94107#,0", "hold_patience": 600}))
    )
    row = page.get_by_test_id("queue-row")
    expect(row).to_be_visible(timeout=30_000)  # polled in, no reload
    expect(row).to_contain_text("Verified")
    expect(row).to_contain_text("verify › menu › queued")
    page.screenshot(path=str(screenshots / "desk-agent-queue.png"), full_page=True)

    row.get_by_test_id("accept").click()
    expect(page).to_have_url(re.compile(r"/desk/calls/\d+$"))
    panel = page.get_by_test_id("call-panel")
    expect(panel).to_be_visible()
    expect(page.get_by_test_id("call-verified")).to_contain_text("Verified")
    expect(page.get_by_test_id("call-path")).to_contain_text("verify › menu › queued")
    expect(page.get_by_test_id("balance")).to_be_visible()

    # The simulator shows the caller bridged to the agent's own phone.
    wait_until(lambda: any(e.kind == "bridged" for e in caller.transcript), timeout=30)
    [agent_leg] = children(line.simulator, caller)
    assert agent_leg.to == AGENT_PHONE
    with Session() as session:
        entry = session.scalars(select(QueueEntry).where(QueueEntry.call_sid == caller.sid)).one()
        assert entry.accepted_by == "amy" and entry.status in ("accepted", "bridged")

    form = page.get_by_test_id("promise-form")
    form.get_by_label(re.compile("Amount")).fill("120.00")
    form.get_by_label("Pay by").fill((dt.date.today() + dt.timedelta(days=7)).isoformat())
    form.get_by_test_id("save-promise").click()
    expect(page.get_by_test_id("message-ok")).to_contain_text("is recorded")
    expect(page.get_by_test_id("promise-row").first).to_contain_text("120.00")
    page.screenshot(path=str(screenshots / "desk-account.png"), full_page=True)
    with Session() as session:
        promise = session.scalars(select(PromiseToPay)).one()
        assert promise.amount_minor == 120_00 and promise.source == "agent"
        assert promise.call_sid == caller.sid
    line.app.extensions["hotline"].gateway.hangup(caller.sid)
    line.carrier.wait(caller.sid, timeout=30)

    # The supervisor sees the promise in the day's KPIs.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    supervisor = context.new_page()
    try:
        sign_in_as(supervisor, line.base_url, "sue")
        supervisor.goto(f"{line.base_url}/desk/sup")
        total = supervisor.locator('[data-testid="kpi-table"] tr[data-tier="all"]').last
        expect(total.locator('[data-kpi="promises"]')).to_have_text("1")
        expect(total.locator('[data-kpi="promised"]')).to_contain_text("$120.00")
    finally:
        context.close()


def test_a_waiver_above_the_agents_limit_waits_for_a_supervisor_who_approves_it(
    desk_line, browser, page
):
    from playwright.sync_api import expect

    line = desk_line
    Session = line.app.extensions["hotline"].Session
    make_user(Session, "amy", "agent", phone=AGENT_PHONE, waiver_limit_minor=20_00)
    make_user(Session, "sue", "supervisor", waiver_limit_minor=500_00)
    with Session() as session:
        account = session.scalars(select(CardAccount).order_by(CardAccount.id)).first()
        balance = account.balance_minor
    sign_in_as(page, line.base_url, "amy")
    page.goto(f"{line.base_url}/desk/accounts/{account.id}")
    form = page.get_by_test_id("waiver-form")
    page.get_by_text("Waive a late fee").click()
    form.get_by_label(re.compile("Amount")).fill("35.00")
    form.get_by_label("Reason").fill("late fee charged during the outage")
    form.get_by_test_id("save-waiver").click()
    expect(page.get_by_test_id("message-ok")).to_contain_text("waits for a supervisor")
    expect(page.get_by_test_id("waiver-status").first).to_contain_text("Waiting for a supervisor")
    with Session() as session:
        assert session.get(CardAccount, account.id).balance_minor == balance

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    supervisor = context.new_page()
    try:
        sign_in_as(supervisor, line.base_url, "sue")
        supervisor.goto(f"{line.base_url}/desk/waivers")
        pending = supervisor.get_by_test_id("pending-waiver")
        expect(pending).to_contain_text("late fee charged during the outage")
        pending.get_by_test_id("approve").click()
        expect(supervisor.get_by_test_id("message-ok")).to_contain_text("approved and applied")
        expect(supervisor.get_by_test_id("no-waivers")).to_be_visible()
    finally:
        context.close()
    with Session() as session:
        assert session.scalars(select(FeeWaiver.status)).one() == "applied"
        assert session.get(CardAccount, account.id).balance_minor == balance - 35_00
    page.reload()
    expect(page.get_by_test_id("waiver-status").first).to_contain_text("Applied")
