"""The simulator signs webhooks exactly as Twilio does: checked by the SDK's own validator."""

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from simulator.signing import signature

# Twilio's documented example (see shared/reference/twilio-voice.md, section 6.1).
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}


def test_the_documented_vector():
    assert signature("12345", VECTOR_URL, VECTOR_PARAMS.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_the_sdk_validator_accepts_simulator_signatures():
    params = {
        "CallSid": "CA" + "a" * 32,
        "Digits": "94107#",
        "SpeechResult": "余额",
        "From": "+8613800138000",
    }
    url = "http://127.0.0.1:8000/ivr/voice?step=verify"
    assert RequestValidator("tok-123456").validate(
        url, params, signature("tok-123456", url, params.items())
    )


@pytest.mark.parametrize(
    ("token", "url", "params"),
    [
        ("another-token", "https://h/ivr/voice", {"Digits": "1"}),
        ("tok-123456", "https://h/ivr/other", {"Digits": "1"}),
        ("tok-123456", "https://h/ivr/voice", {"Digits": "2"}),
        ("tok-123456", "https://h/ivr/voice", {"Digits": "1", "Extra": "x"}),
    ],
)
def test_a_changed_token_url_or_parameter_fails_validation(token, url, params):
    signed = signature("tok-123456", "https://h/ivr/voice", [("Digits", "1")])
    assert not RequestValidator(token).validate(url, params, signed)


def test_repeated_parameters_sign_like_the_sdk():
    params = [("StatusCallbackEvent", "ringing"), ("StatusCallbackEvent", "answered")]
    url = "https://h/x"
    expected = RequestValidator("tok-123456").compute_signature(url, MultiDict(params))
    assert signature("tok-123456", url, params) == expected
