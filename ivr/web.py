"""The IVR's webhooks: the only IVR module that knows about Flask and HTTP.

Every route is signed (telephony.webhook: X-Twilio-Signature over PUBLIC_BASE_URL + path +
query, our AccountSid, every parameter cleaned, card numbers masked, shapes checked, so
anything malformed reads as no input), owns its transaction and answers TwiML as text/xml.
An unexpected error answers with a spoken apology and a way out, never a 500: the caller
would hear Twilio's "application error" instead.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.state import AGENT_QUEUE, Heard
from hotline.bootstrap import Runtime
from hotline.enums import Step
from hotline.facts import line_config
from hotline.models import IvrCall, utcnow
from ivr import service
from ivr.turns import Turns
from prompts.catalog import Catalog, load_all
from telephony.twiml import Links, Renderer, voices_from
from telephony.voice import Enqueue, Hangup, Say, Turn, Wait
from telephony.webhook import Signer, field, pay_result, twilio_request, twiml

log = logging.getLogger(__name__)
bp = Blueprint("ivr", __name__)

# Keyed by the step a request names (a str); Step's members are those strs.
SPEECH_MENUS: dict[str, str] = {
    Step.LANGUAGE: "language",
    Step.MENU: "menu",
    Step.PAY_CONFIRM: "confirm",
    Step.PROMISE_CONFIRM: "confirm",
    Step.PLAN_CONFIRM: "confirm",
    Step.OPTOUT: "optout",  # the confirm words, and "stop calling" is a yes there
}
_KEYS = re.compile(r"[^0-9*#]")
HOLD_PAUSE_SECONDS = 20

View = TypeVar("View", bound=Callable[..., ResponseReturnValue])


@dataclass(frozen=True)
class Line:
    """What the IVR shares across requests: policy, catalogues, the TwiML renderer."""

    runtime: Runtime
    config: service.LineConfig
    catalogs: dict[str, Catalog]
    renderer: Renderer
    signer: Signer
    clock: Callable[[], dt.datetime]

    def url(self, path: str) -> str:
        return self.runtime.settings.public_base_url.rstrip("/") + path

    @functools.cached_property
    def turns(self) -> Turns:
        return Turns(
            sessions=self.runtime.Session,
            config=self.config,
            renderer=self.renderer,
            links=self.links,
            gateway=self.runtime.gateway,
            catalogs=self.catalogs,
        )

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
    app.extensions["ivr"] = Line(
        runtime=runtime,
        config=line_config(settings),
        catalogs=catalogs,
        renderer=Renderer(
            catalogs, voices_from(settings.voice_en, settings.voice_zh), settings.payment_connector
        ),
        signer=Signer.of(
            settings.twilio_auth_token, settings.public_base_url, settings.twilio_account_sid
        ),
        clock=utcnow,
    )
    app.register_blueprint(bp, url_prefix="/ivr")


def line() -> Line:
    result: Line = current_app.extensions["ivr"]
    return result


signed = twilio_request(lambda: line().signer)


def _params() -> tuple[str, str]:
    return field("CallSid", 34), field("From", 64)


def _heard(step: str, language: str) -> Heard:
    """What the caller keyed or said at `step`, read safely; speech mapped to a key."""
    digits = _KEYS.sub("", request.form.get("Digits") or "")[:32]
    speech = " ".join(field("SpeechResult", 200).split())
    try:
        confidence: float | None = float(field("Confidence", 20))
    except ValueError:
        confidence = None
    key = None
    menu = SPEECH_MENUS.get(step)
    if speech and menu:
        catalogs = line().catalogs
        # At the language menu the caller may answer in either language; catalogues that
        # hear different choices ask again rather than pick the first.
        candidates = catalogs.values() if step == Step.LANGUAGE else [catalogs[language]]
        keys = {c.choice_for_speech(menu, speech) for c in candidates} - {None}
        key = keys.pop() if len(keys) == 1 else None
    return Heard(digits=digits, speech=speech, confidence=confidence, speech_key=key)


def _respond(run: Callable[[Any, dt.datetime], service.Reply]) -> Response:
    """Run one IVR turn (ivr.turns: its transaction, the recording around <Pay>, texts)."""
    current = line()
    call_sid, caller = _params()
    answer = current.turns.run(run, current.clock(), call_sid=call_sid, caller=caller)
    response = twiml(answer.xml)
    response.call_on_close(answer.afterwards)
    return response


@bp.post("/voice")
@signed
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
@signed
def step(step: str) -> ResponseReturnValue:
    """The caller's answer to the prompt of `step`."""
    call_sid, caller = _params()
    if not call_sid:
        return _apology("en")
    current = line()
    reservation = None
    if step == Step.VERIFY:
        # The keying is recorded as a failure and committed before the digits are checked,
        # so nothing that befalls the turn (a lock it cannot get) lets a guess go uncounted.
        digits = "".join(ch for ch in field("Digits", 40) if ch in "0123456789")
        with current.runtime.Session.begin() as session:
            reservation = service.reserve_verification(
                session,
                current.config,
                call_sid=call_sid,
                digits=digits,
                now=current.clock(),
                request=_request_token(),
            )

    def run(session: Session, now: dt.datetime) -> service.Reply:
        return service.answer(
            session,
            current.config,
            call_sid=call_sid,
            caller=caller,
            step=step,
            listen=_heard,
            now=now,
            reservation=reservation,
            request=_request_token(),
        )

    return _respond(run)


@bp.post("/pay")
@signed
def pay() -> ResponseReturnValue:
    """<Pay> is over: Result, confirmation code and masked card data only."""
    call_sid, caller = _params()
    if not call_sid:
        return _apology("en")
    current = line()
    # Which <Pay> this result answers: the token in the action URL it was given.
    form, token = pay_result()
    # The result is kept first, in a transaction of its own that waits on no account or
    # audit lock: if the turn below fails, a charged card is still on record and
    # `hotline payments reconcile` posts it.
    with current.runtime.Session.begin() as session:
        kept = service.keep_pay_result(
            session, current.config, call_sid=call_sid, form=form, token=token, now=current.clock()
        )
    try:
        return _respond(
            lambda session, now: service.pay_result(
                session,
                current.config,
                call_sid=call_sid,
                caller=caller,
                form=form,
                token=token,
                now=now,
            )
        )
    except Exception:
        if kept is not None and kept.charged:
            log.error(
                "charged <Pay> %s of call %s (%s minor units, confirmation ...%s) not posted;"
                " kept for `hotline payments reconcile`",
                token or "-",
                call_sid,
                kept.amount_minor,
                kept.confirmation[-4:],
            )
        raise


@bp.post("/recording")
@signed
def recording() -> ResponseReturnValue:
    """A recording's status callback: keep where the recording is, once per status."""
    call_sid = field("CallSid", 34)
    recording_sid = field("RecordingSid", 34)
    if call_sid and recording_sid:
        current = line()
        with current.runtime.Session.begin() as session:
            service.record_recording(
                session,
                call_sid=call_sid,
                recording_sid=recording_sid,
                status=field("RecordingStatus", 16),
                details={
                    name: field(name, 300)
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
@signed
def hold() -> ResponseReturnValue:
    """The queue's wait document: the caller's place in line, then a pause."""
    position = str(int(field("QueuePosition", 5) or "1"))  # ASCII digits, or none
    call_sid = _params()[0]
    _keep_queue(lambda session, now: service.waiting(session, call_sid=call_sid, now=now))
    turn = Turn((Say("queue_hold", {"position": position}),), Wait(HOLD_PAUSE_SECONDS))
    return _render(turn, _call_language(call_sid))


@bp.post("/queued")
@signed
def queued() -> ResponseReturnValue:
    """The caller left the queue (talked to an agent, or the queue failed)."""
    call_sid, result = _params()[0], field("QueueResult", 32)
    _keep_queue(
        lambda session, now: service.left_queue(session, call_sid=call_sid, result=result, now=now)
    )
    if request.form.get("QueueResult") in ("bridged", "hangup"):
        says: tuple[Say, ...] = (Say("goodbye"),)
    else:
        says = (Say("error_apology"), Say("goodbye"))
    return _render(Turn(says, Hangup()), _call_language(_params()[0]))


def _keep_queue(work: Callable[[Session, dt.datetime], None]) -> None:
    """Keep the desk's queue row of the call: never at the cost of the caller's hold music
    (what the caller hears does not depend on it; the desk catches up on the next request)."""
    current = line()
    if not field("CallSid", 34):
        return
    try:
        with current.runtime.Session.begin() as session:
            work(session, current.clock())
    except Exception as exc:
        log.error("IVR %s: the desk's queue row not kept (%s)", request.path, _db_reason(exc))


def _request_token() -> str:
    """Twilio's I-Twilio-Idempotency-Token: the same on every retry of one request."""
    raw = request.headers.get("I-Twilio-Idempotency-Token", "")[:64]
    return raw if raw.isascii() and raw.isprintable() else ""


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
        turn = Turn((Say("error_apology"), Say("transfer_notice")), Enqueue(AGENT_QUEUE))
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
        # In the call's language when the database can still say it; a database that is
        # the trouble is not asked again (its budget is spent), and the caller hears English.
        call_sid = field("CallSid", 34)
        language = "en" if isinstance(exc, _UNAVAILABLE) or not call_sid else None
        return _apology(language or _call_language(call_sid))
    except Exception:  # even the apology failed (e.g. no catalogue): still valid TwiML
        log.exception("IVR apology failed")
        return twiml('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>')
