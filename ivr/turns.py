"""One IVR turn as a unit of work: the transaction, the TwiML, and what the carrier must do
around it (pause or resume the recording for <Pay>, confirmation texts).

Every webhook that runs a turn goes through `Turns.run`, and the tests that drive the use
cases with a fake gateway run turns the same way. The carrier is only ever asked after the
transaction has committed: a REST call to Twilio made inside it would hold the call's row,
the account's lock and, on SQLite, the database's one write lock for as long as Twilio takes.
The pause and the resume come before the answer, in the order the caller's turns come (no
<Pay> may be heard while a recording may run, and a late resume could undo the pause of the
next <Pay>); the texts come after the answer has been sent. A turn makes at most one such
REST call before answering, so its database budget (at most 2.5 s) and the call (hotline.web's
WEBHOOK_REST_TIMEOUT_S, at most 2 s) fit in the 5 s Twilio allows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from flows.carry_out import send_texts
from ivr import service
from prompts.catalog import Catalog
from telephony.gateway import CallGateway, GatewayError
from telephony.twiml import Links, Renderer

log = logging.getLogger(__name__)

Step = Callable[[Session, dt.datetime], service.Reply]


@dataclass(frozen=True)
class Answer:
    """A turn's TwiML, and what to do once it has been sent (the web app calls `afterwards`
    when the response is closed; a test calls it at once)."""

    xml: str
    afterwards: Callable[[], None]


@dataclass(frozen=True)
class Turns:
    """What running a turn needs: the database, the line's policy, TwiML, the carrier."""

    sessions: sessionmaker[Session]
    config: service.LineConfig
    renderer: Renderer
    links: Links
    gateway: CallGateway
    catalogs: Mapping[str, Catalog]

    def run(self, step: Step, now: dt.datetime, *, call_sid: str, caller: str) -> Answer:
        """Run `step` in a transaction: the TwiML the caller is to hear, and what is left
        to do once it has been sent."""
        with self.sessions.begin() as session:
            reply = step(session, now)
            xml = self._answer(session, reply, now)
        if reply.recording == "pause" and not self._set_recording(call_sid, paused=True):
            # The <Pay> is saved but not yet heard: answer instead that payment is
            # unavailable (and save that as the call's answer).
            with self.sessions.begin() as session:
                fallback = service.pay_unavailable(
                    session, self.config, call_sid=call_sid, caller=caller, now=now
                )
                if fallback is not None:
                    xml = self._answer(session, fallback, now)
        elif reply.recording == "resume":
            # Before the answer too: sent after it, a slow resume could reach the carrier
            # after the pause of a retry the caller keyed at once, and record that <Pay>.
            self._set_recording(call_sid, paused=False)

        def afterwards() -> None:
            # Texts change nothing the caller hears now, so they wait until the answer is
            # on its way (and may fail only into the log).
            try:
                send_texts(reply.outbox, self.gateway, self.catalogs)
            except Exception:
                log.exception("after the answer to call %s", call_sid)

        return Answer(xml, afterwards)

    def _answer(self, session: Session, reply: service.Reply, now: dt.datetime) -> str:
        if reply.replay is not None:
            return reply.replay
        assert reply.outcome is not None
        xml = self.renderer.render(reply.outcome.turn, reply.language, self.links)
        return service.remember(
            session, reply.call, reply.outcome.state, xml, now, self.config.limits
        )

    def _set_recording(self, call_sid: str, *, paused: bool) -> bool:
        """Pause or resume the call's recording; False (and a log line) if the carrier
        refused or did not answer in time."""
        try:
            if paused:
                self.gateway.pause_recording(call_sid)
            else:
                self.gateway.resume_recording(call_sid)
        except (GatewayError, OSError):
            log.warning(
                "could not %s the recording of call %s",
                "pause" if paused else "resume",
                call_sid,
                exc_info=True,
            )
            return False
        return True
