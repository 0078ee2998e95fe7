"""Desk test helpers: users, signing a test client in, the CSRF token of its session."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from flask.testing import FlaskClient
from sqlalchemy.orm import sessionmaker

from hotline import users
from hotline.enums import DeskRole, Language
from hotline.models import utcnow

PASSWORD = "correct horse battery staple"
# The cheapest argon2 argon2-cffi allows: tests sign in hundreds of times.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def use_cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the `cheap_passwords` fixture (tests/conftest.py) does."""
    monkeypatch.setattr(users, "HASHER", CHEAP_HASHER)
    monkeypatch.setattr(users, "_DUMMY", [])


def make_agency(Session: sessionmaker, code: str, name: str = "") -> int:
    with Session.begin() as session:
        return users.add_agency(session, code, name or code, actor="test", now=utcnow()).id


def make_user(
    Session: sessionmaker,
    username: str,
    role: DeskRole | str = DeskRole.AGENT,
    *,
    agency: str | None = None,
    password: str = PASSWORD,
    language: Language = Language.EN,
    phone: str | None = None,
    waiver_limit_minor: int = 0,
    waiver_currency: str = "USD",
    time_zone: str = "America/New_York",
) -> int:
    new = users.NewUser(
        username=username,
        role=DeskRole(role),
        display_name=username.title(),
        language=language,
        time_zone=time_zone,
        phone=phone,
        agency=agency,
        waiver_limit_minor=waiver_limit_minor,
        waiver_currency=waiver_currency,
    )
    with Session.begin() as session:
        return users.add_user(session, new, password, actor="test", now=utcnow()).id


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token of the client's session (read from a desk page's <meta>)."""
    page = client.get("/desk/login")
    if page.status_code == 302:  # signed in already: the home page has it too
        page = client.get("/desk/")
    found = _CSRF_META.search(page.get_data(as_text=True))
    assert found, "no csrf-token meta on the page"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> None:
    response = client.post(
        "/desk/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
