"""The carrier's webhooks for a caller an agent has taken: the bridge to the agent's phone.

Under /ivr/agent, signed like every webhook (telephony.webhook): an agent's accept
redirects the queued call to `bridge?entry=<id>`, which answers <Dial> the agent's phone
(TwiML from telephony.twiml only); `answered` is the agent's phone picking up (the
<Number url>, played to the agent before the bridge: nothing, so they are put through at
once); `dialed` is the <Dial>'s action: the caller spoke with the agent and the call ends,
or the agent's phone did not answer and the caller goes back to the queue. The same for a
caller from either line: this works on Twilio and on the simulator alike.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from desk import queue
from flows.state import AGENT_QUEUE
from hotline.bootstrap import Runtime
from hotline.models import QueueEntry, utcnow
from hotline.queueing import ACCEPTED, BRIDGED
from prompts.catalog import Catalog, load_all
from telephony.twiml import Links, Renderer, voices_from
from telephony.voice import Dial, Enqueue, Hangup, Say, Turn
from telephony.webhook import Signer, field, twilio_request, twiml

log = logging.getLogger(__name__)
bp = Blueprint("desk_calls", __name__)
PREFIX = "/ivr/agent"
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Seconds the agent's phone rings before the caller goes back to the queue.
AGENT_RING_SECONDS = 20


@dataclass(frozen=True)
class Bridge:
    runtime: Runtime
    catalogs: dict[str, Catalog]
    renderer: Renderer
    signer: Signer
    clock: Callable[[], dt.datetime]

    def url(self, path: str) -> str:
        return self.runtime.settings.public_base_url.rstrip("/") + path

    def bridge_url(self, entry_id: int) -> str:
        """Where an accepted caller is redirected: the <Dial> to the agent's phone."""
        return self.url(f"{PREFIX}/bridge?entry={entry_id}")

    def links(self, entry: QueueEntry) -> Links:
        """The entry's own dial links, and its line's queue links (to go back to it)."""
        if entry.line == "dialer" and entry.attempt_id is not None:
            query = f"?attempt={entry.attempt_id}"
            hold, action = self.url(f"/dialer/hold{query}"), self.url(f"/dialer/queued{query}")
        else:
            hold, action = self.url("/ivr/hold"), self.url("/ivr/queued")
        return Links(
            step=lambda step: self.url(f"/ivr/step/{step}"),
            pay_action=self.url("/ivr/pay"),
            hold=hold,
            queue_action=action,
            recording_status=self.url("/ivr/recording"),
            dial_action=self.url(f"{PREFIX}/dialed?entry={entry.id}"),
            dial_answered=self.url(f"{PREFIX}/answered?entry={entry.id}"),
        )

    def render(self, turn: Turn, entry: QueueEntry) -> Response:
        language = entry.language if entry.language in self.catalogs else "en"
        return twiml(self.renderer.render(turn, language, self.links(entry)))

    def apology(self) -> Response:
        """Our side failed before the entry could be read: say so in English and put the
        caller back in the queue (the phone line's hold and queue links), where the next
        agent takes them; nothing here needs the database."""
        links = Links(
            step=lambda step: self.url(f"/ivr/step/{step}"),
            pay_action=self.url("/ivr/pay"),
            hold=self.url("/ivr/hold"),
            queue_action=self.url("/ivr/queued"),
            recording_status=self.url("/ivr/recording"),
            dial_action=self.url(f"{PREFIX}/dialed"),
            dial_answered=self.url(f"{PREFIX}/answered"),
        )
        turn = Turn((Say("error_apology"), Say("transfer_notice")), Enqueue(AGENT_QUEUE))
        return twiml(self.renderer.render(turn, "en", links))


def init_app(app: Flask, runtime: Runtime) -> None:
    settings = runtime.settings
    catalogs = load_all()
    app.extensions["desk_calls"] = Bridge(
        runtime=runtime,
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


def bridge_line() -> Bridge:
    result: Bridge = current_app.extensions["desk_calls"]
    return result


signed = twilio_request(lambda: bridge_line().signer)


def _entry_id() -> int | None:
    raw = request.args.get("entry", "")[:12]
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _back_to_queue(entry: QueueEntry, says: tuple[Say, ...]) -> Turn:
    return Turn(says, Enqueue(AGENT_QUEUE))


# The database is down, hung or busy past the request's budget (hotline.db.deadline).
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.TimeoutError, sa_exc.DisconnectionError)


@bp.errorhandler(Exception)
def failed(exc: Exception) -> ResponseReturnValue:
    """Never a 500 to the carrier (it would say "an application error" and hang up): the
    agent's leg (/answered) is put through as usual; the caller's leg hears the apology
    and goes back to the queue, as /ivr/* does."""
    if isinstance(exc, HTTPException):  # a refusal we chose (a bad signature): as it is
        return exc
    if isinstance(exc, _UNAVAILABLE):
        cause = getattr(exc, "orig", None) or exc.__cause__ or exc
        first = (str(cause).strip().splitlines() or [""])[0][:200]
        log.error(
            "bridge webhook %s failed: database unavailable (%s: %s)",
            request.path,
            type(cause).__name__,
            first,
        )
    else:
        log.error("bridge webhook %s failed", request.path, exc_info=exc)
    if request.path.endswith("/answered"):
        return twiml(EMPTY)
    try:
        return bridge_line().apology()
    except Exception:  # even the apology failed: still valid TwiML
        log.exception("bridge apology failed")
        return twiml(EMPTY.replace("<Response/>", "<Response><Hangup/></Response>"))


@bp.post("/bridge")
@signed
def bridge() -> ResponseReturnValue:
    """The accepted caller, redirected out of the queue: ring the agent's phone."""
    current = bridge_line()
    with current.runtime.Session.begin() as session:
        entry = queue.for_bridge(session, _entry_id(), field("CallSid", 34))
        if entry is None:
            log.warning("bridge request for an unknown entry %s", request.args.get("entry"))
            return twiml(EMPTY.replace("<Response/>", "<Response><Hangup/></Response>"))
        if entry.status != ACCEPTED or not entry.agent_number:
            # Taken back meanwhile (the redirect was late): the caller waits again.
            return current.render(_back_to_queue(entry, ()), entry)
        turn = Turn(
            (Say("agent_connecting"),), Dial(entry.agent_number, timeout=AGENT_RING_SECONDS)
        )
        return current.render(turn, entry)


@bp.post("/answered")
@signed
def answered() -> ResponseReturnValue:
    """The agent's phone answered: the caller is with the agent now."""
    current = bridge_line()
    with current.runtime.Session.begin() as session:
        queue.answered(session, _entry_id(), current.clock())
    return twiml(EMPTY)


@bp.post("/dialed")
@signed
def dialed() -> ResponseReturnValue:
    """The <Dial> to the agent is over: goodbye, or back to the queue if not answered."""
    current = bridge_line()
    status = field("DialCallStatus", 32)
    with current.runtime.Session.begin() as session:
        entry = queue.for_bridge(session, _entry_id(), field("CallSid", 34))
        if entry is None:
            return twiml(EMPTY.replace("<Response/>", "<Response><Hangup/></Response>"))
        if entry.status not in (ACCEPTED, BRIDGED):
            return current.render(Turn((Say("goodbye"),), Hangup()), entry)
        talked = queue.dialed(session, entry, status, current.clock())
        if talked:
            return current.render(Turn((Say("goodbye"),), Hangup()), entry)
        return current.render(_back_to_queue(entry, (Say("agent_no_answer"),)), entry)
