"""Twilio's messaging rules, as pure functions: keywords, segments, webhook parameters,
reply TwiML, errors.

No state and no I/O, so the rules can be tested on their own (and with Hypothesis); the
carrier's messaging part (messaging.py) applies them to its records.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit

import phonenumbers

from simulator.carrier.records import API_VERSION, Message

# Twilio's default keyword handling on long codes (its support article "Twilio support for
# opt-out keywords (SMS STOP filtering)"): a body that is exactly one of these words,
# whatever its case, once trimmed. "STOP PLEASE" is not a keyword, nor is 退订: those reach
# the app untouched, and the app must recognise them itself.
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO"})

# Twilio's default auto-replies to those keywords (no Advanced Opt-Out customisation).
OPT_OUT_REPLY = (
    "You have successfully been unsubscribed. You will not receive any more messages from "
    "this number. Reply START to resubscribe."
)
OPT_IN_REPLY = (
    "You have successfully been re-subscribed to messages from this number. Reply HELP for "
    "help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
)
HELP_REPLY = "Reply STOP to unsubscribe. Msg&Data Rates May Apply."

# Countries where Twilio attempts delivery to a landline (it then fails at the carrier,
# 30006) instead of refusing the request with 21635.
LANDLINE_ATTEMPTED = frozenset({"US", "CA", "GB"})

# What a message ends as, per the recipient's script, with the ErrorCode Twilio reports.
OUTCOMES = ("delivered", "undelivered", "failed")
OUTCOME_ERRORS = {"undelivered": 30003, "failed": 30008, "landline": 30006}
ERROR_MESSAGES = {
    30003: "Unreachable destination handset",
    30006: "Landline or unreachable carrier",
    30008: "Unknown error",
    21610: "Attempt to send to unsubscribed recipient",
}

_MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-f]{32}")

# The longest body the Messages API takes (21617 beyond), and the longest StatusCallback.
MAX_BODY = 1600
MAX_CALLBACK_URL = 4000

# GSM 03.38: the basic set, and the extension characters that take two septets.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def keyword(body: str) -> str | None:
    """`STOP`, `START` or `HELP` (the OptOutType) when the body is one of Twilio's words."""
    word = body.strip().upper()
    if word in OPT_OUT:
        return "STOP"
    if word in OPT_IN:
        return "START"
    if word in HELP:
        return "HELP"
    return None


def segments(body: str) -> int:
    """How many SMS segments a body takes (Twilio's NumSegments).

    GSM-7 fits 160 septets in one segment and 153 per part once concatenated; a body with
    any character outside GSM-7 goes as UCS-2: 70 in one, 67 per part (counted in UTF-16
    code units, so an emoji takes two).
    """
    if not body:
        return 1
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in body):
        units, single, part = sum(2 if c in _GSM_EXTENDED else 1 for c in body), 160, 153
    else:
        units, single, part = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // part)


def well_formed_service_sid(sid: str) -> bool:
    return _MESSAGING_SERVICE_SID.fullmatch(sid) is not None


def callback_url(url: str) -> bool:
    """A StatusCallback Twilio accepts: a full http(s) URL with a host, 4000 characters at
    most, no underscore in the host name (21609 otherwise)."""
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and "_" not in (parts.hostname or "")
        and len(url) <= MAX_CALLBACK_URL
    )


def country(number: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


def inbound_params(message: Message, account_sid: str) -> dict[str, str]:
    """What Twilio posts to a number's SMS URL for a text it received."""
    params = {
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsMessageSid": message.sid,
        "AccountSid": account_sid,
        "From": message.from_,
        "To": message.to,
        "Body": message.body,
        "NumMedia": "0",
        "NumSegments": str(message.num_segments),
        "SmsStatus": "received",
        "ApiVersion": API_VERSION,
        "FromCountry": country(message.from_),
        "ToCountry": country(message.to),
        **dict.fromkeys(("FromState", "FromCity", "FromZip", "ToState", "ToCity", "ToZip"), ""),
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
        kind = keyword(message.body)
        if kind is not None:  # Advanced Opt-Out tells the app which keyword it was
            params["OptOutType"] = kind
    return params


def status_params(message: Message, account_sid: str) -> dict[str, str]:
    """What Twilio posts to a message's StatusCallback when its status changes."""
    params = {
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "AccountSid": account_sid,
        "From": message.from_,
        "To": message.to,
        "MessageStatus": message.status,
        "SmsStatus": message.status,
        "ApiVersion": API_VERSION,
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if message.error_code:
        params["ErrorCode"] = str(message.error_code)
    if message.status in ("delivered", "undelivered"):
        # The handset's delivery receipt time: YYMMDDhhmm, as carriers report it.
        params["RawDlrDoneDate"] = message.at().strftime("%y%m%d%H%M")
    return params


@dataclass(frozen=True)
class ReplyMessage:
    """One <Message> of the app's answer to an inbound text."""

    body: str
    to: str | None = None
    from_: str | None = None
    action: str | None = None
    method: str = "POST"


class ReplyError(ValueError):
    """The app's answer is not messaging TwiML; `code` is Twilio's error for it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_reply(text: str) -> list[ReplyMessage]:
    """The messages in the app's TwiML answer: `<Response><Message>…</Message></Response>`.

    A `<Message>` holds its text directly or in a `<Body>`; `to`, `from`, `action` (or the
    older `statusCallback`) and `method` are its attributes. An empty `<Response/>` sends
    nothing. Other verbs (`<Redirect>`) are not simulated and are skipped.
    """
    if not text.strip():
        return []
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ReplyError(12100, f"Document parse failure: {exc}") from None
    if root.tag != "Response":
        raise ReplyError(12102, f"The root element must be Response, not {root.tag}")
    messages = []
    for element in root:
        if element.tag != "Message":
            continue
        body_element = element.find("Body")
        body = body_element.text if body_element is not None else element.text
        messages.append(
            ReplyMessage(
                body=(body or "").strip(),
                to=element.get("to"),
                from_=element.get("from"),
                action=element.get("action") or element.get("statusCallback"),
                method=(element.get("method") or "POST").upper(),
            )
        )
    return messages
