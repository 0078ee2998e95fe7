"""The contact policy asked again just before a call goes out.

The planner queues a call for the first instant the policy allowed, up to a day ahead;
by the time its slot comes the cardholder may have texted STOP, paid, promised, been
flagged (bankruptcy, attorney, dispute), or another call may have used up a cap. So each
call is checked once more at its slot, on the facts as they are then, and one the policy
would not allow now is not dialled: the attempt ends `skipped` with the policy's reason,
and the planner queues the account again when (if) it may be called.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.claims import Claim, held
from dialer.facts import load_cases
from dialer.policy import callable_numbers, decide
from hotline import audit
from hotline.enums import AttemptStatus
from hotline.models import Campaign, ContactAttempt
from hotline.profiles import PROFILES

ACTOR = "dialer:recheck"
NOT_CALLABLE = "not-callable"  # the attempt's disposition when the re-check refused it


def refusal_at(session: Session, claim: Claim, at: dt.datetime) -> str | None:
    """None if the claim's number may be dialled at `at`; else why not, in the policy's
    words. A claim no longer held is not for this worker to dial: 'claim lost'."""
    attempt = session.scalars(select(ContactAttempt).where(*held(claim))).one_or_none()
    if attempt is None:
        return "claim lost"
    campaign = session.get(Campaign, attempt.campaign_id) if attempt.campaign_id else None
    if attempt.account_id is None or campaign is None or campaign.profile not in PROFILES:
        return "no account or campaign profile to check the call against"
    profile = PROFILES[campaign.profile]
    cases = load_cases(session.connection(), [attempt.account_id], at).cases
    if not cases:
        return "account no longer on file"
    case = cases[0]
    if attempt.number in callable_numbers(case.facts, case.phones, case.history, profile, at):
        return None
    decision = decide(case.facts, case.phones, case.history, profile, at)
    if decision.allowed:  # allowed, but not on this number (opted out, under review, ...)
        excluded = dict(decision.excluded)
        reason = excluded.get(attempt.number)
        return f"this number may not be called now ({reason.value if reason else 'not allowed'})"
    return decision.explanation


def record_not_callable(session: Session, claim: Claim, reason: str, now: dt.datetime) -> bool:
    """End the claimed attempt undialled: the policy refused it at its slot."""
    attempt = session.scalars(
        select(ContactAttempt).where(*held(claim)).with_for_update()
    ).one_or_none()
    if attempt is None:
        return False
    attempt.status = AttemptStatus.SKIPPED
    attempt.disposition = NOT_CALLABLE
    attempt.error_message = reason[:500]
    attempt.ended_at = now
    attempt.lease_until = None
    audit.record(
        session,
        actor=ACTOR,
        action="attempt.not_callable",
        entity_type="contact_attempt",
        entity_id=attempt.id,
        data={"reason": reason[:200]},
        now=now,
    )
    return True
