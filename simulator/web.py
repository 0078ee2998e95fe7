"""The simulator's HTTP face: Twilio's REST paths and JSON, plus a /sim control API.

`/2010-04-01/...` answers as api.twilio.com does (HTTP Basic auth, form bodies, Twilio's
JSON shapes and error bodies), so the unmodified `twilio` SDK talks to it. `/sim/...` is the
simulator's own API for what Twilio has no API for: ringing the hotline as a caller,
scripting callees, reading transcripts, moving the virtual clock.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hmac
import threading
import time
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from simulator.callees import CalleeMix, InteractiveParty, Party, Script, ScriptError, Step
from simulator.carrier import (
    API_VERSION,
    ApiError,
    Carrier,
    SimCall,
    SimRecording,
    rfc2822,
)
from simulator.carrier.call_list import page_envelope
from simulator.carrier.delivery import CallbackDelivery
from simulator.clock import VirtualClock

bp = Blueprint("simulator", __name__)


class RateLimiter:
    """A token bucket over the REST API, answering 429 / 20429 when it runs dry."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second, self.burst = per_second, burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_second)
            self.updated = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


def create_simulator_app(
    carrier: Carrier, *, requests_per_second: float = 100.0, burst: int = 100
) -> Flask:
    app = Flask(__name__)
    app.extensions["carrier"] = carrier
    app.extensions["rate_limiter"] = RateLimiter(requests_per_second, burst)
    app.register_blueprint(bp)
    # Imported here: the SMS paths build on this module's authentication and errors.
    from simulator import web_messaging

    app.register_blueprint(web_messaging.bp)
    return app


def carrier() -> Carrier:
    result: Carrier = current_app.extensions["carrier"]
    return result


def error(status: int, code: int, message: str) -> ResponseReturnValue:
    """Twilio's legacy 2010 error body (no type/title, or the SDK raises another class)."""
    return jsonify(
        code=code,
        message=message,
        status=status,
        more_info=f"https://www.twilio.com/docs/errors/{code}",
    ), status


@bp.errorhandler(ApiError)
def api_error(exc: ApiError) -> ResponseReturnValue:
    return error(exc.status, exc.code, exc.message)


@bp.app_errorhandler(404)
def not_served(_exc: Exception) -> ResponseReturnValue:
    """A path the simulator does not serve answers as Twilio answers an unknown resource
    (JSON, code 20404), so the SDK raises TwilioRestException, not a parsing error."""
    return error(404, 20404, f"The requested resource {request.path} was not found")


@bp.app_errorhandler(405)
def method_not_allowed(_exc: Exception) -> ResponseReturnValue:
    return error(405, 20004, f"Method not allowed on {request.path}")


@bp.before_request
def authenticate() -> ResponseReturnValue | None:
    """HTTP Basic with the account SID and auth token, on every path, like Twilio."""
    sim = carrier()
    header = request.headers.get("Authorization", "")
    user, password = "", ""
    if header.startswith("Basic "):
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    path_account = (request.view_args or {}).get("account_sid", sim.account_sid)
    if not (
        hmac.compare_digest(user, sim.account_sid)
        and hmac.compare_digest(password, sim.auth_token)
        and path_account == sim.account_sid
    ):
        return error(401, 20003, "Authenticate")
    if (
        request.path.startswith("/2010-04-01")
        and not current_app.extensions["rate_limiter"].allow()
    ):
        return error(429, 20429, "Too Many Requests")
    return None


def json_object() -> dict[str, Any]:
    """A /sim request's JSON body: an object, or nothing ({}); anything else is a 400."""
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, 21200, "the body must be a JSON object")
    return body


def _form() -> dict[str, list[str]]:
    return {key: request.form.getlist(key) for key in request.form}


def call_json(call: SimCall) -> dict[str, Any]:
    base = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "parent_call_sid": call.parent_call_sid,
        "account_sid": call.account_sid,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_,
        "from_formatted": call.from_,
        "phone_number_sid": None,
        "status": call.status,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": str(call.duration) if call.duration is not None else None,
        "price": None,
        "price_unit": "USD",
        "direction": call.direction,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": str(call.queue_time_ms),
        "trunk_sid": None,
        "uri": f"{base}.json",
        "subresource_uris": {
            name: f"{base}/{name.title().replace('_', '')}.json"
            for name in ("notifications", "recordings", "payments", "events", "streams")
        },
    }


def recording_json(recording: SimRecording) -> dict[str, Any]:
    account_sid = carrier().account_sid
    return {
        "sid": recording.sid,
        "account_sid": account_sid,
        "call_sid": recording.call_sid,
        "conference_sid": None,
        "api_version": API_VERSION,
        "date_created": rfc2822(recording.started_at),
        "date_updated": rfc2822(recording.updated_at),
        "start_time": rfc2822(recording.started_at),
        "duration": str(recording.duration()) if recording.status == "completed" else "-1",
        "price": None,
        "price_unit": "USD",
        "status": recording.status,
        "channels": recording.channels,
        "source": recording.source,
        "track": recording.track,
        "error_code": None,
        "encryption_details": None,
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Calls/{recording.call_sid}"
        f"/Recordings/{recording.sid}.json",
    }


# --- Twilio's REST API --------------------------------------------------------------------

ACCOUNT = f"/{API_VERSION}/Accounts/<account_sid>"


@bp.post(f"{ACCOUNT}/Calls.json")
def create_call(account_sid: str) -> ResponseReturnValue:
    """Create an outbound call (queued at the account's calls-per-second)."""
    return jsonify(call_json(carrier().create_call(_form()))), 201


@bp.get(f"{ACCOUNT}/Calls.json")
def list_calls(account_sid: str) -> ResponseReturnValue:
    """List calls, newest first, with Twilio's filters, page tokens and envelope."""
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls.json"
    return jsonify(page_envelope(carrier().listed_calls(), request.args.to_dict(), uri, call_json))


@bp.get(f"{ACCOUNT}/Calls/<sid>.json")
def fetch_call(account_sid: str, sid: str) -> ResponseReturnValue:
    """Fetch one call."""
    return jsonify(call_json(carrier().get(sid)))


@bp.post(f"{ACCOUNT}/Calls/<sid>.json")
def update_call(account_sid: str, sid: str) -> ResponseReturnValue:
    """Redirect a live call, or end it (Status=completed|canceled)."""
    return jsonify(call_json(carrier().update_call(sid, _form())))


@bp.post(f"{ACCOUNT}/Calls/<sid>/Recordings.json")
def start_recording(account_sid: str, sid: str) -> ResponseReturnValue:
    """Start recording a call in progress."""
    return jsonify(recording_json(carrier().start_recording(sid, _form()))), 201


@bp.post(f"{ACCOUNT}/Calls/<sid>/Recordings/<recording_sid>.json")
def update_recording(account_sid: str, sid: str, recording_sid: str) -> ResponseReturnValue:
    """Pause, resume or stop a call's recording (`Twilio.CURRENT`: the one running)."""
    return jsonify(recording_json(carrier().update_recording(sid, recording_sid, _form())))


# --- the simulator's own API --------------------------------------------------------------


@bp.post("/sim/inbound")
def inbound() -> ResponseReturnValue:
    """Ring the hotline as a caller: {"from": E164, "keys": "1234#,1"} or a script."""
    body = json_object()
    caller = str(body.get("from") or "")
    if not caller:
        raise ApiError(400, 21201, "from is required")
    party: Party
    try:
        if body.get("interactive"):
            party = InteractiveParty()
        else:
            script = dict(body.get("script") or {})
            if body.get("keys") is not None:
                script["keys"] = body["keys"]
            party = Party(Script.from_dict(script))
    except (ScriptError, TypeError, ValueError) as exc:
        raise ApiError(400, 21205, f"script: {exc}") from None
    call = carrier().start_inbound(caller, body.get("to"), party)
    return jsonify(call_json(call)), 201


@bp.post("/sim/calls/<sid>/input")
def give_input(sid: str) -> ResponseReturnValue:
    """Keys (or speech) from the softphone for the prompt now waiting."""
    call = carrier().get(sid)
    if not isinstance(call.party, InteractiveParty):
        raise ApiError(400, 21220, "call is not interactive")
    body = json_object()
    call.party.give(Step(press=str(body.get("digits", "")), say=body.get("speech")))
    return jsonify(ok=True)


@bp.get("/sim/calls")
def sim_calls() -> ResponseReturnValue:
    """Every call with its status, newest first."""
    return jsonify(calls=[_summary(c) for c in carrier().list_calls()])


@bp.get("/sim/calls/<sid>")
def sim_call(sid: str) -> ResponseReturnValue:
    """A call's transcript; `?since=N` returns entries from index N on (for polling)."""
    call = carrier().get(sid)
    since = max(int(request.args.get("since", "0") or 0), 0)
    return jsonify(
        {
            **_summary(call),
            "recordings": [
                {
                    "sid": r.sid,
                    "status": r.status,
                    "source": r.source,
                    "recorded_seconds": [[round(a, 2), round(b, 2)] for a, b in r.spans],
                }
                for r in call.recordings
            ],
            "card_data_recorded": call.card_data_recorded,
            "transcript": [e.as_dict() for e in call.transcript[since:]],
            "next": len(call.transcript),
        }
    )


@bp.put("/sim/numbers/<number>")
def put_script(number: str) -> ResponseReturnValue:
    """Script how a number behaves when called."""
    try:
        carrier().scripts[number] = Script.from_dict(json_object())
    except ScriptError as exc:
        raise ApiError(400, 21205, f"script: {exc}") from None
    return jsonify(carrier().scripts[number].to_dict())


@bp.delete("/sim/numbers/<number>")
def delete_script(number: str) -> ResponseReturnValue:
    carrier().scripts.pop(number, None)
    return "", 204


@bp.put("/sim/mix")
def put_mix() -> ResponseReturnValue:
    """A seeded statistical mix of callee behaviours for numbers without a script."""
    body = json_object()
    weights = body.get("weights")
    try:
        carrier().mix = CalleeMix(
            seed=int(body.get("seed", 1)), **({"weights": weights} if weights else {})
        )
    except (TypeError, ValueError) as exc:
        raise ApiError(400, 21200, f"mix: {exc}") from None
    return jsonify(ok=True)


@bp.put("/sim/queues/<name>")
def put_queue(name: str) -> ResponseReturnValue:
    """{"agent_answers_after": seconds}: a simulated agent takes callers after that wait."""
    after = json_object().get("agent_answers_after")
    try:
        wait = float(after) if after is not None else None
    except (TypeError, ValueError):
        raise ApiError(400, 21200, "agent_answers_after: a number of seconds") from None
    state = carrier().configure_queue(name, wait)
    return jsonify(
        name=state.name,
        sid=state.sid,
        waiting=len(state.waiting),
        agent_answers_after=state.agent_answers_after,
    )


@bp.post("/sim/queues/<name>/dequeue")
def dequeue(name: str) -> ResponseReturnValue:
    """An agent answers the first caller waiting in a queue."""
    call = carrier().dequeue(name, agent=str(json_object().get("agent", "client:agent")))
    if call is None:
        raise ApiError(404, 20404, f"no caller waiting in queue {name!r}")
    return jsonify(_summary(call))


@bp.get("/sim/config")
def get_config() -> ResponseReturnValue:
    """The carrier's settings that the /sim API can change."""
    sim = carrier()
    return jsonify(list_lag_seconds=sim.list_lag_seconds, callbacks=sim.callback_delivery.as_dict())


@bp.put("/sim/config")
def put_config() -> ResponseReturnValue:
    """Change some settings; all or nothing:
    {"list_lag_seconds": 2}: new calls join GET Calls.json only that long after creation;
    {"callbacks": {"mode": "chaotic", "seed": 7, ...}}: how callbacks are delivered."""
    body = json_object()
    sim = carrier()
    lag = sim.list_lag_seconds
    if "list_lag_seconds" in body:
        try:
            lag = float(body["list_lag_seconds"])
        except (TypeError, ValueError):
            lag = -1.0
        if not lag >= 0:  # also refuses NaN
            raise ApiError(400, 21200, "list_lag_seconds: a number of seconds, 0 or more")
    delivery = sim.callback_delivery
    if "callbacks" in body:
        try:
            delivery = CallbackDelivery.from_dict(body["callbacks"] or {})
        except (TypeError, ValueError) as exc:
            raise ApiError(400, 21205, f"callbacks: {exc}") from None
    sim.list_lag_seconds, sim.callback_delivery = lag, delivery
    return get_config()


@bp.get("/sim/clock")
def get_clock() -> ResponseReturnValue:
    clock = carrier().clock
    return jsonify(now=clock.now().isoformat(), virtual=clock.virtual)


@bp.post("/sim/clock")
def set_clock() -> ResponseReturnValue:
    """Move the virtual clock: {"advance": seconds} or {"now": ISO time}."""
    clock = carrier().clock
    if not isinstance(clock, VirtualClock):
        raise ApiError(400, 21220, "the simulator runs on real time")
    body = json_object()
    try:
        now = dt.datetime.fromisoformat(str(body["now"])) if "now" in body else None
        advance = float(body.get("advance", 0))
    except (TypeError, ValueError) as exc:
        raise ApiError(400, 21200, f"clock: {exc}") from None
    if now is not None:
        clock.set(now)
    clock.advance(advance)
    return jsonify(now=clock.now().isoformat(), virtual=True)


def _summary(call: SimCall) -> dict[str, Any]:
    waiting = isinstance(call.party, InteractiveParty) and call.party.waiting.is_set()
    return {
        "sid": call.sid,
        "direction": call.direction,
        "from": call.from_,
        "to": call.to,
        "status": call.status,
        "answered_by": call.answered_by,
        "duration": call.duration,
        "created": call.created_at.isoformat(),
        "error_code": call.error_code,
        "awaiting_input": waiting,
        "done": call.done.is_set(),
    }


# Twilio's Queues and Members paths live in their own module, on this blueprint.
import simulator.web_queues  # noqa: E402, F401
