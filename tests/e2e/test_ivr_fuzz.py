"""10,000 correctly signed requests with garbage in them: never a 5xx, always TwiML that
parses, and nothing stored that is a card number or that XML cannot carry."""

from __future__ import annotations

import json
import logging
import random
import re
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hotline.enums import Step
from hotline.models import AuditEvent, CallEvent, ContactAttempt, IvrCall, Payment
from hotline.settings import DEV_ACCOUNT_SID
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
    # What XML 1.0 forbids, and what a log line must not carry as it is.
    "\uffff",
    "\ufffe",
    "ch_77\uffff",
    "\x0b\x0c\x1b[31m",
    "\x85\u2028\u2029",
    "\u202e1234",
    # Card numbers (Luhn-valid), bare, grouped and touching letters.
    "4111111111111111",
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "3782.822463.10005",
    "ch_4242424242424242",
    "visa4012888888881881x",
    # Withheld caller ids, SID shapes, and a re-cut request's run-on values.
    "+266696687",
    "Anonymous",
    "restricted",
    "CA" + "f" * 32,
    "RE" + "0" * 32,
    "1From+14155550100",
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
    "PaymentCardType",
    "PaymentCardNumber",
    "PaymentError",
    "QueuePosition",
    "QueueResult",
    "CallStatus",
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
    foreign = 0
    for _ in range(REQUESTS):
        path = rng.choice(PATHS)
        form: dict[str, str] = {}
        for name in rng.sample(FIELDS, rng.randint(0, len(FIELDS))):
            form[name] = rng.choice(GARBAGE)
        if rng.random() < 0.8:
            form["CallSid"] = rng.choice(call_sids)
        if rng.random() < 0.5:
            form["From"] = rng.choice(["+14155550100", "+8613800138000", "+14155550199"])
        # Twilio always sends our AccountSid; a request signed with our token that names
        # another (or none) is a re-cut capture, refused like an unsigned one.
        if rng.random() < 0.95:
            form["AccountSid"] = DEV_ACCOUNT_SID
        elif rng.random() < 0.5:
            form["AccountSid"] = rng.choice(GARBAGE)
        url = base + path
        response = client.post(
            path, data=form, headers={"X-Twilio-Signature": signature(token, url, form.items())}
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 404:
            continue  # a path that is not a route: Flask's 404, never a 5xx
        if form.get("AccountSid") != DEV_ACCOUNT_SID:
            assert response.status_code == 403, (path, form, response.status_code)
            foreign += 1
            continue
        if path == "/ivr/recording":  # a status callback: Twilio reads no TwiML from it
            assert response.status_code == 204, (form, response.status_code)
            continue
        assert response.status_code == 200, (path, form, response.status_code)
        assert response.mimetype == "text/xml"
        root = ET.fromstring(response.data)  # well-formed XML, or this raises
        assert root.tag == "Response" and len(root) > 0, (path, form)
        assert card_numbers_in(response.data.decode()) == [], (path, form)
    assert not any(code >= 500 for code in statuses)
    assert statuses.get(200, 0) > REQUESTS * 0.8 and foreign > 0
    # The apology handler caught nothing: garbage is handled as no input, not as a crash.
    crashes = [r for r in caplog.records if r.exc_info]
    assert crashes == [], crashes[0].exc_info if crashes else None
    # What the webhooks stored (calls, their replayable TwiML, attempts, callbacks,
    # payments and the audit trail) carries no card number and no character XML forbids.
    stored = webhook_rows(runtime.Session)
    assert stored, "the fuzz stored nothing: it exercised nothing"
    bad = [(where, v) for where, v in stored if card_numbers_in(v) or XML_FORBIDDEN.search(v)]
    assert bad == [], bad[:5]


# An independent check (not hotline.redact): digit runs, grouped by up to three separators,
# with any 13 to 19 consecutive digits passing Luhn.
_RUN = re.compile(r"\d(?:[\s.\-]{0,3}\d)*")
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def luhn(number: str) -> bool:
    digits = [int(c) for c in reversed(number)]
    return (
        sum(d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(digits)) % 10
        == 0
    )


# Twilio's SIDs are its own identifiers, stored as they are (the web layer checks their exact
# shape); the test's SIDs are mostly zeros, which Luhn accepts.
_SID = re.compile(r"\b(?:AC|CA|RE|QU)[0-9a-fA-F]{32}\b")


def card_numbers_in(text: str) -> list[str]:
    found = []
    for run in _RUN.findall(_SID.sub("", text)):
        digits = re.sub(r"\D", "", run)
        for length in range(13, 20):
            for start in range(len(digits) - length + 1):
                if luhn(digits[start : start + length]):
                    found.append(digits[start : start + length])
    return found


def webhook_rows(Session) -> list[tuple[str, str]]:
    """Every text value the webhooks wrote, with where it was."""
    values: list[tuple[str, str]] = []
    with Session() as session:
        for call in session.scalars(select(IvrCall)):
            values += [("ivr_call.from_number", call.from_number), ("ivr_call.state", call.state)]
            state = json.loads(call.state)
            values.append(("ivr_call.last_twiml", state.get("last_twiml") or ""))
        for attempt in session.scalars(select(ContactAttempt)):
            values.append(("contact_attempt.number", attempt.number or ""))
        for event in session.scalars(select(CallEvent)):
            values.append(("call_event.payload", event.payload or ""))
        for payment in session.scalars(select(Payment)):
            values += [
                ("payment.idempotency_key", payment.idempotency_key),
                ("payment.processor_confirmation", payment.processor_confirmation or ""),
                ("payment.card_brand", payment.card_brand or ""),
                ("payment.card_last4", payment.card_last4 or ""),
            ]
        for event in session.scalars(select(AuditEvent).where(AuditEvent.actor == "ivr")):
            values.append(("audit_event.data", event.data))
    return values


FORM_VALUES = st.text(max_size=60) | st.sampled_from(GARBAGE)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from([p for p in PATHS if "%" not in p]),
    values=st.dictionaries(st.sampled_from(FIELDS), FORM_VALUES, max_size=len(FIELDS)),
    call=st.integers(0, 3),
)
def test_any_unicode_in_any_parameter_still_gets_twiml_that_parses(app, path, values, call):
    """Arbitrary text (controls, U+FFFE, bidi, emoji, any script) in every parameter."""
    runtime = app.extensions["hotline"]
    token, base = runtime.settings.twilio_auth_token, runtime.settings.public_base_url
    form = {**values, "AccountSid": DEV_ACCOUNT_SID}
    form.setdefault("CallSid", "CA" + f"{call:032x}")
    response = app.test_client().post(
        path, data=form, headers={"X-Twilio-Signature": signature(token, base + path, form.items())}
    )
    if path == "/ivr/recording":
        assert response.status_code == 204
        return
    assert response.status_code == 200, (path, form)
    assert ET.fromstring(response.data).tag == "Response", (path, form)
    assert card_numbers_in(response.data.decode()) == [], (path, form)
