import pytest

from hotline.settings import DEV_SECRET_KEY, Settings, SettingsError, from_env

PRODUCTION = {
    "HOTLINE_ENV": "production",
    "TWILIO_ACCOUNT_SID": "AC" + "a1" * 16,
    "TWILIO_AUTH_TOKEN": "a-real-looking-token",
    "HOTLINE_SECRET_KEY": "x" * 40,
    "PUBLIC_BASE_URL": "https://hotline.example.com",
}


def test_defaults_need_nothing_and_point_at_sqlite_and_the_simulator():
    settings = from_env({})
    assert settings.database_url == "sqlite:///hotline.db"
    assert settings.twilio_api_base_url == "http://127.0.0.1:8900"
    assert settings.profile == "us-regf"
    assert settings.default_region == "US"


def test_values_are_read_and_normalised():
    settings = from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
            "HOTLINE_CALLER_IDS": "+1 415 555 0100, +8613800138000",
            "HOTLINE_DEFAULT_REGION": "cn",
            "HOTLINE_PROFILE": "cn-default",
            "HOTLINE_LOG_LEVEL": "debug",
        }
    )
    assert settings.caller_ids == ("+14155550100", "+8613800138000")
    assert settings.default_region == "CN"
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x", "not supported"),
        ("DATABASE_URL", "not a url", "not a database URL"),
        ("PUBLIC_BASE_URL", "ftp://x", "not an http(s) URL"),
        ("TWILIO_ACCOUNT_SID", "AC123", "32 hex digits"),
        ("TWILIO_AUTH_TOKEN", "short", "too short"),
        ("HOTLINE_CALLER_IDS", "+1555", "not a valid phone number"),
        ("HOTLINE_CALLER_IDS", "hello", "not an E.164 number"),
        ("HOTLINE_PROFILE", "us-tx", "not one of"),
        ("HOTLINE_DEFAULT_REGION", "ZZ", "ISO 3166"),
        ("HOTLINE_DEFAULT_TIMEZONE", "Mars/Olympus", "IANA time zone"),
        ("HOTLINE_LOG_LEVEL", "LOUD", "not one of"),
        ("HOTLINE_ENV", "staging", "not one of"),
        ("HOTLINE_SECRET_KEY", "abc", "at least 16"),
        ("HOTLINE_DB_POOL_SIZE", "0", "from 1 to 200"),
        ("HOTLINE_DB_POOL_SIZE", "many", "not a whole number"),
    ],
)
def test_a_malformed_value_fails_with_a_message_naming_the_variable(variable, value, reason):
    with pytest.raises(SettingsError) as excinfo:
        from_env({variable: value})
    message = str(excinfo.value)
    assert message.startswith(f"{variable}:")
    assert reason in message


def test_a_misspelt_hotline_variable_is_an_error_not_silently_ignored():
    with pytest.raises(SettingsError) as refused:
        from_env({"HOTLINE_PROFLE": "us-ma", "HOTLINE_WHATEVER": "1"})
    # One short line: the likely meaning where there is one, not the list of every name.
    assert str(refused.value) == (
        "HOTLINE_PROFLE (did you mean HOTLINE_PROFILE?), HOTLINE_WHATEVER: unknown setting;"
        " the README's Configuration lists them all"
    )


def test_production_uses_twilio_and_refuses_development_secrets():
    assert from_env(PRODUCTION).twilio_api_base_url == "https://api.twilio.com"
    for variable, value, reason in [
        ("TWILIO_AUTH_TOKEN", None, "TWILIO_AUTH_TOKEN: must be set in production"),
        ("HOTLINE_SECRET_KEY", DEV_SECRET_KEY, "HOTLINE_SECRET_KEY: must be set"),
        ("PUBLIC_BASE_URL", "http://hotline.example.com", "PUBLIC_BASE_URL: must be https"),
    ]:
        environ = dict(PRODUCTION)
        if value is None:
            del environ[variable]
        else:
            environ[variable] = value
        with pytest.raises(SettingsError, match=reason):
            from_env(environ)


def test_overrides_are_validated_like_the_environment():
    with pytest.raises(SettingsError, match="HOTLINE_PROFILE"):
        Settings().with_overrides(profile="nowhere")
