"""Who may open what on the desk: the signed-in user, roles, and agency scoping.

Roles form a ladder, agent < supervisor < admin: a route declared for a role is reached by
that role and every role above it. So `@requires("agent")` is for everyone signed in,
`@requires("supervisor")` for supervisors and admins, `@requires("admin")` for admins only.
Every desk route says which with `@requires(...)`, or is `@public` (the sign-in page); the
blueprint refuses any route that says neither, and tests/integration/test_desk_access.py
walks the route table to prove it.

Agencies: a user with an agency sees only the accounts placed with that agency today (in
the bank's time zone); the bank's own staff see all. Filter every query, export and API by
`visible_accounts(user)`; open one account by id with `account_or_404`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import abort, current_app, g, jsonify, redirect, request, session
from flask.typing import ResponseReturnValue
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from hotline.agencies import account_visible, visible_to
from hotline.bootstrap import Runtime
from hotline.enums import DeskRole, Language
from hotline.models import CardAccount, DeskUser, utcnow
from hotline.users import resolve_session

View = TypeVar("View", bound=Callable[..., ResponseReturnValue])

RANK = {DeskRole.AGENT: 1, DeskRole.SUPERVISOR: 2, DeskRole.ADMIN: 3}
# The key of the session token in Flask's (signed) session cookie.
SESSION_KEY = "desk"
LOCALES = {Language.EN: "en_US", Language.ZH_CN: "zh_CN"}


def reaches(role: DeskRole | str, needed: DeskRole | str) -> bool:
    """Whether `role` may open a page declared for `needed` (the ladder above)."""
    return RANK[DeskRole(role)] >= RANK[DeskRole(needed)]


@dataclass(frozen=True)
class User:
    """The signed-in desk user, as read at the start of this request."""

    id: int
    username: str
    display_name: str
    role: DeskRole
    agency_id: int | None
    language: Language
    time_zone: str
    phone: str | None
    waiver_limit_minor: int
    waiver_currency: str

    @classmethod
    def from_row(cls, row: DeskUser) -> User:
        return cls(
            id=row.id,
            username=row.username,
            display_name=row.display_name,
            role=DeskRole(row.role),
            agency_id=row.agency_id,
            language=Language(row.language),
            time_zone=row.time_zone,
            phone=row.phone,
            waiver_limit_minor=row.waiver_limit_minor,
            waiver_currency=row.waiver_currency,
        )

    def reaches(self, role: DeskRole | str) -> bool:
        return reaches(self.role, role)

    @property
    def locale(self) -> str:
        """Babel's name for the user's language (en_US, zh_CN)."""
        return LOCALES[self.language]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def is_bank_staff(self) -> bool:
        return self.agency_id is None


def desk_runtime() -> Runtime:
    result: Runtime = current_app.extensions["hotline"]
    return result


def current_user() -> User | None:
    """The signed-in user, or None; read once per request (the session row is checked:
    ended, idle, too old and disabled users are signed out)."""
    if "desk_user" in g:
        cached: User | None = g.desk_user
        return cached
    user: User | None = None
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        with desk_runtime().Session.begin() as db:
            row = resolve_session(db, token, now=utcnow())
            user = User.from_row(row) if row is not None else None
        if user is None:
            session.pop(SESSION_KEY, None)
    g.desk_user = user
    return user


def signed_in_user() -> User:
    """The user of a route under @requires (never None there)."""
    user = current_user()
    if user is None:  # only reachable from a route that forgot @requires
        abort(401)
    return user


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        or request.headers.get("X-Requested-With") == "fetch"
        or "text/event-stream" in (request.headers.get("Accept") or "")
    )


def _sign_in_first() -> ResponseReturnValue:
    """Anonymous: a page asks to sign in and comes back; a form sent after the session
    ended goes to the sign-in page (303) saying so; a script gets 401."""
    if _wants_json():
        return jsonify(error="sign in first"), 401
    login = current_app.url_for("desk.login")
    if request.method == "GET":
        return redirect(f"{login}?{urlencode({'next': request.full_path.rstrip('?')})}")
    return redirect(f"{login}?notice=expired", code=303)


def requires(*roles: DeskRole | str) -> Callable[[View], View]:
    """Declare the lowest role(s) a route is for (see the ladder above). Anonymous: a
    redirect to sign in (302 for a GET, 303 for a form; 401 for fetch, JSON or an event
    stream); below the role: 403."""
    if not roles:
        raise ValueError("requires() needs at least one role")
    needed = frozenset(DeskRole(role) for role in roles)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            user = current_user()
            if user is None:
                return _sign_in_first()
            if not any(user.reaches(role) for role in needed):
                abort(403)
            return view(*args, **kwargs)

        # Read by the route-table test and by the blueprint's guard.
        guarded.desk_roles = needed  # type: ignore[attr-defined]
        guarded.desk_reach = frozenset(  # type: ignore[attr-defined]
            role for role in DeskRole if any(reaches(role, n) for n in needed)
        )
        return guarded  # type: ignore[return-value]

    return decorate


def public(view: View) -> View:
    """Declare a route open to anyone (the sign-in page); say why where it is used."""
    view.desk_public = True  # type: ignore[attr-defined]
    return view


def declared(view: Callable[..., Any]) -> bool:
    return bool(getattr(view, "desk_public", False) or getattr(view, "desk_roles", None))


def roles_of(view: Callable[..., Any]) -> frozenset[DeskRole] | None:
    """The roles that reach a view (None: public)."""
    if getattr(view, "desk_public", False):
        return None
    reach: frozenset[DeskRole] = view.desk_reach  # type: ignore[attr-defined]
    return reach


# --- agency scoping ---------------------------------------------------------------------


def bank_today() -> dt.date:
    """Today in the bank's time zone: the day placements are read for."""
    return dt.datetime.now(ZoneInfo(desk_runtime().settings.default_timezone)).date()


def visible_accounts(user: User, on: dt.date | None = None) -> ColumnElement[bool]:
    """A WHERE clause on CardAccount: the accounts the user sees (on the day; default
    today). Use it in every query that lists or counts accounts or their records:
    `select(CardAccount).where(visible_accounts(user))`, or join CardAccount first."""
    return visible_to(user.agency_id, on or bank_today())


def can_see_account(
    session: Session, user: User, account_id: int, on: dt.date | None = None
) -> bool:
    """Whether the account exists and the user sees it."""
    return account_visible(session, user.agency_id, account_id, on or bank_today())


def account_or_404(session: Session, user: User, account_id: int) -> CardAccount:
    """The account, if the user sees it; otherwise 404, the same as for no such account,
    so that an agency user cannot learn which ids exist elsewhere."""
    account = session.scalars(
        select(CardAccount).where(CardAccount.id == account_id, visible_accounts(user))
    ).first()
    if account is None:
        abort(404)
    return account
