"""The IVR's webhooks: the only IVR module that knows about Flask and HTTP.

Every route checks X-Twilio-Signature over PUBLIC_BASE_URL + path + query (403 and a log
line otherwise), reads parameters with .get() and treats anything missing or malformed as
no input, owns its transaction, and answers TwiML as text/xml. An unexpected error answers
with a spoken apology and a way out, never a 500: the caller would hear Twilio's
"application error" instead.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from flask import Blueprint, Flask, Response, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from hotline.bootstrap import Runtime
from hotline.hours import parse_hours
from hotline.models import IvrCall, utcnow
from hotline.phones import mask_phone
from hotline.profiles import PROFILES
from ivr import flow, service
from ivr.flow import Heard
from prompts.catalog import Catalog, load_all
from telephony.gateway import GatewayError
from telephony.twiml import Links, Renderer, voices_from
from telephony.voice import Enqueue, Hangup, Say, Turn, Wait

log = logging.getLogger(__name__)
bp = Blueprint("ivr", __name__)

SPEECH_MENUS = {
    flow.LANGUAGE: "language",
    flow.MENU: "menu",
    flow.PAY_CONFIRM: "confirm",
    flow.PROMISE_CONFIRM: "confirm",
    flow.PLAN_CONFIRM: "confirm",
    flow.OPTOUT: "confirm",
}
_KEYS = re.compile(r"[^0-9*#]")
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
HOLD_PAUSE_SECONDS = 20

View = TypeVar("View", bound=Callable[..., ResponseReturnValue])


@dataclass(frozen=True)
class Line:
    """What the IVR shares across requests: policy, catalogues, the TwiML renderer."""

    runtime: Runtime
    config: service.LineConfig
    catalogs: dict[str, Catalog]
    renderer: Renderer
    validator: RequestValidator
    clock: Callable[[], dt.datetime]

    def url(self, path: str) -> str:
        return self.runtime.settings.public_base_url.rstrip("/") + path

    @property
    def links(self) -> Links:
        return Links(
            step=lambda step: self.url(f"/ivr/step/{step}"),
            pay_action=self.url("/ivr/pay"),
            hold=self.url("/ivr/hold"),
            queue_action=self.url("/ivr/queued"),
            recording_status=self.url("/ivr/recording"),
        )


def init_app(app: Flask, runtime: Runtime) -> None:
    settings = runtime.settings
    catalogs = load_all()  # fails at start, loudly, if the catalogues disagree
    profile = PROFILES[settings.profile]
    app.extensions["ivr"] = Line(
        runtime=runtime,
        config=service.LineConfig(
            bank=settings.bank_name,
            secret_key=settings.secret_key,
            agent_hours=parse_hours(settings.agent_hours),
            timezone=settings.default_timezone,
            profile=profile,
            record_calls=(
                profile.records_calls if settings.record_calls is None else settings.record_calls
            ),
            min_payment_minor=settings.min_payment_minor,
            promise_window_days=settings.promise_window_days,
            plan_min_balance_minor=settings.plan_min_balance_minor,
            plan_months=settings.plan_months,
            sms_confirmations=settings.sms_confirmations,
            caller_id=settings.caller_ids[0],
        ),
        catalogs=catalogs,
        renderer=Renderer(
            catalogs, voices_from(settings.voice_en, settings.voice_zh), settings.payment_connector
        ),
        validator=RequestValidator(settings.twilio_auth_token),
        clock=utcnow,
    )
    app.register_blueprint(bp, url_prefix="/ivr")


def line() -> Line:
    result: Line = current_app.extensions["ivr"]
    return result


def twiml(xml: str) -> Response:
    return Response(xml, mimetype="text/xml")


def twilio_request(view: View) -> View:
    """Refuse any request not signed by Twilio (or the simulator) with our auth token."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        current = line()
        # Sign what Twilio requested: the public URL, not request.url (a proxy may differ),
        # with the path as it was sent (Flask hands it over percent-decoded).
        query = request.query_string.decode("latin-1")
        url = current.url(quote(request.path, safe=_PATH_SAFE) + (f"?{query}" if query else ""))
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not current.validator.validate(url, request.form, signature):
            log.warning(
                "refused unsigned webhook %s from %s (signature %s)",
                request.path,
                request.remote_addr,
                "wrong" if signature else "missing",
            )
            return Response("Forbidden\n", status=403, mimetype="text/plain")
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def _field(name: str, limit: int) -> str:
    """A request parameter, trimmed and cut, without control characters (PostgreSQL refuses
    NUL in text, and nothing a carrier sends legitimately contains them)."""
    return _CONTROL.sub("", request.form.get(name) or "").strip()[:limit]


def _params() -> tuple[str, str]:
    return _field("CallSid", 34), _field("From", 64)


def _heard(step: str, language: str) -> Heard:
    """What the caller keyed or said at `step`, read safely; speech mapped to a key."""
    digits = _KEYS.sub("", request.form.get("Digits") or "")[:32]
    speech = " ".join(_field("SpeechResult", 200).split())
    try:
        confidence: float | None = float(_field("Confidence", 20))
    except ValueError:
        confidence = None
    key = None
    menu = SPEECH_MENUS.get(step)
    if speech and menu:
        catalogs = line().catalogs
        # At the language menu the caller may answer in either language.
        candidates = catalogs.values() if step == flow.LANGUAGE else [catalogs[language]]
        key = next((k for c in candidates if (k := c.choice_for_speech(menu, speech))), None)
    return Heard(digits=digits, speech=speech, confidence=confidence, speech_key=key)


def _respond(run: Callable[[Any, dt.datetime], service.Reply]) -> Response:
    """Run one IVR turn in a transaction; render and remember it; send SMS after commit."""
    current = line()
    now = current.clock()
    with current.runtime.Session.begin() as session:
        reply = run(session, now)
        if reply.replay is not None:
            xml = reply.replay
        else:
            assert reply.outcome is not None
            xml = current.renderer.render(reply.outcome.turn, reply.language, current.links)
            service.remember(session, reply.call, reply.outcome.state, xml, now)
    for sms in reply.outbox:
        body = current.catalogs[sms.language].render(sms.key, sms.params)
        try:
            current.runtime.gateway.send_sms(sms.to, sms.from_, body)
        except (GatewayError, OSError):
            log.warning("confirmation SMS to %s not sent", mask_phone(sms.to), exc_info=True)
    return twiml(xml)


@bp.post("/voice")
@twilio_request
def voice() -> ResponseReturnValue:
    """A call to the hotline: identify the caller, or ask for language and account."""
    call_sid, caller = _params()
    if not call_sid:
        return _apology("en")
    current = line()
    return _respond(
        lambda session, now: service.begin(
            session, current.config, call_sid=call_sid, caller=caller, now=now
        )
    )


@bp.post("/step/<step>")
@twilio_request
def step(step: str) -> ResponseReturnValue:
    """The caller's answer to the prompt of `step`."""
    call_sid, caller = _params()
    if not call_sid:
        return _apology("en")
    current = line()

    def run(session: Any, now: dt.datetime) -> service.Reply:
        return service.answer(
            session,
            current.config,
            current.runtime.gateway,
            call_sid=call_sid,
            caller=caller,
            step=step,
            listen=_heard,
            now=now,
        )

    return _respond(run)


@bp.post("/pay")
@twilio_request
def pay() -> ResponseReturnValue:
    """<Pay> is over: Result, confirmation code and masked card data only."""
    call_sid, caller = _params()
    if not call_sid:
        return _apology("en")
    current = line()
    form = {
        name: _field(name, 200)
        for name in (
            "Result",
            "PaymentConfirmationCode",
            "PaymentCardType",
            "PaymentCardNumber",
            "PaymentError",
        )
    }
    return _respond(
        lambda session, now: service.pay_result(
            session,
            current.config,
            current.runtime.gateway,
            call_sid=call_sid,
            caller=caller,
            form=form,
            now=now,
        )
    )


@bp.post("/recording")
@twilio_request
def recording() -> ResponseReturnValue:
    """A recording's status callback: keep where the recording is, once per status."""
    call_sid = _field("CallSid", 34)
    recording_sid = _field("RecordingSid", 34)
    if call_sid and recording_sid:
        current = line()
        with current.runtime.Session.begin() as session:
            service.record_recording(
                session,
                call_sid=call_sid,
                recording_sid=recording_sid,
                status=_field("RecordingStatus", 16),
                details={
                    name: _field(name, 300)
                    for name in (
                        "RecordingUrl",
                        "RecordingDuration",
                        "RecordingStartTime",
                        "RecordingSource",
                        "RecordingChannels",
                    )
                },
                now=current.clock(),
            )
    return Response(status=204)


@bp.post("/hold")
@twilio_request
def hold() -> ResponseReturnValue:
    """The queue's wait document: the caller's place in line, then a pause."""
    position = "".join(ch for ch in _field("QueuePosition", 8) if ch.isdigit()) or "1"
    turn = Turn((Say("queue_hold", {"position": position}),), Wait(HOLD_PAUSE_SECONDS))
    return _render(turn, _call_language(_params()[0]))


@bp.post("/queued")
@twilio_request
def queued() -> ResponseReturnValue:
    """The caller left the queue (talked to an agent, or the queue failed)."""
    if request.form.get("QueueResult") in ("bridged", "hangup"):
        says: tuple[Say, ...] = (Say("goodbye"),)
    else:
        says = (Say("error_apology"), Say("goodbye"))
    return _render(Turn(says, Hangup()), _call_language(_params()[0]))


def _call_language(call_sid: str) -> str:
    """The language a call has been speaking, for the requests that carry no state."""
    current = line()
    try:
        with current.runtime.Session() as session:
            language = session.scalar(select(IvrCall.language).where(IvrCall.call_sid == call_sid))
    except _UNAVAILABLE as exc:
        # Only the words' language is at stake: keep the caller on hold, in English, rather
        # than answer a queue's wait URL with the apology (Enqueue is not allowed there).
        log.error("IVR %s: call language unknown, %s", request.path, _db_reason(exc))
        return "en"
    return language or "en"


def _render(turn: Turn, language: str) -> Response:
    current = line()
    known = language if language in current.catalogs else "en"
    return twiml(current.renderer.render(turn, known, current.links))


def _apology(language: str) -> Response:
    """Something went wrong on our side: say so, and hand over to a person if we can."""
    current = line()
    if current.config.agent_hours.open_at(current.clock(), current.config.timezone):
        turn = Turn((Say("error_apology"), Say("transfer_notice")), Enqueue(flow.AGENT_QUEUE))
    else:
        turn = Turn((Say("error_apology"), Say("goodbye")), Hangup())
    return _render(turn, language)


# The database is down, hung or busy past the request's budget (hotline.db.deadline).
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.TimeoutError, sa_exc.DisconnectionError)


def _db_reason(exc: Exception) -> str:
    """One line on why the database failed: the driver's first line, never the statement
    or its parameters (they may hold a caller's number)."""
    cause = getattr(exc, "orig", None) or exc.__cause__ or exc
    first = (str(cause).strip().splitlines() or [""])[0][:200]
    return f"database unavailable ({type(cause).__name__}: {first})"


@bp.errorhandler(Exception)
def failed(exc: Exception) -> ResponseReturnValue:
    if isinstance(exc, _UNAVAILABLE):
        # One line each: while the database is sick every call fails the same way.
        log.error("IVR webhook %s failed: %s", request.path, _db_reason(exc))
    else:
        log.error("IVR webhook %s failed", request.path, exc_info=exc)
    try:
        return _apology("en")
    except Exception:  # even the apology failed (e.g. no catalogue): still valid TwiML
        log.exception("IVR apology failed")
        return twiml('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>')
