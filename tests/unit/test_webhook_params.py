"""What a webhook parameter may be: read_param's shapes, bounds, cleaning and masking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.redact import clean_input, mask_card_numbers
from telephony.webhook import read_param

SID = "CA" + "0123456789abcdef" * 2
NAMES = [
    "CallSid",
    "RecordingSid",
    "From",
    "To",
    "Digits",
    "SpeechResult",
    "Confidence",
    "QueuePosition",
    "QueueResult",
    "RecordingStatus",
    "RecordingUrl",
    "RecordingDuration",
    "Result",
    "PaymentConfirmationCode",
    "PaymentCardType",
    "PaymentCardNumber",
    "PaymentError",
    "SomethingNew",
]


@pytest.mark.parametrize(
    ("name", "raw", "read"),
    [
        ("CallSid", SID, SID),
        ("CallSid", SID.upper().replace("CA", "CA", 1), SID.upper()),
        ("CallSid", SID + "CallStatusringing", ""),  # re-cut: it swallowed a parameter
        ("CallSid", SID[:-1], ""),
        ("CallSid", "RE" + SID[2:], ""),
        ("RecordingSid", "RE" + SID[2:], "RE" + SID[2:]),
        ("RecordingSid", SID, ""),
        ("From", "+14155550100", "+14155550100"),
        ("From", " +14155550100\u202e", "+14155550100"),
        ("From", "+266696687", ""),
        ("From", "anonymous", ""),
        ("From", "+14155550100To+18005550100", ""),
        ("Digits", "94107#", "94107#"),
        ("Digits", "4000123400000008", "4000123400000008"),  # an account number, as keyed
        ("Digits", "1FinishedOnKey", ""),
        ("Digits", "١", ""),
        ("Digits", "1" * 41, ""),
        ("Confidence", "0.91", "0.91"),
        ("Confidence", "1", "1"),
        ("Confidence", "NaN", ""),
        ("Confidence", "1e309", ""),
        ("Confidence", "2", ""),
        ("QueuePosition", "3", "3"),
        ("QueuePosition", "٣", ""),
        ("QueuePosition", "123456", ""),
        ("Result", "success", "success"),
        ("Result", "success\x00", "success"),
        ("Result", "<success>", ""),
        ("PaymentConfirmationCode", "ch_77\uffff", "ch_77"),
        ("PaymentConfirmationCode", "ch_4111111111111111", "ch_************1111"),
        # The card was charged: a code is cut, never refused, so the payment still posts.
        ("PaymentConfirmationCode", "ch_" + "x" * 300, ("ch_" + "x" * 300)[:200]),
        ("PaymentConfirmationCode", "確認", "確認"),
        ("PaymentCardType", "visa", "visa"),
        ("PaymentCardType", "diners-club", "diners-club"),
        ("PaymentCardType", "4111111111111111", ""),
        ("PaymentCardNumber", "xxxx-xxxxxx-x4001", "xxxx-xxxxxx-x4001"),
        ("PaymentCardNumber", "4111111111111111", "************1111"),
        ("PaymentCardNumber", "411111xxxxxx1111", "******xxxxxx1111"),
        ("PaymentCardNumber", "xxxx-12", ""),
        ("PaymentCardNumber", "xxxx-١٢٣٤", ""),
        ("PaymentError", "card 4111 1111 1111 1111 declined", "card ************1111 declined"),
        ("SpeechResult", "pay\n\u2028 my bill", "pay my bill"),
        ("SomethingNew", "x" * 500, "x" * 200),
    ],
)
def test_a_parameter_reads_as_its_shape_or_as_no_input(name, raw, read):
    assert read_param(name, raw) == read


@settings(max_examples=1000)
@given(name=st.sampled_from(NAMES), raw=st.text(max_size=300))
def test_any_value_reads_as_clean_bounded_text_without_a_card_number(name, raw):
    value = read_param(name, raw)
    assert clean_input(value) == value
    assert len(value) <= 300
    if name != "Digits":
        assert mask_card_numbers(value) == value


def test_a_confidence_printed_with_many_decimals_is_still_a_confidence():
    assert read_param("Confidence", "0.10000000149011612") == "0.10000000149011612"
