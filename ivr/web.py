"""The IVR's webhooks: the only IVR module that knows about Flask and HTTP.

Every route checks X-Twilio-Signature over PUBLIC_BASE_URL + path + query (403 and a log
line otherwise), then the request's parameters (see `_read_params`): a request whose
AccountSid is not ours is refused with 403 too; every other value is cleaned, card numbers
in it masked, and checked for its shape, and anything missing or malformed reads as no
input. Each route owns its transaction and answers TwiML as text/xml. An unexpected error
answers with a spoken apology and a way out, never a 500: the caller would hear Twilio's
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
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from flows.state import AGENT_QUEUE, Heard
from hotline.bootstrap import Runtime
from hotline.enums import Step
from hotline.hours import parse_hours
from hotline.models import IvrCall, utcnow
from hotline.phones import mask_phone, number_from_carrier
from hotline.profiles import PROFILES
from hotline.redact import clean_input, mask_card_numbers, xml_safe
from hotline.rules import Limits
from ivr import service
from prompts.catalog import Catalog, load_all
from telephony.gateway import GatewayError
from telephony.twiml import Links, Renderer, voices_from
from telephony.voice import Enqueue, Hangup, Say, Turn, Wait

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
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
HOLD_PAUSE_SECONDS = 20

# --- what each parameter may look like -----------------------------------------------------
# Twilio's signature is HMAC(URL + name1 + value1 + name2 + value2 ...) with nothing between
# names and values, so a captured request can be re-cut into other parameters with the same
# signature ("From"="+14155550100To+1800..." or a Digits value swallowing the next name).
# Every value we read therefore has a shape, and one that does not fit reads as no input.
_SIDS = {  # a SID is its two-letter prefix and 32 hex digits
    "CallSid": "CA",
    "ParentCallSid": "CA",
    "DialCallSid": "CA",
    "RecordingSid": "RE",
    "QueueSid": "QU",
}
_SID_HEX = re.compile(r"[0-9a-fA-F]{32}")
# From/To and their aliases: a valid E.164 number, else no number (phones.number_from_carrier:
# withheld caller ids such as 'anonymous' or '+266696687' are nobody's number).
_NUMBERS = ("From", "To", "Caller", "Called", "ForwardedFrom")
# Values read verbatim (then shape-checked): a card-number-shaped Digits is how a caller
# keys an account number that passes Luhn (one in ten of the issuer's 16-digit numbers),
# and is never stored; SIDs and E.164 numbers have exact shapes that are not card data.
_UNMASKED = frozenset({"Digits", "FinishedOnKey", "AccountSid", *_SIDS, *_NUMBERS})
_DEFAULT_LIMIT = 200
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")  # other names are no parameter of Twilio's
_ASCII_DIGIT = re.compile(r"[0-9]")
_ALL_BUT_LAST_FOUR_DIGITS = re.compile(r"[0-9](?=(?:[^0-9]*[0-9]){4})")
_WORD = r"[a-z][a-z_-]*"
_SHAPES: dict[str, tuple[int, re.Pattern[str] | None]] = {
    name: (limit, re.compile(shape) if shape else None)
    for name, limit, shape in (
        ("Digits", 40, r"[0-9*#]+"),
        ("FinishedOnKey", 1, r"[0-9*#]"),
        ("SpeechResult", 200, None),
        ("Confidence", 12, r"0(?:\.[0-9]{1,10})?|1(?:\.0{1,10})?|\.[0-9]{1,10}"),
        ("CallStatus", 16, _WORD),
        ("QueueResult", 32, _WORD),
        ("QueuePosition", 5, r"[0-9]+"),
        ("QueueTime", 8, r"[0-9]+"),
        ("RecordingStatus", 16, _WORD),
        ("RecordingUrl", 300, r"https?://[!-~]+"),
        ("RecordingDuration", 8, r"-?[0-9]+"),
        ("RecordingChannels", 1, r"[12]"),
        ("RecordingStartTime", 40, r"[A-Za-z0-9 ,:+-]+"),
        ("RecordingSource", 32, r"[A-Za-z]+"),
        ("RecordingTrack", 16, _WORD),
        ("Result", 40, _WORD),
        # A gateway's code, whatever its length or content: cut, never refused, since the
        # card was charged and the payment must post (a masked card number in it stays
        # masked; the payment's key is the <Pay> token, not the code).
        ("PaymentConfirmationCode", 200, None),
        ("PaymentCardType", 20, r"(?i)[a-z][a-z -]*"),
        # Twilio's masked number ('xxxx-xxxxxx-x4001'); digits but the last four are masked.
        ("PaymentCardNumber", 30, r"[0-9xX*#. -]+"),
        ("PaymentError", 200, None),
        ("PayErrorCode", 8, r"[0-9]+"),
    )
}

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
            bank_names={"zh-CN": settings.bank_name_zh} if settings.bank_name_zh else {},
            secret_key=settings.secret_key,
            agent_hours=parse_hours(settings.agent_hours),
            timezone=settings.default_timezone,
            profile=profile,
            record_calls=(
                profile.records_calls if settings.record_calls is None else settings.record_calls
            ),
            limits=Limits.from_settings(settings),
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
    # The renderer writes only XML-safe text; this also covers replays of TwiML stored
    # before it did, so no path sends a document Twilio cannot parse (error 12100).
    return Response(xml_safe(xml), mimetype="text/xml")


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
        account_sid = request.form.get("AccountSid", "")
        if account_sid != current.runtime.settings.twilio_account_sid:
            # Signed with our token yet not for our account: a captured request re-cut
            # (or a misconfigured number). Nothing in it is trusted, as if unsigned.
            log.warning(
                "refused webhook %s from %s (AccountSid %s)",
                request.path,
                request.remote_addr,
                "wrong" if account_sid else "missing",
            )
            return Response("Forbidden\n", status=403, mimetype="text/plain")
        # From here on every reader (this module's routes and helpers) sees only the
        # checked values: werkzeug's cached `form` is replaced for this request.
        request.form = _read_params(request.form)
        return view(*args, **kwargs)

    # functools.wraps gave `guarded` view's signature; mypy cannot say so of a TypeVar.
    return guarded  # type: ignore[return-value]


def _read_params(form: MultiDict[str, str]) -> ImmutableMultiDict[str, str]:
    """The request's parameters as the routes may use them: one value per name, cleaned
    of control, invisible and XML-forbidden characters, card numbers masked to their last
    four (so nothing downstream can store or speak one), cut to a bound, and checked for
    shape: a value that does not fit is empty, which every route reads as no input."""
    return ImmutableMultiDict(
        {name: read_param(name, form.get(name) or "") for name in form if _NAME.fullmatch(name)}
    )


def read_param(name: str, raw: str) -> str:
    """One parameter's value as the routes may use it ('' for no input); see _read_params."""
    value = clean_input(raw).strip()
    if name not in _UNMASKED:
        value = mask_card_numbers(value)
    prefix = _SIDS.get(name)
    if prefix is not None:
        return value if value[:2] == prefix and _SID_HEX.fullmatch(value[2:]) else ""
    if name in _NUMBERS:
        return number_from_carrier(value) or ""
    limit, shape = _SHAPES.get(name, (_DEFAULT_LIMIT, None))
    if shape is None:
        return value[:limit].strip()
    if len(value) > limit or not shape.fullmatch(value):
        return ""
    if name == "PaymentCardNumber":
        # Whatever a connector reveals, only the last four digits go on; fewer than four
        # is no card number (payment.card_last4 holds four digits or nothing).
        if 0 < len(_ASCII_DIGIT.findall(value)) < 4:
            return ""
        return _ALL_BUT_LAST_FOUR_DIGITS.sub("*", value)
    return value


def _field(name: str, limit: int) -> str:
    """A request parameter as _read_params left it (checked, masked), cut to `limit`."""
    return (request.form.get(name) or "")[:limit]


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
        # At the language menu the caller may answer in either language; catalogues that
        # hear different choices ask again rather than pick the first.
        candidates = catalogs.values() if step == Step.LANGUAGE else [catalogs[language]]
        keys = {c.choice_for_speech(menu, speech) for c in candidates} - {None}
        key = keys.pop() if len(keys) == 1 else None
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
            xml = service.remember(
                session, reply.call, reply.outcome.state, xml, now, current.config.limits
            )
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

    def run(session: Session, now: dt.datetime) -> service.Reply:
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
            # Which <Pay> this result answers: the token in the action URL we gave it.
            token=(request.args.get("pay") or "")[:8],
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
    position = str(int(_field("QueuePosition", 5) or "1"))  # ASCII digits, or none
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
        return _apology("en")
    except Exception:  # even the apology failed (e.g. no catalogue): still valid TwiML
        log.exception("IVR apology failed")
        return twiml('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>')
