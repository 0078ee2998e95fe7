"""Carrying out a call flow's effects through the shared services in hotline/.

Not pure, unlike the rest of flows/: this is where the effects a flow decided meet the
database. A line (the IVR, the dialer) calls carry_out() inside its turn's transaction with
what it knows of the call; effects are dispatched by type with `match`, and a new effect
type that is not handled here fails the type check (assert_never).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import assert_never

from sqlalchemy.orm import Session

from flows.effects import (
    Effect,
    LockSelfService,
    MarkWrongParty,
    OpenCase,
    OptOut,
    PauseRecording,
    RecordVerification,
    RequestCallback,
    ResumeRecording,
    SavePlan,
    SavePromise,
    TransferToAgent,
)
from flows.state import REFERENCE, Outcome
from hotline import accounts, arrangements, audit, cases, contacts, queueing, verification
from hotline.accounts import AccountRow
from hotline.enums import Source
from hotline.hours import Hours
from hotline.origin import Origin
from hotline.phones import mask_phone
from prompts.catalog import Catalog
from prompts.spoken import spoken_money
from telephony.gateway import CallGateway, GatewayError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sms:
    """A confirmation text to send once the turn's transaction has committed."""

    to: str
    from_: str
    key: str
    params: Mapping[str, str]
    language: str


def send_texts(
    outbox: Sequence[Sms], gateway: CallGateway, catalogs: Mapping[str, Catalog]
) -> None:
    """Send a turn's confirmation texts (after its answer has gone out); one the carrier
    refuses is logged, with the number masked, and the others still go."""
    for sms in outbox:
        body = catalogs[sms.language].render(sms.key, sms.params)
        try:
            gateway.send_sms(sms.to, sms.from_, body)
        except (GatewayError, OSError):
            log.warning("confirmation SMS to %s not sent", mask_phone(sms.to), exc_info=True)


@dataclass(frozen=True)
class Texts:
    """Whether and how a line confirms arrangements by text."""

    enabled: bool
    from_number: str
    bank: str


@dataclass(frozen=True)
class CallContext:
    """What the line knows of the call whose effects are carried out."""

    origin: Origin
    account: AccountRow | None
    number: str  # the cardholder's number on this call (the caller id inbound)
    language: str
    path: tuple[str, ...]
    verified: bool
    agent_hours: Hours
    timezone: str
    texts: Texts
    # The verification attempt recorded before the turn, to settle rather than insert.
    reserved_attempt: int | None = None


@dataclass
class CarriedOut:
    """What carrying out produced: references to speak, texts to send, a case opened."""

    references: dict[str, str] = field(default_factory=dict)
    outbox: list[Sms] = field(default_factory=list)
    case_id: int | None = None


def carry_out(
    session: Session, effects: tuple[Effect, ...], call: CallContext, now: dt.datetime
) -> CarriedOut:
    done = CarriedOut()
    row = call.account
    for effect in effects:
        match effect:
            case PauseRecording() | ResumeRecording():
                pass  # done through the gateway around <Pay>, before the answer is sent
            case RecordVerification(succeeded=succeeded) if call.reserved_attempt is not None:
                verification.settle(session, call.reserved_attempt, succeeded=succeeded)
            case RecordVerification(succeeded=succeeded):
                if row is not None:
                    verification.record_attempt(
                        session,
                        row.id,
                        call_sid=call.origin.call_sid or "",
                        succeeded=succeeded,
                        now=now,
                    )
            case LockSelfService():
                if row is not None:
                    verification.lock(
                        session, accounts.entity(session, row), origin=call.origin, now=now
                    )
            case SavePromise(amount_minor=amount, date=date):
                if row is not None:
                    account = accounts.entity(session, row)
                    reference = arrangements.save_promise(
                        session,
                        account,
                        amount_minor=amount,
                        date=date,
                        origin=call.origin,
                        now=now,
                    )
                    done.references["reference"] = reference
                    _text(
                        done,
                        call,
                        "sms_promise",
                        {
                            "amount": spoken_money(amount, account.currency, call.language),
                            "date": date.isoformat(),
                            "reference": reference,
                        },
                    )
            case SavePlan(count=count, instalment_minor=instalment, start=start):
                if row is not None:
                    account = accounts.entity(session, row)
                    reference = arrangements.save_plan(
                        session,
                        account,
                        count=count,
                        instalment_minor=instalment,
                        start=start,
                        origin=call.origin,
                        now=now,
                    )
                    _text(
                        done,
                        call,
                        "sms_plan",
                        {
                            "count": str(count),
                            "amount": spoken_money(instalment, account.currency, call.language),
                            "start": start.isoformat(),
                            "reference": reference,
                        },
                    )
            case OpenCase(kind=kind):
                if row is not None:
                    case_row = cases.open_case(
                        session,
                        accounts.entity(session, row),
                        kind=kind,
                        summary="Opened by the caller on the phone line; path: "
                        + " > ".join(call.path),
                        origin=call.origin,
                        now=now,
                    )
                    done.case_id = case_row.id
                    done.references["reference"] = " ".join(f"{case_row.id:06d}")
            case OptOut():
                if call.number:  # a withheld caller id is nobody's number
                    contacts.opt_out(session, call.number, origin=call.origin, now=now)
            case RequestCallback():
                if row is not None and call.number:
                    due = call.agent_hours.next_opening(now, call.timezone) or now
                    contacts.request_callback(
                        session,
                        accounts.entity(session, row),
                        call.number,
                        due=due,
                        origin=call.origin,
                        now=now,
                    )
            case MarkWrongParty():
                if row is not None and call.number:
                    contacts.mark_for_review(
                        session, row.cardholder_id, call.number, origin=call.origin, now=now
                    )
            case TransferToAgent(intent=intent):
                queueing.enqueue(
                    session,
                    call_sid=call.origin.call_sid or "",
                    line="dialer" if call.origin.source is Source.DIALER else "ivr",
                    account_id=row.id if row is not None else None,
                    number=call.number,
                    language=call.language,
                    verified=call.verified,
                    intent=intent,
                    path=call.path,
                    case_id=done.case_id,
                    now=now,
                )
                audit.record(
                    session,
                    actor=call.origin.actor,
                    action="call.transferred",
                    entity_type="call",
                    entity_id=call.origin.call_sid or "",
                    data={"intent": intent, "verified": call.verified},
                    now=now,
                )
            case _:
                assert_never(effect)
    return done


def fill_references(outcome: Outcome, values: Mapping[str, str]) -> Outcome:
    """Put the references carrying out produced (a case number) into what is said."""
    if not values:
        return outcome
    says = tuple(
        replace(
            say,
            params={
                k: values.get("reference", v) if v == REFERENCE else v
                for k, v in say.params.items()
            },
        )
        for say in outcome.turn.says
    )
    return replace(outcome, turn=replace(outcome.turn, says=says))


def _text(done: CarriedOut, call: CallContext, key: str, params: Mapping[str, str]) -> None:
    if call.texts.enabled and call.number.startswith("+"):
        done.outbox.append(
            Sms(
                call.number,
                call.texts.from_number,
                key,
                {"bank": call.texts.bank, **params},
                call.language,
            )
        )
