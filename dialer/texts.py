"""What a text to the line asks for. Pure.

A cardholder may revoke consent "in any reasonable manner" (the FCC's TCPA rule of 2024):
not only Twilio's exact keywords but "please stop calling me" or 不要再打了 stop calls and
texts to that number. So a stop word anywhere in the text counts, in English or Chinese;
a text that could be read either way is read as a stop.

Twilio answers its own keywords itself (STOP, START, HELP and their synonyms, the whole
text alone, any case) and refuses the app's reply to a texter it has just unsubscribed,
so the app confirms only what Twilio does not: a stop in other words, and help in Chinese.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

# Twilio's default opt-out, opt-in and help keywords (the whole text, any case).
TWILIO_STOP = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
TWILIO_START = frozenset({"START", "UNSTOP", "YES"})
TWILIO_HELP = frozenset({"HELP", "INFO"})
# A stop in a sentence. Not "end", "cancel" or "quit" there ("at the end of the month",
# "cancel my promise"): alone, they are Twilio's keywords above.
_STOP_WORDS = re.compile(
    r"\b(stop|stopall|unsubscribe|revoke|opt[\s-]?out|remove me|"
    r"(do not|don'?t|never) (call|text|contact)|no more (calls|texts|messages))\b",
    re.IGNORECASE,
)
_STOP_ZH = (
    "退订",
    "取消订阅",
    "不要再",
    "别再",
    "不要打",
    "别打",
    "停止",
    "不要联系",
    "别联系",
    "勿打扰",
    "不要打扰",
    "别打扰",
    "不要发短信",
    "别发短信",
    "不要给我发",
    "别给我发",
)
# China's standard unsubscribe reply ("回复TD退订"): the whole text, any case, trimmed of
# punctuation. Not in a sentence ("TD Bank"); Twilio does not know it, so the app answers.
_STOP_ALONE = frozenset({"TD"})
_HELP_ZH = ("帮助",)
_CJK = re.compile(r"[\u4e00-\u9fff]")


class Ask(enum.StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    OTHER = "other"


@dataclass(frozen=True)
class TextRead:
    ask: Ask
    language: str  # the language to answer in ("en" or "zh-CN")
    twilio_answers: bool  # Twilio replied itself (its own keyword): the app says nothing


def read_text(body: str) -> TextRead:
    """What the texter asks for, and whether Twilio has answered it already."""
    text = unicodedata.normalize("NFKC", body).strip()
    bare = text.upper()  # Twilio's match: the whole text, trimmed, any case, nothing more
    language = "zh-CN" if _CJK.search(text) else "en"
    if bare in TWILIO_STOP:
        return TextRead(Ask.STOP, language, twilio_answers=True)
    if bare in TWILIO_START:
        return TextRead(Ask.START, language, twilio_answers=True)
    if bare in TWILIO_HELP:
        return TextRead(Ask.HELP, language, twilio_answers=True)
    stop_alone = bare.strip(" .!。！,，") in _STOP_ALONE
    if stop_alone:
        language = "zh-CN"  # a convention of China's carriers: answered in Chinese
    if stop_alone or _STOP_WORDS.search(text) or any(word in text for word in _STOP_ZH):
        return TextRead(Ask.STOP, language, twilio_answers=False)
    if any(word in text for word in _HELP_ZH):
        return TextRead(Ask.HELP, language, twilio_answers=False)
    return TextRead(Ask.OTHER, language, twilio_answers=False)
