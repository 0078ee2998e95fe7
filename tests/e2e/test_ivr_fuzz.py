"""10,000 correctly signed requests with garbage in them: never a 5xx, always TwiML."""

from __future__ import annotations

import logging
import random
import xml.etree.ElementTree as ET

from hotline.enums import Step
from simulator.signing import signature
from tests.conftest import seed_demo

REQUESTS = 10_000
PATHS = (
    ["/ivr/voice", "/ivr/pay", "/ivr/hold", "/ivr/queued", "/ivr/recording"]
    + [f"/ivr/step/{step}" for step in sorted(Step)]
    + ["/ivr/step/%00", "/ivr/step/..%2f"]
)
GARBAGE = [
    "",
    " ",
    "0",
    "1",
    "9",
    "*",
    "#",
    "94107#",
    "94107",
    "4000123400000001",
    "99999999999999999999999999",
    "-1",
    "1.5",
    "null",
    "undefined",
    "\u0000",
    "☎",
    "中文",
    "<Response>",
    "'; DROP TABLE card_account; --",
    "%s%s%n",
    "x" * 5000,
    "20261301",
    "20261124",
    "+14155550100",
    "anonymous",
    "success",
    "caller-hung-up",
    "NaN",
    "1e309",
    "\ud7ff",
    "🙂" * 50,
]
FIELDS = [
    "CallSid",
    "From",
    "To",
    "Digits",
    "SpeechResult",
    "Confidence",
    "Result",
    "PaymentConfirmationCode",
    "PaymentCardNumber",
    "PaymentError",
    "QueuePosition",
    "QueueResult",
    "CallStatus",
    "AccountSid",
    "RecordingSid",
    "RecordingStatus",
    "RecordingDuration",
]


def test_fuzzed_signed_requests_never_get_a_5xx_and_always_get_twiml(app, caplog):
    caplog.set_level(logging.ERROR, logger="ivr.web")
    runtime = app.extensions["hotline"]
    seed_demo(runtime.Session, size=6)
    token = runtime.settings.twilio_auth_token
    base = runtime.settings.public_base_url
    client = app.test_client()
    rng = random.Random(20261123)
    call_sids = ["CA" + f"{n:032x}" for n in range(40)]  # reused, so state builds up
    statuses: dict[int, int] = {}
    for _ in range(REQUESTS):
        path = rng.choice(PATHS)
        form: dict[str, str] = {}
        for name in rng.sample(FIELDS, rng.randint(0, len(FIELDS))):
            form[name] = rng.choice(GARBAGE)
        if rng.random() < 0.8:
            form["CallSid"] = rng.choice(call_sids)
        if rng.random() < 0.5:
            form["From"] = rng.choice(["+14155550100", "+8613800138000", "+14155550199"])
        url = base + path
        response = client.post(
            path, data=form, headers={"X-Twilio-Signature": signature(token, url, form.items())}
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 404:
            continue  # a path that is not a route: Flask's 404, never a 5xx
        if path == "/ivr/recording":  # a status callback: Twilio reads no TwiML from it
            assert response.status_code == 204, (form, response.status_code)
            continue
        assert response.status_code == 200, (path, form, response.status_code)
        assert response.mimetype == "text/xml"
        root = ET.fromstring(response.data)
        assert root.tag == "Response" and len(root) > 0, (path, form)
    assert not any(code >= 500 for code in statuses)
    assert statuses.get(200, 0) > REQUESTS * 0.85
    # The apology handler caught nothing: garbage is handled as no input, not as a crash.
    crashes = [r for r in caplog.records if r.exc_info]
    assert crashes == [], crashes[0].exc_info if crashes else None
