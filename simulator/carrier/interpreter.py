"""The TwiML interpreter: fetch a document, run its verbs, follow where they lead.

Fetching goes through the fallback URL and Twilio's application-error path. Each verb is
looked up in the Carrier's VERBS table (simulator/carrier/__init__.py); the simple verbs
and <Gather> live here, <Dial>/<Enqueue> in verbs_queue and <Pay> in verbs_pay.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from simulator import twiml
from simulator.carrier.records import SimCall, _CallOver, _Redirected, _resolve, new_sid
from simulator.carrier.rest import RestApi

# What a caller hears when the app fails and there is no fallback URL.
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."

# How long speech takes (speech_seconds): words, or Chinese characters, per second.
WORDS_PER_SECOND = 2.5
CJK_CHARS_PER_SECOND = 4.0


# What a verb may return: the next document to request (url, method, inline TwiML,
# extra parameters), or None to go on with the next verb.
NextRequest = tuple[str | None, str, str | None, Mapping[str, str]]
# A verb's handler, called with the carrier, the call, the element, the document's URL, and
# whether it is the first verb of the call's first document.
Verb = Callable[[Any, SimCall, ET.Element, str | None, bool], NextRequest | None]


class Interpreter(RestApi):
    """Requests TwiML for a call and executes it verb by verb."""

    # Tag -> handler; the Carrier class fills it in with every verb twiml.SUPPORTED lets through.
    VERBS: ClassVar[Mapping[str, Verb]]

    def _execute(
        self,
        call: SimCall,
        url: str | None,
        method: str,
        inline: str | None,
        *,
        first_document: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        """Request and run documents until the call ends or runs off the end."""
        next_request: tuple[str | None, str, str | None, Mapping[str, str]] | None = (
            url,
            method,
            inline,
            extra or {},
        )
        while next_request is not None:
            url, method, inline, extra = next_request
            document = self._document(call, url, method, inline, extra)
            if document is None:
                return
            doc_url = url
            try:
                next_request = self._run_verbs(call, document, doc_url, first_document)
            except _Redirected as redirect:
                call.pending_update = None
                next_request = (redirect.url, redirect.method, redirect.twiml_text, {})
            first_document = False
        # Running off the end of a document hangs up.
        self._note(call, "hangup", {"by": "end of TwiML"})

    def _document(
        self,
        call: SimCall,
        url: str | None,
        method: str,
        inline: str | None,
        extra: Mapping[str, str],
    ) -> twiml.Document | None:
        if inline is not None:
            try:
                return twiml.parse(inline.encode(), "text/xml")
            except twiml.TwimlError as exc:
                self._application_error(call, exc.code, exc.message, url)
                return None
        assert url is not None
        params = self._base_params(call, call.status if call.status != "queued" else "ringing")
        if call.answered_by and call.direction == "outbound-api":
            params["AnsweredBy"] = call.answered_by
        params.update(extra)
        response = self._request(call, url, method, params, kind="fetch")
        if response is None:
            return self._fallback(call, 11200, "HTTP retrieval failure: no response", url)
        if response.status_code >= 300:
            return self._fallback(
                call, 11200, f"HTTP retrieval failure: status {response.status_code}", url
            )
        try:
            document = twiml.parse(response.content, response.headers.get("Content-Type"))
        except twiml.TwimlError as exc:
            media = (response.headers.get("Content-Type") or "").split(";")[0]
            if media == "text/plain" and exc.code == 12100:
                self._say(call, response.text, {"note": "text/plain read aloud"})
                raise _CallOver from None
            return self._fallback(call, exc.code, exc.message, url)
        for warning in document.warnings:
            self._note(call, "warning", {"message": warning})
        return document

    def _fallback(self, call: SimCall, code: int, message: str, url: str) -> twiml.Document | None:
        self._note(call, "error", {"code": code, "message": message, "url": url})
        call.error_code = code
        if call.fallback_url and url != call.fallback_url:
            fallback_url = call.fallback_url
            return self._document(
                call,
                fallback_url,
                call.fallback_method,
                None,
                {"ErrorCode": str(code), "ErrorUrl": url},
            )
        self._application_error(call, code, message, url)
        return None

    def _application_error(self, call: SimCall, code: int, message: str, url: str | None) -> None:
        self._ensure_answered(call)
        if call.error_code is None:
            call.error_code = code
            self._note(call, "error", {"code": code, "message": message, "url": url})
        self._say(call, APPLICATION_ERROR, {"voice": "carrier"})
        self._note(call, "hangup", {"by": "carrier after application error"})

    def _run_verbs(
        self, call: SimCall, document: twiml.Document, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, str | None, Mapping[str, str]] | None:
        for index, verb in enumerate(document.verbs):
            self._check_live(call)
            handler = self.VERBS[verb.tag]
            result = handler(self, call, verb, doc_url, first and index == 0)
            if result is not None:
                return result
        return None

    def _say(self, call: SimCall, text: str, detail: Mapping[str, Any]) -> None:
        self._note(call, "say", {"text": text, **detail})
        self._pace(call, speech_seconds(text))

    def _verb_say(self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool) -> None:
        self._ensure_answered(call)
        loop = twiml.attr_int(verb, "loop", 1)
        text = twiml.text_of(verb)
        detail = {
            k: v for k, v in (("voice", verb.get("voice")), ("language", verb.get("language"))) if v
        }
        for _ in range(loop if loop > 0 else 3):  # loop=0: until hangup; heard three times
            self._say(call, text, detail)

    def _verb_play(self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool) -> None:
        self._ensure_answered(call)
        if verb.get("digits"):
            self._note(call, "play", {"digits": verb.get("digits")})
            self._pace(call, 0.2 * len(verb.get("digits") or ""))
            return
        loop = twiml.attr_int(verb, "loop", 1)
        for _ in range(loop if loop > 0 else 3):
            self._note(call, "play", {"url": twiml.text_of(verb)})
            self._pace(call, 5.0)  # audio length is unknown without fetching it

    def _verb_pause(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> None:
        self._ensure_answered(call)
        seconds = twiml.attr_int(verb, "length", 1)
        self._note(call, "pause", {"seconds": seconds})
        self._pace(call, seconds)

    def _verb_hangup(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> None:
        self._note(call, "hangup", {"by": "app"})
        raise _CallOver

    def _verb_reject(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> None:
        reason = verb.get("reason", "rejected")
        self._note(call, "reject", {"reason": reason})
        if call.answered_offset is None:
            self._finish(call, "busy" if reason == "busy" else "no-answer")
        raise _CallOver

    def _verb_redirect(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]]:
        target = _resolve(doc_url, twiml.text_of(verb))
        self._note(call, "redirect", {"url": target})
        return target, verb.get("method", "POST").upper(), None, {}

    def _verb_gather(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]] | None:
        self._ensure_answered(call)
        finish_on_key = verb.get("finishOnKey", "#")
        num_digits = twiml.attr_int(verb, "numDigits", 0)
        timeout = twiml.attr_int(verb, "timeout", 5)
        modes = set(verb.get("input", "dtmf").split())
        spoken: list[str] = []
        for child in verb:
            if child.tag == "Say":
                self._verb_say(call, child, doc_url, False)
                spoken.append(twiml.text_of(child))
            elif child.tag == "Play":
                self._verb_play(call, child, doc_url, False)
            elif child.tag == "Pause":
                self._verb_pause(call, child, doc_url, False)
        prompt = " ".join(spoken)
        self._note(
            call,
            "gather",
            {
                "input": " ".join(sorted(modes)),
                "timeout": timeout,
                "finish_on_key": finish_on_key,
                "num_digits": num_digits,
            },
        )
        party = call.party
        # Who really answered, not what AMD guessed: a person taken for a machine (a long
        # greeting) still keys a menu, and a machine taken for a person never does.
        is_machine = party is not None and party.script.answer in ("machine", "fax")
        step = None if party is None or is_machine else party.respond(prompt, float(timeout))
        params: dict[str, str] = {}
        if step is not None and step.say and "speech" in modes:
            self._note(call, "input", {"speech": step.say, "confidence": step.confidence})
            self._pace(call, speech_seconds(step.say))
            params = {"SpeechResult": step.say, "Confidence": f"{step.confidence:.2f}"}
        elif step is not None and step.press and "dtmf" in modes:
            digits, finished_on = _collect_digits(step.press, finish_on_key, num_digits)
            self._note(call, "input", {"digits": step.press})
            ended_by_caller = bool(finished_on) or (num_digits and len(digits) >= num_digits)
            self._pace(call, 0.3 * len(step.press) + (0 if ended_by_caller else timeout))
            if digits:  # '#' alone is empty input, as on Twilio
                params = {"Digits": digits, "FinishedOnKey": finished_on}
        else:
            self._note(call, "input", {"none": True})
            self._pace(call, timeout)
        if not params:
            if party is not None and party.script.steps and party.exhausted:
                # A scripted caller with nothing left to do hangs up rather than listen to
                # the menu forever; a silent caller (no script) keeps listening.
                self._note(call, "hangup", {"by": "callee (script finished)"})
                raise _CallOver
            if not twiml.attr_bool(verb, "actionOnEmptyResult", False):
                return None  # no input: fall through to the next verb
            params = {"Digits": "", "FinishedOnKey": ""}
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else doc_url
        return action, verb.get("method", "POST").upper(), None, params

    def _verb_record(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> tuple[str | None, str, None, dict[str, str]]:
        self._ensure_answered(call)
        seconds = min(
            call.party.script.record_seconds if call.party else 5.0,
            float(twiml.attr_int(verb, "maxLength", 3600)),
        )
        if twiml.attr_bool(verb, "playBeep", True):
            self._note(call, "beep", {})
        self._note(call, "record", {"seconds": seconds})
        self._pace(call, seconds)
        recording = new_sid("RE")
        params = {
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{call.account_sid}"
            f"/Recordings/{recording}",
            "RecordingSid": recording,
            "RecordingDuration": str(int(seconds)),
            "Digits": "hangup",
        }
        action = _resolve(doc_url, verb.get("action")) if verb.get("action") else doc_url
        return action, verb.get("method", "POST").upper(), None, params

    def _verb_start(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> None:
        """<Start>: begin a recording at once and go on (streams and others: not simulated)."""
        self._ensure_answered(call)
        for noun in verb:
            if noun.tag != "Recording":
                self._note(call, "warning", {"message": f"<Start><{noun.tag}> is not simulated"})
                continue
            with self._lock:
                self._start_recording(
                    call,
                    "StartCallRecordingTwiML",
                    channels=noun.get("channels"),
                    track=noun.get("track"),
                    callback=noun.get("recordingStatusCallback"),
                    callback_method=noun.get("recordingStatusCallbackMethod"),
                    events=[noun.get("recordingStatusCallbackEvent") or "completed"],
                    base_url=doc_url,
                )

    def _verb_leave(
        self, call: SimCall, verb: ET.Element, doc_url: str | None, first: bool
    ) -> None:
        self._note(call, "warning", {"message": "<Leave> outside a queue's waitUrl is ignored"})


def speech_seconds(text: str) -> float:
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    words = len(text.split())
    return max(0.5, words / WORDS_PER_SECOND + cjk / CJK_CHARS_PER_SECOND)


def _collect_digits(pressed: str, finish_on_key: str, num_digits: int) -> tuple[str, str]:
    """Keys as Twilio hands them over: up to finishOnKey (excluded) or numDigits."""
    digits = ""
    for key in pressed.replace("w", ""):
        if finish_on_key and key in finish_on_key:
            return digits, key
        digits += key
        if num_digits and len(digits) >= num_digits:
            return digits, ""
    return digits, ""
