"""The webhooks' inputs over HTTP: shapes after the signature, XML-safe answers, and card
numbers kept nowhere, whatever parameter they arrive in."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from hotline.models import AuditEvent, CardAccount, Cardholder, IvrCall, Payment, Phone, PhoneType
from hotline.redact import luhn_valid
from hotline.settings import DEV_ACCOUNT_SID
from tests.e2e.conftest import AUTH_TOKEN, HOTLINE_NUMBER
from tests.e2e.test_ivr import (
    ALICE,
    ALICE_ACCOUNT,
    _call_waiting_for_pay_result,
    _pay_params,
    _signed_post,
    heard,
    rows,
    said,
)

PAN = "4111111111111111"


def _base(call_sid: str, **more: str) -> dict[str, str]:
    return {
        "AccountSid": DEV_ACCOUNT_SID,
        "CallSid": call_sid,
        "From": ALICE,
        "To": HOTLINE_NUMBER,
        "CallStatus": "in-progress",
        **more,
    }


def _stored_text(line) -> str:
    """Everything a payment leaves behind, as one text: the payment row, the call's state
    (with the TwiML kept for replays) and the audit trail."""
    with line.app.extensions["hotline"].Session() as session:
        parts = [
            repr(
                (
                    p.idempotency_key,
                    p.processor_confirmation,
                    p.card_brand,
                    p.card_last4,
                    p.call_sid,
                )
            )
            for p in session.scalars(select(Payment))
        ]
        parts += [c.state for c in session.scalars(select(IvrCall))]
        parts += [f"{a.entity_id} {a.data}" for a in session.scalars(select(AuditEvent))]
    return "\n".join(parts)


# --- well-formed XML ------------------------------------------------------------------------


def test_a_confirmation_code_with_a_character_xml_forbids_is_spoken_and_stored_without_it(
    hotline_app,
):
    sid = _call_waiting_for_pay_result(hotline_app)
    first = _signed_post(hotline_app, "/ivr/pay", _pay_params(sid, code="ch_77\uffff"))
    again = _signed_post(hotline_app, "/ivr/pay", _pay_params(sid, code="ch_77\uffff"))
    for response in (first, again):  # the answer, and its replay from the stored TwiML
        assert response.status_code == 200
        root = ET.fromstring(response.content)  # raises on a document no parser accepts
        assert "Your payment of" in "".join(root.itertext())
    [payment] = rows(hotline_app, Payment)
    assert payment.processor_confirmation == "ch_77"
    assert "\uffff" not in _stored_text(hotline_app)


# --- card numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [f"ch_{PAN}", "4111 1111 1111 1111", "ref-4111-1111-1111-1111", f"{PAN}x"]
)
def test_a_card_number_in_the_confirmation_code_is_masked_everywhere_it_is_kept(hotline_app, code):
    sid = _call_waiting_for_pay_result(hotline_app)
    response = _signed_post(hotline_app, "/ivr/pay", _pay_params(sid, code=code))
    assert response.status_code == 200 and "Your payment of" in response.text
    [payment] = rows(hotline_app, Payment)
    assert "************1111" in payment.processor_confirmation
    assert "************1111" in payment.idempotency_key
    stored = _stored_text(hotline_app) + response.text
    assert PAN not in stored and "4111 1111" not in stored and "4111-1111" not in stored
    assert "411111" not in stored.replace("-", "").replace(" ", "")


def test_a_card_number_in_the_card_type_is_not_kept_as_the_brand(hotline_app):
    sid = _call_waiting_for_pay_result(hotline_app)
    params = {**_pay_params(sid), "PaymentCardType": PAN, "PaymentCardNumber": PAN}
    response = _signed_post(hotline_app, "/ivr/pay", params)
    assert response.status_code == 200 and "Your payment of" in response.text
    [payment] = rows(hotline_app, Payment)
    assert payment.card_brand is None
    assert payment.card_last4 == "1111"
    assert PAN not in _stored_text(hotline_app)


@pytest.mark.parametrize("masked", ["xxxx-xxxx-xxxx-١٢٣٤", "xxxx", "12"])
def test_card_last4_is_four_ascii_digits_or_nothing(hotline_app, masked):
    sid = _call_waiting_for_pay_result(hotline_app)
    params = {**_pay_params(sid), "PaymentCardNumber": masked}
    assert _signed_post(hotline_app, "/ivr/pay", params).status_code == 200
    [payment] = rows(hotline_app, Payment)
    assert payment.card_last4 is None


# --- AccountSid, CallSid, From ----------------------------------------------------------------


@pytest.mark.parametrize("account_sid", [None, "AC" + "1" * 32, "", DEV_ACCOUNT_SID + "x"])
def test_a_request_that_is_not_for_our_account_is_refused_and_changes_nothing(
    hotline_app, account_sid
):
    params = _base("CA" + "4" * 32)
    if account_sid is None:
        del params["AccountSid"]
    else:
        params["AccountSid"] = account_sid
    response = _signed_post(hotline_app, "/ivr/voice", params)
    assert response.status_code == 403
    assert rows(hotline_app, IvrCall) == []


def test_a_re_cut_request_keeps_its_signature_but_is_no_call(hotline_app):
    """Twilio signs name+value with nothing between them: the CallSid can swallow the next
    parameter and the signature still holds. A CallSid cut to 34 characters used to pass."""
    sid = "CA" + "5" * 32
    captured = _base(sid)
    re_cut = {k: v for k, v in captured.items() if k != "CallStatus"}
    re_cut["CallSid"] = sid + "CallStatus" + captured["CallStatus"]
    url = hotline_app.base_url + "/ivr/voice"
    validator = RequestValidator(AUTH_TOKEN)
    from simulator.signing import signature

    assert validator.validate(url, re_cut, signature(AUTH_TOKEN, url, captured.items()))
    response = _signed_post(hotline_app, "/ivr/voice", re_cut)
    assert response.status_code == 200
    assert "We are sorry, something went wrong on our side." in response.text
    assert rows(hotline_app, IvrCall) == []


@pytest.mark.parametrize("path", ["/ivr/voice", "/ivr/step/menu", "/ivr/pay", "/ivr/hold"])
@pytest.mark.parametrize("call_sid", ["", "CA123", "CA" + "g" * 32, "ca" + "0" * 32])
def test_a_request_without_a_valid_call_sid_gets_the_apology_and_is_no_call(
    hotline_app, path, call_sid
):
    response = _signed_post(hotline_app, path, _base(call_sid, Digits="1", Result="success"))
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    if path != "/ivr/hold":  # the hold music is the same for every caller
        assert "We are sorry, something went wrong on our side." in response.text
    assert rows(hotline_app, IvrCall) == []


@pytest.mark.parametrize(
    "caller",
    ["+266696687", "+7378742833", "+2562533", "+86282452253", "anonymous", "Restricted",
     "+14155550100x", "client:alice", "+1 415 555 0100"],
)  # fmt: skip
def test_a_withheld_or_malformed_caller_id_is_an_unknown_caller(hotline_app, caller):
    # Even with the withheld value on file for Alice, nobody is identified by it.
    with hotline_app.app.extensions["hotline"].Session.begin() as session:
        holder = session.scalars(
            select(Cardholder.id)
            .join(CardAccount, CardAccount.cardholder_id == Cardholder.id)
            .where(CardAccount.account_number == ALICE_ACCOUNT)
        ).one()
        session.add(Phone(cardholder_id=holder, e164=caller[:16], phone_type=PhoneType.MOBILE))
    call = hotline_app.call("", caller=caller)
    assert said(call)[:2] == ["Thank you for calling Example Bank.", "For English, press 1."]
    [ivr_call] = rows(hotline_app, IvrCall)
    assert ivr_call.account_id is None and ivr_call.from_number == ""


def test_an_account_number_that_passes_luhn_can_still_be_keyed(hotline_app):
    """Digits are read as keyed: one in ten of the issuer's account numbers pass Luhn, and
    masking them would make those accounts unreachable by phone. Digits are never stored."""
    with hotline_app.app.extensions["hotline"].Session() as session:
        numbers = session.scalars(select(CardAccount.account_number)).all()
    number = next(n for n in numbers if luhn_valid(n))
    language = "1" if number.startswith("4") else "2"
    call = hotline_app.call(f"{language},{number}#", caller="anonymous")
    assert not heard(call, "We could not find that account number.")
    assert heard(call, "verification digits") or heard(call, "验证")
    [ivr_call] = rows(hotline_app, IvrCall)
    assert number not in ivr_call.state
    assert json.loads(ivr_call.state)["step"] == "verify"


@pytest.mark.parametrize("digits", ["1FinishedOnKey", "1.5", "-1", "١", "1 "])
def test_digits_that_are_not_keys_are_no_input(hotline_app, digits):
    """'1FinishedOnKey' is what Digits=1&FinishedOnKey= becomes when re-cut; the keys
    filter used to read it as 1."""
    sid = "CA" + "6" * 32
    stranger = _base(sid, From="+14155550177")
    start = _signed_post(hotline_app, "/ivr/voice", stranger)
    assert "For English, press 1." in start.text
    response = _signed_post(hotline_app, "/ivr/step/language", {**stranger, "Digits": digits})
    assert response.status_code == 200
    ET.fromstring(response.content)
    if digits == "1 ":  # trimmed: a carrier's stray space is not a different key
        assert "Please enter your account number" in response.text
        return
    assert "Please enter your account number" not in response.text
    [ivr_call] = rows(hotline_app, IvrCall)
    assert ivr_call.step == "language"
