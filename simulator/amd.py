"""Answering machine detection: who Twilio would say answered, and after how long.

A pure rule over what the callee sends in the first seconds after answering (a `Greeting`)
and the call's detection settings (`Thresholds`, Twilio's MachineDetection* parameters).
Twilio's engine is a trained model; this is the deterministic stand-in the simulator uses,
built on what Twilio documents each parameter to mean:

- MachineDetectionSpeechThreshold (ms): speech shorter than this is a human, longer a
  machine;
- MachineDetectionSpeechEndThreshold (ms): silence after speech that ends the speech;
- MachineDetectionSilenceTimeout (ms): initial silence after which the answer is `unknown`;
- MachineDetectionTimeout (s): no decision by then is `unknown`.

The rule, times measured from the answer, S the seconds the callee speaks:

- a fax tone: `fax` at 3 s;
- nothing said: `unknown` at SilenceTimeout;
- S <= SpeechThreshold, then a beep: `machine_start` (Enable) or `machine_end_beep`
  (DetectMessageEnd) at S + 0.5 s;
- S <= SpeechThreshold, then silence or other sound: `human` at S + SpeechEndThreshold;
- S > SpeechThreshold, Enable: `machine_start` at SpeechThreshold, while it still speaks;
- S > SpeechThreshold, DetectMessageEnd: by how the greeting ends: a beep,
  `machine_end_beep` at S + 0.5 s; silence, `machine_end_silence` at S +
  SpeechEndThreshold; other sound (music, a mailbox-full notice, line noise),
  `machine_end_other` at S + SpeechEndThreshold;
- any decision that would come after MachineDetectionTimeout: `unknown` at the timeout.

So a person with a long greeting ("Hello, Dana Smith speaking, who is this?") is taken for a
machine and a machine with a short one for a person, as on the real network.
"""

from __future__ import annotations

from dataclasses import dataclass

ENABLE = "Enable"
DETECT_MESSAGE_END = "DetectMessageEnd"

# How a greeting ends, once its speech is over.
BEEP, SILENCE, OTHER = "beep", "silence", "other"
GREETING_ENDS = (BEEP, SILENCE, OTHER)

# A voicemail beep is heard this long before the detector calls it one.
BEEP_SECONDS = 0.5
# A fax machine's calling tone (CNG) is recognised this long after the answer.
FAX_TONE_SECONDS = 3.0


@dataclass(frozen=True)
class Thresholds:
    """The call's MachineDetection* parameters, with Twilio's defaults."""

    timeout_seconds: float = 30.0
    speech_ms: int = 2400
    speech_end_ms: int = 1200
    silence_ms: int = 5000


@dataclass(frozen=True)
class Greeting:
    """What the callee sends on answering: speech of some length, then how it ends."""

    speech_seconds: float = 1.0
    end: str = SILENCE  # one of GREETING_ENDS
    fax: bool = False


@dataclass(frozen=True)
class Verdict:
    """Twilio's AnsweredBy, and when it is known: seconds after the answer."""

    answered_by: str
    seconds: float

    @property
    def duration_ms(self) -> int:
        """MachineDetectionDuration: milliseconds from the answer to the verdict."""
        return round(self.seconds * 1000)


def detect(greeting: Greeting, mode: str, thresholds: Thresholds) -> Verdict:
    """AnsweredBy for this greeting under MachineDetection=`mode` (Enable/DetectMessageEnd)."""
    verdict = _decide(greeting, mode == DETECT_MESSAGE_END, thresholds)
    if verdict.seconds > thresholds.timeout_seconds:
        return Verdict("unknown", thresholds.timeout_seconds)
    return verdict


def cut_short(seconds: float) -> Verdict:
    """The call ended `seconds` after the answer, before detection decided."""
    return Verdict("unknown", seconds)


def _decide(greeting: Greeting, message_end: bool, thresholds: Thresholds) -> Verdict:
    speech = greeting.speech_seconds
    speech_threshold = thresholds.speech_ms / 1000
    speech_end = thresholds.speech_end_ms / 1000
    if greeting.fax:
        return Verdict("fax", FAX_TONE_SECONDS)
    if speech <= 0:
        return Verdict("unknown", thresholds.silence_ms / 1000)
    if speech <= speech_threshold:
        if greeting.end == BEEP:  # a short greeting, but a beep gives the machine away
            answered_by = "machine_end_beep" if message_end else "machine_start"
            return Verdict(answered_by, speech + BEEP_SECONDS)
        return Verdict("human", speech + speech_end)
    if not message_end:
        return Verdict("machine_start", speech_threshold)
    if greeting.end == BEEP:
        return Verdict("machine_end_beep", speech + BEEP_SECONDS)
    return Verdict(f"machine_end_{greeting.end}", speech + speech_end)
