"""The dialer's settings, as its jobs take them (built from hotline.settings at start)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dialer.pacing import Limits
from hotline.settings import Settings

# The longest a carrier request may take (the adapter's 10 s timeout, and a margin): a claim
# is placed only if its lease outlasts it, so nobody else can take the claim up meanwhile.
CARRIER_REQUEST_BOUND = dt.timedelta(seconds=12)
# Carrier clocks and ours disagree a little, and Twilio's date_created has whole seconds.
CARRIER_CLOCK_SKEW = dt.timedelta(seconds=5)


@dataclass(frozen=True)
class DialerConfig:
    limits: Limits
    public_base_url: str
    caller_id: str  # when the campaign names none
    tick: dt.timedelta = dt.timedelta(seconds=2)
    # The longest one tick call keeps placing before it returns (a simulation interleaves
    # its other jobs there; the process calls it again at once).
    tick_budget: dt.timedelta = dt.timedelta(seconds=30)
    lease: dt.timedelta = dt.timedelta(seconds=30)
    reconcile_after: dt.timedelta = dt.timedelta(minutes=5)
    settle: dt.timedelta = dt.timedelta(seconds=5)

    @classmethod
    def from_settings(cls, settings: Settings) -> DialerConfig:
        return cls(
            limits=Limits(settings.dialer_calls_per_second, settings.dialer_max_concurrent),
            public_base_url=settings.public_base_url.rstrip("/"),
            caller_id=settings.caller_ids[0],
            tick=dt.timedelta(seconds=settings.dialer_tick_seconds),
            lease=dt.timedelta(seconds=settings.dialer_lease_seconds),
            reconcile_after=dt.timedelta(seconds=settings.dialer_reconcile_after_s),
            settle=dt.timedelta(seconds=settings.dialer_settle_seconds),
        )
