"""The softphone: ring the hotline through the simulator from a terminal.

Scripted (`--keys "1234#,1"`): the keys go in as the caller's script, and the transcript is
printed as the call runs. Interactive: each prompt waits for keys typed at the terminal.
Either way it talks to the simulator's HTTP API, so it works against a simulator running
in another process as well as one inside a test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

import requests

POLL_SECONDS = 0.2
# What a reader of a transcript wants to see of each request, most telling first.
SHOWN_PARAMS = (
    "Digits",
    "SpeechResult",
    "Result",
    "QueueResult",
    "DialCallStatus",
    "AnsweredBy",
    "CallStatus",
)

# Transcript entries shown as their kind and details, one line each.
_SUMMARISED = frozenset(
    {
        "enqueue",
        "dequeued",
        "bridged",
        "unbridged",
        "dial",
        "answered",
        "leg",
        "amd",
        "record",
        "redirect",
        "reject",
        "leave",
    }
)


class SimulatorClient:
    """The simulator's own API (/sim/...), authenticated like Twilio's."""

    def __init__(self, base_url: str, account_sid: str, auth_token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        self.http = requests.Session()
        self.http.auth = (account_sid, auth_token)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, self.base_url + path, timeout=10, **kwargs)
        except requests.RequestException as exc:
            raise SimulatorUnavailable(
                f"no simulator answering at {self.base_url} ({_reason(exc)}): start one with "
                "`hotline simulator`, or point --simulator-url at it"
            ) from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise SimulatorUnavailable(
                f"simulator answered {response.status_code}: {message}",
                status=response.status_code,
            )
        return response.json() if response.content else None

    def ring(self, caller: str, *, keys: str | None = None, interactive: bool = False) -> str:
        body: dict[str, Any] = {"from": caller, "interactive": interactive}
        if keys is not None:
            body["keys"] = keys
        return str(self._json("POST", "/sim/inbound", json=body)["sid"])

    def text(self, texter: str, body: str, to: str | None = None) -> dict[str, Any]:
        """Text the line; the answer holds the text and the replies it got."""
        payload: dict[str, Any] = {"from": texter, "body": body}
        if to:
            payload["to"] = to
        result: dict[str, Any] = self._json("POST", "/sim/sms", json=payload)
        return result

    def messages(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/sim/messages")["messages"])

    def call(self, sid: str, since: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/sim/calls/{sid}?since={since}")
        return result

    def calls(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/sim/calls")["calls"])

    def press(self, sid: str, digits: str) -> None:
        self._json("POST", f"/sim/calls/{sid}/input", json={"digits": digits})

    def hang_up(self, sid: str) -> None:
        self._json(
            "POST",
            f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
            data={"Status": "completed"},
        )


class SimulatorUnavailable(RuntimeError):
    """The simulator is not there, or refused (`status`: its HTTP status, if it answered)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _reason(exc: requests.RequestException) -> str:
    """The socket's own words ("Connection refused") out of urllib3's nested message."""
    if isinstance(exc, requests.Timeout):
        return "no answer within 10 s"
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return found[-1].strip() if found else type(exc).__name__


def describe(entry: Mapping[str, Any]) -> str | None:
    """One transcript entry as a line a person reads; None for entries not worth a line."""
    kind = entry["kind"]
    minutes, seconds = divmod(float(entry.get("t", 0)), 60)
    stamp = f"{int(minutes):02d}:{seconds:04.1f}"
    text: str | None
    if kind == "created":
        text = f"CALL  {entry.get('from')} -> {entry.get('to')}  ({entry.get('url')})"
    elif kind == "say":
        text = f'SAY   "{entry.get("text")}"'
    elif kind == "play":
        text = f"PLAY  {entry.get('url') or entry.get('digits')}"
    elif kind == "send_digits":
        text = f"DTMF  {entry.get('digits')}  (SendDigits, {entry.get('seconds')} s)"
    elif kind == "gather":
        text = f"WAIT  for {entry.get('input')} (timeout {entry.get('timeout')} s)"
    elif kind == "input":
        if entry.get("none"):
            text = "KEYS  (nothing)"
        elif entry.get("speech"):
            text = f'SPEAK "{entry.get("speech")}"'
        else:
            text = f"KEYS  {entry.get('digits')}"
    elif kind in ("fetch", "callback"):
        outcome = entry.get("status", entry.get("error"))
        label = f" [{entry['label']}]" if entry.get("label") else ""
        if entry.get("attempt"):
            label += f" (attempt {entry['attempt']})"
        if entry.get("delivery"):
            label += f" ({entry['delivery']}, +{entry.get('delay_s', 0)} s)"
        params = entry.get("params") or {}
        shown = " ".join(f"{name}={params[name]}" for name in SHOWN_PARAMS if name in params)
        text = f"{entry.get('method')}  {entry.get('url')}{label} -> {outcome}  {shown}".rstrip()
    elif kind == "status":
        duration = entry.get("duration")
        text = f"STATUS {entry.get('status')}" + (f" ({duration} s)" if duration else "")
    elif kind == "error":
        text = f"ERROR {entry.get('code')} {entry.get('message')}"
    elif kind == "warning":
        text = f"WARN  {entry.get('message')}"
    elif kind == "hangup":
        text = f"HANGUP by {entry.get('by')}"
    elif kind == "pay":
        text = f"PAY   {entry.get('stage')}" + (
            f" -> {entry['result']}" if entry.get("result") else ""
        )
    elif kind in _SUMMARISED:
        details = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("t", "at", "kind"))
        text = f"{kind.upper():5} {details}"
    else:
        text = None
    return f"[{stamp}] {text}" if text else None


def render(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    return [line for line in (describe(e) for e in entries) if line]


def speaker(language: str) -> Callable[[str], None] | None:
    """Speak through espeak-ng when it is installed; None when it is not."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        return None
    voice = "cmn" if language.lower().startswith("zh") else "en-us"

    def speak(text: str) -> None:
        subprocess.run([binary, "-v", voice, text], check=False, capture_output=True)

    return speak


def follow(
    client: SimulatorClient,
    sid: str,
    out: TextIO,
    *,
    read_keys: Callable[[], str | None] | None = None,
    speak: Callable[[str], None] | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Print the call's transcript as it grows; feed typed keys to interactive prompts."""
    since, deadline = 0, time.monotonic() + timeout
    while True:
        state = client.call(sid, since)
        for entry in state["transcript"]:
            line = describe(entry)
            if line:
                print(line, file=out, flush=True)
            if speak is not None and entry["kind"] == "say":
                speak(str(entry["text"]))
        since = state["next"]
        if state["done"]:
            return state
        if read_keys is not None and state["awaiting_input"]:
            keys = read_keys()
            if keys is None:  # end of input: hang up, and read no more (a terminal's
                client.hang_up(sid)  # end of input comes once; the next read would block)
                read_keys = None
            else:
                client.press(sid, keys)
            continue
        if time.monotonic() > deadline:
            client.hang_up(sid)
            raise TimeoutError(f"call {sid} still running after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)
