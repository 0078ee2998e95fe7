import logging

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hotline.logs import OneLineMaskingFormatter, mask_pii


def test_phone_numbers_card_numbers_emails_and_secrets_are_masked():
    line = mask_pii(
        "call from +14155552671 card 4111 1111 1111 1111 mail a.b@example.com "
        "Digits=94107 token: abc123"
    )
    assert "+14155552671" not in line and "+1******2671" in line
    assert "4111 1111" not in line and "****1111" in line
    assert "a.b@example.com" not in line
    assert "94107" not in line and "Digits=***" in line
    assert "abc123" not in line


def test_short_numbers_like_amounts_and_dates_are_left_alone():
    assert mask_pii("posted 1234.56 on 2026-11-23 for account 42") == (
        "posted 1234.56 on 2026-11-23 for account 42"
    )


def test_a_record_with_a_traceback_is_one_masked_line():
    formatter = OneLineMaskingFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("bad number +8613800138000")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed for %s", ("+14155552671",), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "\n" not in line
    assert "+14155552671" not in line and "+8613800138000" not in line
    assert line.startswith("ERROR failed for +1******2671")


# --- card numbers wherever they are, phone numbers in any format, controls ----------------


def _format(message: str, *args: object, exc: BaseException | None = None) -> str:
    formatter = OneLineMaskingFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, message, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    return formatter.format(record)


def test_a_card_number_touching_letters_is_masked_in_messages():
    line = mask_pii("code=ch_4111111111111111 brand visa4012888888881881x")
    assert "4111111111111111" not in line and "ch_************1111" in line
    assert "4012888888881881" not in line and "visa************1881x" in line


def test_sql_parameters_in_a_database_error_are_masked_in_the_traceback():
    """SQLAlchemy puts a failed statement's parameters in the exception's message."""
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (code TEXT CHECK (length(code) < 5))"))
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO t VALUES (:code), (:phone)"),
                {"code": "ch_4111111111111111", "phone": "(415) 555-2671"},
            )
    except Exception as exc:
        assert "ch_4111111111111111" in str(exc)  # what the formatter is given
        line = _format("payment failed", exc=exc)
    assert "IntegrityError" in line and "\n" not in line
    assert "4111111111111111" not in line and "************1111" in line
    assert "555-2671" not in line and "(***) ***-2671" in line


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+14155552671", "+1******2671"),
        ("+1 415-555-2671", "+1 ***-***-2671"),
        ("(415) 555-2671", "(***) ***-2671"),
        ("415.555.2671", "***.***.2671"),
        ("4155552671", "******2671"),
        ("tel:+1-415-555-2671", "tel:+1-***-***-2671"),
        ("tel:+1-415-555-2671;ext=123", "tel:+1-***-***-2671;ext=***"),
        ("+1 415 555 2671 x123", "+1 *** *** 2671 x***"),
        ("(415) 555-2671 ext. 9", "(***) ***-2671 ext. *"),
        ("415-555-2671 Ext. 12", "***-***-2671 Ext. **"),
        ("TEL:+14155552671", "TEL:+1******2671"),
        ("13800138000", "*******8000"),
        ("138 0013 8000", "*** **** 8000"),
        ("+86 138 0013 8000", "+8* *** **** 8000"),
        ("010-6552-9988", "***-****-9988"),
    ],
)
def test_phone_numbers_are_masked_in_every_format(number, masked):
    assert mask_pii(f"call from {number}, thanks") == f"call from {masked}, thanks"


def test_phone_numbers_are_masked_inside_tracebacks():
    try:
        raise LookupError("no account for tel:+1-415-555-2671;ext=55 or (415) 555-0100")
    except LookupError as exc:
        line = _format("lookup failed for %s", "138 0013 8000", exc=exc)
    assert "\n" not in line
    for digits in ("415-555-2671", "555-0100", "0013"):
        assert digits not in line
    assert "tel:+1-***-***-2671;ext=**" in line and "(***) ***-0100" in line


def test_control_and_bidi_characters_are_escaped_in_messages_and_exceptions():
    evil = "paid\x1b[2J\r\nFAKE 2026-12-01 INFO ok\u2028\u202etxt.exe\x85\x07"
    try:
        raise ValueError(evil)
    except ValueError as exc:
        line = _format("value %s", evil, exc=exc)
    for char in "\x1b\r\n\u2028\u202e\x85\x07":
        assert char not in line
    assert line.count("\\x1b[2J\\r\\nFAKE") == 2  # in the message and in the exception
    assert "\\u2028\\u202etxt.exe\\x85\\x07" in line


@st.composite
def formatted_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A valid US or Chinese number in any of the formats libphonenumber writes."""
    region = draw(st.sampled_from(["US", "CN"]))
    if region == "US":
        national = (
            draw(st.sampled_from("23456789"))
            + draw(st.text("0123456789", min_size=2, max_size=2))
            + draw(st.sampled_from("23456789"))
            + draw(st.text("0123456789", min_size=6, max_size=6))
        )
    else:
        national = (
            "1"
            + draw(st.sampled_from("3589"))
            + draw(st.text("0123456789", min_size=9, max_size=9))
        )
    number = phonenumbers.parse(national, region)
    assume(phonenumbers.is_valid_number(number))
    kind = draw(st.sampled_from(list(phonenumbers.PhoneNumberFormat.__dict__)))
    style = getattr(phonenumbers.PhoneNumberFormat, kind)
    assume(isinstance(style, int))
    text = phonenumbers.format_number(number, style)
    extension = draw(st.sampled_from(["", ";ext=42", " x42", " ext. 42"]))
    if style == phonenumbers.PhoneNumberFormat.RFC3966 and extension:
        extension = ";ext=42"
    return text + extension, national


@settings(max_examples=300)
@given(found=formatted_numbers(), before=st.sampled_from(["", "to ", "call "]))
def test_any_valid_number_in_any_format_keeps_only_its_last_four_digits(found, before):
    text, national = found
    line = mask_pii(f"{before}{text} failed")
    assert national[:-4] not in line.replace(" ", "").replace("-", "").replace(".", "")
    assert not any(f"{mark}42" in line for mark in ("=", "x", ". "))  # the extension
    assert line.endswith(" failed")


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01 08:44:18,123 WARNING ivr.web refused webhook /ivr/voice",
        "connect 127.0.0.1:5432 pid 12345 took 1234567 ms",
        "request 9f0e8d7c-1b2a-4c3d-8e9f-0a1b2c3d4e5f epoch 1764583458",
        "call CA0123456789abcdef0123456789abcdef amount_minor=150000 on 20261201",
    ],
)
def test_times_addresses_ids_and_amounts_are_not_taken_for_phone_numbers(text):
    assert mask_pii(text) == text


def test_the_twilio_sdks_request_lines_stay_out_of_the_info_log():
    from hotline.logs import configure

    sdk = logging.getLogger("twilio.http_client")
    root = logging.getLogger()
    level = root.level
    try:
        configure("INFO")
        assert not sdk.isEnabledFor(logging.INFO)
        assert sdk.isEnabledFor(logging.WARNING)
        configure("DEBUG")  # asked for: every request
        assert sdk.isEnabledFor(logging.DEBUG)
    finally:
        configure(logging.getLevelName(level))
