"""The outbound call's webhooks: the only dialer module that knows about Flask and HTTP.

Routes (under /dialer; dialer.urls builds the ones the carrier is given when the call is
placed, the others come back in the TwiML): answer, step/<step> (<Gather> actions), pay
(<Pay> action, one token per <Pay>), status (status callbacks), hold and queued (the agent
queue). Every route is signed (telephony.webhook: the signature covers the query, so the
attempt id cannot be changed), names its attempt in `?attempt=<id>`, owns its transaction
and answers TwiML as text/xml. An unknown attempt, or one that is another call's, gets a
hangup; an unknown CallSid's status callback gets 204 and a log line. Nothing answers 500:
an unexpected error ends the call with an apology (the callee would otherwise hear
Twilio's "application error"), and a status callback that could not be kept is logged and
left to the dialer's reconciling (it fetches calls whose callbacks are overdue).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from dialer import outcomes, service
from dialer.calls import state_data
from dialer.outcomes import Status
from dialer.turns import Turns
from dialer.urls import PREFIX, attempt_query
from flows.state import AGENT_QUEUE, Heard
from hotline.bootstrap import Runtime
from hotline.enums import Step
from hotline.facts import line_config
from hotline.models import ContactAttempt, utcnow
from prompts.catalog import Catalog, load_all
from telephony.twiml import Links, Renderer, voices_from
from telephony.voice import Enqueue, Hangup, Say, Turn, Wait
from telephony.webhook import Signer, field, pay_result, twilio_request, twiml

log = logging.getLogger(__name__)
bp = Blueprint("dialer", __name__)

# The shared steps that also take speech (their read-backs); the dialer's own menus are
# keys only, so "pay" said at the dialer's menu is never taken for the IVR's key 2.
SPEECH_MENUS: dict[str, str] = {
    Step.PAY_CONFIRM: "confirm",
    Step.PROMISE_CONFIRM: "confirm",
    Step.OPTOUT: "optout",
}
_KEYS = re.compile(r"[^0-9*#]")
HOLD_PAUSE_SECONDS = 20


@dataclass(frozen=True)
class Line:
    """What the outbound line shares across requests."""

    runtime: Runtime
    config: service.DialerConfig
    catalogs: dict[str, Catalog]
    renderer: Renderer
    signer: Signer
    clock: Callable[[], dt.datetime]

    def url(self, path: str, attempt_id: int) -> str:
        base = self.runtime.settings.public_base_url.rstrip("/")
        return f"{base}{PREFIX}{path}?{attempt_query(attempt_id)}"

    def links(self, attempt_id: int) -> Links:
        return Links(
            step=lambda step: self.url(f"/step/{step}", attempt_id),
            pay_action=self.url("/pay", attempt_id),
            hold=self.url("/hold", attempt_id),
            queue_action=self.url("/queued", attempt_id),
            recording_status=self.url("/recording", attempt_id),
        )

    @functools.cached_property
    def turns(self) -> Turns:
        return Turns(
            sessions=self.runtime.Session,
            renderer=self.renderer,
            links=self.links,
            gateway=self.runtime.gateway,
            catalogs=self.catalogs,
        )


def init_app(app: Flask, runtime: Runtime) -> None:
    settings = runtime.settings
    catalogs = load_all()
    names = {"en": settings.voicemail_name, "zh-CN": settings.voicemail_name_zh}
    app.extensions["dialer"] = Line(
        runtime=runtime,
        config=service.DialerConfig(
            line=line_config(settings),
            callback_number=settings.caller_ids[0],
            voicemail_names={language: name for language, name in names.items() if name},
        ),
        catalogs=catalogs,
        renderer=Renderer(
            catalogs, voices_from(settings.voice_en, settings.voice_zh), settings.payment_connector
        ),
        signer=Signer.of(
            settings.twilio_auth_token, settings.public_base_url, settings.twilio_account_sid
        ),
        clock=utcnow,
    )
    app.register_blueprint(bp, url_prefix=PREFIX)


def line() -> Line:
    result: Line = current_app.extensions["dialer"]
    return result


signed = twilio_request(lambda: line().signer)


def _attempt_id() -> int | None:
    raw = request.args.get("attempt", "")[:12]
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _request_token() -> str:
    """Twilio's I-Twilio-Idempotency-Token: the same on every retry of one request."""
    raw = request.headers.get("I-Twilio-Idempotency-Token", "")[:64]
    return raw if raw.isascii() and raw.isprintable() else ""


def _heard(step: str, language: str) -> Heard:
    digits = _KEYS.sub("", request.form.get("Digits") or "")[:32]
    speech = " ".join(field("SpeechResult", 200).split())
    try:
        confidence: float | None = float(field("Confidence", 20))
    except ValueError:
        confidence = None
    menu = SPEECH_MENUS.get(step)
    key = line().catalogs[language].choice_for_speech(menu, speech) if speech and menu else None
    return Heard(digits=digits, speech=speech, confidence=confidence, speech_key=key)


def _respond(use_case: Callable[[Session, dt.datetime], service.Reply]) -> Response:
    current = line()
    answer = current.turns.run(use_case, current.clock())
    response = twiml(answer.xml)
    response.call_on_close(answer.afterwards)
    return response


@bp.post("/answer")
@signed
def answer() -> ResponseReturnValue:
    """The call was answered: the right-party check, the voicemail, or (fax) a hangup."""
    current, attempt_id, call_sid = line(), _attempt_id(), field("CallSid", 34)
    return _respond(
        lambda session, now: service.answer(
            session,
            current.config,
            attempt_id=attempt_id,
            call_sid=call_sid,
            answered_by=field("AnsweredBy", 32),
            now=now,
            request=_request_token(),
        )
    )


@bp.post("/step/<step>")
@signed
def step(step: str) -> ResponseReturnValue:
    """The person's answer to the prompt of `step`."""
    current, attempt_id, call_sid = line(), _attempt_id(), field("CallSid", 34)
    return _respond(
        lambda session, now: service.step(
            session,
            current.config,
            attempt_id=attempt_id,
            call_sid=call_sid,
            step=step,
            listen=_heard,
            now=now,
            request=_request_token(),
        )
    )


@bp.post("/pay")
@signed
def pay() -> ResponseReturnValue:
    """<Pay> is over: Result, confirmation code and masked card data only."""
    current, attempt_id, call_sid = line(), _attempt_id(), field("CallSid", 34)
    # Which <Pay> this result answers: the token in the action URL it was given.
    form, token = pay_result()
    # Kept first, in a transaction of its own, so that a charged card is on record for
    # `hotline payments reconcile` whatever befalls the turn below.
    with current.runtime.Session.begin() as session:
        service.keep_pay_result(
            session,
            attempt_id=attempt_id,
            call_sid=call_sid,
            form=form,
            token=token,
            now=current.clock(),
        )
    return _respond(
        lambda session, now: service.pay_result(
            session,
            current.config,
            attempt_id=attempt_id,
            call_sid=call_sid,
            form=form,
            token=token,
            now=now,
        )
    )


@bp.post("/status")
@signed
def status() -> ResponseReturnValue:
    """A status callback: the attempt's status, AnsweredBy, duration, error, disposition;
    kept once per (CallSid, SequenceNumber). 204 whatever the outcome (see the module)."""
    current = line()
    form = {name: field(name, 64) for name in ("CallSid", *outcomes.KEPT)}
    try:
        with current.runtime.Session.begin() as session:
            outcomes.record_status(
                session, Status.of(form), attempt_id=_attempt_id(), form=form, now=current.clock()
            )
    except _UNAVAILABLE as exc:
        log.error(
            "status callback %s of call %s not kept: %s",
            form.get("SequenceNumber"),
            form.get("CallSid"),
            _db_reason(exc),
        )
    except Exception:
        log.exception(
            "status callback %s of call %s not kept",
            form.get("SequenceNumber"),
            form.get("CallSid"),
        )
    return Response(status=204)


@bp.post("/hold")
@signed
def hold() -> ResponseReturnValue:
    """The agent queue's wait document: the place in line, then a pause."""
    position = str(int(field("QueuePosition", 5) or "1"))
    attempt_id, call_sid = _attempt_id(), field("CallSid", 34)
    _keep_queue(
        lambda session, now: service.waiting(
            session, attempt_id=attempt_id, call_sid=call_sid, now=now
        )
    )
    turn = Turn((Say("queue_hold", {"position": position}),), Wait(HOLD_PAUSE_SECONDS))
    return _render(turn, _call_language())


@bp.post("/queued")
@signed
def queued() -> ResponseReturnValue:
    """The person left the queue (talked to an agent, or the queue failed)."""
    call_sid, result = field("CallSid", 34), field("QueueResult", 32)
    _keep_queue(
        lambda session, now: service.left_queue(session, call_sid=call_sid, result=result, now=now)
    )
    if request.form.get("QueueResult") in ("bridged", "hangup"):
        says: tuple[Say, ...] = (Say("goodbye"),)
    else:
        says = (Say("error_apology"), Say("goodbye"))
    return _render(Turn(says, Hangup()), _call_language())


def _keep_queue(work: Callable[[Session, dt.datetime], None]) -> None:
    """Keep the desk's queue row of the call, never at the cost of the person's hold
    music (the desk catches up on the next wait request)."""
    current = line()
    try:
        with current.runtime.Session.begin() as session:
            work(session, current.clock())
    except Exception as exc:
        log.error("dialer %s: the desk's queue row not kept (%s)", request.path, _db_reason(exc))


def _call_language() -> str:
    """The language the call has been speaking, read without a lock ("en" if unknown)."""
    attempt_id = _attempt_id()
    if attempt_id is None:
        return "en"
    try:
        with line().runtime.Session() as session:
            attempt = session.get(ContactAttempt, attempt_id)
            state = state_data(attempt.call_state) if attempt is not None else {}
    except Exception as exc:
        log.warning("dialer %s: the call's language is unknown (%s)", request.path, exc)
        return "en"
    language = state.get("language")
    return language if isinstance(language, str) and language in line().catalogs else "en"


def _render(turn: Turn, language: str) -> Response:
    current = line()
    return twiml(current.renderer.render(turn, language, current.links(_attempt_id() or 0)))


# The database is down, hung or busy past the request's budget (hotline.db.deadline).
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.TimeoutError, sa_exc.DisconnectionError)


def _db_reason(exc: Exception) -> str:
    """One line on why the database failed: the driver's first line, never the statement
    or its parameters (they may hold a number)."""
    cause = getattr(exc, "orig", None) or exc.__cause__ or exc
    first = (str(cause).strip().splitlines() or [""])[0][:200]
    return f"database unavailable ({type(cause).__name__}: {first})"


@bp.errorhandler(Exception)
def failed(exc: Exception) -> ResponseReturnValue:
    sick = isinstance(exc, _UNAVAILABLE)
    if sick:
        # One line each: while the database is sick every call fails the same way.
        log.error("dialer webhook %s failed: %s", request.path, _db_reason(exc))
    else:
        log.error("dialer webhook %s failed", request.path, exc_info=exc)
    if request.path.endswith("/status"):
        return Response(status=204)
    try:
        current = line()
        # A database that is the trouble is not asked again (its budget is spent): English,
        # and the call ends, since nobody can be told confirmed.
        language, confirmed = ("en", False) if sick else (_call_language(), _confirmed())
        agents = current.config.line.agent_hours.open_at(
            current.clock(), current.config.line.timezone
        )
        if confirmed and agents:
            turn = Turn((Say("error_apology"), Say("transfer_notice")), Enqueue(AGENT_QUEUE))
        elif confirmed:
            turn = Turn((Say("error_apology"), Say("goodbye")), Hangup())
        else:
            # Only a confirmed cardholder may be put through to collections.
            turn = Turn((Say("error_apology"),), Hangup())
        return _render(turn, language)
    except Exception:
        log.exception("dialer apology failed")
        return twiml('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>')


def _confirmed() -> bool:
    """Whether the call's person has said they are the cardholder (for the apology)."""
    attempt_id = _attempt_id()
    if attempt_id is None:
        return False
    try:
        with line().runtime.Session() as session:
            attempt = session.get(ContactAttempt, attempt_id)
            return attempt is not None and state_data(attempt.call_state).get("verified") is True
    except Exception:
        log.warning("dialer %s: whether the call was confirmed is unknown", request.path)
        return False
