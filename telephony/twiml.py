"""The one place that turns a Turn into TwiML, with twilio's VoiceResponse builder.

Voice and language are set here once per call language; prompt text comes from the
catalogues by key. Every response is served as text/xml by the web layer, and every text
and attribute value is made XML-safe here, whatever it came from, so the document always
parses (Twilio answers a document it cannot parse with error 12100 and hangs up).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from hotline.redact import xml_safe
from prompts.catalog import Catalog
from telephony.voice import Ask, Dial, Enqueue, Hangup, Pay, Say, Turn, Wait


class _Speaks(Protocol):
    """What <Say> goes into: the response itself or a <Gather> (twilio's builders are
    unannotated; mypy checks a call through this, not through their union)."""

    def say(self, message: str, *, voice: str, language: str) -> object: ...


@dataclass(frozen=True)
class Voice:
    name: str  # <Say voice>, e.g. Polly.Joanna-Neural
    language: str  # <Say language>
    recogniser: str  # <Gather language> for speech


@dataclass(frozen=True)
class Links:
    """Where the call's next requests go (absolute URLs, or relative to the document)."""

    step: Callable[[str], str]
    pay_action: str
    hold: str
    queue_action: str
    recording_status: str
    # For a <Dial>: where the dial's result goes, and the document the dialled number hears
    # on answering, before the bridge (Twilio's <Number url>); "" for none.
    dial_action: str = ""
    dial_answered: str = ""


@dataclass(frozen=True)
class Renderer:
    catalogs: Mapping[str, Catalog]
    voices: Mapping[str, Voice]
    payment_connector: str

    def render(self, turn: Turn, language: str, links: Links) -> str:
        response = VoiceResponse()
        self._says(response, turn.preamble, language)
        if turn.start_recording:
            response.start().recording(
                recording_status_callback=links.recording_status,
                recording_status_callback_event="completed",
                recording_status_callback_method="POST",
            )
        then = turn.then
        if isinstance(then, Ask):
            voice = self.voices[language]
            gather = response.gather(
                input="dtmf speech" if then.speech_menu else "dtmf",
                action=links.step(then.step),
                method="POST",
                timeout=then.timeout,
                finish_on_key=then.finish_on_key or "#",
                num_digits=then.max_digits,
                action_on_empty_result=True,
                language=voice.recogniser if then.speech_menu else None,
                hints=self.catalogs[language].hints(then.speech_menu) if then.speech_menu else None,
                speech_timeout="auto" if then.speech_menu else None,
            )
            self._says(gather, turn.says, language)
        else:
            self._says(response, turn.says, language)
        if isinstance(then, Enqueue):
            response.enqueue(
                then.queue,
                wait_url=links.hold,
                wait_url_method="POST",
                action=links.queue_action,
                method="POST",
            )
        elif isinstance(then, Pay):
            response.pay(
                charge_amount=then.amount_major,
                currency=then.currency.lower(),
                payment_connector=self.payment_connector,
                action=_with_query(links.pay_action, f"pay={quote(then.token)}")
                if then.token
                else links.pay_action,
                max_attempts=2,
                description="Card payment",
            )
        elif isinstance(then, Dial):
            dial = response.dial(
                action=links.dial_action or None,
                method="POST" if links.dial_action else None,
                timeout=then.timeout,
                caller_id=then.caller_id,
            )
            dial.number(
                then.number,
                url=links.dial_answered or None,
                method="POST" if links.dial_answered else None,
            )
        elif isinstance(then, Hangup):
            response.hangup()
        elif isinstance(then, Wait):
            response.pause(length=then.seconds)
        _make_xml_safe(response)
        return str(response)

    def _says(self, parent: _Speaks, says: tuple[Say, ...], language: str) -> None:
        for say in says:
            spoken_in = say.language or language
            voice = self.voices[spoken_in]
            text = self.catalogs[spoken_in].render(say.key, say.params)
            parent.say(text, voice=voice.name, language=voice.language)


def text_reply(text: str | None) -> str:
    """The answer to a text to the line: one reply message, or none (an empty Response)."""
    response = MessagingResponse()
    if text:
        response.message(text)
    _make_xml_safe(response)
    return str(response)


def _with_query(url: str, parameter: str) -> str:
    """`url` with one more query parameter (a line's action URL may carry its own, such as
    the dialer's attempt id)."""
    return f"{url}{'&' if '?' in url else '?'}{parameter}"


def _make_xml_safe(node: TwiML) -> None:
    """Remove what XML 1.0 forbids from every text and attribute value under `node`
    (ElementTree would write such characters as they are, and no parser reads them back)."""
    for name, value in node.attrs.items():
        if isinstance(value, str):
            node.attrs[name] = xml_safe(value)
    if isinstance(node.value, str):
        node.value = xml_safe(node.value)
    for index, child in enumerate(node.verbs):
        if isinstance(child, str):
            node.verbs[index] = xml_safe(child)
        else:
            _make_xml_safe(child)


def voices_from(settings_voice_en: str, settings_voice_zh: str) -> dict[str, Voice]:
    return {
        "en": Voice(settings_voice_en, "en-US", "en-US"),
        "zh-CN": Voice(settings_voice_zh, "cmn-CN", "cmn-Hans-CN"),
    }
