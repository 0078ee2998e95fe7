"""The agent desk's pages through the test client: the queue and its rows, Accept and the
screen pop, the actions' POSTs and their messages, the supervisor's waivers, the bridge
webhooks, and agency scoping on every page and POST."""

from __future__ import annotations

import dataclasses
import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from desk.access import bank_today
from hotline import queueing
from hotline.models import CardAccount, FeeWaiver, Placement, PromiseToPay, QueueEntry, utcnow
from hotline.settings import DEV_ACCOUNT_SID
from simulator.signing import signature
from tests.conftest import TEST_SECRET_KEY, seed_demo
from tests.desk_support import csrf_token, make_agency, make_user, sign_in
from tests.fakes import FakeCallGateway

pytestmark = pytest.mark.usefixtures("cheap_passwords")
AGENT_PHONE = "+14155550299"
CALL_SID = "CA" + "7" * 32
AUTH_TOKEN = "pages-auth-token"


@pytest.fixture
def desk(database_url):
    from hotline.web import create_app

    app = create_app(
        {
            "database_url": database_url,
            "env": "test",
            "secret_key": TEST_SECRET_KEY,
            "twilio_auth_token": AUTH_TOKEN,
            "public_base_url": "http://desk.test",
        }
    )
    app.config.update(TESTING=True)
    runtime = app.extensions["hotline"]
    gateway = FakeCallGateway()
    app.extensions["hotline"] = dataclasses.replace(runtime, gateway=gateway)
    seed_demo(runtime.Session, size=6)
    yield app, runtime.Session, gateway
    runtime.engine.dispose()


def ids(Session) -> list[int]:
    with Session() as session:
        return list(session.scalars(select(CardAccount.id).order_by(CardAccount.id)))


def enqueue(Session, account_id, sid=CALL_SID):
    with Session.begin() as session:
        queueing.enqueue(
            session,
            call_sid=sid,
            line="ivr",
            account_id=account_id,
            number="+14155550100",
            language="en",
            verified=True,
            intent="balance",
            path=["language", "verify", "menu", "queued"],
            case_id=None,
            now=utcnow(),
        )
        return session.scalars(select(QueueEntry.id).where(QueueEntry.call_sid == sid)).one()


def signed_in(app, Session, username, role="agent", **kwargs):
    make_user(Session, username, role, **kwargs)
    client = app.test_client()
    sign_in(client, username)
    return client


def post(client, url, **data):
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


def test_the_queue_shows_the_caller_and_accept_bridges_and_pops_the_screen(desk):
    app, Session, gateway = desk
    account = ids(Session)[0]
    entry = enqueue(Session, account)
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    page = client.get("/desk/queue").get_data(as_text=True)
    assert 'data-testid="queue-row"' in page and "language › verify › menu › queued" in page
    rows = client.get("/desk/queue/rows", headers={"X-Requested-With": "fetch"})
    assert rows.status_code == 200 and "Verified" in rows.get_data(as_text=True)
    accepted = post(client, f"/desk/queue/{entry}/accept")
    assert accepted.status_code == 303 and accepted.location.endswith(f"/desk/calls/{entry}")
    assert [(r.sid, r.url) for r in gateway.redirects] == [
        (CALL_SID, f"http://desk.test/ivr/agent/bridge?entry={entry}")
    ]
    popped = client.get(accepted.location).get_data(as_text=True)
    assert 'data-testid="call-panel"' in popped and "language › verify › menu › queued" in popped
    assert 'data-testid="balance"' in popped
    again = post(client, f"/desk/queue/{entry}/accept")
    assert again.status_code == 303 and again.location.endswith("/desk/queue")
    assert "Another agent has already taken this caller." in client.get("/desk/queue").get_data(
        as_text=True
    )


def test_an_agent_records_a_promise_and_a_bad_one_gets_its_own_message(desk):
    app, Session, _ = desk
    account = ids(Session)[0]
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    day = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    done = post(client, f"/desk/accounts/{account}/promise", amount="50.00", date=day)
    assert done.status_code == 303
    page = client.get(done.location).get_data(as_text=True)
    assert "is recorded." in page
    with Session() as session:
        promise = session.scalars(select(PromiseToPay)).one()
        assert promise.amount_minor == 50_00 and promise.source == "agent"
    bad = post(client, f"/desk/accounts/{account}/promise", amount="50.00", date="2001-01-01")
    assert "The date must be from" in client.get(bad.location).get_data(as_text=True)
    worse = post(client, f"/desk/accounts/{account}/promise", amount="lots", date=day)
    assert "Write the amount as a number" in client.get(worse.location).get_data(as_text=True)


def test_a_waiver_above_the_limit_waits_and_a_supervisor_approves_it(desk):
    app, Session, _ = desk
    account = ids(Session)[0]
    agent = signed_in(app, Session, "amy", waiver_limit_minor=10_00)
    done = post(agent, f"/desk/accounts/{account}/waiver", amount="35.00", reason="fee in error")
    assert "waits for a supervisor" in agent.get(done.location).get_data(as_text=True)
    assert agent.get("/desk/waivers").status_code == 403
    sue = signed_in(app, Session, "sue", "supervisor", waiver_limit_minor=500_00)
    listed = sue.get("/desk/waivers").get_data(as_text=True)
    assert 'data-testid="pending-waiver"' in listed and "fee in error" in listed
    with Session() as session:
        waiver = session.scalars(select(FeeWaiver)).one()
        before = session.get(CardAccount, account).balance_minor
    # A supervisor's own authority bounds what they approve.
    low = signed_in(app, Session, "lou", "supervisor", waiver_limit_minor=20_00)
    refused = post(low, f"/desk/waivers/{waiver.id}/decide", decision="approve", note="ok")
    assert "above your own waiver authority" in low.get(refused.location).get_data(as_text=True)
    # A limit in another currency is no authority over this one (500.00 yuan is not $500).
    yuan = signed_in(
        app, Session, "yan", "supervisor", waiver_limit_minor=500_00, waiver_currency="CNY"
    )
    refused = post(yuan, f"/desk/waivers/{waiver.id}/decide", decision="approve", note="ok")
    assert "above your own waiver authority" in yuan.get(refused.location).get_data(as_text=True)
    decided = post(sue, f"/desk/waivers/{waiver.id}/decide", decision="approve", note="ok")
    assert "approved and applied" in sue.get(decided.location).get_data(as_text=True)
    with Session() as session:
        assert session.get(FeeWaiver, waiver.id).status == "applied"
        assert session.get(CardAccount, account).balance_minor == before - 35_00


def test_an_agency_user_cannot_open_or_act_on_another_agencys_account(desk):
    app, Session, gateway = desk
    mine, theirs, *_ = ids(Session)
    acme, beta = make_agency(Session, "acme"), make_agency(Session, "beta")
    with app.app_context():
        today = bank_today()  # the day placements are read for (its zone's)
    with Session.begin() as session:
        session.add(Placement(account_id=mine, agency_id=acme, starts_on=today))
        session.add(Placement(account_id=theirs, agency_id=beta, starts_on=today))
    theirs_entry = enqueue(Session, theirs)
    client = signed_in(app, Session, "ann", agency="acme", phone=AGENT_PHONE)
    assert client.get(f"/desk/accounts/{mine}").status_code == 200
    assert client.get(f"/desk/accounts/{theirs}").status_code == 404
    with Session() as session:
        number = session.get(CardAccount, theirs).account_number
        phone = session.get(CardAccount, theirs).cardholder.phones[0].id
    assert client.get(f"/desk/accounts?number={number}").status_code == 404
    assert 'data-testid="queue-row"' not in client.get("/desk/queue").get_data(as_text=True)
    assert post(client, f"/desk/queue/{theirs_entry}/accept").status_code == 404
    assert client.get(f"/desk/calls/{theirs_entry}").status_code == 404
    posts = {
        "disposition": {"disposition": "other", "note": "x"},
        "promise": {"amount": "10.00", "date": today.isoformat()},
        "plan": {"count": "6", "start": today.isoformat()},
        "waiver": {"amount": "1.00", "reason": "x"},
        "cases": {"kind": "complaint", "summary": "x"},
        "cases/1/update": {"note": "x"},
        "cases/1/resolve": {"resolution": "x"},
        "flags": {"flag": "dnc", "on": "1"},
        f"phones/{phone}/hours": {"start": "18:00", "end": "20:00"},
        "unlock": {},
        "callback": {"phone": str(phone), "at": "2030-01-01T10:00"},
    }
    for path, data in posts.items():
        answer = post(client, f"/desk/accounts/{theirs}/{path}", **data)
        assert answer.status_code == 404, path
    assert gateway.redirects == []
    with Session() as session:
        assert session.get(CardAccount, theirs).flag_set == frozenset()
        assert session.scalars(select(PromiseToPay)).all() == []


def test_the_bridge_webhook_dials_the_agent_and_a_missed_dial_queues_the_caller_again(desk):
    app, Session, _ = desk
    entry = enqueue(Session, ids(Session)[0])
    client = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    post(client, f"/desk/queue/{entry}/accept")
    webhook = app.test_client()

    def signed(path, **form):
        form = {"AccountSid": DEV_ACCOUNT_SID, "CallSid": CALL_SID, **form}
        url = f"http://desk.test{path}"
        headers = {"X-Twilio-Signature": signature(AUTH_TOKEN, url, form.items())}
        return webhook.post(path, data=form, headers=headers)

    assert webhook.post(f"/ivr/agent/bridge?entry={entry}", data={}).status_code == 403
    bridge = signed(f"/ivr/agent/bridge?entry={entry}")
    assert bridge.mimetype == "text/xml"
    root = ET.fromstring(bridge.get_data(as_text=True))
    dial = root.find("Dial")
    assert dial is not None and dial.find("Number").text == AGENT_PHONE
    assert dial.get("action") == f"http://desk.test/ivr/agent/dialed?entry={entry}"
    assert signed(f"/ivr/agent/answered?entry={entry}").status_code == 200
    with Session() as session:
        assert session.get(QueueEntry, entry).status == "bridged"
    missed = signed(f"/ivr/agent/dialed?entry={entry}", DialCallStatus="no-answer")
    root = ET.fromstring(missed.get_data(as_text=True))
    assert root.find("Enqueue").text == "collections"
    assert root.find("Enqueue").get("waitUrl") == "http://desk.test/ivr/hold"
    with Session() as session:
        assert session.get(QueueEntry, entry).status == "waiting"


def test_the_banks_agent_takes_a_caller_the_line_could_not_identify_and_an_agency_cannot(desk):
    app, Session, gateway = desk
    entry = enqueue(Session, None)
    make_agency(Session, "acme")
    ann = signed_in(app, Session, "ann", agency="acme", phone=AGENT_PHONE)
    assert 'data-testid="queue-row"' not in ann.get("/desk/queue").get_data(as_text=True)
    assert post(ann, f"/desk/queue/{entry}/accept").status_code == 404
    amy = signed_in(app, Session, "amy", phone=AGENT_PHONE)
    assert 'data-testid="queue-row"' in amy.get("/desk/queue").get_data(as_text=True)
    accepted = post(amy, f"/desk/queue/{entry}/accept")
    assert accepted.status_code == 303 and accepted.location.endswith(f"/desk/calls/{entry}")
    popped = amy.get(accepted.location).get_data(as_text=True)
    assert "could not tell who is calling" in popped and len(gateway.redirects) == 1
