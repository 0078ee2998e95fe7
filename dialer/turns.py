"""One outbound turn as a unit of work: the transaction, the TwiML, what the callee heard,
the disposition, and the texts sent once the answer has gone out (as ivr.turns).

An outbound call records nothing and so pauses no recording around <Pay>: the carrier is
only asked (texts) after the transaction has committed and the answer has been sent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from dialer import outcomes
from dialer.calls import remember
from dialer.service import Reply
from flows.carry_out import send_texts
from prompts.catalog import Catalog
from telephony.gateway import CallGateway
from telephony.twiml import Links, Renderer
from telephony.voice import Hangup, Turn

log = logging.getLogger(__name__)

UseCase = Callable[[Session, dt.datetime], Reply]


@dataclass(frozen=True)
class Answer:
    """A turn's TwiML, and what to do once it has been sent."""

    xml: str
    afterwards: Callable[[], None]


@dataclass(frozen=True)
class Turns:
    sessions: sessionmaker[Session]
    renderer: Renderer
    links: Callable[[int], Links]  # the links of attempt N's call
    gateway: CallGateway
    catalogs: Mapping[str, Catalog]

    def run(self, use_case: UseCase, now: dt.datetime) -> Answer:
        with self.sessions.begin() as session:
            reply = use_case(session, now)
            xml = self._answer(session, reply, now)

        def afterwards() -> None:
            try:
                send_texts(reply.outbox, self.gateway, self.catalogs)
            except Exception:
                log.exception("after an outbound turn")

        return Answer(xml, afterwards)

    def hangup(self) -> str:
        """The answer for a request that names no call of ours: end it, saying nothing."""
        return self.renderer.render(Turn((), Hangup()), "en", self.links(0))

    def said(self, turn: Turn, language: str) -> str:
        """The words the callee hears in this turn, as the catalogue renders them."""
        return " ".join(
            self.catalogs[say.language or language].render(say.key, say.params)
            for say in (*turn.preamble, *turn.says)
        )

    def _answer(self, session: Session, reply: Reply, now: dt.datetime) -> str:
        call = reply.call
        if call is None:
            return self.hangup()
        if reply.replay is not None:
            return reply.replay
        assert reply.outcome is not None
        turn = reply.outcome.turn
        xml = self.renderer.render(turn, reply.language, self.links(call.attempt.id))
        remember(call, reply.outcome.state, xml, self.said(turn, reply.language))
        if reply.disposition is not None:
            outcomes.dispose(
                session,
                call.attempt,
                reply.disposition,
                call_sid=call.attempt.provider_call_sid or "",
                now=now,
            )
        return xml
