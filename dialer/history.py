"""Contact history as the contact rules count it, read from what attempt rows record. Pure.

A `contact_attempt` row says where a call got to (status), who answered (Twilio's
AnsweredBy) and what came of it (disposition); the policy wants one `AttemptOutcome` and
whether it was a conversation with the cardholder. Where a row cannot tell, the reading
errs towards counting: a call still ringing counts as placed, and a call a person
answered is a conversation unless the disposition says it was not (a wrong party).
"""

from __future__ import annotations

from hotline.enums import AttemptStatus, Disposition
from hotline.profiles import AttemptOutcome

# How far back contact history is read (dialer/facts.py): more than any cap or pause looks
# (7 days, plus the slack for zones the policy keeps itself), and no shorter than the
# longest spacing or retry delay a campaign may set (campaign_values.LONGEST_DELAY): a
# call older than this is not seen, and a delay that reached past it would be cut short.
HISTORY_DAYS = 10

# How the contact policy counts an attempt with each disposition (dialer.policy.Attempt:
# its outcome, and whether it was a conversation about the debt). A machine or a fax took
# the call: placed for Reg F, unanswered for China. Whoever answered in person connected.
POLICY_OUTCOME: dict[Disposition, AttemptOutcome] = {
    Disposition.RIGHT_PARTY: AttemptOutcome.CONNECTED,
    Disposition.WRONG_PARTY: AttemptOutcome.CONNECTED,
    Disposition.UNCONFIRMED: AttemptOutcome.CONNECTED,
    Disposition.PROMISE: AttemptOutcome.CONNECTED,
    Disposition.PAID: AttemptOutcome.CONNECTED,
    Disposition.OPTED_OUT: AttemptOutcome.CONNECTED,
    Disposition.TRANSFERRED: AttemptOutcome.CONNECTED,
    Disposition.VOICEMAIL_LEFT: AttemptOutcome.VOICEMAIL,
    Disposition.FAX: AttemptOutcome.VOICEMAIL,
    Disposition.NO_ANSWER: AttemptOutcome.NO_ANSWER,
    Disposition.BUSY: AttemptOutcome.BUSY,
    Disposition.FAILED: AttemptOutcome.FAILED,
    Disposition.INVALID_NUMBER: AttemptOutcome.INVALID,
}
# Dispositions that were a telephone conversation with the cardholder about the debt (the
# right party heard it): the policy's pause after one, the shorter disclosure on later calls.
CONVERSATIONS = frozenset(
    {
        Disposition.RIGHT_PARTY,
        Disposition.PROMISE,
        Disposition.PAID,
        Disposition.OPTED_OUT,
        Disposition.TRANSFERRED,
    }
)

# A person answered, but not the cardholder, or the call never got to the debt.
NOT_A_CONVERSATION = frozenset({"wrong-party", "voicemail-left", "no-answer", "busy", "failed"})
MACHINE_ANSWERS = ("machine", "fax")
NEVER_PLACED = frozenset({AttemptStatus.PLANNED, AttemptStatus.CANCELED, AttemptStatus.SKIPPED})
IN_FLIGHT = frozenset({AttemptStatus.DIALING, AttemptStatus.QUEUED, AttemptStatus.RINGING})


def outcome_of(
    status: AttemptStatus, answered_by: str | None, disposition: str | None
) -> AttemptOutcome | None:
    """How an outbound attempt ended for the caps; None if it was never placed."""
    if status in NEVER_PLACED:
        return None
    machine = (answered_by or "").startswith(MACHINE_ANSWERS)
    if status in IN_FLIGHT:
        # Not known yet; it will at least have rung (placed, unanswered).
        return AttemptOutcome.NO_ANSWER
    if status is AttemptStatus.BUSY:
        return AttemptOutcome.BUSY
    if status is AttemptStatus.NO_ANSWER:
        return AttemptOutcome.NO_ANSWER
    if disposition in POLICY_OUTCOME and status is not AttemptStatus.FAILED:
        # What the call itself found out (dialer.outcomes sets it) says it best.
        return POLICY_OUTCOME[Disposition(disposition)]
    if status is AttemptStatus.FAILED:
        return AttemptOutcome.INVALID if disposition == "invalid-number" else AttemptOutcome.FAILED
    if machine or disposition == "voicemail-left":
        return AttemptOutcome.VOICEMAIL
    return AttemptOutcome.CONNECTED  # completed or in progress, answered by a person


def is_conversation(outcome: AttemptOutcome | None, disposition: str | None) -> bool:
    """A telephone conversation with the cardholder (the Reg F pause starts from it)."""
    return outcome is AttemptOutcome.CONNECTED and disposition not in NOT_A_CONVERSATION
