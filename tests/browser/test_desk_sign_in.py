"""Signing in to the desk in a real browser (Chromium), as an administrator would."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in_as
from tests.desk_support import make_user


def test_an_admin_signs_in_sees_the_nav_for_the_role_and_signs_out(page, desk_line, screenshots):
    Session = desk_line.app.extensions["hotline"].Session
    make_user(Session, "ada", "admin")
    page.goto(f"{desk_line.base_url}/desk/")
    expect(page).to_have_url(re.compile(r"/desk/login\?next=%2Fdesk%2F$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path=str(screenshots / "desk-login.png"))

    sign_in_as(page, desk_line.base_url, "ada")
    expect(page.get_by_role("heading", name="Welcome, Ada.")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Users")).to_be_visible()
    expect(nav).to_contain_text("Signed in as Ada (Administrator)")

    nav.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.get_by_role("cell", name="ada", exact=True)).to_be_visible()

    nav.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(f"{desk_line.base_url}/desk/admin/users")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_wrong_password_shows_the_error_and_keeps_the_user_out(page, desk_line):
    Session = desk_line.app.extensions["hotline"].Session
    make_user(Session, "ada", "admin")
    sign_in_as(page, desk_line.base_url, "ada", password="not the password")
    expect(page.get_by_role("alert")).to_have_text("The user name or password is not right.")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("User name")).to_have_value("ada")
    page.goto(f"{desk_line.base_url}/desk/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_an_agent_sees_no_admin_pages_and_switches_to_chinese(tablet, desk_line):
    Session = desk_line.app.extensions["hotline"].Session
    make_user(Session, "li", "agent")
    sign_in_as(tablet, desk_line.base_url, "li")
    nav = tablet.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    tablet.get_by_label("Language").select_option("zh-CN")
    expect(tablet.get_by_role("heading", name="欢迎，Li。")).to_be_visible()
    expect(tablet.locator("html")).to_have_attribute("lang", "zh-CN")
    response = tablet.goto(f"{desk_line.base_url}/desk/admin/users")
    assert response is not None and response.status == 403
    expect(tablet.get_by_role("heading", name="无权访问")).to_be_visible()


def test_the_skip_link_comes_first_and_focus_is_visible(page, desk_line):
    make_user(desk_line.app.extensions["hotline"].Session, "ann")
    sign_in_as(page, desk_line.base_url, "ann")
    expect(page.get_by_role("heading", name="Welcome, Ann.")).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.evaluate("e => getComputedStyle(e).top") == "8px"  # moved into view
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
