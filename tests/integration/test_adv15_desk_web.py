"""adv15: the desk through the test client, as a confused user or an adversary would use it."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from hotline.models import CardAccount
from tests.conftest import TEST_SECRET_KEY, seed_demo
from tests.desk_support import csrf_token, make_user, sign_in
from tests.fakes import FakeCallGateway

pytestmark = pytest.mark.usefixtures("cheap_passwords")
AGENT_PHONE = "+14155550299"


@pytest.fixture
def desk(database_url):
    from hotline.web import create_app

    app = create_app(
        {
            "database_url": database_url,
            "env": "test",
            "secret_key": TEST_SECRET_KEY,
            "twilio_auth_token": "adv15-token",
            "public_base_url": "http://desk.test",
        }
    )
    app.config.update(TESTING=True)
    runtime = app.extensions["hotline"]
    app.extensions["hotline"] = dataclasses.replace(runtime, gateway=FakeCallGateway())
    seed_demo(runtime.Session, size=3)
    yield app, runtime.Session
    runtime.engine.dispose()


def first_account(Session) -> int:
    with Session() as session:
        return session.scalars(select(CardAccount.id).order_by(CardAccount.id)).first()


def signed_in(app, Session, username, role="agent", **kwargs):
    make_user(Session, username, role, **kwargs)
    client = app.test_client()
    sign_in(client, username)
    return client


def post(client, url, **data):
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


# --- unicode digits: str.isdigit() accepts '²' and int() refuses it -------------------------


def test_a_plan_count_in_superscript_digits_is_a_form_error_not_a_500(desk):
    app, Session = desk
    account = first_account(Session)
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    start = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    answer = post(client, f"/desk/accounts/{account}/plan", count="²", start=start)
    # Expected: 303 back to the account with "write a number". Actual: 500 (int('²')).
    assert answer.status_code == 303, answer.status_code


def test_an_account_page_with_a_superscript_call_parameter_is_not_a_500(desk):
    app, Session = desk
    account = first_account(Session)
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    answer = client.get(f"/desk/accounts/{account}?call=%C2%B2")
    assert answer.status_code == 200, answer.status_code


def test_an_action_with_a_superscript_call_field_is_not_a_500(desk):
    app, Session = desk
    account = first_account(Session)
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    answer = post(
        client, f"/desk/accounts/{account}/disposition", disposition="no-answer", note="x", call="²"
    )
    assert answer.status_code == 303, answer.status_code


def test_a_compliance_page_number_in_superscript_digits_is_not_a_500(desk):
    app, Session = desk
    client = signed_in(app, Session, "sue", "supervisor")
    answer = client.get("/desk/sup/compliance?page=%C2%B2")
    assert answer.status_code == 200, answer.status_code


# --- what held (kept as regression tests) -----------------------------------------------------


def test_a_cardholder_name_with_a_script_tag_is_shown_as_text(desk):
    app, Session = desk
    account = first_account(Session)
    with Session.begin() as session:
        holder = session.get(CardAccount, account).cardholder
        holder.name = "<script>alert(1)</script>"
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    post(
        client,
        f"/desk/accounts/{account}/disposition",
        disposition="no-answer",
        note="<img src=x onerror=alert(2)>",
    )
    page = client.get(f"/desk/accounts/{account}").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)" in page


def test_a_session_cookie_is_refused_after_sign_out(desk):
    app, Session = desk
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    cookie = client.get_cookie("session") or next(iter(client._cookies.values()))
    stolen = app.test_client()
    stolen.set_cookie(cookie.key, cookie.value, domain=cookie.domain or "localhost")
    assert stolen.get("/desk/queue").status_code == 200
    post(client, "/desk/logout")
    after = stolen.get("/desk/queue")
    assert after.status_code in (302, 303, 401), after.status_code


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/desk//evil.example", "/\\evil.example"]
)
def test_login_next_never_leaves_the_desk(desk, target):
    app, Session = desk
    make_user(Session, "amy")
    client = app.test_client()
    answer = client.post(
        "/desk/login?next=" + target,
        data={
            "username": "amy",
            "password": "correct horse battery staple",
            "csrf_token": csrf_token(client),
        },
    )
    assert answer.status_code == 302
    assert answer.location.startswith("/desk/") and not answer.location.startswith("/desk//")


def test_a_post_without_or_with_a_forged_csrf_token_is_refused(desk):
    app, Session = desk
    account = first_account(Session)
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    for token in (None, "forged", csrf_token(app.test_client())):
        data = {"amount": "5.00", "reason": "fee"}
        if token is not None:
            data["csrf_token"] = token
        answer = client.post(f"/desk/accounts/{account}/waiver", data=data)
        assert answer.status_code == 400, (token, answer.status_code)


# --- dates at the ends of the calendar ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/desk/sup/kpis?from=9999-12-30&to=9999-12-31",
        "/desk/sup/kpis.csv?from=9999-12-30&to=9999-12-31",
        "/desk/sup/attempts.csv?from=9999-12-30&to=9999-12-31",
        "/desk/sup/compliance?from=9999-12-31&to=9999-12-31",
    ],
)
def test_a_last_day_of_the_calendar_is_an_error_message_not_a_500(desk, url):
    app, Session = desk
    client = signed_in(app, Session, "sue", "supervisor")
    answer = client.get(url)
    if url.startswith("/desk/sup/attempts.csv"):
        answer.get_data()  # streamed
    assert answer.status_code in (200, 400), answer.status_code


def test_the_first_day_of_the_calendar_in_shanghai_is_not_a_500(desk):
    app, Session = desk
    make_user(Session, "wei", "supervisor", time_zone="Asia/Shanghai")
    client = app.test_client()
    sign_in(client, "wei")
    answer = client.get("/desk/sup/kpis?from=0001-01-01&to=0001-01-02")
    assert answer.status_code in (200, 400), answer.status_code


def test_a_callback_at_the_end_of_the_calendar_is_a_form_error_not_a_500(desk):
    app, Session = desk
    account = first_account(Session)
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    answer = post(client, f"/desk/accounts/{account}/callback", at="9999-12-31T23:00", phone="1")
    assert answer.status_code == 303, answer.status_code
    assert "Give a date from 2000-01-01 to 2999-12-31" in client.get(answer.location).get_data(
        as_text=True
    )


def test_calling_hours_with_an_offset_on_one_end_are_a_form_error_not_a_500(desk):
    """time.fromisoformat takes '09:00+08:00': aware against naive cannot be compared."""
    from hotline.models import Phone

    app, Session = desk
    account = first_account(Session)
    with Session() as session:
        holder_id = session.get(CardAccount, account).cardholder_id
        phone = session.scalars(select(Phone.id).where(Phone.cardholder_id == holder_id)).first()
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    answer = post(
        client, f"/desk/accounts/{account}/phones/{phone}/hours", start="09:00+08:00", end="17:00"
    )
    assert answer.status_code == 303, answer.status_code


@pytest.mark.parametrize("target", ["/desk/..//evil.example", "/desk/%0d%0aX-Evil:%201"])
def test_login_next_with_dots_or_a_line_break_stays_on_the_desk(desk, target):
    from urllib.parse import urljoin, urlsplit

    app, Session = desk
    make_user(Session, "amy")
    client = app.test_client()
    answer = client.post(
        "/desk/login?next=" + target,
        data={
            "username": "amy",
            "password": "correct horse battery staple",
            "csrf_token": csrf_token(client),
        },
    )
    assert answer.status_code == 302
    assert "X-Evil" not in answer.headers
    resolved = urljoin("https://desk.bank.test/desk/login", answer.headers["Location"])
    assert urlsplit(resolved).netloc == "desk.bank.test", resolved


def test_a_note_of_several_megabytes_is_refused_not_a_500(desk):
    app, Session = desk
    account = first_account(Session)
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    answer = post(
        client,
        f"/desk/accounts/{account}/disposition",
        disposition="no-answer",
        note="x" * 3_000_000,
    )
    assert answer.status_code in (303, 400, 413), answer.status_code
