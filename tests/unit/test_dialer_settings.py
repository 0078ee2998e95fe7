"""The dialer's settings: read from the environment, refused with the variable's name."""

import datetime as dt

import pytest

from dialer.config import DialerConfig
from hotline.settings import SettingsError, from_env


def test_the_dialer_settings_default_to_twilios_one_call_a_second():
    config = DialerConfig.from_settings(from_env({}))
    assert (config.limits.calls_per_second, config.limits.max_concurrent) == (1.0, 10)
    assert config.tick == dt.timedelta(seconds=2) and config.lease == dt.timedelta(seconds=30)
    assert config.public_base_url == "http://127.0.0.1:8000"


def test_the_dialer_settings_are_read():
    config = DialerConfig.from_settings(
        from_env(
            {
                "HOTLINE_DIALER_CPS": "2.5",
                "HOTLINE_DIALER_MAX_CONCURRENT": "40",
                "HOTLINE_DIALER_TICK_SECONDS": "0.5",
                "HOTLINE_DIALER_LEASE_SECONDS": "20",
                "HOTLINE_DIALER_RECONCILE_AFTER_S": "90",
                "HOTLINE_DIALER_SETTLE_SECONDS": "1.5",
            }
        )
    )
    assert (config.limits.calls_per_second, config.limits.max_concurrent) == (2.5, 40)
    assert (config.tick, config.lease) == (dt.timedelta(seconds=0.5), dt.timedelta(seconds=20))
    assert config.reconcile_after == dt.timedelta(seconds=90)
    assert config.settle == dt.timedelta(seconds=1.5)


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("HOTLINE_DIALER_CPS", "fast", "is not a number"),
        ("HOTLINE_DIALER_CPS", "0", "from 0.01 to 1000"),
        ("HOTLINE_DIALER_CPS", "nan", "not a finite number"),
        ("HOTLINE_DIALER_MAX_CONCURRENT", "0", "from 1 to 100000"),
        # A lease shorter than a tick and a carrier request could be taken up mid-call.
        ("HOTLINE_DIALER_LEASE_SECONDS", "10", "the tick plus 15 seconds"),
        ("HOTLINE_DIALER_TICK_SECONDS", "0", "from 0.1 to 60"),
    ],
)
def test_a_bad_dialer_setting_is_refused_naming_the_variable(variable, value, reason):
    with pytest.raises(SettingsError, match=f"^{variable}: .*{reason}"):
        from_env({variable: value})
