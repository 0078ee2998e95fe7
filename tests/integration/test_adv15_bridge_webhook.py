"""adv15: the desk's bridge webhooks (/ivr/agent/*) when the database is down."""

from __future__ import annotations

import socket

import pytest

from hotline.settings import DEV_ACCOUNT_SID
from simulator.signing import signature
from tests.conftest import TEST_SECRET_KEY, backend

AUTH_TOKEN = "adv15-bridge-token"
CALL_SID = "CA" + "5" * 32


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(backend() != "postgresql", reason="a PostgreSQL that refuses")
@pytest.mark.parametrize("path", ["bridge", "answered", "dialed"])
def test_a_bridge_webhook_answers_twiml_not_500_when_the_database_refuses(path):
    from hotline.web import create_app

    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nothing"
    app = create_app(
        {
            "database_url": url,
            "env": "test",
            "secret_key": TEST_SECRET_KEY,
            "twilio_auth_token": AUTH_TOKEN,
            "public_base_url": "http://desk.test",
        }
    )
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    form = {"AccountSid": DEV_ACCOUNT_SID, "CallSid": CALL_SID, "DialCallStatus": "no-answer"}
    target = f"/ivr/agent/{path}?entry=1"
    headers = {
        "X-Twilio-Signature": signature(AUTH_TOKEN, f"http://desk.test{target}", form.items())
    }
    answer = app.test_client().post(target, data=form, headers=headers)
    # Expected: 200 TwiML (an apology, or the caller back in the queue) as /ivr/* does.
    # Actual: 500, which Twilio turns into "an application error has occurred" and a hang-up.
    assert answer.status_code == 200, answer.status_code
    assert answer.mimetype == "text/xml"
