"""X-Twilio-Signature, computed as Twilio does, independently of the SDK's validator.

HMAC-SHA1 keyed by the auth token over the full URL followed by each POST parameter's
name and value, names sorted; Base64. Tests check it against twilio's RequestValidator
and the documented vector, so a drift in either shows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    payload = url + "".join(
        name + value for name in sorted(values) for value in sorted(values[name])
    )
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
