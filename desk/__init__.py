"""The agent desk and supervisor dashboard: server-rendered pages under /desk.

`init_app(app)` (called by the app factory) registers the blueprint with every view
module in VIEW_MODULES, the session cookie's settings, the template globals and filters
(`t`, `money`, `when`, `day`, the nav) and the guard that refuses a route with no declared
role. desk/README-dev.md is the map for those adding pages.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from flask import Flask, Response, abort, current_app, request, session
from flask.typing import ResponseReturnValue

from desk import text
from desk.access import LOCALES, current_user, declared
from desk.blueprint import PREFIX, bp
from hotline.enums import DeskRole, Language
from hotline.money import format_money
from hotline.users import SESSION_IDLE

# Each module adds its routes to desk.blueprint.bp; name yours here (one line each).
VIEW_MODULES = (
    "desk.auth",
    "desk.views",
    "desk.supervisor",
    "desk.agent",
)
# The language an anonymous visitor chose on the sign-in page (before that: the browser's).
ANONYMOUS_LANGUAGE_KEY = "desk_lang"


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    text_key: str
    role: DeskRole
    order: int


NAV: list[NavItem] = []


def add_nav(endpoint: str, text_key: str, role: DeskRole | str, order: int = 50) -> None:
    """Put a page in the top navigation for users who reach `role` (lower order: further
    left). Call it at import of the module that defines the page."""
    if all(item.endpoint != endpoint for item in NAV):
        NAV.append(NavItem(endpoint, text_key, DeskRole(role), order))
        NAV.sort(key=lambda item: (item.order, item.endpoint))


def init_app(app: Flask) -> None:
    catalogues = text.load()  # fails at start if the two languages disagree
    for module in VIEW_MODULES:
        importlib.import_module(module)
    settings = app.extensions["hotline"].settings
    secure = settings.public_base_url.startswith("https://") or settings.is_production
    app.config.update(
        # The __Host- prefix (browsers insist on Secure, Path=/ and no Domain) where secure.
        SESSION_COOKIE_NAME="__Host-hotline_desk" if secure else "hotline_desk",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The cookie lasts as long as an idle session may, renewed on every request; the
        # session row decides (hotline.users: idle and absolute limits, sign-out).
        PERMANENT_SESSION_LIFETIME=SESSION_IDLE,
        SESSION_REFRESH_EACH_REQUEST=True,
    )
    app.extensions["desk_text"] = catalogues
    app.register_blueprint(bp, url_prefix=PREFIX)


def language() -> Language:
    """The language of this page: the user's, else the one chosen on the sign-in page,
    else the browser's best match."""
    user = current_user()
    if user is not None:
        return user.language
    chosen = session.get(ANONYMOUS_LANGUAGE_KEY)
    if chosen in (Language.EN.value, Language.ZH_CN.value):
        return Language(chosen)
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
    return Language.ZH_CN if best in ("zh-CN", "zh") else Language.EN


def t(key: str, **params: Any) -> str:
    """The text for `key` in this page's language (desk/text/*.toml)."""
    return text.translate(current_app.extensions["desk_text"], language(), key, **params)


def _zone() -> ZoneInfo:
    user = current_user()
    if user is not None:
        return user.zone
    return ZoneInfo(current_app.extensions["hotline"].settings.default_timezone)


def locale() -> str:
    return LOCALES[language()]


def money(minor: int | None, currency: str) -> str:
    """Minor units as money in the viewer's locale ('$1,234.56', 'US$1,234.56')."""
    if minor is None:
        return ""
    return format_money(minor, currency, locale())


def when(moment: dt.datetime | None, fmt: str = "medium") -> str:
    """A UTC moment in the viewer's time zone and locale."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        raise ValueError("when() needs an aware datetime (the database gives UTC)")
    return str(format_datetime(moment, fmt, tzinfo=_zone(), locale=locale()))


def day(value: dt.date | None, fmt: str = "medium") -> str:
    """A calendar date in the viewer's locale."""
    if value is None:
        return ""
    return str(format_date(value, fmt, locale=locale()))


def _nav() -> list[NavItem]:
    user = current_user()
    if user is None:
        return []
    return [
        item
        for item in NAV
        if user.reaches(item.role) and item.endpoint in current_app.view_functions
    ]


@bp.before_request
def _refuse_undeclared() -> ResponseReturnValue | None:
    """A desk route without @requires or @public is refused, not served (the test that
    walks the route table fails for it too)."""
    view: Callable[..., Any] | None = current_app.view_functions.get(request.endpoint or "")
    if request.endpoint == "desk.static" or view is None:
        return None
    if not declared(view):
        current_app.logger.error("desk route %s declares no role: refused", request.endpoint)
        abort(403)
    return None


# What every desk answer carries. Scripts only from the desk's own files (no inline
# script: put a page's data in <script type="application/json"> and its code in
# desk/static), no framing (clickjacking), forms only to the desk, nothing cached: the
# pages show cardholders' data. Inline styles stay allowed (chart libraries size canvases).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@bp.after_request
def _secure_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "desk.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def _template_context() -> dict[str, Any]:
    return {
        "t": t,
        "desk_user": current_user(),
        "nav_items": _nav(),
        "page_language": language(),
        "languages": list(Language),
        "request_path": request.path,
    }


bp.add_app_template_filter(money, "money")
bp.add_app_template_filter(when, "when")
bp.add_app_template_filter(day, "day")
