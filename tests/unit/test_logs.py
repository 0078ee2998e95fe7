import logging

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
