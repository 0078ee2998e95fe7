"""Callbacks an agent schedules: planned attempts of the campaign that works the account.

The dialer places them like any campaign call: claimed when due (dialer.claims), the
contact policy asked again at the slot (dialer.recheck). They carry the disposition
CALLBACK_REQUESTED while planned, so the planner leaves the account to them (dialer.facts)
and queues no campaign call on top; the dialer clears it once the call is placed.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dialer.campaign_store import read_campaigns
from dialer.facts import load_cases
from dialer.planner import campaign_for
from dialer.policy import callable_numbers, decide
from hotline import accounts, audit
from hotline.callbacks import CallUnderWay, NoCampaign, NotCallableThen
from hotline.contacts import CALLBACK_REQUESTED
from hotline.enums import AttemptStatus, CampaignStatus, Direction
from hotline.models import OPEN_ATTEMPT_STATUSES, CardAccount, ContactAttempt, Phone
from hotline.origin import Origin
from hotline.phones import mask_phone


def schedule(
    session: Session,
    account: CardAccount,
    phone: Phone,
    *,
    at: dt.datetime,
    origin: Origin,
    now: dt.datetime,
) -> ContactAttempt:
    """A call back at `at` on `phone` (see the module). Refused if the policy would not
    allow the call then (why, and the next time it would), if no running campaign works
    the account, or if a call to it is under way; a campaign call still planned for the
    account gives way to the callback. The caller's session, never committed here."""
    accounts.lock(session, account)
    loaded = load_cases(accounts.core(session), [account.id], at).cases
    if not loaded:
        raise NoCampaign()
    case = loaded[0]
    campaign = campaign_for(case, read_campaigns(session))
    if campaign is None or campaign.status is not CampaignStatus.ACTIVE:
        raise NoCampaign()
    profile = campaign.profile
    if phone.e164 not in callable_numbers(case.facts, case.phones, case.history, profile, at):
        decision = decide(case.facts, case.phones, case.history, profile, at)
        why = decision.explanation
        if decision.allowed:
            why = dict(decision.excluded).get(phone.e164, why)
        raise NotCallableThen(reason=str(why), next_eligible=decision.next_eligible)
    open_attempt = session.scalars(
        select(ContactAttempt)
        .where(
            ContactAttempt.account_id == account.id,
            ContactAttempt.campaign_id.is_not(None),
            ContactAttempt.status.in_(OPEN_ATTEMPT_STATUSES),
        )
        .with_for_update()
    ).first()
    if open_attempt is not None and open_attempt.status != AttemptStatus.PLANNED:
        raise CallUnderWay()
    if open_attempt is not None:
        session.execute(
            update(ContactAttempt)
            .where(
                ContactAttempt.id == open_attempt.id,
                ContactAttempt.status == AttemptStatus.PLANNED,
            )
            .values(status=AttemptStatus.CANCELED, disposition="replaced-by-callback", ended_at=now)
            .execution_options(synchronize_session=False)
        )
        session.flush()
    attempt = ContactAttempt(
        direction=Direction.OUTBOUND,
        account_id=account.id,
        phone_id=phone.id,
        number=phone.e164,
        campaign_id=campaign.id,
        tier_id=case.tier_id,
        status=AttemptStatus.PLANNED,
        due_at=at,
        disposition=CALLBACK_REQUESTED,
        decision=json.dumps(
            {
                "allowed": True,
                "callback": {"requested_by": origin.actor, "at": at.isoformat()},
                "campaign": campaign.name,
                "profile": profile.name,
                "evaluated_at": now.isoformat(),
            },
            sort_keys=True,
        ),
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    audit.record(
        session,
        actor=origin.actor,
        action="callback.scheduled",
        entity_type="card_account",
        entity_id=account.account_number,
        data={
            "attempt_id": attempt.id,
            "due_at": at.isoformat(),
            "phone": mask_phone(phone.e164),
            "campaign": campaign.name,
            "replaced": open_attempt.id if open_attempt is not None else None,
            "call_sid": origin.call_sid,
        },
        now=now,
    )
    return attempt
