"""Contact-rule profiles as data: what the line must say, per jurisdiction.

Figures and sources: shared/reference/contact-rules.md. The dialer issue adds calling
windows and frequency caps to these same records.
"""

from __future__ import annotations

from dataclasses import dataclass

# US states where recording a call needs every party's consent: play a notice there.
ALL_PARTY_CONSENT_STATES = frozenset({"CA", "FL", "IL", "MD", "MA", "MT", "NV", "NH", "PA", "WA"})


@dataclass(frozen=True)
class ContactProfile:
    name: str
    # Reg F / FDCPA practice: the first communication says it is a debt collector trying to
    # collect a debt; later ones say it is a debt collector.
    debt_collector_disclosure: bool
    # Calls are recorded (China: Art. 68 guidance); a notice is played where consent is needed.
    records_calls: bool


PROFILES = {
    "us-regf": ContactProfile("us-regf", debt_collector_disclosure=True, records_calls=False),
    "us-ma": ContactProfile("us-ma", debt_collector_disclosure=True, records_calls=False),
    "us-wa": ContactProfile("us-wa", debt_collector_disclosure=True, records_calls=False),
    "cn-default": ContactProfile("cn-default", debt_collector_disclosure=False, records_calls=True),
}


def recording_notice_needed(records_calls: bool, country: str, region: str | None) -> bool:
    """Whether a recorded caller must be told first: all-party-consent US states, and
    everywhere outside the US (the safe default)."""
    if not records_calls:
        return False
    if country == "US":
        return (region or "") in ALL_PARTY_CONSENT_STATES
    return True
