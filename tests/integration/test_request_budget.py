"""Every web request's database work shares one budget (hotline.db.deadline), but for a
rehearsal's, which nobody waits on: there a statement cut short on a busy machine would
lose a status callback and make one seed replay differently."""

from __future__ import annotations

import datetime as dt

from hotline import db
from hotline.settings import Settings
from hotline.web import lift_database_budget
from tests.conftest import TEST_SECRET_KEY


def _budget_route(app):
    @app.get("/_budget-left")
    def left():  # what a webhook's statements would be given
        remaining = db.time_left()
        return "none" if remaining is None else f"{remaining:.1f}"


def test_a_request_has_the_budget_and_lifting_it_leaves_none(app, client):
    _budget_route(app)
    assert float(client.get("/_budget-left").text) <= 2.0  # the default, 2,000 ms
    lift_database_budget(app)
    assert client.get("/_budget-left").text == "none"


def test_a_rehearsals_app_has_no_wall_clock_budget(database_url):
    from simulator.campaign import Options, start_line

    settings = Settings().with_overrides(database_url=database_url, secret_key=TEST_SECRET_KEY)
    at = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    line = start_line(settings, database_url, Options(days=1), at)
    try:
        _budget_route(line.app)
        assert line.app.test_client().get("/_budget-left").text == "none"
    finally:
        line.stop()
