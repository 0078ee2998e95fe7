"""The supervisor dashboard: live figures, KPIs per day and tier (charts and tables, CSV),
campaigns (load a file, start, pause, preview), and compliance (the audit log with its
chain verified; complaints and disputes against their SLA).

Every route is for supervisors (and so admins). Figures, exports and cases are narrowed to
the user's visible accounts (an agency supervisor sees only the accounts placed with the
agency); the bank-wide pages (campaigns, the audit log) are for the bank's own staff.
Campaigns come through the port the app factory hands in (hotline.campaign_port): the
desk does not import the dialer.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, select

from desk import add_nav
from desk.access import User, desk_runtime, requires, signed_in_user, visible_accounts
from desk.blueprint import bp
from desk.supervisor_data import AuditQuery, live, open_cases, search_audit, sla_days
from hotline import audit, kpi_rules
from hotline.campaign_port import CampaignDesk, CampaignError, PreviewRow
from hotline.kpis import EXPORT_COLUMNS, KpiReport, csv_line, export_chunk, kpis
from hotline.models import CardAccount, utcnow
from hotline.report_cli import csv_lines, rows_of
from hotline.users import signed_in_users

add_nav("desk.dashboard", "supervisor.nav_dashboard", "supervisor", order=30)
add_nav("desk.kpi_page", "supervisor.nav_kpis", "supervisor", order=31)
add_nav("desk.campaigns", "supervisor.nav_campaigns", "supervisor", order=32)
add_nav("desk.compliance", "supervisor.nav_compliance", "supervisor", order=33)

# A campaigns file is a few kilobytes; anything much larger is not one.
MAX_CAMPAIGN_FILE_BYTES = 256 * 1024
PREVIEW_ROWS_SHOWN = 500


def _campaigns() -> CampaignDesk:
    port: CampaignDesk = current_app.extensions["campaign_desk"]
    return port


def _scope(user: User) -> Select[Any] | None:
    """The user's accounts as a select of ids, for the KPI queries (None: every account)."""
    if user.is_bank_staff:
        return None
    return select(CardAccount.id).where(visible_accounts(user))


def _bank_staff_only(user: User) -> None:
    """Bank-wide pages (campaigns, the audit trail) are not an agency's to see."""
    if not user.is_bank_staff:
        abort(403)


def _range(user: User) -> tuple[dt.date, dt.date, str | None]:
    """The days asked for (?from=&to=), default the week to today; with the error, if any."""
    today = utcnow().astimezone(user.zone).date()
    try:
        start, end = kpi_rules.parse_range(request.args.get("from"), request.args.get("to"), today)
    except kpi_rules.RangeError as exc:
        return today - dt.timedelta(days=6), today, str(exc).replace("--", "")
    return start, end, None


def _chart_data(report: KpiReport) -> dict[str, Any]:
    """What the charts draw (desk/static/sup.js): per day, attempts per tier and the rates."""
    days = kpi_rules.days(report.start, report.end)
    totals = kpi_rules.by_day(report.table)
    tiers = [t for t in report.tiers if any(k[1] == t for k in report.table)]
    currencies = sorted({c for counts in totals.values() for c in counts.collected_minor})
    return {
        "days": [d.isoformat() for d in days],
        # Pairs, not a mapping: the page's JSON sorts keys, and tiers go in band order.
        "attempts": [
            [
                tier,
                [
                    report.table[(d, tier)].attempts if (d, tier) in report.table else 0
                    for d in days
                ],
            ]
            for tier in tiers
        ],
        "connect_rate": [_pct(totals[d].connect_rate) if d in totals else None for d in days],
        "right_party": [totals[d].right_party if d in totals else 0 for d in days],
        "promises": [totals[d].promises if d in totals else 0 for d in days],
        "kept_rate": [_pct(totals[d].promise_kept_rate) if d in totals else None for d in days],
        "collected": {
            c: [totals[d].collected_minor.get(c, 0) if d in totals else 0 for d in days]
            for c in currencies
        },
    }


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


# The preview reads every account a campaign works (about 10 s for 100,000): each process
# keeps a day's lines this long, so the pages that show accounts held back do not run it
# on every visit; the campaigns page's own preview always runs afresh.
# Loading, starting or pausing a campaign here forgets them (the app's copy, not another
# process's: those catch up within PREVIEW_KEPT).
PREVIEW_KEPT = dt.timedelta(minutes=5)
_preview_lock = threading.Lock()


def _kept() -> dict[dt.date, tuple[dt.datetime, list[PreviewRow]]]:
    kept: dict[dt.date, tuple[dt.datetime, list[PreviewRow]]] = current_app.extensions.setdefault(
        "desk_previews", {}
    )
    return kept


def _preview_of(day: dt.date) -> list[PreviewRow]:
    """The campaign preview of a day, from this app's copy if it is recent enough."""
    now = utcnow()
    with _preview_lock:
        previews = _kept()
        kept = previews.get(day)
        if kept is not None and now - kept[0] < PREVIEW_KEPT:
            return kept[1]
        with desk_runtime().Session.begin() as db:
            lines = _campaigns().preview(db, day, now)
        for old in [d for d, (at, _) in previews.items() if now - at >= PREVIEW_KEPT]:
            del previews[old]
        previews[day] = (now, lines)
        return lines


@bp.get("/sup/blocked")
@requires("supervisor")
def blocked() -> ResponseReturnValue:
    """Today's accounts not called, by tier and reason (the campaign preview), within the
    user's accounts, as JSON: the dashboard and the KPIs page fetch it after they load."""
    user = signed_in_user()
    day = utcnow().astimezone(user.zone).date()
    try:
        lines = _preview_of(day)
    except CampaignError as exc:
        return jsonify(error=str(exc), rows=[])
    if not user.is_bank_staff:
        with desk_runtime().Session.begin() as db:
            numbers = set(
                db.scalars(select(CardAccount.account_number).where(visible_accounts(user)))
            )
        lines = [line for line in lines if line.account_number in numbers]
    counts = kpi_rules.blocked_by_reason((ln.tier, ln.called, ln.reason) for ln in lines)
    return jsonify(
        day=day.isoformat(),
        rows=[[tier, reason, count] for (tier, reason), count in counts.items()],
    )


@bp.get("/sup")
@requires("supervisor")
def dashboard() -> ResponseReturnValue:
    """Today at a glance: the live figures (refreshed by polling) and today's KPIs."""
    user = signed_in_user()
    today = utcnow().astimezone(user.zone).date()
    with desk_runtime().Session.begin() as db:
        report = kpis(db, today, today, user.zone, scope=_scope(user))
    return render_template(
        "sup_dashboard.html",
        report=report,
        rows=rows_of(report),
        chart=_chart_data(report),
        today=today,
    )


@bp.get("/sup/live")
@requires("supervisor")
def live_figures() -> ResponseReturnValue:
    """The live figures as JSON, for the dashboard's polling."""
    user = signed_in_user()
    now = utcnow()
    scope = None if user.is_bank_staff else visible_accounts(user)
    with desk_runtime().Session.begin() as db:
        agents = [u for u in signed_in_users(db, now=now) if u.role == "agent"]
        if not user.is_bank_staff:
            agents = [u for u in agents if u.agency_id == user.agency_id]
        figures = live(db, now, scope=scope, agents_signed_in=len(agents))
    body = figures.as_json() | {"as_of": now.isoformat()}
    return jsonify(body)


@bp.get("/sup/kpis")
@requires("supervisor")
def kpi_page() -> ResponseReturnValue:
    """KPIs per day and tier over a range, as charts and tables, with roll rates."""
    user = signed_in_user()
    start, end, error = _range(user)
    with desk_runtime().Session.begin() as db:
        report = kpis(db, start, end, user.zone, scope=_scope(user))
    return render_template(
        "sup_kpis.html",
        report=report,
        rows=rows_of(report),
        chart=_chart_data(report),
        range_error=error,
        today=utcnow().astimezone(user.zone).date(),
    )


def _csv(lines: Any, name: str) -> Response:
    return Response(
        lines,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/sup/kpis.csv")
@requires("supervisor")
def kpis_csv() -> ResponseReturnValue:
    """The KPI table as CSV (one row per day and tier and a day's total)."""

    user = signed_in_user()
    start, end, error = _range(user)
    if error:
        return jsonify(error=error), 400
    with desk_runtime().Session.begin() as db:
        report = kpis(db, start, end, user.zone, scope=_scope(user))
    text = "".join(csv_line(row) for row in csv_lines(report))
    return _csv(iter([text]), f"kpis-{start}-{end}.csv")


@bp.get("/sup/attempts.csv")
@requires("supervisor")
def attempts_csv() -> ResponseReturnValue:
    """Every attempt in the range and its outcome, as CSV (numbers masked, local times)."""
    user = signed_in_user()
    start, end, error = _range(user)
    if error:
        return jsonify(error=error), 400
    scope = _scope(user)
    zone = user.zone
    # Streamed (an export may be large) from its own transaction; it needs no request.
    Session = desk_runtime().Session

    def lines() -> Any:
        yield csv_line(EXPORT_COLUMNS)
        after: int | None = 0
        while after is not None:
            with Session.begin() as db:
                chunk, after = export_chunk(db, start, end, zone, scope=scope, after_id=after)
            yield from chunk

    return _csv(lines(), f"attempts-{start}-{end}.csv")


# --- campaigns ----------------------------------------------------------------------------


@bp.get("/sup/campaigns")
@requires("supervisor")
def campaigns() -> ResponseReturnValue:
    """The campaigns with start and pause, the file upload, and today's preview."""
    user = signed_in_user()
    _bank_staff_only(user)
    now = utcnow()
    raw_day = request.args.get("day", "")
    today = now.astimezone(user.zone).date()
    try:
        day = kpi_rules.parse_day(raw_day, "day") or today
    except kpi_rules.RangeError:
        day = today
    preview_error = None
    with desk_runtime().Session.begin() as db:
        rows = _campaigns().campaigns(db)
        try:
            lines = _campaigns().preview(db, day, now) if rows else []
        except CampaignError as exc:
            lines, preview_error = [], str(exc)
        pacing = _campaigns().pacing_limits(db, lines)
    called = sum(1 for line in lines if line.called)
    return render_template(
        "sup_campaigns.html",
        campaigns=rows,
        lines=lines[:PREVIEW_ROWS_SHOWN],
        hidden=max(len(lines) - PREVIEW_ROWS_SHOWN, 0),
        called=called,
        total=len(lines),
        pacing=pacing,
        blocked=kpi_rules.blocked_by_reason((ln.tier, ln.called, ln.reason) for ln in lines),
        day=day,
        preview_error=preview_error,
    )


@bp.post("/sup/campaigns/load")
@requires("supervisor")
def load_campaigns() -> ResponseReturnValue:
    """Store an uploaded campaigns file (TOML); every problem shown with its key and line,
    nothing stored unless the whole file is right."""
    user = signed_in_user()
    _bank_staff_only(user)
    upload = request.files.get("file")
    problems: list[tuple[int, str, str]] = []
    error = ""
    if upload is None or not upload.filename:
        error = "choose a campaigns file (.toml) to load"
    else:
        raw = upload.read(MAX_CAMPAIGN_FILE_BYTES + 1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text, error = "", f"{upload.filename}: not UTF-8 text"
        if len(raw) > MAX_CAMPAIGN_FILE_BYTES:
            limit = MAX_CAMPAIGN_FILE_BYTES // 1024
            error = f"{upload.filename}: over {limit} KiB; not a campaigns file"
        if not error:
            with desk_runtime().Session.begin() as db:
                result = _campaigns().load(
                    db,
                    text,
                    caller_ids=desk_runtime().settings.caller_ids,
                    actor=f"desk:{user.username}",
                    now=utcnow(),
                )
            if result.stored:
                _kept().clear()
                flash(
                    "loaded: "
                    + ", ".join(
                        part
                        for part in (
                            f"created {', '.join(result.created)}" if result.created else "",
                            f"updated {', '.join(result.updated)}" if result.updated else "",
                            f"tiers {', '.join(result.tiers)}" if result.tiers else "",
                        )
                        if part
                    ),
                    "ok",
                )
                return redirect(url_for("desk.campaigns"))
            problems, error = list(result.problems), result.error
    return (
        render_template(
            "sup_campaign_problems.html",
            filename=upload.filename if upload else "",
            problems=problems,
            error=error,
        ),
        422,
    )


@bp.post("/sup/campaigns/<name>/start")
@requires("supervisor")
def start_campaign(name: str) -> ResponseReturnValue:
    """Let the dialer work a campaign (the next planning run queues its calls)."""
    return _set_status(name, "active")


@bp.post("/sup/campaigns/<name>/pause")
@requires("supervisor")
def pause_campaign(name: str) -> ResponseReturnValue:
    """Stop a campaign: its calls not yet dialled are cancelled (calls under way end)."""
    return _set_status(name, "paused")


def _set_status(name: str, status: str) -> ResponseReturnValue:
    user = signed_in_user()
    _bank_staff_only(user)
    try:
        with desk_runtime().Session.begin() as db:
            change = _campaigns().set_status(
                db, name, status, actor=f"desk:{user.username}", now=utcnow()
            )
    except CampaignError as exc:
        flash(str(exc), "error")
        return redirect(url_for("desk.campaigns"), 303)
    _kept().clear()
    done = f"{name}: {status}"
    flash(done + (f"; {change.said()}" if change.said() else ""), "ok")
    return redirect(url_for("desk.campaigns"), 303)


# --- compliance ---------------------------------------------------------------------------


def _page_number(raw: str | None) -> int:
    if not raw or not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        return 1
    return int(raw) or 1


@bp.get("/sup/compliance")
@requires("supervisor")
def compliance() -> ResponseReturnValue:
    """Open complaints and disputes against their SLA, and the audit log searched, paged,
    with the chain verified."""
    user = signed_in_user()
    now = utcnow()
    settings = desk_runtime().settings
    slas = sla_days(settings)
    scope = None if user.is_bank_staff else visible_accounts(user)
    args = request.args
    error = None
    start = end = None
    try:
        start = kpi_rules.parse_day(args.get("from"), "from")
        end = kpi_rules.parse_day(args.get("to"), "to")
    except kpi_rules.RangeError as exc:
        error = str(exc)
        start = end = None
    query = AuditQuery(
        actor=args.get("actor", "")[:100],
        action=args.get("action", "")[:64],
        entity=args.get("entity", "")[:64],
        start=start,
        end=end,
        page=_page_number(args.get("page")),
    )
    with desk_runtime().Session.begin() as db:
        cases = open_cases(db, now, slas, scope=scope)
        page = chain = None
        if user.is_bank_staff:
            page = search_audit(db, query, user.zone)
            chain = audit.verify_chain(db) if args.get("verify") else None
    return render_template(
        "sup_compliance.html",
        cases=cases,
        slas=slas,
        page=page,
        query=query,
        chain=chain,
        error=error,
        args={k: v for k, v in args.items() if k not in ("page", "verify")},
    )
