import pytest

from hotline.phones import PhoneError, mask_phone, parse_phone, time_zones_for


def test_national_and_international_forms_normalise_to_e164():
    assert parse_phone("(415) 555-2671", "US").e164 == "+14155552671"
    assert parse_phone("+1 415 555 2671", "CN").e164 == "+14155552671"
    assert parse_phone("13800138000", "CN").e164 == "+8613800138000"


def test_a_chinese_mobile_is_known_to_be_mobile():
    assert parse_phone("13800138000", "CN").is_mobile is True


@pytest.mark.parametrize("text", ["", "12", "+1 555", "call me"])
def test_invalid_numbers_are_refused(text):
    with pytest.raises(PhoneError):
        parse_phone(text, "US")


def test_time_zones_come_from_the_numbering_plan():
    assert time_zones_for("+14155552671") == ("America/Los_Angeles",)
    assert time_zones_for("+8613800138000") == ("Asia/Shanghai",)


def test_masked_numbers_keep_only_the_country_code_and_last_four():
    assert mask_phone("+14155552671") == "+1******2671"
