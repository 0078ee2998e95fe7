"""The web app factory: settings, database and blueprints wired once per process."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect

from hotline import db
from hotline.bootstrap import Runtime, bootstrap
from hotline.db import database_reachable
from hotline.settings import from_env
from hotline.wsgi import RECEIVED_AT

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

health = Blueprint("health", __name__)

# A webhook's one REST call before it answers (pausing a recording for <Pay>, or resuming
# it after) comes after its database work (at most 2.5 s), all within the 5 s Twilio
# allows: it may take 1 s to connect and 1 s to answer. Texts go after the answer is sent.
WEBHOOK_REST_TIMEOUT_S = 1.0
# Blueprints whose every route is a Twilio webhook, signed (telephony.webhook) rather than
# posted from a page: CSRF protection, which covers every other route, does not apply.
SIGNED_BLUEPRINTS = ("ivr", "dialer", "sms", "desk_calls")


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment; `overrides` (tests) replace individual settings."""
    settings = from_env(os.environ)
    if overrides:
        settings = settings.with_overrides(**overrides)
    runtime = bootstrap(settings, rest_timeout_s=WEBHOOK_REST_TIMEOUT_S)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, HOTLINE_ENV=settings.env)
    app.extensions["hotline"] = runtime
    # All database work of a request shares one budget (hotline.db.deadline), so that a sick
    # database makes a webhook apologise in time instead of hanging. (Flask's documented way
    # to wrap it, though mypy sees assigning to a method.)
    app.wsgi_app = _DatabaseBudget(app.wsgi_app, settings.db_request_timeout_ms / 1000)  # type: ignore[method-assign]
    app.register_blueprint(health)
    from desk import init_app as init_desk
    from desk.calls_web import init_app as init_desk_calls
    from dialer.web import init_app as init_dialer
    from dialer.web_sms import init_app as init_texts
    from ivr.web import init_app as init_ivr

    init_ivr(app, runtime)
    init_dialer(app, runtime)
    init_texts(app)
    init_desk_calls(app, runtime)
    # The desk schedules callbacks that the dialer places; it may not import the dialer.
    from dialer.callbacks import schedule as schedule_callback

    app.extensions["callback_scheduler"] = schedule_callback
    # The desk starts, pauses and previews campaigns through this port (it does not import
    # the dialer): the same store and preview as `hotline campaign`.
    from dialer.desk_port import DialerCampaigns

    app.extensions["campaign_desk"] = DialerCampaigns()
    init_desk(app)
    _protect_forms(app)
    return app


def _protect_forms(app: Flask) -> None:
    """CSRF on every state-changing request (flask-wtf), but the signed webhooks'.

    App-wide rather than per blueprint, so that a blueprint added later is protected until
    someone exempts it on purpose. Tokens last as long as the session (an agent's page stays
    open all shift): the session cookie's own expiry bounds them."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf = CSRFProtect(app)
    for name in SIGNED_BLUEPRINTS:
        csrf.exempt(app.blueprints[name])


class _DatabaseBudget:
    """WSGI middleware: run each request inside a database deadline (None: none)."""

    def __init__(self, wsgi_app: WSGIApplication, seconds: float | None) -> None:
        self.wsgi_app = wsgi_app
        self.seconds = seconds

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.seconds is None:
            return self.wsgi_app(environ, start_response)
        # Under `hotline serve` the budget counts from the request's arrival, so that time
        # spent queued for a free thread is not given again (hotline.wsgi.RECEIVED_AT).
        received_at = environ.get(RECEIVED_AT)
        seconds = self.seconds
        if received_at is not None:
            seconds -= time.monotonic() - received_at
        with db.deadline(seconds):
            return self.wsgi_app(environ, start_response)


def lift_database_budget(app: Flask) -> None:
    """No wall-clock budget for the app's requests. For a rehearsal on a virtual clock
    (simulator/campaign.py): nobody waits on its requests, and a statement cut short on a
    busy machine (a status callback not kept) would make one seed replay differently."""
    budget = app.wsgi_app
    if not isinstance(budget, _DatabaseBudget):
        raise TypeError("the app's requests have no database budget to lift")
    budget.seconds = None


def runtime() -> Runtime:
    """The current app's runtime (settings, engine, sessionmaker)."""
    result: Runtime = current_app.extensions["hotline"]
    return result


@health.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness and database reachability, for load balancers and operators."""
    if database_reachable(runtime().engine):
        return jsonify(status="ok", database="ok")
    return jsonify(status="degraded", database="unreachable"), 503
