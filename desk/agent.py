"""The agent desk's pages: the live queue, taking a caller, the account's screen and its
actions, and the supervisor's list of waivers waiting for approval.

Every route declares its role (desk.access.requires) and works only accounts the user
sees (visible_accounts / account_or_404: an agency user gets 404 for anyone else's, on
the pages and on every action's POST alike). Each POST owns its transaction, calls one
service in desk.actions (which audits it), and answers with a redirect to the account's
page carrying the outcome: the action's own message, or the error's (ActionError.key).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from decimal import InvalidOperation
from typing import Any

from babel import Locale
from babel.dates import get_date_format, get_datetime_format, get_time_format
from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import abort

from desk import actions as act
from desk import add_nav, language, queue
from desk.access import (
    User,
    account_or_404,
    bank_today,
    desk_runtime,
    requires,
    signed_in_user,
    visible_accounts,
)
from desk.account_view import account_view, current_call
from desk.blueprint import bp
from desk.calls_web import bridge_line
from hotline import kpi_rules
from hotline.models import CardAccount, FeeWaiver, QueueEntry, utcnow
from hotline.money import format_money, parse_major
from hotline.rules import Limits

log = logging.getLogger(__name__)

add_nav("desk.queue_page", "agent.nav_queue", "agent", order=10)
add_nav("desk.waivers", "agent.nav_waivers", "supervisor", order=40)

# How often the queue page asks for the waiting callers (milliseconds).
POLL_MS = 2000


def agent_of(user: User, currency: str | None = None) -> queue.Agent:
    """The user as the services see them. A waiver limit counts only in its own currency:
    for an account in another, every waiver goes to a supervisor."""
    limit = user.waiver_limit_minor
    if currency is not None and currency != user.waiver_currency:
        limit = 0
    return queue.Agent(
        user_id=user.id,
        username=user.username,
        role=user.role.value,
        phone=user.phone,
        waiver_limit_minor=limit,
        agency_id=user.agency_id,
    )


@functools.lru_cache(maxsize=16)
def _short_formats(locale: str) -> tuple[Locale, Any, Any, str]:
    found = Locale.parse(locale)
    combined = str(get_datetime_format("short", locale=found)).replace("'", "")
    return found, get_date_format("short", found), get_time_format("short", found), combined


def _page(template: str, **context: Any) -> str:
    """Render a desk page with this request's words and times bound once: `t` reads the
    user's catalogue directly, `at(moment)` is babel's short date and time in the user's
    zone from patterns parsed once (the account page says a hundred of each; the app-wide
    `t` and `when` look the language and locale up again for every one); `csrf` the form
    token."""
    user = signed_in_user()
    catalogue = current_app.extensions["desk_text"][language()]

    def t(key: str, **params: Any) -> str:
        text: str = catalogue[key]
        return text.format(**params) if params else text

    found, date_format, time_format, combined = _short_formats(user.locale)
    zone = user.zone

    def at(moment: dt.datetime | None) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(zone)
        return combined.replace("{1}", date_format.apply(local, found)).replace(
            "{0}", time_format.apply(local, found)
        )

    # The form token, once: flask-wtf's csrf_token() costs most of a millisecond a call,
    # and the account's page has a form for every action.
    return render_template(template, t=t, at=at, csrf=generate_csrf(), **context)


def _say(kind: str, key: str, values: dict[str, str]) -> None:
    """Keep an action's outcome for the next page (its text key and values, as JSON:
    the page says it in the user's language)."""
    flash(json.dumps([key, values], ensure_ascii=False), kind)


@bp.app_template_filter("desk_message")
def desk_message(message: str) -> str:
    """The words of an outcome kept by _say."""
    from desk import t

    try:
        key, values = json.loads(message)
        return t(str(key), **{str(k): str(v) for k, v in dict(values).items()})
    except (ValueError, TypeError, KeyError):
        return message


# --- the queue ------------------------------------------------------------------------------


@bp.get("/queue")
@requires("agent")
def queue_page() -> ResponseReturnValue:
    """The callers waiting for an agent, kept up to date without a reload."""
    user = signed_in_user()
    with desk_runtime().Session() as db:
        rows = queue.waiting(db, utcnow(), scope=visible_accounts(user))
    return _page("agent_queue.html", rows=rows, poll_ms=POLL_MS)


@bp.get("/queue/rows")
@requires("agent")
def queue_rows() -> ResponseReturnValue:
    """The queue's rows alone, for the page's polling (an HTML fragment)."""
    user = signed_in_user()
    with desk_runtime().Session() as db:
        rows = queue.waiting(db, utcnow(), scope=visible_accounts(user))
    response = _page("agent_queue_rows.html", rows=rows)
    return response, 200, {"Cache-Control": "no-store"}


@bp.post("/queue/<int:entry_id>/accept")
@requires("agent")
def accept(entry_id: int) -> ResponseReturnValue:
    """Take the caller: their call is put through to the agent's phone, and the screen
    pops with who they are."""
    user = signed_in_user()
    runtime = desk_runtime()
    try:
        queue.accept_call(
            runtime.Session,
            runtime.gateway,
            entry_id,
            agent_of(user),
            bridge_url=bridge_line().bridge_url,
            clock=utcnow,
            # The bank's own staff take any caller, one the line could not identify too;
            # an agency's users only callers whose account is placed with the agency.
            scope=None if user.is_bank_staff else visible_accounts(user),
        )
    except queue.OutOfScope:
        abort(404)
    except queue.QueueError as refused:
        _say("error", f"agent.{refused.key}", {})
        return redirect(url_for("desk.queue_page"), code=303)
    return redirect(url_for("desk.call_page", entry_id=entry_id), code=303)


@bp.get("/calls/<int:entry_id>")
@requires("agent")
def call_page(entry_id: int) -> ResponseReturnValue:
    """The screen pop: the call as the line knew it, and the caller's account."""
    user = signed_in_user()
    with desk_runtime().Session() as db:
        call = current_call(db, entry_id)
        if call is None:
            abort(404)
        if call.account_id is None:
            if not user.is_bank_staff:
                abort(404)
            return _page("agent_account.html", call=call, view=None, **_forms(user))
        account_or_404(db, user, call.account_id)
        view = account_view(db, call.account_id, scope=visible_accounts(user))
        return _page("agent_account.html", call=call, view=view, **_forms(user))


@bp.get("/accounts")
@requires("agent")
def find_account() -> ResponseReturnValue:
    """Open an account by its number."""
    user = signed_in_user()
    number = (request.args.get("number") or "").strip()[:32]
    if not number:
        return _page("agent_find.html", number="", missing=False)
    with desk_runtime().Session() as db:
        found = db.scalar(
            select(CardAccount.id).where(
                CardAccount.account_number == number, visible_accounts(user)
            )
        )
    if found is None:
        return _page("agent_find.html", number=number, missing=True), 404
    return redirect(url_for("desk.account_page", account_id=found))


@bp.get("/accounts/<int:account_id>")
@requires("agent")
def account_page(account_id: int) -> ResponseReturnValue:
    """The account's screen (with the call an agent took, when `call` names it)."""
    user = signed_in_user()
    with desk_runtime().Session() as db:
        account_or_404(db, user, account_id)
        view = account_view(db, account_id, scope=visible_accounts(user))
        call = _call_for(db, account_id)
        return _page("agent_account.html", call=call, view=view, **_forms(user))


def _call_for(db: Session, account_id: int) -> Any:
    raw = request.args.get("call", "")[:12]
    if not (raw.isascii() and raw.isdigit()):
        return None
    call = current_call(db, int(raw))
    return call if call is not None and call.account_id == account_id else None


def _forms(user: User) -> dict[str, Any]:
    return {
        "dispositions": act.DISPOSITIONS,
        "flags": [str(f) for f in act.AGENT_FLAGS],
        "case_kinds": [str(k) for k in act.AGENT_CASE_KINDS],
        "today": bank_today(),
        "user_zone": user.time_zone,
    }


# --- actions ----------------------------------------------------------------------------------


def _act(account_id: int, do: Any, done_key: str, **done_values: Any) -> ResponseReturnValue:
    """Run one action on a visible account in its own transaction; back to the account's
    page with its outcome (a result's "_key" names another message for it)."""
    user = signed_in_user()
    runtime = desk_runtime()
    call_id = request.form.get("call", "")[:12]
    currency = [""]
    try:
        with runtime.Session.begin() as db:
            account = account_or_404(db, user, account_id)
            currency[0] = account.currency
            call_sid = _call_sid(db, call_id, account_id)
            result = do(db, agent_of(user, account.currency), account, call_sid, utcnow())
    except act.ActionError as refused:
        _say("error", f"agent.{refused.key}", _shown(refused.values, currency[0], user))
    except _FormError as bad:
        _say("error", f"agent.{bad.key}", bad.values)
    else:
        values = done_values | (result if isinstance(result, dict) else {})
        key = values.pop("_key", done_key)
        _say("ok", f"agent.{key}", _shown(values, currency[0], user))
    target = url_for("desk.account_page", account_id=account_id)
    if call_id.isascii() and call_id.isdigit():
        target += f"?call={call_id}"
    return redirect(target, code=303)


# Values of a message that are amounts in the account's currency, or moments.
_MONEY_VALUES = frozenset({"low", "high", "limit_minor"})


def _shown(values: Any, currency: str, user: User) -> dict[str, str]:
    """A message's values as the user reads them: money in their locale, moments in their
    zone, the rest as text."""
    shown: dict[str, str] = {}
    for name, value in values.items():
        if name in _MONEY_VALUES and isinstance(value, int) and currency:
            shown[name] = format_money(value, currency, user.locale)
        elif isinstance(value, dt.datetime):
            shown[name] = value.astimezone(user.zone).strftime("%Y-%m-%d %H:%M")
        elif isinstance(value, dt.date):
            shown[name] = value.isoformat()
        elif value is None:
            shown[name] = "–"
        else:
            shown[name] = str(value)
    return shown


def _call_sid(db: Session, call_id: str, account_id: int) -> str | None:
    if not (call_id.isascii() and call_id.isdigit()) or len(call_id) > 12:
        return None
    entry = db.get(QueueEntry, int(call_id))
    return entry.call_sid if entry is not None and entry.account_id == account_id else None


class _FormError(Exception):
    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def _amount(currency: str, name: str = "amount") -> int:
    try:
        return parse_major(request.form.get(name, "").strip(), currency)
    except (ValueError, InvalidOperation):
        raise _FormError("error_amount_format") from None


def _date(name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(request.form.get(name, "").strip())
    except ValueError:
        raise _FormError("error_date_format") from None


def _time(name: str) -> dt.time | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        time = dt.time.fromisoformat(raw)
    except ValueError:
        raise _FormError("error_time_format") from None
    if time.tzinfo is not None:  # a wall-clock time in the cardholder's zone, no offset
        raise _FormError("error_time_format")
    return time


def _whole(name: str) -> int:
    raw = request.form.get(name, "").strip()
    # ASCII digits only: '²'.isdigit() is True but int('²') fails.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise _FormError("error_number_format")
    return int(raw)


def _limits() -> Limits:
    return Limits.from_settings(desk_runtime().settings)


@bp.post("/accounts/<int:account_id>/disposition")
@requires("agent")
def disposition(account_id: int) -> ResponseReturnValue:
    """Record how the call went, with a note."""
    return _act(
        account_id,
        lambda db, agent, account, sid, now: act.record_disposition(
            db,
            agent,
            account,
            disposition=request.form.get("disposition", ""),
            note=request.form.get("note", ""),
            call_sid=sid,
            now=now,
        ),
        "done_disposition",
    )


@bp.post("/accounts/<int:account_id>/promise")
@requires("agent")
def promise(account_id: int) -> ResponseReturnValue:
    """A promise to pay an amount by a date."""

    def do(db: Session, agent: queue.Agent, account: CardAccount, sid: Any, now: Any) -> Any:
        reference = act.promise(
            db,
            agent,
            account,
            amount_minor=_amount(account.currency),
            date=_date("date"),
            today=bank_today(),
            limits=_limits(),
            call_sid=sid,
            now=now,
        )
        return {"reference": reference}

    return _act(account_id, do, "done_promise")


@bp.post("/accounts/<int:account_id>/plan")
@requires("agent")
def plan(account_id: int) -> ResponseReturnValue:
    """An instalment plan over the balance."""

    def do(db: Session, agent: queue.Agent, account: CardAccount, sid: Any, now: Any) -> Any:
        reference = act.plan(
            db,
            agent,
            account,
            count=_whole("count"),
            start=_date("start"),
            today=bank_today(),
            limits=_limits(),
            call_sid=sid,
            now=now,
        )
        return {"reference": reference}

    return _act(account_id, do, "done_plan")


@bp.post("/accounts/<int:account_id>/waiver")
@requires("agent")
def waiver(account_id: int) -> ResponseReturnValue:
    """Waive a late fee: at once within the agent's limit, else for a supervisor."""

    def do(db: Session, agent: queue.Agent, account: CardAccount, sid: Any, now: Any) -> Any:
        row = act.request_waiver(
            db,
            agent,
            account,
            amount_minor=_amount(account.currency),
            reason=request.form.get("reason", ""),
            call_sid=sid,
            now=now,
        )
        return {"_key": f"done_waiver_{row.status}"}

    return _act(account_id, do, "done_waiver")


@bp.post("/accounts/<int:account_id>/cases")
@requires("agent")
def open_case(account_id: int) -> ResponseReturnValue:
    """Open a dispute, complaint or hardship case."""

    def do(db: Session, agent: queue.Agent, account: CardAccount, sid: Any, now: Any) -> Any:
        row = act.open_case(
            db,
            agent,
            account,
            kind=request.form.get("kind", ""),
            summary=request.form.get("summary", ""),
            call_sid=sid,
            now=now,
        )
        return {"case": f"{row.id:06d}"}

    return _act(account_id, do, "done_case_opened")


@bp.post("/accounts/<int:account_id>/cases/<int:case_id>/update")
@requires("agent")
def update_case(account_id: int, case_id: int) -> ResponseReturnValue:
    """Add a note to a case and take it in hand."""
    return _act(
        account_id,
        lambda db, agent, account, sid, now: act.update_case(
            db, agent, account, case_id, note=request.form.get("note", ""), now=now
        ),
        "done_case_updated",
        case=f"{case_id:06d}",
    )


@bp.post("/accounts/<int:account_id>/cases/<int:case_id>/resolve")
@requires("agent")
def resolve_case(account_id: int, case_id: int) -> ResponseReturnValue:
    """Resolve a case."""
    return _act(
        account_id,
        lambda db, agent, account, sid, now: act.resolve_case(
            db, agent, account, case_id, resolution=request.form.get("resolution", ""), now=now
        ),
        "done_case_resolved",
        case=f"{case_id:06d}",
    )


@bp.post("/accounts/<int:account_id>/flags")
@requires("agent")
def flag(account_id: int) -> ResponseReturnValue:
    """Set or clear DNC, cease-contact, attorney or dispute."""
    name, on = request.form.get("flag", ""), request.form.get("on") == "1"
    return _act(
        account_id,
        lambda db, agent, account, sid, now: act.set_flag(
            db, agent, account, name, on=on, call_sid=sid, now=now
        ),
        "done_flag_set" if on else "done_flag_cleared",
        flag=name,
    )


@bp.post("/accounts/<int:account_id>/phones/<int:phone_id>/hours")
@requires("agent")
def allowed_hours(account_id: int, phone_id: int) -> ResponseReturnValue:
    """The hours a number may be called in (its local time); empty clears them."""
    return _act(
        account_id,
        lambda db, agent, account, sid, now: act.set_allowed_hours(
            db, agent, account, phone_id, start=_time("start"), end=_time("end"), now=now
        ),
        "done_hours",
    )


@bp.post("/accounts/<int:account_id>/unlock")
@requires("agent")
def unlock(account_id: int) -> ResponseReturnValue:
    """Let the cardholder use phone self-service again."""
    return _act(
        account_id,
        lambda db, agent, account, sid, now: act.unlock(db, agent, account, now=now),
        "done_unlock",
    )


@bp.post("/accounts/<int:account_id>/callback")
@requires("agent")
def callback(account_id: int) -> ResponseReturnValue:
    """A call back at a time (the agent's zone), placed by the dialer."""
    user = signed_in_user()
    scheduler = desk_runtime_callbacks()

    def do(db: Session, agent: queue.Agent, account: CardAccount, sid: Any, now: Any) -> Any:
        raw = request.form.get("at", "").strip()
        try:
            local = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise _FormError("error_datetime_format") from None
        try:
            kpi_rules.sane_date(local.date())
        except kpi_rules.RangeError:
            first, last = f"{kpi_rules.FIRST_YEAR}-01-01", f"{kpi_rules.LAST_YEAR}-12-31"
            raise _FormError("error_datetime_range", first=first, last=last) from None
        at = (local if local.tzinfo else local.replace(tzinfo=user.zone)).astimezone(dt.UTC)
        act.schedule_callback(
            db, agent, account, _whole("phone"), at=at, now=now, scheduler=scheduler
        )
        return {"at": local.strftime("%Y-%m-%d %H:%M")}

    return _act(account_id, do, "done_callback")


def desk_runtime_callbacks() -> Any:
    """The dialer's scheduler, which the app factory hands the desk (hotline.callbacks)."""
    return current_app.extensions["callback_scheduler"]


# --- the supervisor's waivers -----------------------------------------------------------------


@bp.get("/waivers")
@requires("supervisor")
def waivers() -> ResponseReturnValue:
    """Late-fee waivers above their agent's authority, waiting for a decision."""
    user = signed_in_user()
    with desk_runtime().Session() as db:
        rows = act.pending_waivers(db, visible_accounts(user))
        return _page("agent_waivers.html", rows=rows)


@bp.post("/waivers/<int:waiver_id>/decide")
@requires("supervisor")
def decide(waiver_id: int) -> ResponseReturnValue:
    """Approve (the fee comes off now) or reject a pending waiver."""
    user = signed_in_user()
    approve = request.form.get("decision") == "approve"
    try:
        with desk_runtime().Session.begin() as db:
            # The approver's limit counts in its own currency only, as the agent's does.
            waiver = db.get(FeeWaiver, waiver_id)
            act.decide_waiver(
                db,
                agent_of(user, waiver.currency if waiver is not None else None),
                waiver_id,
                approve=approve,
                note=request.form.get("note", ""),
                now=utcnow(),
                scope=visible_accounts(user),
            )
    except act.ActionError as refused:
        _say("error", f"agent.{refused.key}", _shown(refused.values, "", user))
    else:
        key = "done_waiver_approved" if approve else "done_waiver_rejected"
        _say("ok", f"agent.{key}", {"waiver": str(waiver_id)})
    return redirect(url_for("desk.waivers"), code=303)
