"""Settings read once from the environment at start, validated, then passed around.

Every value has a default that needs nothing (SQLite file, the local simulator, a
development secret), except in production, where the secrets must be given. A bad value
fails at start with a message that names the variable, never later in a call.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hotline.hours import HoursError, parse_hours

ENVIRONMENTS = ("development", "test", "production")
PROFILES = ("us-regf", "us-ma", "us-wa", "cn-default")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Development defaults are public on purpose: they let the demo and the simulator run with
# no account. Production refuses them (see _check_production).
DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_AUTH_TOKEN = "hotline-dev-auth-token"
DEV_SECRET_KEY = "hotline-dev-secret-key-not-for-production"
SIMULATOR_API_BASE_URL = "http://127.0.0.1:8900"
TWILIO_API_BASE_URL = "https://api.twilio.com"

# The longest database budget a web request may be given (see Settings.db_request_timeout_ms).
MAX_DB_REQUEST_TIMEOUT_MS = 2500

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = "sqlite:///hotline.db"
    public_base_url: str = "http://127.0.0.1:8000"
    twilio_account_sid: str = DEV_ACCOUNT_SID
    twilio_auth_token: str = field(default=DEV_AUTH_TOKEN, repr=False)
    twilio_api_base_url: str = SIMULATOR_API_BASE_URL
    caller_ids: tuple[str, ...] = ("+18005550100",)
    profile: str = "us-regf"
    default_region: str = "US"
    default_timezone: str = "America/New_York"
    secret_key: str = field(default=DEV_SECRET_KEY, repr=False)
    log_level: str = "INFO"
    bank_name: str = "Example Bank"
    # The name spoken and texted in Chinese; empty: bank_name.
    bank_name_zh: str = ""
    # The business name an outbound call gives on a voicemail and before the right party is
    # confirmed: one that does not suggest debt collection (Reg F §1006.2(j)); empty: the
    # bank's name (bank_name_zh in Chinese, when set).
    voicemail_name: str = ""
    voicemail_name_zh: str = ""
    # "mon-fri 08:00-20:00" in default_timezone; "always" or "never" also work.
    agent_hours: str = "mon-sat 08:00-20:00"
    payment_connector: str = "Default"
    min_payment_minor: int = 100
    promise_window_days: int = 30
    plan_min_balance_minor: int = 30000
    plan_months: tuple[int, ...] = (3, 6, 12)
    sms_confirmations: bool = True
    # Record inbound calls from verification on; None: as the contact profile says.
    record_calls: bool | None = None
    # Database connections each process keeps open; `hotline serve` raises it to its thread
    # count, so that no request waits for, or opens and closes, a connection of its own.
    db_pool_size: int = 10
    # Everything one web request may spend on the database: waiting for a connection,
    # connecting, every statement and lock wait. Past it the caller hears the apology; the
    # worst case, a connect attempt begun just before the budget ends (libpq counts at
    # least 2 s), still answers within Twilio's 15 s and Hotline's own 5 s.
    db_request_timeout_ms: int = 2000
    # Connecting outside a request (CLI, migrations); within one, the budget's rest.
    db_connect_timeout_s: int = 2
    # The server ends a session left idle inside a transaction this long (0: never).
    db_idle_in_transaction_timeout_ms: int = 30000
    voice_en: str = "Polly.Joanna-Neural"
    voice_zh: str = "Polly.Zhiyu-Neural"
    # --- the outbound dialer (`hotline dialer`; dialer/config.py) -------------------------
    # Calls per second and calls in flight across every dialer process (Twilio's default
    # account CPS is 1); a campaign may have lower limits of its own (dialer_pacing rows).
    dialer_calls_per_second: float = 1.0
    dialer_max_concurrent: int = 10
    # How often the tick runs, and how long a claim holds an attempt before another dialer
    # may ask the carrier what became of it.
    dialer_tick_seconds: float = 2.0
    dialer_lease_seconds: int = 30
    # A placed call with no final status this long after placing is fetched from the carrier.
    dialer_reconcile_after_s: int = 300
    # How long the carrier may take to list a call it has just accepted.
    dialer_settle_seconds: float = 5.0
    # How often the dialer runs the planning job; 0: never (planning runs elsewhere, e.g.
    # `hotline campaign plan` from cron, or a test drives the queue itself).
    dialer_plan_every_s: int = 300
    # --- the supervisor dashboard (desk/supervisor.py) ------------------------------------
    # Days an open dispute or complaint may stay open before it is overdue: a card dispute's
    # investigation (Reg Z / FCRA: 30 days), a complaint's answer (the CFPB asks for 15).
    dispute_sla_days: int = 30
    complaint_sla_days: int = 15

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some values changed, validated like the environment."""
        return validate(replace(self, **changes))


# Variable name -> (attribute, parser). Parsers turn the raw string into the typed value and
# raise SettingsError with a reason; the variable name is added by from_env.
def _text(raw: str) -> str:
    return raw.strip()


def _upper(raw: str) -> str:
    return raw.strip().upper()


def _caller_ids(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _whole(raw: str) -> int:
    if not raw.strip().isdigit():
        raise ValueError(f"{raw!r} is not a whole number")
    return int(raw)


def _decimal(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _months(raw: str) -> tuple[int, ...]:
    return tuple(_whole(part) for part in raw.split(",") if part.strip())


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"{raw!r} is not true or false")
    return value in ("true", "1", "yes")


VARIABLES: dict[str, tuple[str, Any]] = {
    "HOTLINE_ENV": ("env", _text),
    "DATABASE_URL": ("database_url", _text),
    "PUBLIC_BASE_URL": ("public_base_url", _text),
    "TWILIO_ACCOUNT_SID": ("twilio_account_sid", _text),
    "TWILIO_AUTH_TOKEN": ("twilio_auth_token", _text),
    "TWILIO_API_BASE_URL": ("twilio_api_base_url", _text),
    "HOTLINE_CALLER_IDS": ("caller_ids", _caller_ids),
    "HOTLINE_PROFILE": ("profile", _text),
    "HOTLINE_DEFAULT_REGION": ("default_region", _upper),
    "HOTLINE_DEFAULT_TIMEZONE": ("default_timezone", _text),
    "HOTLINE_SECRET_KEY": ("secret_key", _text),
    "HOTLINE_LOG_LEVEL": ("log_level", _upper),
    "HOTLINE_BANK_NAME": ("bank_name", _text),
    "HOTLINE_BANK_NAME_ZH": ("bank_name_zh", _text),
    "HOTLINE_VOICEMAIL_NAME": ("voicemail_name", _text),
    "HOTLINE_VOICEMAIL_NAME_ZH": ("voicemail_name_zh", _text),
    "HOTLINE_AGENT_HOURS": ("agent_hours", _text),
    "HOTLINE_PAYMENT_CONNECTOR": ("payment_connector", _text),
    "HOTLINE_MIN_PAYMENT_MINOR": ("min_payment_minor", _whole),
    "HOTLINE_PROMISE_WINDOW_DAYS": ("promise_window_days", _whole),
    "HOTLINE_PLAN_MIN_BALANCE_MINOR": ("plan_min_balance_minor", _whole),
    "HOTLINE_PLAN_MONTHS": ("plan_months", _months),
    "HOTLINE_SMS_CONFIRMATIONS": ("sms_confirmations", _flag),
    "HOTLINE_RECORD_CALLS": ("record_calls", _flag),
    "HOTLINE_DB_POOL_SIZE": ("db_pool_size", _whole),
    "HOTLINE_DB_REQUEST_TIMEOUT_MS": ("db_request_timeout_ms", _whole),
    "HOTLINE_DB_CONNECT_TIMEOUT_S": ("db_connect_timeout_s", _whole),
    "HOTLINE_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": ("db_idle_in_transaction_timeout_ms", _whole),
    "HOTLINE_VOICE_EN": ("voice_en", _text),
    "HOTLINE_VOICE_ZH": ("voice_zh", _text),
    "HOTLINE_DIALER_CPS": ("dialer_calls_per_second", _decimal),
    "HOTLINE_DIALER_MAX_CONCURRENT": ("dialer_max_concurrent", _whole),
    "HOTLINE_DIALER_TICK_SECONDS": ("dialer_tick_seconds", _decimal),
    "HOTLINE_DIALER_LEASE_SECONDS": ("dialer_lease_seconds", _whole),
    "HOTLINE_DIALER_RECONCILE_AFTER_S": ("dialer_reconcile_after_s", _whole),
    "HOTLINE_DIALER_SETTLE_SECONDS": ("dialer_settle_seconds", _decimal),
    "HOTLINE_DIALER_PLAN_EVERY_S": ("dialer_plan_every_s", _whole),
    "HOTLINE_DISPUTE_SLA_DAYS": ("dispute_sla_days", _whole),
    "HOTLINE_COMPLAINT_SLA_DAYS": ("complaint_sla_days", _whole),
}
_ATTRIBUTE_TO_VARIABLE = {attr: name for name, (attr, _) in VARIABLES.items()}

# HOTLINE_* names that are not settings but are read elsewhere on purpose.
_OTHER_HOTLINE_VARIABLES = frozenset({"HOTLINE_TEST_DATABASE_URL"})


def from_env(environ: Mapping[str, str]) -> Settings:
    """Build settings from an environment mapping; raise SettingsError naming the variable."""
    # A misspelt HOTLINE_ variable would otherwise be ignored silently and the default used,
    # e.g. a production profile that never takes effect.
    unknown = sorted(
        name
        for name in environ
        if name.startswith("HOTLINE_")
        and name not in VARIABLES
        and name not in _OTHER_HOTLINE_VARIABLES
    )
    if unknown:
        known = [n for n in VARIABLES if n.startswith("HOTLINE_")]
        guesses = [
            f"{name} (did you mean {close[0]}?)"
            if (close := difflib.get_close_matches(name, known, n=1, cutoff=0.8))
            else name
            for name in unknown
        ]
        raise SettingsError(
            f"{', '.join(guesses)}: unknown setting; the README's Configuration lists them all"
        )
    values: dict[str, Any] = {}
    for name, (attribute, parse) in VARIABLES.items():
        raw = environ.get(name)
        if raw is None or raw.strip() == "":
            continue
        try:
            values[attribute] = parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
    env = values.get("env", "development")
    if env != "production" and "twilio_api_base_url" not in values:
        values["twilio_api_base_url"] = SIMULATOR_API_BASE_URL
    elif env == "production" and "twilio_api_base_url" not in values:
        values["twilio_api_base_url"] = TWILIO_API_BASE_URL
    return validate(Settings(**values))


def _fail(attribute: str, reason: str) -> SettingsError:
    return SettingsError(f"{_ATTRIBUTE_TO_VARIABLE[attribute]}: {reason}")


def _check_http_url(attribute: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(attribute, f"{value!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        raise _fail(attribute, f"{value!r} must not carry a query or fragment")


def validate(settings: Settings) -> Settings:
    """Check every value; return the settings with values normalised."""
    s = settings
    if s.env not in ENVIRONMENTS:
        raise _fail("env", f"{s.env!r} is not one of {', '.join(ENVIRONMENTS)}")
    try:
        url = make_url(s.database_url)
    except ArgumentError:
        raise _fail("database_url", f"{s.database_url!r} is not a database URL") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise _fail(
            "database_url",
            f"backend {url.get_backend_name()!r} is not supported "
            "(use sqlite:///FILE or postgresql+psycopg://...)",
        )
    _check_http_url("public_base_url", s.public_base_url)
    _check_http_url("twilio_api_base_url", s.twilio_api_base_url)
    if not _ACCOUNT_SID.match(s.twilio_account_sid):
        raise _fail("twilio_account_sid", "must be 'AC' followed by 32 hex digits")
    if len(s.twilio_auth_token) < 8:
        raise _fail("twilio_auth_token", "is too short to be an auth token")
    if not s.caller_ids:
        raise _fail("caller_ids", "needs at least one E.164 number")
    caller_ids = []
    for number in s.caller_ids:
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            raise _fail("caller_ids", f"{number!r} is not an E.164 number") from None
        if not phonenumbers.is_valid_number(parsed):
            raise _fail("caller_ids", f"{number!r} is not a valid phone number")
        caller_ids.append(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    if s.profile not in PROFILES:
        raise _fail("profile", f"{s.profile!r} is not one of {', '.join(PROFILES)}")
    if s.default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise _fail("default_region", f"{s.default_region!r} is not an ISO 3166 region code")
    try:
        ZoneInfo(s.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(
            "default_timezone", f"{s.default_timezone!r} is not an IANA time zone"
        ) from None
    if s.log_level not in LOG_LEVELS:
        raise _fail("log_level", f"{s.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    if len(s.secret_key) < 16:
        raise _fail("secret_key", "must be at least 16 characters")
    try:
        parse_hours(s.agent_hours)
    except HoursError as exc:
        raise _fail("agent_hours", str(exc)) from None
    if not s.plan_months or any(not 2 <= m <= 60 for m in s.plan_months):
        raise _fail("plan_months", "must list instalment counts from 2 to 60, e.g. 3,6,12")
    if not 1 <= s.promise_window_days <= 90:
        raise _fail("promise_window_days", "must be from 1 to 90 days")
    if not 1 <= s.db_pool_size <= 200:
        raise _fail("db_pool_size", "must be from 1 to 200 connections")
    if not 100 <= s.db_request_timeout_ms <= MAX_DB_REQUEST_TIMEOUT_MS:
        # Above it, a late connect attempt (at least 2 s) could push a webhook past 5 s.
        raise _fail(
            "db_request_timeout_ms",
            f"must be from 100 to {MAX_DB_REQUEST_TIMEOUT_MS} ms (a webhook answers within 5 s)",
        )
    if not 2 <= s.db_connect_timeout_s <= 60:
        raise _fail("db_connect_timeout_s", "must be from 2 to 60 seconds (libpq's minimum is 2)")
    if s.db_idle_in_transaction_timeout_ms != 0 and not (
        1000 <= s.db_idle_in_transaction_timeout_ms <= 86_400_000
    ):
        raise _fail(
            "db_idle_in_transaction_timeout_ms", "must be 0 (never) or from 1000 ms to a day"
        )
    if not s.bank_name.strip():
        raise _fail("bank_name", "must not be empty")
    _check_dialer(s)
    for attribute in ("dispute_sla_days", "complaint_sla_days"):
        if not 1 <= getattr(s, attribute) <= 365:
            raise _fail(attribute, "must be from 1 to 365 days")
    if s.is_production:
        _check_production(s)
    return replace(s, caller_ids=tuple(caller_ids))


def _check_dialer(s: Settings) -> None:
    if not 0.01 <= s.dialer_calls_per_second <= 1000:
        raise _fail("dialer_calls_per_second", "must be from 0.01 to 1000 calls per second")
    if s.dialer_plan_every_s != 0 and not 60 <= s.dialer_plan_every_s <= 86_400:
        raise _fail("dialer_plan_every_s", "must be 0 (off) or from 60 to 86400 seconds")
    if not 1 <= s.dialer_max_concurrent <= 100_000:
        raise _fail("dialer_max_concurrent", "must be from 1 to 100000 calls")
    if not 0.1 <= s.dialer_tick_seconds <= 60:
        raise _fail("dialer_tick_seconds", "must be from 0.1 to 60 seconds")
    # A claim must outlive the wait for its slot (at most one tick) and the carrier request
    # (10 s at most), or another dialer could take it up while it is still being placed.
    if not s.dialer_tick_seconds + 15 <= s.dialer_lease_seconds <= 3600:
        raise _fail(
            "dialer_lease_seconds",
            "must be from the tick plus 15 seconds (the carrier request's bound) to 3600",
        )
    if not 1 <= s.dialer_reconcile_after_s <= 86_400:
        raise _fail("dialer_reconcile_after_s", "must be from 1 second to a day")
    if not 0 <= s.dialer_settle_seconds <= 300:
        raise _fail("dialer_settle_seconds", "must be from 0 to 300 seconds")


def _check_production(s: Settings) -> None:
    """Production must not run on the public development secrets or plain-HTTP webhooks."""
    if s.twilio_account_sid == DEV_ACCOUNT_SID:
        raise _fail("twilio_account_sid", "must be set in production")
    if s.twilio_auth_token == DEV_AUTH_TOKEN:
        raise _fail("twilio_auth_token", "must be set in production")
    if s.secret_key == DEV_SECRET_KEY or len(s.secret_key) < 32:
        raise _fail("secret_key", "must be set to at least 32 random characters in production")
    if not s.public_base_url.startswith("https://"):
        raise _fail("public_base_url", "must be https in production (Twilio signs that URL)")
