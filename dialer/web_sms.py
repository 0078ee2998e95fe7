"""Texts to the line (Twilio's incoming-message webhook, POST /sms/inbound): a stop is
honoured at once for that number, for calls and texts alike, and confirmed unless Twilio
has confirmed it itself; help is answered the same way (dialer/texts.py says which is
which). Signed like every webhook; a text that asks for nothing gets no reply.

Texts belong to the outbound line (its reminders and follow-ups are what a texter answers),
so an opt-out by text is recorded with the dialer as its source and `sms` as its actor.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask
from flask.typing import ResponseReturnValue

from dialer.texts import Ask, read_text
from dialer.web import line, signed
from hotline import contacts
from hotline.enums import Source
from hotline.models import utcnow
from hotline.origin import Origin
from hotline.phones import mask_phone
from telephony.twiml import text_reply
from telephony.webhook import field, twiml

log = logging.getLogger(__name__)
bp = Blueprint("sms", __name__)
SMS_PREFIX = "/sms"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix=SMS_PREFIX)


@bp.post("/inbound")
@signed
def inbound() -> ResponseReturnValue:
    number, body = field("From", 64), field("Body", 1600)
    read = read_text(body)
    current = line()
    settings = current.runtime.settings
    if read.ask == Ask.STOP and number:
        try:
            with current.runtime.Session.begin() as session:
                contacts.opt_out(
                    session,
                    number,
                    origin=Origin(Source.DIALER, "sms", field("MessageSid", 34) or None),
                    now=utcnow(),
                )
        except Exception:
            # Not confirmed, since it did not happen; the log says whose stop to redo.
            log.exception("opt-out by text from %s NOT recorded", mask_phone(number))
            return twiml(text_reply(None))
        log.info("opt-out by text from %s", mask_phone(number))
    if read.twilio_answers or read.ask in (Ask.START, Ask.OTHER):
        return twiml(text_reply(None))
    bank = (
        settings.bank_name_zh
        if read.language == "zh-CN" and settings.bank_name_zh
        else settings.bank_name
    )
    key = "sms_stopped" if read.ask == Ask.STOP else "sms_help"
    text = current.catalogs[read.language].render(
        key, {"bank": bank, "number": settings.caller_ids[0]}
    )
    return twiml(text_reply(text))
