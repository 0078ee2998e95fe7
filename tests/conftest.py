"""Fixtures shared by every test layer.

The database under test is chosen by HOTLINE_TEST_DATABASE_URL: unset, each test gets its
own SQLite file (copied from one migrated template); set to a PostgreSQL URL, the schema is
rebuilt by the migrations once per run and every table is truncated between tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from hotline import db
from hotline.models import Base

TEST_DATABASE_URL = os.environ.get("HOTLINE_TEST_DATABASE_URL", "")
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef"

# Settings from the developer's shell must not leak into tests.
_SETTING_VARIABLES = (
    "DATABASE_URL",
    "PUBLIC_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_BASE_URL",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    # Run the end-to-end suite with the simulator delivering callbacks as Twilio may
    # (late, out of order, some twice): `pytest tests/e2e --sim-callbacks chaotic`.
    parser.addoption(
        "--sim-callbacks", choices=("in-order", "chaotic"), default="in-order", help="e2e only"
    )
    parser.addoption("--sim-callback-seed", type=int, default=0, help="e2e only")
    # `pytest tests/browser --desk-screenshots docs` refreshes the README's pictures.
    parser.addoption("--desk-screenshots", default="", help="browser tests: save pictures here")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if (name.startswith("HOTLINE_") and name != "HOTLINE_TEST_DATABASE_URL") or (
            name in _SETTING_VARIABLES
        ):
            monkeypatch.delenv(name, raising=False)


def backend() -> str:
    return make_url(TEST_DATABASE_URL).get_backend_name() if TEST_DATABASE_URL else "sqlite"


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run the migrations once per test run; return the URL (or SQLite template path)."""
    if TEST_DATABASE_URL:
        engine = db.make_engine(TEST_DATABASE_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        db.upgrade(engine)
        engine.dispose()
        return TEST_DATABASE_URL
    template = tmp_path_factory.mktemp("template") / "template.db"
    engine = db.make_engine(f"sqlite:///{template}")
    db.upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    return str(template)


@pytest.fixture
def database_url(_migrated_template: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for this test alone."""
    if TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
        engine = db.make_engine(TEST_DATABASE_URL)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return
    path = tmp_path / "hotline.db"
    shutil.copyfile(_migrated_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def Session(engine: Engine) -> sessionmaker:
    return db.make_sessionmaker(engine)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    from hotline.web import create_app

    app = create_app({"database_url": database_url, "env": "test", "secret_key": TEST_SECRET_KEY})
    app.config.update(TESTING=True)
    yield app
    app.extensions["hotline"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class HotlineCli:
    """Runs the real `hotline` command against the test database."""

    def __init__(self, database_url: str) -> None:
        self.env = {
            "DATABASE_URL": database_url,
            "HOTLINE_ENV": "test",
            "HOTLINE_SECRET_KEY": TEST_SECRET_KEY,
        }

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        from hotline.cli import cli

        runner = CliRunner()
        return runner.invoke(
            cli, list(args), env={**self.env, **(env or {})}, catch_exceptions=False
        )


@pytest.fixture
def hotline(database_url: str) -> HotlineCli:
    return HotlineCli(database_url)


def seed_demo(Session: sessionmaker, size: int) -> None:
    """Load the first `size` accounts of the demo portfolio, as of today."""
    import datetime as dt

    from hotline.demo import load_demo

    now = dt.datetime.now(dt.UTC)
    with Session.begin() as session:
        load_demo(
            session, as_of=now.date(), size=size, secret_key=TEST_SECRET_KEY, now=now, actor="test"
        )


@pytest.fixture
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its lowest cost, for tests that sign in to the desk many times."""
    from tests.desk_support import use_cheap_passwords

    use_cheap_passwords(monkeypatch)
