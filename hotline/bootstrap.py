"""The composition root: one place that turns settings into the process's shared objects."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline import db, logs
from hotline.settings import Settings, from_env
from telephony.gateway import CallGateway
from telephony.twilio_gateway import REQUEST_TIMEOUT_SECONDS as REST_TIMEOUT_S
from telephony.twilio_gateway import TwilioGateway


@dataclass(frozen=True)
class Runtime:
    """What a process shares between its requests, commands or scheduler ticks."""

    settings: Settings
    engine: Engine
    Session: sessionmaker[Session]
    gateway: CallGateway


def settings_from_environment() -> Settings:
    return from_env(os.environ)


def bootstrap(
    settings: Settings | None = None,
    *,
    configure_logging: bool = True,
    rest_timeout_s: float = REST_TIMEOUT_S,
) -> Runtime:
    """Build the runtime for a process; nothing connects until first use.

    `rest_timeout_s` bounds each of the carrier's answers (to connect, then to read): a web
    app gives less than the CLI or the dialer, since its REST calls are part of a webhook's
    5 s."""
    settings = settings or settings_from_environment()
    if configure_logging:
        logs.configure(settings.log_level)
    engine = db.make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        timeouts=db.Timeouts(
            connect_s=settings.db_connect_timeout_s,
            idle_in_transaction_ms=settings.db_idle_in_transaction_timeout_ms,
        ),
        # Waiting for a pooled connection is part of a request's budget.
        pool_timeout_s=settings.db_request_timeout_ms / 1000,
    )
    gateway = TwilioGateway.from_settings(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_api_base_url,
        timeout=rest_timeout_s,
    )
    return Runtime(
        settings=settings, engine=engine, Session=db.make_sessionmaker(engine), gateway=gateway
    )
