"""Twilio's Queues and Members REST paths, with Twilio's JSON (simulator/web.py's blueprint).

Imported at the end of simulator/web.py, which owns the blueprint, its authentication and
its error handlers; the carrier's side is simulator/carrier/queues_rest.py.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from simulator.carrier import API_VERSION, QueueState, rfc2822
from simulator.carrier.queues_rest import Member
from simulator.web import ACCOUNT, _form, bp, carrier


def queue_json(state: QueueState) -> dict[str, Any]:
    account_sid = carrier().account_sid
    return {
        "sid": state.sid,
        "account_sid": account_sid,
        "friendly_name": state.name,
        "current_size": len(state.waiting),
        "max_size": state.max_size,
        "average_wait_time": carrier().average_wait(state),
        "date_created": rfc2822(state.created_at),
        "date_updated": rfc2822(state.updated_at),
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Queues/{state.sid}.json",
    }


def member_json(member: Member) -> dict[str, Any]:
    account_sid = carrier().account_sid
    return {
        "call_sid": member.call.sid,
        "queue_sid": member.queue.sid,
        "position": member.position,
        "wait_time": member.wait_time,
        "date_enqueued": rfc2822(member.enqueued_at),
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Queues/{member.queue.sid}"
        f"/Members/{member.call.sid}.json",
    }


def _page(key: str, items: list[dict[str, Any]], uri: str) -> ResponseReturnValue:
    """Twilio's list envelope (`queues`, `queue_members`) with PageSize and Page."""
    page_size = min(max(int(request.args.get("PageSize", "50") or 50), 1), 1000)
    page = max(int(request.args.get("Page", "0") or 0), 0)
    chunk = items[page * page_size : (page + 1) * page_size]
    has_next = (page + 1) * page_size < len(items)
    return jsonify(
        {
            key: chunk,
            "page": page,
            "page_size": page_size,
            "start": page * page_size,
            "end": page * page_size + max(len(chunk) - 1, 0),
            "uri": f"{uri}?PageSize={page_size}&Page={page}",
            "first_page_uri": f"{uri}?PageSize={page_size}&Page=0",
            "next_page_uri": f"{uri}?PageSize={page_size}&Page={page + 1}" if has_next else None,
            "previous_page_uri": f"{uri}?PageSize={page_size}&Page={page - 1}" if page else None,
        }
    )


@bp.get(f"{ACCOUNT}/Queues.json")
def list_queues(account_sid: str) -> ResponseReturnValue:
    """Every queue, oldest first; FriendlyName filters by name."""
    queues = carrier().list_queues()
    wanted = request.args.get("FriendlyName")
    if wanted:
        queues = [q for q in queues if q.name == wanted]
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Queues.json"
    return _page("queues", [queue_json(q) for q in queues], uri)


@bp.post(f"{ACCOUNT}/Queues.json")
def create_queue(account_sid: str) -> ResponseReturnValue:
    return jsonify(queue_json(carrier().create_queue(_form()))), 201


@bp.get(f"{ACCOUNT}/Queues/<sid>.json")
def fetch_queue(account_sid: str, sid: str) -> ResponseReturnValue:
    return jsonify(queue_json(carrier().queue_by_sid(sid)))


@bp.post(f"{ACCOUNT}/Queues/<sid>.json")
def update_queue(account_sid: str, sid: str) -> ResponseReturnValue:
    return jsonify(queue_json(carrier().update_queue(sid, _form())))


@bp.get(f"{ACCOUNT}/Queues/<sid>/Members.json")
def list_members(account_sid: str, sid: str) -> ResponseReturnValue:
    """The calls waiting, front first."""
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Queues/{sid}/Members.json"
    return _page("queue_members", [member_json(m) for m in carrier().members(sid)], uri)


@bp.get(f"{ACCOUNT}/Queues/<sid>/Members/<call_sid>.json")
def fetch_member(account_sid: str, sid: str, call_sid: str) -> ResponseReturnValue:
    """One waiting call, by CallSid or `Front`."""
    return jsonify(member_json(carrier().member(sid, call_sid)))


@bp.post(f"{ACCOUNT}/Queues/<sid>/Members/<call_sid>.json")
def dequeue_member(account_sid: str, sid: str, call_sid: str) -> ResponseReturnValue:
    """Take that caller (or the `Front`) out of the queue to the TwiML at Url."""
    return jsonify(member_json(carrier().dequeue_member(sid, call_sid, _form())))
