"""The IVR's use cases, one per webhook: a call begins, the caller answers, <Pay> reports,
a recording reports.

Each takes the caller's session and never commits; the webhook owns the transaction. The
call's state comes from ivr.calls, the facts from hotline.facts; the flow decides, and its
effects are carried out by the shared services (flows.carry_out). A request for a step the
call has already left gets the answer it got the first time, and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from flows.carry_out import CallContext, Sms, Texts, carry_out, fill_references
from flows.effects import PauseRecording, ResumeRecording
from flows.state import CallState, Heard, Money, Outcome, PayResult
from hotline import accounts, contacts, payments, queueing, verification
from hotline.accounts import AccountRow, core
from hotline.enums import PayOutcome, Step
from hotline.facts import LineConfig, build_facts
from hotline.models import CardAccount, IvrCall
from hotline.origin import Origin
from hotline.payments import CardResult
from hotline.secrets import verify_digits_match
from ivr import flow
from ivr.calls import CallRecord, load, peek, remember
from prompts.spoken import spelled

__all__ = [
    "LineConfig",
    "Reply",
    "answer",
    "begin",
    "pay_result",
    "pay_unavailable",
    "record_recording",
    "remember",
]

log = logging.getLogger(__name__)

# Steps whose confirmation saves an arrangement computed from the balance.
CONFIRMED_AGAINST_BALANCE = frozenset({Step.PLAN_CONFIRM, Step.PROMISE_CONFIRM})
_ACCOUNT_BY_NUMBER = select(CardAccount.id).where(
    CardAccount.account_number == bindparam("account_number")
)


@dataclass
class Reply:
    """What the webhook should answer: a new turn, or the answer given before (a replay)."""

    call: CallRecord
    language: str
    outcome: Outcome | None = None
    replay: str | None = None
    outbox: list[Sms] = field(default_factory=list)
    # What the carrier must do to the call's recording before the answer is sent: done by
    # the entry point after the commit (ivr.turns), never while the transaction holds locks.
    recording: Literal["pause", "resume"] | None = None


def begin(
    session: Session, config: LineConfig, *, call_sid: str, caller: str, now: dt.datetime
) -> Reply:
    """The voice URL: a new call, or Twilio asking again for one already begun.

    Nothing is read first: the call's row is inserted with its first answer (remember),
    and a request that finds the row there already answers what was answered before.
    """
    call = CallRecord(
        call_sid=call_sid,
        from_number=caller[:64],
        state=CallState(),
        last_twiml=None,
        case_id=None,
        started_at=now,
        exists=False,
    )
    account = accounts.for_number(session, caller, now, config.limits)
    facts = build_facts(session, config, now, caller, account, language=None)
    outcome = flow.start(CallState(), facts)
    return Reply(call, outcome.state.language, outcome=outcome)


def answer(
    session: Session,
    config: LineConfig,
    *,
    call_sid: str,
    caller: str,
    step: str,
    listen: Callable[[str, str], Heard],
    now: dt.datetime,
    reservation: verification.Reservation | None = None,
    request: str = "",
) -> Reply:
    """The caller answered a prompt (a <Gather> action); `listen(step, language)` reads it.

    `reservation`: at the verify step, the attempt reserve_verification() recorded (and the
    entry point committed) before this turn; without one the failures are counted here,
    under the account's lock."""
    call = load(session, call_sid, now, config.limits)
    if call is None:  # unknown or expired call: start it afresh rather than fail
        return begin(session, config, call_sid=call_sid, caller=caller, now=now)
    state = call.state
    call.request = request or None
    if (step != state.step or call.repeats_last_request()) and call.last_twiml is not None:
        return _replay(call)
    heard = listen(state.step, state.language)
    account = call.account
    digits_match = None
    if state.step in CONFIRMED_AGAINST_BALANCE and account is not None:
        # The read-back is checked against the balance, and the plan or promise saved from
        # it, in this one turn: hold the account so the balance cannot change in between.
        account = accounts.locked_fresh(session, account.id, now, config.limits)
    if state.step == Step.ACCOUNT and heard.digits:
        found = core(session).scalar(_ACCOUNT_BY_NUMBER, {"account_number": heard.digits})
        account = accounts.by_id(session, found, now, config.limits)
    if state.step == Step.VERIFY and account is not None and heard.digits:
        if reservation is not None:
            # The failures before this attempt were counted when it was reserved.
            fresh = accounts.by_id(session, account.id, now, config.limits)
            account = fresh and replace(
                fresh,
                failures_last_24h=reservation.prior_failures,
                locked=fresh.locked or reservation.locked,
            )
        else:
            # Count the failures under the account's lock: a burst of calls guessing at
            # once is checked one after another, and none after the limit.
            account = accounts.locked_fresh(session, account.id, now, config.limits)
        if account is not None and config.limits.checkable(
            locked=account.locked, failures=account.failures_last_24h
        ):
            digits_match = verify_digits_match(
                config.secret_key, account.verify_salt, heard.digits, account.verify_hash
            )
    facts = build_facts(
        session, config, now, caller, account, language=state.language, digits_match=digits_match
    )
    outcome = flow.advance(state, heard, facts)
    attempt = reservation.attempt_id if reservation is not None else None
    reply = _carried_out(session, config, call, outcome, account, caller, now, attempt)
    if any(isinstance(e, PauseRecording) for e in outcome.effects):
        reply.recording = "pause"
    return reply


def pay_unavailable(
    session: Session, config: LineConfig, *, call_sid: str, caller: str, now: dt.datetime
) -> Reply | None:
    """The recording would not pause for the <Pay> just sent (and not yet heard): no <Pay>
    while a recording may be running, so the caller hears instead that payment is
    unavailable and may try again or ask for a person. When another request of the call
    has moved it on meanwhile (a retry that fell back itself), its answer is repeated; None
    only if the call is gone."""
    call = load(session, call_sid, now, config.limits)
    if call is None:
        return None
    if call.state.step != Step.PAY_RESULT and call.last_twiml is not None:
        return Reply(call, call.state.language, replay=call.last_twiml)
    if call.state.step != Step.PAY_RESULT:
        return None
    facts = build_facts(session, config, now, caller, call.account, language=call.state.language)
    unavailable = PayResult(PayOutcome.CONNECTOR_ERROR, error="recording not paused")
    outcome = replace(
        flow.pay_result(call.state, replace(facts, pay_result=unavailable)), effects=()
    )
    return Reply(call, outcome.state.language, outcome=outcome)


def _replay(call: CallRecord) -> Reply:
    """The answer given before, again. If it is the <Pay> of a recorded call, the recording
    must be paused before it is sent once more: the request that first answered it may
    still be waiting on the carrier, or have failed to pause (and be about to fall back)."""
    state = call.state
    pay_pending = state.step == Step.PAY_RESULT and "pay" in state.pending and state.recording
    return Reply(
        call, state.language, replay=call.last_twiml, recording="pause" if pay_pending else None
    )


def pay_result(
    session: Session,
    config: LineConfig,
    *,
    call_sid: str,
    caller: str,
    form: Mapping[str, str],
    token: str,
    now: dt.datetime,
) -> Reply:
    """<Pay> `token` finished: post a successful payment exactly once, with that <Pay>'s
    own amount, then let the flow speak.

    A result for an earlier <Pay> of the call (a late retry, a replay) is still posted if it
    succeeded, since the card was charged, but changes nothing else: the call has moved on.
    """
    call = load(session, call_sid, now, config.limits)
    if call is None:
        return begin(session, config, call_sid=call_sid, caller=caller, now=now)
    state = call.state
    current, paid = _pay_answered(state, call_sid, token, form, call.account)
    account = call.account
    code = paid.confirmation
    if paid.charged and account is not None:
        payments.post_card_payment(
            session,
            accounts.entity(session, account),
            amount_minor=paid.amount_minor,
            key=paid.key,
            confirmation=code,
            brand=paid.brand,
            masked=paid.masked,
            origin=Origin.ivr(call_sid),
            now=now,
        )
    if not current and call.last_twiml is not None:
        return _replay(call)
    facts = build_facts(session, config, now, caller, account, language=state.language)
    result = PayResult(result=paid.result, error=form.get("PaymentError", ""))
    if paid.charged:
        spoken = spelled(code[-6:])
        result = PayResult(PayOutcome.SUCCESS, Money(paid.amount_minor, facts.speak_money), spoken)
    elif paid.result == PayOutcome.SUCCESS:
        result = PayResult(PayOutcome.CONNECTOR_ERROR, error="no confirmation code")
    outcome = flow.pay_result(state, replace(facts, pay_result=result))
    resume = any(isinstance(e, ResumeRecording) for e in outcome.effects)
    return Reply(
        call, outcome.state.language, outcome=outcome, recording="resume" if resume else None
    )


def reserve_verification(
    session: Session,
    config: LineConfig,
    *,
    call_sid: str,
    digits: str,
    now: dt.datetime,
    request: str = "",
) -> verification.Reservation | None:
    """Before a verify turn: record the keying as a failed attempt and count the failures
    before it (the entry point commits this at once; the turn settles it if the digits
    match). None when the call is not at the verify step of an account."""
    call = peek(session, call_sid)
    if call is None or call.state.step != Step.VERIFY or not digits:
        return None
    call.request = request or None
    if call.repeats_last_request():
        return None  # a retry of the keying already counted: the turn answers as before
    account_id = call.state.account_id
    if account_id is None:
        return None  # an unknown account number: failures are counted per call
    return verification.reserve(
        session,
        account_id,
        call_sid=call_sid,
        since=accounts.window_start(now, config.limits),
        now=now,
    )


def keep_pay_result(
    session: Session,
    config: LineConfig,
    *,
    call_sid: str,
    form: Mapping[str, str],
    token: str,
    now: dt.datetime,
) -> CardResult | None:
    """Keep <Pay>'s result before the turn that posts it (its own short transaction, taking
    no account or audit lock): if that turn fails, `hotline payments reconcile` posts it."""
    call = peek(session, call_sid)
    if call is None:
        return None
    _, paid = _pay_answered(call.state, call_sid, token, form, call.account)
    payments.keep_result(session, paid, now=now)
    return paid


def _pay_answered(
    state: CallState,
    call_sid: str,
    token: str,
    form: Mapping[str, str],
    account: AccountRow | None,
) -> tuple[bool, CardResult]:
    """Whether a result answers the <Pay> the call is waiting on, and the result with the
    amount of the <Pay> it answers (its token's)."""
    amount_minor = state.pays.get(token, 0)
    current = state.step == Step.PAY_RESULT and state.pending.get("pay") == token
    if not token and state.step == Step.PAY_RESULT and "pay" not in state.pending:
        # A <Pay> sent before results carried tokens (a call in progress across an upgrade).
        amount_minor, current = int(state.pending.get("amount_minor") or 0), True
    return current, CardResult.of(
        form,
        call_sid=call_sid,
        pay_token=token,
        account_id=account.id if account is not None else state.account_id,
        amount_minor=amount_minor,
    )


def record_recording(
    session: Session,
    *,
    call_sid: str,
    recording_sid: str,
    status: str,
    details: Mapping[str, str],
    now: dt.datetime,
) -> bool:
    """Keep a recording's status callback once per (recording, status); True if it is new."""
    return contacts.record_call_event(
        session,
        call_sid=call_sid,
        kind="recording",
        sequence=f"{recording_sid}:{status}",
        payload={"recording_sid": recording_sid, "status": status, **details},
        now=now,
    )


def waiting(session: Session, *, call_sid: str, now: dt.datetime) -> None:
    """The agent queue asks what its caller hears while waiting: the desk's row for the
    call is kept fresh, or made from the call's state if no turn made it (a caller put in
    the queue by an apology)."""
    if queueing.seen(session, call_sid, now):
        return
    call = session.scalars(select(IvrCall).where(IvrCall.call_sid == call_sid)).one_or_none()
    if call is None:
        return
    state = CallState.from_dict(_state_dict(call.state))
    queueing.enqueue(
        session,
        call_sid=call_sid,
        line="ivr",
        account_id=call.account_id,
        number=call.from_number,
        language=call.language or "en",
        verified=call.verified,
        intent=call.intent,
        path=state.path,
        case_id=call.case_id,
        now=now,
    )


def left_queue(session: Session, *, call_sid: str, result: str, now: dt.datetime) -> None:
    """The queue's action: the caller left it (hung up, or the queue failed)."""
    queueing.left(session, call_sid, result or "unknown", now)


def _state_dict(text: str | None) -> dict[str, object]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _carried_out(
    session: Session,
    config: LineConfig,
    call: CallRecord,
    outcome: Outcome,
    account: AccountRow | None,
    caller: str,
    now: dt.datetime,
    reserved_attempt: int | None,
) -> Reply:
    """Carry out the turn's effects; the reply, with any reference and texts they made."""
    language = outcome.state.language
    done = carry_out(
        session,
        outcome.effects,
        CallContext(
            origin=Origin.ivr(call.call_sid),
            account=account,
            number=caller,
            language=language,
            path=outcome.state.path,
            verified=outcome.state.verified,
            agent_hours=config.agent_hours,
            timezone=config.timezone,
            texts=Texts(config.sms_confirmations, config.caller_id, config.bank_for(language)),
            reserved_attempt=reserved_attempt,
        ),
        now,
    )
    if done.case_id is not None:
        call.case_id = done.case_id
    return Reply(
        call, language, outcome=fill_references(outcome, done.references), outbox=done.outbox
    )
