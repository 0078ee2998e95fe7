"""Twilio's webhook connection overrides: the URL fragment that sets timeouts and retries.

A webhook URL may end in a fragment such as `#ct=1000&rt=3000&rc=2&rp=5xx,ct`
(https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides). Twilio reads
it, strips it (a fragment is never part of an HTTP request), and applies it to every
attempt of that one request. Without a fragment Twilio's defaults apply:

| key | meaning | range | default |
| --- | --- | --- | --- |
| `ct` | connect timeout, ms | 100-10000 | 5000 |
| `rt` | read timeout (first byte, and between packets), ms | 100-15000 | 15000 |
| `tt` | total time for every attempt together, ms | 100-15000 | 15000 |
| `rc` | retries after the first attempt | 0-5 | 1 |
| `rp` | which failures are retried: `4xx`, `5xx`, `ct`, `rt`, `all` (comma list) | | `ct` |

Out-of-range numbers are brought into range and unreadable ones left at the default; an
`rp` naming anything else is Twilio's error 11243 and the request is not made. `e`
(egress edge) and `sni` are accepted and have no effect here: the simulator has one edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import requests

RETRY_POLICIES = frozenset({"4xx", "5xx", "ct", "rt", "all"})

# key -> (smallest, largest, default), as Twilio documents them.
_LIMITS = {
    "ct": (100, 10_000, 5_000),
    "rt": (100, 15_000, 15_000),
    "tt": (100, 15_000, 15_000),
    "rc": (0, 5, 1),
}


class OverrideError(ValueError):
    """A fragment Twilio refuses (its error code, e.g. 11243 for a bad retry policy)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ConnectionSettings:
    """How one webhook request is attempted: timeouts, retries, and which failures count."""

    connect_timeout_ms: int = 5_000
    read_timeout_ms: int = 15_000
    total_time_ms: int = 15_000
    retry_count: int = 1
    retry_policy: frozenset[str] = frozenset({"ct"})

    def retries(self, failure: str | None) -> bool:
        """Whether an attempt that failed this way (`ct`, `rt`, `4xx`, `5xx`) is tried again."""
        if failure is None:
            return False
        return "all" in self.retry_policy or failure in self.retry_policy


DEFAULTS = ConnectionSettings()


def split(url: str) -> tuple[str, str]:
    """The URL to request and its fragment ("" when there is none)."""
    target, _, fragment = url.partition("#")
    return target, fragment


def settings_for(fragment: str) -> ConnectionSettings:
    """The connection settings a URL fragment asks for, over Twilio's defaults."""
    if not fragment:
        return DEFAULTS
    values = dict(parse_qsl(fragment, keep_blank_values=True))
    numbers = {key: _bounded(values.get(key), *limits) for key, limits in _LIMITS.items()}
    policy = DEFAULTS.retry_policy
    if "rp" in values:
        named = frozenset(p.strip() for p in values["rp"].split(",") if p.strip())
        unknown = named - RETRY_POLICIES
        if unknown or not named:
            raise OverrideError(
                11243, f"HTTP retry policy is invalid: rp={values['rp']!r} (use 4xx,5xx,ct,rt,all)"
            )
        policy = named
    return ConnectionSettings(
        connect_timeout_ms=numbers["ct"],
        read_timeout_ms=numbers["rt"],
        total_time_ms=numbers["tt"],
        retry_count=numbers["rc"],
        retry_policy=policy,
    )


def status_failure(status: int) -> str | None:
    """The retry-policy class of an HTTP answer: `4xx`, `5xx`, or None (not a failure)."""
    if 400 <= status < 500:
        return "4xx"
    if status >= 500:
        return "5xx"
    return None


def exception_failure(exc: requests.RequestException) -> str:
    """The retry-policy class of a failed exchange: `rt` when the answer never came, else `ct`.

    A connect timeout is both a ConnectionError and a Timeout in requests; it is a `ct`
    failure. Refused and reset connections are `ct` too: no HTTP exchange took place.
    Anything else (too many redirects, a malformed answer) is `other`: only `all` retries it.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return "ct"
    if isinstance(exc, requests.ReadTimeout):
        return "rt"
    if isinstance(exc, requests.ConnectionError):
        return "ct"
    return "other"


def _bounded(raw: str | None, smallest: int, largest: int, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return max(smallest, min(largest, value))
