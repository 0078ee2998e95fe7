"""Who can open what: the whole route table, roles, CSRF, cookies and agency scoping."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, Rule

from desk.access import (
    User,
    bank_today,
    can_see_account,
    declared,
    roles_of,
    visible_accounts,
)
from hotline.enums import DeskRole
from hotline.models import CardAccount, DeskUser, Placement
from tests.conftest import TEST_SECRET_KEY, seed_demo
from tests.desk_support import csrf_token, make_agency, make_user, sign_in

pytestmark = pytest.mark.usefixtures("cheap_passwords")

# Signed by Twilio (telephony.webhook): refused without a valid X-Twilio-Signature.
WEBHOOK_PREFIXES = ("/ivr/", "/dialer/", "/sms/")
OPEN_PATHS = {"/healthz"}
PUBLIC_DESK_ENDPOINTS = {"desk.login"}
STATIC_ENDPOINTS = {"static", "desk.static"}
ROLES = tuple(DeskRole)


def _url(rule: Rule) -> str:
    """The rule's URL with a sample value for each variable part."""
    values = {
        name: 1 if isinstance(rule._converters[name], IntegerConverter) else "x"
        for name in rule.arguments
    }
    return rule.build(values, append_unknown=False)[1]  # type: ignore[index]


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def _desk_rules(app: Flask) -> list[Rule]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in STATIC_ENDPOINTS
        and rule.endpoint not in PUBLIC_DESK_ENDPOINTS
        and not rule.rule.startswith(WEBHOOK_PREFIXES)
        and rule.rule not in OPEN_PATHS
    ]


def test_every_route_is_a_signed_webhook_the_health_check_static_the_sign_in_or_the_desk(app):
    outside = [
        rule.rule
        for rule in _desk_rules(app)
        if not rule.rule.startswith("/desk/") or not rule.endpoint.startswith("desk.")
    ]
    assert outside == []
    # And the desk really has routes to check (the test would pass vacuously otherwise).
    assert {"desk.home", "desk.logout", "desk.users"} <= {r.endpoint for r in _desk_rules(app)}


def test_every_desk_route_declares_its_roles(app):
    undeclared = [
        r.endpoint for r in _desk_rules(app) if not declared(app.view_functions[r.endpoint])
    ]
    assert undeclared == []
    public = {
        r.endpoint
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("desk.")
        and r.endpoint != "desk.static"
        and roles_of(app.view_functions[r.endpoint]) is None
    }
    assert public == PUBLIC_DESK_ENDPOINTS


def test_every_webhook_refuses_an_unsigned_request(client, app):
    webhooks = [r for r in app.url_map.iter_rules() if r.rule.startswith(WEBHOOK_PREFIXES)]
    assert webhooks, "no webhooks found: the prefixes are out of date"
    answered = {
        (rule.rule, method): client.open(_url(rule), method=method).status_code
        for rule in webhooks
        for method in _methods(rule)
    }
    assert {key: code for key, code in answered.items() if code != 403} == {}


def test_the_health_check_and_the_sign_in_page_answer_anyone(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/desk/login").status_code == 200
    with client.get("/desk/static/vendor/pico/pico.min.css") as response:
        assert response.status_code == 200


def test_no_desk_route_answers_without_sign_in(client, app):
    token = csrf_token(client)  # a valid token: what refuses must be the sign-in check
    answered = {}
    for rule in _desk_rules(app):
        for method in _methods(rule):
            response = client.open(_url(rule), method=method, data={"csrf_token": token})
            answered[(rule.rule, method)] = (
                response.status_code,
                response.headers.get("Location", "").split("?")[0],
            )
    expected = {key: (302 if key[1] == "GET" else 303, "/desk/login") for key in answered}
    assert answered == expected


def test_a_script_that_is_not_signed_in_gets_401_not_a_page(client, app):
    token = csrf_token(client)
    for rule in _desk_rules(app):
        for method in _methods(rule):
            response = client.open(
                _url(rule),
                method=method,
                data={"csrf_token": token},
                headers={"X-Requested-With": "fetch", "Accept": "application/json"},
            )
            assert (rule.rule, method, response.status_code) == (rule.rule, method, 401)
            assert response.json == {"error": "sign in first"}


def test_a_desk_route_that_declares_no_role_is_refused(app, Session):
    make_user(Session, "ada", DeskRole.ADMIN)
    app.add_url_rule("/desk/forgotten", endpoint="desk.forgotten", view_func=lambda: "secret")
    client = app.test_client()
    assert client.get("/desk/forgotten").status_code == 403
    sign_in(client, "ada")
    response = client.get("/desk/forgotten")
    assert response.status_code == 403 and "secret" not in response.get_data(as_text=True)


def test_desk_pages_forbid_framing_inline_scripts_and_caching(client):
    response = client.get("/desk/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_the_routes_declared_for_it(app, Session, role):
    make_user(Session, f"the-{role}", role)
    declared_reach = {}
    answered = {}
    for rule in _desk_rules(app):
        reach = roles_of(app.view_functions[rule.endpoint])
        for method in _methods(rule):
            client = app.test_client()  # a fresh sign-in each: one route may be sign-out
            sign_in(client, f"the-{role}")
            response = client.open(
                _url(rule), method=method, data={"csrf_token": csrf_token(client)}
            )
            declared_reach[(rule.rule, method)] = role in reach
            answered[(rule.rule, method)] = response.status_code not in (401, 403)
    assert answered == declared_reach


def test_the_ladder_agent_supervisor_admin(app):
    reach = {
        endpoint: roles_of(app.view_functions[endpoint]) for endpoint in ("desk.home", "desk.users")
    }
    assert reach["desk.home"] == set(ROLES)
    assert reach["desk.users"] == {DeskRole.ADMIN}


def test_a_post_without_a_valid_csrf_token_is_refused(app, Session):
    make_user(Session, "ann")
    client = app.test_client()
    sign_in(client, "ann")
    assert client.post("/desk/logout").status_code == 400
    assert client.post("/desk/logout", data={"csrf_token": "forged"}).status_code == 400
    other = app.test_client()
    stolen = csrf_token(other)  # a real token, of another session
    assert client.post("/desk/logout", data={"csrf_token": stolen}).status_code == 400
    assert client.get("/desk/").status_code == 200  # still signed in: nothing happened
    assert client.post("/desk/login", data={"username": "ann", "password": "x"}).status_code == 400


def test_the_session_cookie_is_http_only_same_site_and_expires(app, Session):
    make_user(Session, "ann")
    client = app.test_client()
    sign_in(client, "ann")
    cookie = client.get_cookie("hotline_desk")
    assert cookie is not None
    assert cookie.http_only and cookie.same_site == "Lax"
    assert cookie.expires is not None
    assert dt.timedelta(hours=7) < cookie.expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=8)
    assert not cookie.secure  # plain http here; https below


def test_behind_https_the_cookie_is_secure_and_host_only(database_url, Session):
    from hotline.web import create_app

    app = create_app(
        {
            "database_url": database_url,
            "env": "test",
            "secret_key": TEST_SECRET_KEY,
            "public_base_url": "https://hotline.example.com",
        }
    )
    try:
        make_user(Session, "ann")
        client = app.test_client()
        sign_in(client, "ann")
        cookie = client.get_cookie("__Host-hotline_desk")
        assert cookie is not None and cookie.secure and cookie.http_only
        assert cookie.path == "/" and cookie.domain in ("", "localhost")
    finally:
        app.extensions["hotline"].engine.dispose()


def test_signing_out_ends_the_session_on_the_server(app, Session):
    make_user(Session, "ann")
    client = app.test_client()
    sign_in(client, "ann")
    copied = client.get_cookie("hotline_desk").value
    response = client.post("/desk/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert client.get("/desk/").status_code == 302
    # Someone who kept a copy of the cookie is not signed in either.
    thief = app.test_client()
    thief.set_cookie("hotline_desk", copied)
    assert thief.get("/desk/").status_code == 302


def test_the_next_page_after_sign_in_is_only_ever_on_the_desk(app, Session):
    make_user(Session, "ann")
    for target, lands in (
        ("/desk/admin/users", "/desk/admin/users"),
        ("https://evil.example/", "/desk/"),
        ("//evil.example/desk/", "/desk/"),
        ("/desk//evil.example", "/desk/"),
    ):
        client = app.test_client()
        response = client.post(
            f"/desk/login?next={target}",
            data={
                "username": "ann",
                "password": "correct horse battery staple",
                "csrf_token": csrf_token(client),
            },
        )
        assert response.headers["Location"] == lands


# --- agency scoping ----------------------------------------------------------------------


@pytest.fixture
def placed(app, Session):
    """Six demo accounts: two with ACME today, one each with ACME before and after today,
    one with BETA today, one with nobody. Today is the bank's (its zone's date: in New
    York it is yesterday still until 05:00 UTC)."""
    seed_demo(Session, size=6)
    acme, beta = make_agency(Session, "ACME"), make_agency(Session, "BETA")
    with app.app_context():
        today = bank_today()
    day = dt.timedelta(days=1)
    with Session.begin() as session:
        ids = session.scalars(select(CardAccount.id).order_by(CardAccount.id)).all()
        session.add_all(
            [
                Placement(account_id=ids[0], agency_id=acme, starts_on=today - day),
                Placement(account_id=ids[1], agency_id=acme, starts_on=today, ends_on=today),
                Placement(
                    account_id=ids[2],
                    agency_id=acme,
                    starts_on=today - 9 * day,
                    ends_on=today - day,
                ),
                Placement(account_id=ids[3], agency_id=acme, starts_on=today + day),
                Placement(
                    account_id=ids[4], agency_id=beta, starts_on=today - day, ends_on=today + day
                ),
            ]
        )
    return ids


def _user(Session, username: str) -> User:
    with Session.begin() as session:
        row = session.scalars(select(DeskUser).where(DeskUser.username == username)).one()
        return User.from_row(row)


def test_an_agency_user_sees_only_the_accounts_placed_with_the_agency_today(app, Session, placed):
    make_user(Session, "acme-agent", agency="ACME")
    make_user(Session, "beta-agent", agency="BETA")
    make_user(Session, "bank-agent")
    people = {name: _user(Session, name) for name in ("acme-agent", "beta-agent", "bank-agent")}
    acme = people["acme-agent"]
    with app.test_request_context(), Session.begin() as session:
        seen = {
            name: set(session.scalars(select(CardAccount.id).where(visible_accounts(user))))
            for name, user in people.items()
        }
        opened = {i: can_see_account(session, acme, i) for i in placed}
        tomorrow = bank_today() + dt.timedelta(days=1)
        later = set(session.scalars(select(CardAccount.id).where(visible_accounts(acme, tomorrow))))
    assert seen["acme-agent"] == {placed[0], placed[1]}
    assert seen["beta-agent"] == {placed[4]}
    assert seen["bank-agent"] == set(placed)
    assert opened == {i: i in (placed[0], placed[1]) for i in placed}
    assert later == {placed[0], placed[3]}


def test_no_one_sees_an_account_that_does_not_exist(app, Session, placed):
    make_user(Session, "bank-agent")
    bank = _user(Session, "bank-agent")
    with app.test_request_context(), Session.begin() as session:
        assert not can_see_account(session, bank, max(placed) + 100)
