"""Without Chromium the browser tests skip and say how to get it; under CI they fail."""

from __future__ import annotations

import pytest


def test_without_chromium_ci_fails_and_a_developer_is_told_what_to_install(monkeypatch):
    from tests.browser import conftest as browser

    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing: apt-get install -y chromium"):
        browser._need_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"^apt-get install chromium$"):
        browser._need_chromium()
