"""The desk's own pages: home, the user's language, the administrator's list of users,
and the desk's error pages."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from desk import add_nav
from desk.access import desk_runtime, requires, signed_in_user
from desk.blueprint import bp
from hotline import audit
from hotline.enums import Language
from hotline.models import Agency, DeskUser, utcnow
from hotline.users import list_users

add_nav("desk.home", "nav.home", "agent", order=0)
add_nav("desk.users", "nav.users", "admin", order=90)


@bp.get("/")
@requires("agent")
def home() -> ResponseReturnValue:
    """Where a user lands after signing in."""
    user = signed_in_user()
    agency = None
    if user.agency_id is not None:
        with desk_runtime().Session.begin() as db:
            found = db.get(Agency, user.agency_id)
            agency = found.name if found else None
    return render_template("home.html", agency=agency)


@bp.post("/language")
@requires("agent")
def set_language() -> ResponseReturnValue:
    """Keep the user's choice of language (en or zh-CN) on their profile."""
    user = signed_in_user()
    chosen = request.form.get("language", "")
    if chosen not in (Language.EN.value, Language.ZH_CN.value):
        return render_template("error.html", title_key="error.bad_request_title"), 400
    with desk_runtime().Session.begin() as db:
        row = db.get(DeskUser, user.id)
        assert row is not None
        if row.language != chosen:
            audit.record(
                db,
                actor=f"desk:{row.username}",
                action="user.language_set",
                entity_type="desk_user",
                entity_id=row.username,
                data={"from": str(row.language), "to": chosen},
                now=utcnow(),
            )
            row.language = Language(chosen)
    back = request.form.get("next", "")
    return redirect(back if back.startswith("/desk/") else url_for("desk.home"))


@bp.get("/admin/users")
@requires("admin")
def users() -> ResponseReturnValue:
    """Every desk user with role, agency, language, limits and when last seen."""
    with desk_runtime().Session.begin() as db:
        rows = list_users(db)
        agencies = {row.id: row.code for row in db.execute(select(Agency.id, Agency.code))}
    return render_template("users.html", users=rows, agencies=agencies)


@bp.errorhandler(403)
def forbidden(_error: HTTPException) -> ResponseReturnValue:
    return render_template(
        "error.html", title_key="error.forbidden_title", message_key="error.forbidden"
    ), 403


@bp.errorhandler(404)
def not_found(_error: HTTPException) -> ResponseReturnValue:
    return render_template(
        "error.html", title_key="error.not_found_title", message_key="error.not_found"
    ), 404


@bp.errorhandler(CSRFError)
def csrf_refused(_error: CSRFError) -> ResponseReturnValue:
    return render_template(
        "error.html", title_key="error.bad_request_title", message_key="error.csrf"
    ), 400
