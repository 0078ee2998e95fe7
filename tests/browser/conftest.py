"""Browser tests: the real app over HTTP (with the simulator), driven by Debian's Chromium.

Playwright drives /usr/bin/chromium (`apt-get install chromium`), headless; it never
downloads a browser of its own. Without Chromium the tests skip, saying how to install it;
under CI (CI=true) they fail instead, so a CI that lost its browser cannot pass quietly.

Fixtures:
- `desk_line`: the Hotline app served on a free loopback port with the simulator behind it
  and 12 demo accounts (tests/e2e/conftest.py's `hotline_line`, reused); `.base_url`,
  `.app` (its sessionmaker: `.app.extensions["hotline"].Session`), `.carrier`, `.call(...)`.
- `browser` (one per session), `page` (a fresh context per test: no cookies shared,
  1280 x 800), `tablet` (768 x 1024, touch).
- `sign_in_as(page, base_url, username)`: the sign-in form filled and sent, as a person.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.desk_support import PASSWORD, use_cheap_passwords
from tests.e2e.conftest import (  # noqa: F401  (fixtures, reused as they are)
    LineUnderTest,
    callback_delivery,
    clock,
    hotline_line,
)

CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}


def _need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    pytest.skip("apt-get install chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def tablet(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=TABLET, has_touch=True, locale="en-US")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def desk_line(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> LineUnderTest:
    use_cheap_passwords(monkeypatch)
    make: Callable[..., LineUnderTest] = request.getfixturevalue("hotline_line")
    return make()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a test saves its screenshots: `--desk-screenshots DIR` (docs/ for the README's
    pictures), else the test's temporary folder."""
    chosen = request.config.getoption("--desk-screenshots")
    folder = Path(chosen) if chosen else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in_as(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/desk/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
