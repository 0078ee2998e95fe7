"""Callbacks an agent schedules for the dialer to place: the port between them.

The desk may not import the dialer (the lines never import each other), so the app hands
the desk the dialer's scheduler (dialer.callbacks.schedule) through this protocol, and
the dialer's refusals come back as these exceptions, each with the key of the desk's
message and the values it names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.orm import Session

from hotline.models import CardAccount, ContactAttempt, Phone
from hotline.origin import Origin


class CallbackRefused(Exception):
    key = "error_callback"

    def __init__(self, **values: Any) -> None:
        super().__init__(self.key, values)
        self.values: Mapping[str, Any] = values


class NoCampaign(CallbackRefused):
    """No running campaign works the account's tier: nothing would place the call."""

    key = "error_no_campaign"


class NotCallableThen(CallbackRefused):
    """The contact policy would not allow the call then (`reason`, `next_eligible`)."""

    key = "error_not_callable"


class CallUnderWay(CallbackRefused):
    """A call to the account is being placed or is in progress."""

    key = "error_call_under_way"


class Scheduler(Protocol):
    def __call__(
        self,
        session: Session,
        account: CardAccount,
        phone: Phone,
        *,
        at: dt.datetime,
        origin: Origin,
        now: dt.datetime,
    ) -> ContactAttempt: ...
