"""Signing in and out of the desk (hotline.users does the checking, limiting and auditing)."""

from __future__ import annotations

import math

from flask import redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from desk import ANONYMOUS_LANGUAGE_KEY
from desk.access import SESSION_KEY, current_user, desk_runtime, public, requires
from desk.blueprint import bp
from hotline.enums import Language
from hotline.models import utcnow
from hotline.users import MAX_PASSWORD_LENGTH, USERNAME_MAX, Failed, Refused, sign_in, sign_out


def _address() -> str:
    return request.remote_addr or "unknown"


def _safe_next(target: str | None) -> str:
    """Only a path on the desk itself: never another site (an open redirect); a target
    with a control character (a CR/LF would split the Location header) is as if absent."""
    if target and any(ord(c) < 32 or ord(c) == 127 for c in target):
        target = None
    if target and target.startswith("/desk/") and not target.startswith("/desk//"):
        return target
    return url_for("desk.home")


@bp.route("/login", methods=["GET", "POST"])
@public  # the way in
def login() -> ResponseReturnValue:
    """The sign-in page; its language follows ?lang= or the browser."""
    chosen = request.args.get("lang")
    if chosen in (Language.EN.value, Language.ZH_CN.value):
        session[ANONYMOUS_LANGUAGE_KEY] = chosen
    if request.method == "GET" and current_user() is not None:
        return redirect(_safe_next(request.args.get("next")))
    # The CSRF token was checked before this view ran (CSRFProtect, hotline.web).
    username = request.form.get("username", "").strip()[:USERNAME_MAX]
    password = request.form.get("password", "")
    error: tuple[str, dict[str, int]] | None = None
    status = 200
    if request.method == "POST":
        if not username or not password or len(password) > MAX_PASSWORD_LENGTH:
            error, status = ("login.required", {}), 400
        else:
            result = sign_in(
                desk_runtime().Session,
                username,
                password,
                address=_address(),
                user_agent=request.user_agent.string,
                now=utcnow(),
            )
            if isinstance(result, Refused):
                minutes = max(1, math.ceil(result.retry_after.total_seconds() / 60))
                error, status = ("login.throttled", {"minutes": minutes}), 429
            elif isinstance(result, Failed):
                error, status = ("login.failed", {}), 401
            else:
                # A new session cookie from scratch: nothing from before sign-in carries
                # over (session fixation), not even the CSRF token.
                session.clear()
                session.permanent = True
                session[SESSION_KEY] = result.token
                return redirect(_safe_next(request.args.get("next")))
    notice = request.args.get("notice")
    return (
        render_template(
            "login.html",
            username=username,
            error=error,
            notice=notice if notice in ("signed_out", "expired") else None,
        ),
        status,
    )


@bp.post("/logout")
@requires("agent")
def logout() -> ResponseReturnValue:
    """Sign out: the session ends on the server, and the cookie is emptied."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        with desk_runtime().Session.begin() as db:
            sign_out(db, token, address=_address(), now=utcnow())
    language = session.get(ANONYMOUS_LANGUAGE_KEY)
    session.clear()
    user = current_user()
    if user is not None:
        session[ANONYMOUS_LANGUAGE_KEY] = user.language.value
    elif language:
        session[ANONYMOUS_LANGUAGE_KEY] = language
    return redirect(url_for("desk.login", notice="signed_out"))
