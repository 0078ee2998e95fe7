"""The outbound call's use cases, one per webhook: the call is answered, the person answers
a prompt, <Pay> reports.

Each takes the request's session and never commits; the webhook owns the transaction
(dialer.turns). The call's state is on its attempt (dialer.calls), the facts come from
hotline.facts like the IVR's, the flow (dialer.flow) decides, and its effects are carried
out by the shared services (flows.carry_out). A request for a step the call has already
left, or a retry of the request last answered, gets the answer it got the first time.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import phonenumbers
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dialer import flow
from dialer.calls import OutboundCall, load, started, state_data
from dialer.flow import Answer, Callee
from dialer.history import CONVERSATIONS
from dialer.outcomes import move_status
from flows.carry_out import CallContext, Sms, Texts, carry_out, fill_references
from flows.state import CallState, Facts, Heard, Money, Outcome, PayResult
from hotline import accounts, payments, queueing
from hotline.accounts import AccountRow
from hotline.enums import AttemptStatus, Disposition, PayOutcome, Step
from hotline.facts import LineConfig, build_facts
from hotline.models import Cardholder, ContactAttempt
from hotline.origin import Origin
from hotline.payments import CardResult
from prompts.spoken import spelled

# Steps whose confirmation saves or charges an amount computed from the balance.
CONFIRMED_AGAINST_BALANCE = frozenset({Step.PROMISE_CONFIRM, Step.PAY_CONFIRM})


@dataclass(frozen=True)
class DialerConfig:
    """The outbound line's policy, from settings, built once per process."""

    line: LineConfig  # what both lines share: bank, agent hours, profile, limits, texts
    callback_number: str  # E.164: the number a voicemail asks to be called back on
    # The voicemail name by language (HOTLINE_VOICEMAIL_NAME[_ZH]); missing: the bank's.
    voicemail_names: Mapping[str, str] = field(default_factory=dict)

    def business_for(self, language: str) -> str:
        return (
            self.voicemail_names.get(language)
            or self.voicemail_names.get("en")
            or self.line.bank_for(language)
        )


@dataclass
class Reply:
    """What the webhook should answer: a new turn, the answer given before, or (no call)
    a hangup."""

    call: OutboundCall | None
    language: str
    outcome: Outcome | None = None
    replay: str | None = None
    disposition: Disposition | None = None
    outbox: list[Sms] = field(default_factory=list)


def answer(
    session: Session,
    config: DialerConfig,
    *,
    attempt_id: int | None,
    call_sid: str,
    answered_by: str,
    now: dt.datetime,
    request: str = "",
) -> Reply:
    """The answer URL: the call was answered (by a person, a machine after its beep, or a
    fax, as detection says). Asked again for the same call: the first answer again."""
    call = load(session, attempt_id, call_sid)
    if call is None:
        return Reply(None, "en")
    call.request = request or None
    if started(call):
        return Reply(call, call.state.language, replay=call.last_twiml)
    attempt = call.attempt
    if answered_by:
        attempt.answered_by = answered_by[:32]
    if attempt.answered_at is None:
        attempt.answered_at = now
    move_status(attempt, AttemptStatus.IN_PROGRESS)
    account = accounts.by_id(session, attempt.account_id, now, config.line.limits)
    if account is None:
        return Reply(None, "en")  # an attempt about no account has nobody to ask for
    language = account.language
    state = CallState(language=language, account_id=account.id)
    facts = _facts(session, config, call, account, language, now)
    decided = flow.start(state, facts, _callee(session, config, account, language, answered_by))
    return _carried_out(session, config, call, decided, account, now)


def step(
    session: Session,
    config: DialerConfig,
    *,
    attempt_id: int | None,
    call_sid: str,
    step: str,
    listen: Callable[[str, str], Heard],
    now: dt.datetime,
    request: str = "",
) -> Reply:
    """The person answered the prompt of `step` (a <Gather> action)."""
    call = load(session, attempt_id, call_sid)
    if call is None or not started(call):
        return Reply(None, "en")
    call.request = request or None
    state = call.state
    if (step != state.step or call.repeats_last_request()) and call.last_twiml is not None:
        return Reply(call, state.language, replay=call.last_twiml)
    heard = listen(state.step, state.language)
    account_id = call.attempt.account_id
    if state.step in CONFIRMED_AGAINST_BALANCE and account_id is not None:
        # The read-back is checked against the balance and acted on in this one turn.
        account = accounts.locked_fresh(session, account_id, now, config.line.limits)
    else:
        account = accounts.by_id(session, account_id, now, config.line.limits)
    facts = _facts(session, config, call, account, state.language, now)
    callee = _callee(session, config, account, state.language, call.attempt.answered_by or "")
    decided = flow.advance(state, heard, facts, callee)
    return _carried_out(session, config, call, decided, account, now)


def keep_pay_result(
    session: Session,
    *,
    attempt_id: int | None,
    call_sid: str,
    form: Mapping[str, str],
    token: str,
    now: dt.datetime,
) -> CardResult | None:
    """Keep <Pay>'s result before the turn that posts it (as the IVR does): if that turn
    fails, `hotline payments reconcile` posts it. Read without a lock."""
    attempt = session.get(ContactAttempt, attempt_id) if attempt_id is not None else None
    if attempt is None or attempt.provider_call_sid != call_sid or not attempt.call_state:
        return None
    state = CallState.from_dict(state_data(attempt.call_state))
    result = _card_result(state, call_sid, token, form, attempt.account_id)[1]
    payments.keep_result(session, result, now=now)
    return result


def pay_result(
    session: Session,
    config: DialerConfig,
    *,
    attempt_id: int | None,
    call_sid: str,
    form: Mapping[str, str],
    token: str,
    now: dt.datetime,
) -> Reply:
    """<Pay> `token` finished: post a successful payment exactly once (one key per <Pay>),
    with that <Pay>'s own amount, then let the flow speak."""
    call = load(session, attempt_id, call_sid)
    if call is None or not started(call):
        return Reply(None, "en")
    state = call.state
    current, paid = _card_result(state, call_sid, token, form, call.attempt.account_id)
    account = accounts.by_id(session, call.attempt.account_id, now, config.line.limits)
    if paid.charged and account is not None:
        payments.post_card_payment(
            session,
            accounts.entity(session, account),
            amount_minor=paid.amount_minor,
            key=paid.key,
            confirmation=paid.confirmation,
            brand=paid.brand,
            masked=paid.masked,
            origin=Origin.dialer(call_sid),
            now=now,
        )
    if not current and call.last_twiml is not None:
        # An earlier <Pay>'s late result: posted if charged, but the call has moved on.
        return Reply(call, state.language, replay=call.last_twiml)
    facts = _facts(session, config, call, account, state.language, now)
    result = PayResult(result=paid.result, error=form.get("PaymentError", ""))
    if paid.charged:
        spoken = spelled(paid.confirmation[-6:])
        result = PayResult(PayOutcome.SUCCESS, Money(paid.amount_minor, facts.speak_money), spoken)
    elif paid.result == PayOutcome.SUCCESS:
        result = PayResult(PayOutcome.CONNECTOR_ERROR, error="no confirmation code")
    decided = flow.pay_result(state, replace(facts, pay_result=result))
    return _carried_out(session, config, call, decided, account, now)


def _card_result(
    state: CallState, call_sid: str, token: str, form: Mapping[str, str], account_id: int | None
) -> tuple[bool, CardResult]:
    """Whether a result answers the <Pay> the call waits on, and the result with the amount
    of the <Pay> it answers (its token's: a result never takes another <Pay>'s amount)."""
    current = state.step == Step.PAY_RESULT and state.pending.get("pay") == token
    return current, CardResult.of(
        form,
        call_sid=call_sid,
        pay_token=token,
        account_id=account_id,
        amount_minor=state.pays.get(token, 0),
    )


def _facts(
    session: Session,
    config: DialerConfig,
    call: OutboundCall,
    account: AccountRow | None,
    language: str,
    now: dt.datetime,
) -> Facts:
    facts = build_facts(session, config.line, now, call.attempt.number, account, language=language)
    if account is None or not config.line.profile.debt_collector_disclosure:
        return facts
    # The first communication about the debt gives the full disclosure; later ones say
    # it is a debt collector. Spoken to before: verified on the IVR, or a conversation on
    # an earlier outbound call.
    spoken_before = account.ever_verified or _conversation_before(session, call.attempt)
    return replace(facts, first_disclosure=not spoken_before, later_disclosure=spoken_before)


def _conversation_before(session: Session, attempt: ContactAttempt) -> bool:
    found = session.scalar(
        _CONVERSATION_BEFORE, {"account_id": attempt.account_id, "attempt_id": attempt.id}
    )
    return found is not None


# The statements each answered call's turns run, built once (building one cost more than
# running it).
_CONVERSATION_BEFORE = (
    select(ContactAttempt.id)
    .where(
        ContactAttempt.account_id == bindparam("account_id"),
        ContactAttempt.id != bindparam("attempt_id"),
        ContactAttempt.disposition.in_(sorted(CONVERSATIONS)),
    )
    .limit(1)
)
_HOLDER_NAME = select(Cardholder.name).where(Cardholder.id == bindparam("holder_id"))


def _callee(
    session: Session,
    config: DialerConfig,
    account: AccountRow | None,
    language: str,
    answered_by: str,
) -> Callee:
    name = ""
    if account is not None:
        full = session.scalar(_HOLDER_NAME, {"holder_id": account.cardholder_id})
        name = (full or "").strip()
    return Callee(
        name=addressed(name, language),
        answered_by=answered_by,
        business=config.business_for(language),
        callback=spoken_number(config.callback_number),
    )


def addressed(name: str, language: str) -> str:
    """How the call addresses the person: the first name in English ("Maria" of "Maria
    Lopez"), the whole name in Chinese (a given name alone is too familiar from a bank)."""
    if language == "zh-CN" or not name:
        return name
    return name.split()[0]


@functools.lru_cache(maxsize=1024)  # the line's own callback numbers, said on most calls
def spoken_number(e164: str) -> str:
    """A number as the voice reads it back: its national digits one by one, in groups
    ("8 0 0, 5 5 5, 0 1 0 0")."""
    try:
        parsed = phonenumbers.parse(e164, None)
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        national = e164
    return ", ".join(" ".join(group) for group in re.findall(r"[0-9]+", national))


def waiting(session: Session, *, attempt_id: int | None, call_sid: str, now: dt.datetime) -> None:
    """The agent queue asks what its caller hears while waiting: the desk's row for the
    call is kept fresh, or made from the call's state if no turn made it (an apology)."""
    if not call_sid or queueing.seen(session, call_sid, now):
        return
    attempt = session.get(ContactAttempt, attempt_id) if attempt_id is not None else None
    if attempt is None or attempt.provider_call_sid != call_sid:
        return
    state = CallState.from_dict(state_data(attempt.call_state))
    queueing.enqueue(
        session,
        call_sid=call_sid,
        line="dialer",
        account_id=attempt.account_id,
        number=attempt.number,
        language=state.language,
        verified=state.verified,
        intent=state.intent,
        path=state.path,
        case_id=None,
        now=now,
    )


def left_queue(session: Session, *, call_sid: str, result: str, now: dt.datetime) -> None:
    """The queue's action: the person left it (hung up, or the queue failed)."""
    if call_sid:
        queueing.left(session, call_sid, result or "unknown", now)


def _carried_out(
    session: Session,
    config: DialerConfig,
    call: OutboundCall,
    decided: Answer,
    account: AccountRow | None,
    now: dt.datetime,
) -> Reply:
    """Carry out the turn's effects; the reply, with any reference and texts they made."""
    outcome = decided.outcome
    language = outcome.state.language
    done = carry_out(
        session,
        outcome.effects,
        CallContext(
            origin=Origin.dialer(call.attempt.provider_call_sid or ""),
            account=account,
            number=call.attempt.number,
            language=language,
            path=outcome.state.path,
            verified=outcome.state.verified,
            agent_hours=config.line.agent_hours,
            timezone=config.line.timezone,
            texts=Texts(
                config.line.sms_confirmations, config.line.caller_id, config.line.bank_for(language)
            ),
        ),
        now,
    )
    return Reply(
        call,
        language,
        outcome=fill_references(outcome, done.references),
        disposition=decided.disposition,
        outbox=done.outbox,
    )
