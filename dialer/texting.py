"""The texts job: queue the texts owed, send the due ones, settle any whose sending is
unknown. A plain function of (sessionmaker, gateway, clock), like the tick: the scheduler
runs it as `dialer.texts` (dialer/process.py), a campaign simulation calls `send_texts`
on its virtual clock.

Each step is its own transaction (dialer/text_queue.py): claimed, then sent outside any
transaction, then the MessageSid stored; a dialer killed between the send and the store
leaves a SENDING row that the next run settles by listing the carrier's messages to the
number before it could ever send the text again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from dialer import text_queue
from dialer.clock import Clock
from dialer.config import CARRIER_CLOCK_SKEW, CARRIER_REQUEST_BOUND
from dialer.retry import Refusal, classify
from dialer.text_queue import Voice
from hotline.enums import TextStatus
from hotline.phones import mask_phone
from hotline.settings import Settings
from prompts.catalog import Catalog, load_all
from telephony.gateway import CallGateway, GatewayError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextConfig:
    voice: Voice
    worker_id: str
    lease: dt.timedelta = dt.timedelta(seconds=30)
    # How long after a lease ends the carrier's list is trusted to show a text sent then.
    settle: dt.timedelta = dt.timedelta(seconds=5)

    @classmethod
    def from_settings(cls, settings: Settings, worker_id: str) -> TextConfig:
        names = {"en": settings.voicemail_name, "zh-CN": settings.voicemail_name_zh}
        banks = {"en": settings.bank_name, "zh-CN": settings.bank_name_zh}
        business = {
            language: names[language] or banks[language] or settings.bank_name for language in names
        }
        return cls(
            voice=Voice(
                callback_number=settings.caller_ids[0],
                caller_id=settings.caller_ids[0],
                business=business,
            ),
            worker_id=worker_id,
            lease=dt.timedelta(seconds=settings.dialer_lease_seconds),
            settle=dt.timedelta(seconds=settings.dialer_settle_seconds),
        )


@dataclass
class TextReport:
    queued: int = 0
    sent: int = 0
    deferred: int = 0  # outside the window or a cap for now, or a carrier 429: due later
    skipped: int = 0  # refused for good by the policy or the text's own rule
    failed: int = 0  # the carrier will not text the number
    unknown: int = 0  # no answer from the carrier: settled on a later run
    adopted: int = 0  # an unknown sending the carrier's list showed was sent
    requeued: int = 0  # an unknown sending the carrier's list showed was not


def send_texts(
    Session: sessionmaker[Session],
    gateway: CallGateway,
    clock: Clock,
    config: TextConfig,
    stop: threading.Event | None = None,
    catalogs: Mapping[str, Catalog] | None = None,
) -> TextReport:
    """One run of the texts job: settle, queue, send what is due now."""
    catalogs = catalogs or load_all()
    stop = stop or threading.Event()
    report = TextReport()
    _settle_unknown(Session, gateway, clock, config, report)
    with Session.begin() as session:
        report.queued = text_queue.queue_due(session, clock.now())
    while not stop.is_set():
        with Session.begin() as session:
            claimed = text_queue.claim_due(
                session,
                worker_id=config.worker_id,
                now=clock.now(),
                lease=config.lease,
                voice=config.voice,
                catalogs=catalogs,
            )
        report.deferred += claimed.deferred
        report.skipped += claimed.skipped
        if not (claimed.ready or claimed.deferred or claimed.skipped):
            break
        for outgoing in claimed.ready:
            _send(Session, gateway, clock, outgoing, report, stop)
    return report


def _send(
    Session: sessionmaker[Session],
    gateway: CallGateway,
    clock: Clock,
    outgoing: text_queue.Outgoing,
    report: TextReport,
    stop: threading.Event,
) -> None:
    claim = outgoing.claim
    if stop.is_set() or clock.now() + CARRIER_REQUEST_BOUND > claim.lease_until:
        # Stopping, or the lease could end while the request is out (and the row then be
        # settled as unsent): given back undone, due again at once.
        with Session.begin() as session:
            text_queue.release(session, claim)
        return
    try:
        message = gateway.send_sms(claim.number, outgoing.from_, outgoing.body)
    except GatewayError as exc:
        refusal = classify(exc.code, exc.status)
        with Session.begin() as session:
            status = text_queue.record_refusal(
                session, claim, refusal, code=exc.code, message=str(exc), now=clock.now()
            )
        log.warning(
            "carrier refused text %s to %s (code %s, HTTP %s): %s",
            claim.text_id,
            mask_phone(claim.number),
            exc.code,
            exc.status,
            status,
        )
        if status is TextStatus.FAILED:
            report.failed += 1
        elif refusal is Refusal.UNKNOWN:
            report.unknown += 1
        else:
            report.deferred += 1
        return
    with Session.begin() as session:
        stored = text_queue.record_sent(session, claim, message.sid, now=clock.now())
    if not stored:
        log.error("text %s: sent as %s for a claim no longer held", claim.text_id, message.sid)
    report.sent += 1


def _settle_unknown(
    Session: sessionmaker[Session],
    gateway: CallGateway,
    clock: Clock,
    config: TextConfig,
    report: TextReport,
) -> None:
    """Texts whose sending is unknown: the carrier's list since the claim says whether
    each went (adopted) or not (queued again)."""
    with Session.begin() as session:
        pending = text_queue.unknown(session, clock.now(), config.settle)
    for claim in pending:
        try:
            found = gateway.list_messages(claim.number, claim.claimed_at - CARRIER_CLOCK_SKEW)
        except GatewayError:
            log.warning("could not list texts to %s; later", mask_phone(claim.number))
            continue
        with Session.begin() as session:
            outcome = text_queue.resolve(
                session, claim, [(m.sid, m.body) for m in found], clock.now()
            )
        if outcome == "adopted":
            report.adopted += 1
        elif outcome == "requeued":
            report.requeued += 1
