"""Card payments: posted exactly once, whole, by whichever line or person took them.

The caller's session, never committed here. A payment's idempotency key decides (unique):
a replay, or a concurrent duplicate that loses the race, meets the row already there and
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline import accounts, audit, contacts
from hotline.enums import Direction, PaymentStatus, Source
from hotline.models import CallEvent, CardAccount, Payment
from hotline.origin import Origin
from hotline.redact import card_last4

# Stored fields are bounded by design: nothing a carrier sends can stop a posting.
CONFIRMATION_LENGTH = 100
BRAND_LENGTH = 20


def pay_key(call_sid: str, pay_token: str, confirmation: str) -> str:
    """The key of a card payment taken on a call: one per <Pay> (a <Pay> charges a card
    at most once), so a replay with another confirmation code, a re-cut request, cannot
    post twice. A result with no token falls back to the code, hashed when long."""
    if pay_token:
        return f"call:{call_sid}:pay:{pay_token}"
    # The form of the keys posted before <Pay> carried tokens, so their replays still match.
    if len(confirmation) <= 64:
        return f"ivr:{call_sid}:{confirmation}"
    return f"ivr:{call_sid}:sha256:{hashlib.sha256(confirmation.encode()).hexdigest()}"


def post_card_payment(
    session: Session,
    account: CardAccount,
    *,
    amount_minor: int,
    key: str,
    confirmation: str,
    brand: str | None,
    masked: str | None,
    origin: Origin,
    now: dt.datetime,
    posted_on: dt.date | None = None,
) -> bool:
    """Post a card payment once per `key`; True if this call posted it.

    The whole amount is posted; what exceeds the balance (two payments racing, or a file
    that lowered the balance meanwhile) becomes a credit on the account, never clamped.
    `posted_on`: the day the bank booked it, for a payment from its posting file. A payment
    that leaves nothing past due takes the account out of its campaign at once: its calls
    still planned are cancelled (`not-due`, as the planner would).
    """
    # The account's row, locked and read afresh before anything else (inserting the payment
    # first would take a key-share lock that two racing payments would deadlock on): the
    # balance another payment may just have lowered decides what is credit.
    accounts.lock(session, account)
    try:
        with session.begin_nested():
            payment = Payment(
                account_id=account.id,
                amount_minor=amount_minor,
                currency=account.currency,
                source=origin.source,
                status=PaymentStatus.POSTED,
                idempotency_key=key,
                processor_confirmation=confirmation[:CONFIRMATION_LENGTH],
                card_brand=(brand or "")[:BRAND_LENGTH] or None,
                card_last4=card_last4(masked),
                call_sid=origin.call_sid,
                created_at=now,
                posted_at=now,
                posted_on=posted_on,
            )
            session.add(payment)
            session.flush()
    except IntegrityError:
        # Only the key's own conflict is a replay: any other refusal (a constraint on a
        # stored field) must not pass for one and lose a charged payment silently.
        if session.scalar(select(Payment.id).where(Payment.idempotency_key == key)) is None:
            raise
        return False
    applied = min(amount_minor, account.balance_minor)
    credited = amount_minor - applied
    account.balance_minor -= applied
    account.credit_minor += credited
    account.minimum_due_minor = max(0, account.minimum_due_minor - amount_minor)
    account.past_due_minor = max(0, account.past_due_minor - amount_minor)
    session.flush()
    if account.past_due_minor == 0:
        contacts.cancel_planned_calls(session, account.id, now=now)
    audit.record(
        session,
        actor=origin.actor,
        action="payment.posted",
        entity_type="card_account",
        entity_id=account.account_number,
        data={
            "payment_id": payment.id,
            "amount_minor": amount_minor,
            "currency": account.currency,
            "call_sid": origin.call_sid,
            "confirmation": confirmation[:CONFIRMATION_LENGTH],
            "credited_minor": credited,
        },
        now=now,
    )
    return True


# --- results kept before they are posted -----------------------------------------------------

RESULT_EVENT = "pay-result"


@dataclass(frozen=True)
class CardResult:
    """What a <Pay> reported, as kept before posting: enough to post it again later."""

    call_sid: str
    pay_token: str
    account_id: int | None
    amount_minor: int
    result: str
    confirmation: str
    brand: str
    masked: str

    @classmethod
    def of(
        cls,
        form: Mapping[str, str],
        *,
        call_sid: str,
        pay_token: str,
        account_id: int | None,
        amount_minor: int,
    ) -> CardResult:
        """The result a <Pay> action reported (its checked, masked fields), for the <Pay> of
        `pay_token` and its amount."""
        return cls(
            call_sid=call_sid,
            pay_token=pay_token,
            account_id=account_id,
            amount_minor=amount_minor,
            result=form.get("Result", ""),
            confirmation=form.get("PaymentConfirmationCode", ""),
            brand=form.get("PaymentCardType", ""),
            masked=form.get("PaymentCardNumber", ""),
        )

    @property
    def charged(self) -> bool:
        return self.result == "success" and bool(self.confirmation) and self.amount_minor > 0

    @property
    def key(self) -> str:
        return pay_key(self.call_sid, self.pay_token, self.confirmation)


def keep_result(session: Session, result: CardResult, *, now: dt.datetime) -> bool:
    """Keep a <Pay> result as it arrived, in a short transaction of its own before the turn
    that posts it: the turn may fail (a database slow or locked), and a charged card must
    not then be forgotten. True if it is new (a replay keeps nothing)."""
    sequence = f"pay:{result.pay_token}" if result.pay_token else f"code:{result.key[-40:]}"
    return contacts.record_call_event(
        session,
        call_sid=result.call_sid,
        kind=RESULT_EVENT,
        sequence=sequence[:64],
        payload={k: str(v) for k, v in asdict(result).items()},
        now=now,
    )


def reconcile(session: Session, *, since: dt.datetime, now: dt.datetime) -> tuple[int, int]:
    """Post every charged result kept since `since` that no payment records yet (its turn
    failed); (posted now, already posted). Safe to run any time, as often as wished."""
    posted = already = 0
    events = session.scalars(
        select(CallEvent)
        .where(CallEvent.kind == RESULT_EVENT, CallEvent.received_at >= since)
        .order_by(CallEvent.id)
    ).all()
    for event in events:
        result = _result_of(event)
        if result is None or not result.charged or result.account_id is None:
            continue
        account = session.get(CardAccount, result.account_id)
        if account is None:
            continue
        if post_card_payment(
            session,
            account,
            amount_minor=result.amount_minor,
            key=result.key,
            confirmation=result.confirmation,
            brand=result.brand,
            masked=result.masked,
            origin=_reconcile_origin(session, result.call_sid),
            now=now,
        ):
            posted += 1
        else:
            already += 1
    return posted, already


def _reconcile_origin(session: Session, call_sid: str) -> Origin:
    """The line whose call took the card: a reminder call's payment is the dialer's."""
    outbound = contacts.direction_of_call(session, call_sid) is Direction.OUTBOUND
    return Origin(Source.DIALER if outbound else Source.IVR, "reconcile", call_sid)


def _result_of(event: CallEvent) -> CardResult | None:
    try:
        data = json.loads(event.payload)
        return CardResult(
            call_sid=event.call_sid,
            pay_token=str(data.get("pay_token", "")),
            account_id=int(data["account_id"])
            if str(data.get("account_id", "")).isdigit()
            else None,
            amount_minor=int(data.get("amount_minor") or 0),
            result=str(data.get("result", "")),
            confirmation=str(data.get("confirmation", "")),
            brand=str(data.get("brand", "")),
            masked=str(data.get("masked", "")),
        )
    except (ValueError, TypeError, KeyError):
        return None
