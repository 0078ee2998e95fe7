"""The simulator's SMS paths: Twilio's Messages resource, and texting the line (/sim/sms).

A blueprint of its own beside simulator/web.py's, with the same authentication and error
body, so the Messages API reads as one piece.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from simulator.carrier import API_VERSION, ApiError, Message, rfc2822
from simulator.carrier.call_list import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, whole_number
from simulator.web import ACCOUNT, _form, api_error, authenticate, carrier, json_object

bp = Blueprint("messaging", __name__)
bp.before_request(authenticate)
bp.register_error_handler(ApiError, api_error)


def message_json(account_sid: str, message: Message) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message.sid}"
    return {
        "sid": message.sid,
        "account_sid": account_sid,
        "messaging_service_sid": message.messaging_service_sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": message.status,
        "direction": message.direction,
        "api_version": API_VERSION,
        "num_segments": str(message.num_segments),
        "num_media": "0",
        "date_created": rfc2822(message.created_at),
        "date_updated": rfc2822(message.at()),
        "date_sent": rfc2822(message.at(message.sent_offset))
        if message.sent_offset is not None
        else None,
        "price": None,
        "price_unit": "USD",
        "error_code": message.error_code,
        "error_message": message.error_message,
        "uri": f"{uri}.json",
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
    }


def page(
    key: str, items: list[dict[str, Any]], uri: str, filters: tuple[tuple[str, str], ...] = ()
) -> dict[str, Any]:
    """One page of a list in Twilio's envelope (`PageSize`, `Page`; the SDK follows
    `next_page_uri`, which repeats the list's `filters` as Twilio's does)."""
    args = request.args.to_dict()
    page_size = min(max(whole_number(args, "PageSize", DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
    number = max(whole_number(args, "Page", 0), 0)
    chunk = items[number * page_size : (number + 1) * page_size]
    has_next = (number + 1) * page_size < len(items)

    def link(page_number: int) -> str:
        params = [*filters, ("PageSize", str(page_size)), ("Page", str(page_number))]
        return f"{uri}?{urlencode(params)}"

    return {
        key: chunk,
        "page": number,
        "page_size": page_size,
        "start": number * page_size,
        "end": number * page_size + max(len(chunk) - 1, 0),
        "uri": link(number),
        "first_page_uri": link(0),
        "next_page_uri": link(number + 1) if has_next else None,
        "previous_page_uri": link(number - 1) if number else None,
    }


@bp.post(f"{ACCOUNT}/Messages.json")
def create_message(account_sid: str) -> ResponseReturnValue:
    """Send an SMS: 201 with the message as created, then delivery on the carrier clock."""
    sim = carrier()
    return jsonify(message_json(sim.account_sid, sim.send_message(_form()))), 201


@bp.get(f"{ACCOUNT}/Messages.json")
def list_messages(account_sid: str) -> ResponseReturnValue:
    """Messages newest first, filtered by To and From, in Twilio's page envelope."""
    sim = carrier()
    messages = sim.list_messages()
    filters = []
    for name, attribute in (("To", "to"), ("From", "from_")):
        wanted = request.args.get(name)
        if wanted:
            messages = [m for m in messages if getattr(m, attribute) == wanted]
            filters.append((name, wanted))
    return jsonify(
        page(
            "messages",
            [message_json(sim.account_sid, m) for m in messages],
            f"/{API_VERSION}/Accounts/{account_sid}/Messages.json",
            tuple(filters),
        )
    )


@bp.get(f"{ACCOUNT}/Messages/<sid>.json")
def fetch_message(account_sid: str, sid: str) -> ResponseReturnValue:
    sim = carrier()
    return jsonify(message_json(sim.account_sid, sim.get_message(sid)))


@bp.post("/sim/sms")
def text_line() -> ResponseReturnValue:
    """Text the line as a person: {"from": E164, "body": "STOP", "to": optional line}.

    Answers once the app has answered, with the text and the replies it got.
    """
    body = json_object()
    texter, text = str(body.get("from") or ""), body.get("body")
    if not texter:
        raise ApiError(400, 21212, "from is required")
    if not isinstance(text, str) or not text:
        raise ApiError(400, 21602, "body is required")
    sim = carrier()
    inbound, replies = sim.text_line(texter, text, body.get("to"))
    with sim._lock:
        events = list(inbound.events)
    return jsonify(
        message=message_json(sim.account_sid, inbound),
        events=events,
        replies=[message_json(sim.account_sid, r) for r in replies],
    ), 201


@bp.get("/sim/messages")
def sim_messages() -> ResponseReturnValue:
    """Every message, oldest first, with what happened to it (status steps, webhooks)."""
    sim = carrier()
    with sim._lock:
        listed = [(m, list(m.events)) for m in sim.messages]
    return jsonify(
        messages=[{**message_json(sim.account_sid, m), "events": events} for m, events in listed]
    )
