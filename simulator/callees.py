"""Who is on the other end: scripted people and machines, a seeded mix, the softphone.

A script is plain data (JSON over the simulator's API), so a bank's team can describe a
callee without code: how the number answers, then what the person keys or says at each
prompt. A number with no script answers as a person after a short ring and stays silent.
"""

from __future__ import annotations

import datetime as dt
import queue
import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from simulator.amd import BEEP, GREETING_ENDS, OTHER, SILENCE, Greeting

ANSWERS = ("human", "machine", "fax", "busy", "no-answer", "failed", "invalid")
# Destinations Twilio refuses at POST Calls.json, before any call exists: outside the
# account's voice geographic permissions (21215), or blocked by Twilio itself (21216).
REFUSALS = ("geo-permissions", "blocked")
SMS_OUTCOMES = ("delivered", "undelivered", "failed")
LINE_TYPES = ("mobile", "landline")
CARD_OUTCOMES = (
    "success",
    "declined",
    "too-many-failed-attempts",
    "caller-hung-up",
    "caller-interrupted-with-star",
    "connector-error",
)


class ScriptError(ValueError):
    """A callee script that cannot be followed; the message names the field."""


@dataclass(frozen=True)
class Step:
    """What the person does at one prompt (a <Gather>): keys, speech, or nothing."""

    press: str = ""
    say: str | None = None
    confidence: float = 0.92
    # Only answer a prompt whose spoken text matches this regular expression; prompts that
    # don't match get silence and the step waits for the next one.
    when: str | None = None

    def matches(self, prompt: str) -> bool:
        return self.when is None or re.search(self.when, prompt, re.IGNORECASE) is not None


@dataclass(frozen=True)
class Card:
    """How a <Pay> session goes. Only masked data ever exists in the simulator."""

    outcome: str = "success"
    brand: str = "visa"
    last4: str = "1111"
    expiry: str = "1230"
    postal_code: str = "94107"


@dataclass(frozen=True)
class Script:
    answer: str = "human"
    ring_seconds: float = 4.0
    # How long the callee speaks on answering, before anything is played to them: a
    # person's "Hello?" or a machine's greeting. None: DEFAULT_GREETING_SECONDS.
    greeting_seconds: float | None = None
    # How a machine's greeting ends: a beep, silence, or other sound (GREETING_ENDS).
    greeting_end: str = BEEP
    silent: bool = False  # answers and says nothing
    hangup_after: float | None = None  # seconds after answering
    steps: tuple[Step, ...] = ()
    card: Card = field(default_factory=Card)
    hold_patience: float = 300.0  # seconds a caller waits in a queue before hanging up
    record_seconds: float = 5.0
    talk_seconds: float = 30.0  # when this number is dialed as an agent or transfer target
    refuse: str | None = None  # one of REFUSALS: Twilio refuses to create a call to it
    # Texts to this number: how they end, whether the number takes SMS at all, its line
    # type, and what the person texts back, one reply per message delivered to them.
    sms: str = "delivered"
    sms_capable: bool = True
    line: str = "mobile"
    sms_replies: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Script:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known - {"keys", "beep"})
        if unknown:
            raise ScriptError(f"unknown field(s): {', '.join(unknown)}")
        values = {k: v for k, v in data.items() if k in known}
        if values.get("answer", "human") not in ANSWERS:
            raise ScriptError(f"answer: {values['answer']!r} is not one of {', '.join(ANSWERS)}")
        if values.get("refuse") is not None and values["refuse"] not in REFUSALS:
            raise ScriptError(f"refuse: {values['refuse']!r} is not one of {', '.join(REFUSALS)}")
        if values.get("sms", "delivered") not in SMS_OUTCOMES:
            raise ScriptError(f"sms: {values['sms']!r} is not one of {', '.join(SMS_OUTCOMES)}")
        if values.get("line", "mobile") not in LINE_TYPES:
            raise ScriptError(f"line: {values['line']!r} is not one of {', '.join(LINE_TYPES)}")
        replies = values.pop("sms_replies", ())
        if isinstance(replies, str) or not all(isinstance(r, str) for r in replies):
            raise ScriptError("sms_replies: a list of texts")
        values["sms_replies"] = tuple(replies)
        if "beep" in data:  # the older spelling: a greeting ends in a beep, or in silence
            if "greeting_end" in data:
                raise ScriptError("beep: give greeting_end or beep, not both")
            values["greeting_end"] = BEEP if data["beep"] else SILENCE
        _check_greeting(values)
        try:
            steps = [
                Step(**s) if isinstance(s, Mapping) else Step(press=str(s))
                for s in values.pop("steps", ())
            ]
            if "keys" in data:
                steps.extend(steps_from_keys(str(data["keys"])))
            card = Card(**values.pop("card", {}))
        except TypeError as exc:
            raise ScriptError(str(exc)) from None
        if card.outcome not in CARD_OUTCOMES:
            raise ScriptError(
                f"card.outcome: {card.outcome!r} is not one of {', '.join(CARD_OUTCOMES)}"
            )
        for step in steps:
            if step.press.strip("0123456789*#w"):
                raise ScriptError(f"steps: {step.press!r} has keys that are not 0-9 * # or w")
        return cls(**values, steps=tuple(steps), card=card)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def spoken_seconds(self) -> float:
        """How long the callee speaks on answering (0 when silent)."""
        if self.silent:
            return 0.0
        if self.greeting_seconds is not None:
            return self.greeting_seconds
        return DEFAULT_GREETING_SECONDS.get(self.answer, DEFAULT_GREETING_SECONDS["human"])

    def greeting(self) -> Greeting:
        """What answering machine detection hears from this callee."""
        if self.answer == "machine":
            return Greeting(self.spoken_seconds, self.greeting_end)
        # A person says their greeting, then waits in silence for the caller to speak.
        return Greeting(self.spoken_seconds, SILENCE, fax=self.answer == "fax")


# A person's "Hello?"; a voicemail greeting.
DEFAULT_GREETING_SECONDS = {"human": 1.0, "machine": 8.0, "fax": 8.0}


def _check_greeting(values: Mapping[str, Any]) -> None:
    if values.get("greeting_end", BEEP) not in GREETING_ENDS:
        raise ScriptError(
            f"greeting_end: {values['greeting_end']!r} is not one of {', '.join(GREETING_ENDS)}"
        )
    seconds = values.get("greeting_seconds")
    if seconds is not None and (not isinstance(seconds, int | float) or seconds < 0):
        raise ScriptError(f"greeting_seconds: {seconds!r} is not a number of seconds >= 0")
    if values.get("silent") and seconds:
        raise ScriptError("silent: a silent callee has no greeting_seconds")


def steps_from_keys(keys: str) -> list[Step]:
    """'1234#,1,,2' -> one step per prompt; an empty item is silence at that prompt."""
    return [Step(press=item.strip()) for item in keys.split(",")] if keys else []


# Weights for a campaign's mix of outcomes, as answered by real lists of delinquent numbers.
DEFAULT_MIX = {"human": 0.35, "machine": 0.3, "no-answer": 0.25, "busy": 0.06, "failed": 0.04}


@dataclass(frozen=True)
class CalleeMix:
    """A seeded statistical mix: each number draws its behaviour from its own RNG.

    The draw depends only on (seed, number), never on call order, so a campaign replays the
    same way whatever the dialer's concurrency.
    """

    seed: int = 1
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))

    def script_for(self, number: str) -> Script:
        rng = random.Random(f"{self.seed}:{number}")
        answers = [a for a in self.weights if self.weights[a] > 0]
        answer = rng.choices(answers, weights=[self.weights[a] for a in answers])[0]
        ring_seconds = round(rng.uniform(2, 20), 1)
        if answer == "machine":
            return Script(
                answer=answer,
                ring_seconds=ring_seconds,
                greeting_seconds=_machine_greeting(rng),
                greeting_end=rng.choices(
                    list(MACHINE_GREETING_ENDS), weights=list(MACHINE_GREETING_ENDS.values())
                )[0],
            )
        if answer == "human":
            silent = rng.random() < SILENT_PEOPLE
            return Script(
                answer=answer,
                ring_seconds=ring_seconds,
                silent=silent,
                greeting_seconds=None if silent else _human_greeting(rng),
                hangup_after=round(rng.uniform(15, 90), 1),
            )
        return Script(answer=answer, ring_seconds=ring_seconds)


# The mix's answering behaviours, so every AMD branch comes up in a campaign: how machine
# greetings end (beep, silence, other), the share of people who answer and say nothing.
MACHINE_GREETING_ENDS = {BEEP: 0.7, SILENCE: 0.2, OTHER: 0.1}
SILENT_PEOPLE = 0.1


def _machine_greeting(rng: random.Random) -> float:
    """Mostly 4-20 s; a few short enough to pass for a person, a few past the 30 s timeout."""
    roll = rng.random()
    if roll < 0.05:
        return round(rng.uniform(1.0, 2.2), 1)
    if roll < 0.9:
        return round(rng.uniform(4.0, 20.0), 1)
    return round(rng.uniform(20.0, 35.0), 1)


def _human_greeting(rng: random.Random) -> float:
    """Mostly a short "Hello?"; one in nine a longer greeting AMD takes for a machine."""
    if rng.random() < 1 / 9:
        return round(rng.uniform(2.6, 4.0), 1)
    return round(rng.uniform(0.5, 1.8), 1)


class Party:
    """A script being followed during one call: hands out the next step at each prompt."""

    interactive = False

    def __init__(self, script: Script) -> None:
        self.script = script
        self._cursor = 0

    def respond(self, prompt: str, timeout: float) -> Step | None:
        """The step for this prompt, or None (silence until the Gather times out)."""
        steps = self.script.steps
        if self._cursor >= len(steps):
            return None
        step = steps[self._cursor]
        if not step.matches(prompt):
            return None
        self._cursor += 1
        return step

    @property
    def exhausted(self) -> bool:
        return self._cursor >= len(self.script.steps)


class InteractiveParty(Party):
    """The softphone: keys arrive from a person at a terminal, in real time."""

    interactive = True

    def __init__(self, script: Script | None = None) -> None:
        super().__init__(script or Script())
        self._inputs: queue.Queue[Step] = queue.Queue()
        self.waiting = threading.Event()

    def give(self, step: Step) -> None:
        self._inputs.put(step)

    def respond(self, prompt: str, timeout: float) -> Step | None:
        self.waiting.set()
        try:
            return self._inputs.get(timeout=timeout)
        except queue.Empty:
            return None
        finally:
            self.waiting.clear()

    @property
    def exhausted(self) -> bool:
        return False


# What a person who answers does, once they have said who they are, call by call (the rest
# of the time they listen and hang up): pay by card, promise, opt out by key, ask for an
# agent. A number's person keeps these leanings; each call draws afresh from them.
PERSON_CHOICES = {"listen": 0.58, "pay": 0.14, "promise": 0.2, "opt-out": 0.03, "agent": 0.05}
# A number answered by someone else (a relative, a reassigned number): they say so.
WRONG_NUMBERS = 0.05
CARD_DECLINED = 0.15


@dataclass
class PeopleMix:
    """A seeded mix of people whose behaviour varies from call to call, for a campaign
    simulation: one call finds no answer, the next the voicemail, the next the person, who
    may pay, promise, opt out or just listen.

    Each number has a person drawn once from (seed, number): how often they pick up, whether
    a voicemail answers otherwise, whether the number is someone else's. Each call to it
    draws from (seed, number, which call to the number this is), never from timing or
    order, so one seed replays a campaign exactly. `promises` gives the amount (minor
    units) a number's person promises when they promise (a simulation knows the accounts;
    without one, that person pays instead); `today` the date a promise is counted from.
    """

    seed: int = 1
    promises: Mapping[str, int] = field(default_factory=dict)
    today: Callable[[], dt.date] | None = None
    _calls: dict[str, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def script_for(self, number: str) -> Script:
        with self._lock:
            nth = self._calls.get(number, 0)
            self._calls[number] = nth + 1
        person = random.Random(f"{self.seed}:{number}")
        picks_up = person.uniform(0.15, 0.65)
        has_voicemail = person.random() < 0.7
        wrong_number = person.random() < WRONG_NUMBERS
        rng = random.Random(f"{self.seed}:{number}:{nth}")
        ring_seconds = round(rng.uniform(2, 20), 1)
        roll = rng.random()
        if roll < 0.04:
            return Script(answer="busy", ring_seconds=ring_seconds)
        if roll < 0.04 + picks_up:
            return self._person(number, rng, ring_seconds, wrong_number)
        if has_voicemail and rng.random() < 0.8:
            return Script(
                answer="machine",
                ring_seconds=ring_seconds,
                greeting_seconds=_machine_greeting(rng),
                greeting_end=rng.choices(
                    list(MACHINE_GREETING_ENDS), weights=list(MACHINE_GREETING_ENDS.values())
                )[0],
            )
        return Script(answer="no-answer", ring_seconds=max(ring_seconds, 25.0))

    def _person(
        self, number: str, rng: random.Random, ring_seconds: float, wrong_number: bool
    ) -> Script:
        silent = rng.random() < SILENT_PEOPLE
        greeting = None if silent else _human_greeting(rng)
        person = Script(
            answer="human", ring_seconds=ring_seconds, silent=silent, greeting_seconds=greeting
        )
        if wrong_number:
            return replace(person, steps=tuple(steps_from_keys("2")))
        choice = rng.choices(list(PERSON_CHOICES), weights=list(PERSON_CHOICES.values()))[0]
        amount, today = self.promises.get(number), self.today
        if choice == "promise" and (amount is None or today is None):
            choice = "pay"
        card = Card(outcome="declined" if rng.random() < CARD_DECLINED else "success")
        if choice == "pay":  # I am; pay; the minimum; confirm; then the card
            keys = "1,1,1,1"
        elif choice == "promise" and today is not None:  # I am; promise; amount; date; confirm
            day = today() + dt.timedelta(days=rng.randint(2, 14))
            keys = f"1,2,{amount}#,{day:%Y%m%d}#,1"
        elif choice == "opt-out":  # I am; stop calls to this number; confirm
            keys = "1,9,1"
        elif choice == "agent":
            keys = "1,0"
        else:  # says who they are, hears what is due, and hangs up
            keys = "1"
        return replace(
            person,
            steps=tuple(steps_from_keys(keys)),
            card=card,
            hold_patience=round(rng.uniform(20, 120), 1),
        )
