"""Reading an app's answer as TwiML, with the checks and error codes Twilio applies."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

MAX_BYTES = 64 * 1024
SUPPORTED = frozenset(
    {
        "Say",
        "Play",
        "Pause",
        "Gather",
        "Redirect",
        "Hangup",
        "Reject",
        "Dial",
        "Enqueue",
        "Leave",
        "Record",
        "Pay",
        "Start",
    }
)
# Verbs Twilio knows that the simulator skips with a warning rather than reject.
VERBS = SUPPORTED | {"Sms", "Refer", "Connect", "Stop", "Prompt"}
XML_TYPES = ("text/xml", "application/xml", "text/html")


class TwimlError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Document:
    verbs: tuple[ET.Element, ...]
    warnings: tuple[str, ...] = ()


def parse(body: bytes, content_type: str | None) -> Document:
    """Parse a response body; TwimlError with Twilio's code when the call cannot go on."""
    if len(body) > MAX_BYTES:
        raise TwimlError(11750, f"TwiML response body too large ({len(body)} bytes)")
    media = (content_type or "").split(";")[0].strip().lower()
    if not media:
        raise TwimlError(12300, "invalid Content-Type: the response has none")
    if media not in XML_TYPES and media != "text/plain":
        raise TwimlError(12300, f"invalid Content-Type {media!r} for TwiML")
    if body[:1].isspace():
        raise TwimlError(12100, "document parse failure: whitespace before the XML declaration")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise TwimlError(12100, f"document parse failure: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(12102, f"root element must be Response, not {root.tag!r}")
    warnings = []
    verbs = []
    for element in root:
        if element.tag not in VERBS:
            warnings.append(f"12200: schema validation warning: unknown verb <{element.tag}>")
            continue
        if element.tag not in SUPPORTED:
            warnings.append(f"<{element.tag}> is not simulated; skipped")
            continue
        verbs.append(element)
    return Document(tuple(verbs), tuple(warnings))


def text_of(element: ET.Element) -> str:
    return " ".join((element.text or "").split())


def attr_int(element: ET.Element, name: str, default: int) -> int:
    value = element.get(name)
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def attr_bool(element: ET.Element, name: str, default: bool) -> bool:
    value = element.get(name)
    return default if value is None else value.strip().lower() == "true"
