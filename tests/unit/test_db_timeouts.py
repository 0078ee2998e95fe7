"""The database limits an engine is built with, read from what it would hand to the driver."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event

from hotline import db
from hotline.bootstrap import bootstrap
from hotline.settings import Settings, SettingsError, from_env

NOWHERE = "postgresql+psycopg://hotline@127.0.0.1:9/hotline"  # never connected to


class _Captured(Exception):
    pass


def driver_params(engine: Engine, within: float | None = None) -> dict[str, Any]:
    """The keyword arguments psycopg.connect would receive, after Hotline's own hooks."""
    seen: dict[str, Any] = {}

    def capture(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        seen.update(cparams)
        raise _Captured

    event.listen(engine, "do_connect", capture)  # after make_engine's, so it sees their work
    try:
        with pytest.raises(_Captured):
            if within is None:
                engine.connect()
            else:
                with db.deadline(within):
                    engine.connect()
    finally:
        event.remove(engine, "do_connect", capture)
    return seen


def test_postgresql_connections_carry_connect_tcp_and_idle_transaction_limits():
    engine = db.make_engine(
        NOWHERE,
        timeouts=db.Timeouts(connect_s=7, tcp_user_timeout_ms=4000, idle_in_transaction_ms=15000),
        pool_timeout_s=1.5,
    )
    params = driver_params(engine)
    assert params["connect_timeout"] == 7
    assert params["tcp_user_timeout"] == 4000
    assert params["keepalives"] == 1 and params["keepalives_idle"] == 30
    assert params["options"] == "-c idle_in_transaction_session_timeout=15000"
    assert engine.pool.timeout() == 1.5  # type: ignore[attr-defined]
    assert engine.pool._recycle == db.POOL_RECYCLE_S  # type: ignore[attr-defined]


def test_within_a_deadline_connecting_waits_no_longer_than_the_whole_seconds_left():
    engine = db.make_engine(NOWHERE, timeouts=db.Timeouts(connect_s=10))
    assert driver_params(engine, within=0.4)["connect_timeout"] == 1  # psycopg makes it 2
    assert driver_params(engine, within=2.5)["connect_timeout"] == 3
    assert driver_params(engine, within=60)["connect_timeout"] == 10


def test_a_spent_deadline_does_not_even_try_to_connect():
    engine = db.make_engine(NOWHERE)
    with db.deadline(-1), pytest.raises(db.DeadlineExceeded):
        engine.connect()


def test_options_given_in_the_database_url_are_kept():
    engine = db.make_engine(NOWHERE + "?options=-c%20search_path%3Dcollections")
    options = driver_params(engine)["options"]
    assert options.startswith("-c search_path=collections ")
    assert "idle_in_transaction_session_timeout=30000" in options


def test_idle_transaction_limit_zero_leaves_the_server_default():
    engine = db.make_engine(NOWHERE, timeouts=db.Timeouts(idle_in_transaction_ms=0))
    assert "idle_in_transaction" not in driver_params(engine)["options"]


def test_bootstrap_builds_the_engine_from_the_settings():
    settings = Settings(
        database_url=NOWHERE,
        db_request_timeout_ms=1200,
        db_connect_timeout_s=4,
        db_idle_in_transaction_timeout_ms=9000,
    )
    engine = bootstrap(settings, configure_logging=False).engine
    params = driver_params(engine)
    assert params["connect_timeout"] == 4
    assert "idle_in_transaction_session_timeout=9000" in params["options"]
    assert engine.pool.timeout() == 1.2  # type: ignore[attr-defined]


def test_time_left_is_none_outside_a_deadline_and_counts_down_inside():
    assert db.time_left() is None
    with db.deadline(2):
        left = db.time_left()
        assert left is not None and 1.9 < left <= 2
    assert db.time_left() is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HOTLINE_DB_REQUEST_TIMEOUT_MS", "2501"),  # could pass 5 s with a late connect
        ("HOTLINE_DB_REQUEST_TIMEOUT_MS", "99"),
        ("HOTLINE_DB_REQUEST_TIMEOUT_MS", "2s"),
        ("HOTLINE_DB_CONNECT_TIMEOUT_S", "1"),  # libpq's minimum is 2
        ("HOTLINE_DB_CONNECT_TIMEOUT_S", "61"),
        ("HOTLINE_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", "999"),
        ("HOTLINE_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", "-1"),
    ],
)
def test_database_limits_out_of_range_fail_at_start_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        from_env({name: value})


def test_database_limits_have_defaults_and_can_be_set():
    assert Settings().db_request_timeout_ms == 2000
    settings = from_env(
        {
            "HOTLINE_DB_REQUEST_TIMEOUT_MS": "2500",
            "HOTLINE_DB_CONNECT_TIMEOUT_S": "5",
            "HOTLINE_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": "0",
        }
    )
    assert settings.db_request_timeout_ms == 2500
    assert settings.db_connect_timeout_s == 5
    assert settings.db_idle_in_transaction_timeout_ms == 0


def test_a_nested_deadline_cannot_outlast_the_enclosing_one():
    with db.deadline(1), db.deadline(5):
        left = db.time_left()
        assert left is not None and left <= 1
