"""Call flows both lines speak: verification, paying by card, arrangements, cases, opt-out.

Pure rules, like each line's own flow: (call state, what the caller did, facts) -> an
Outcome. A line (ivr/, and the dialer next) keeps its own steps (how a call starts, its
main menu) and binds these to where its callers go back to, its `home`.
"""

from __future__ import annotations

from functools import partial

from flows import arrangements, cases, optout, payment, verification
from flows.asking import Handler, Home, SharedHandler
from hotline.enums import Step

SHARED: dict[Step, SharedHandler] = {
    Step.VERIFY: verification.verify,
    Step.PAY_CHOICE: payment.pay_choice,
    Step.PAY_AMOUNT: payment.pay_amount,
    Step.PAY_CONFIRM: payment.pay_confirm,
    Step.PAY_RETRY: payment.pay_retry,
    Step.ARRANGEMENT: arrangements.arrangement,
    Step.PROMISE_AMOUNT: arrangements.promise_amount,
    Step.PROMISE_DATE: arrangements.promise_date,
    Step.PROMISE_CONFIRM: arrangements.promise_confirm,
    Step.PLAN_CHOICE: arrangements.plan_choice,
    Step.PLAN_CONFIRM: arrangements.plan_confirm,
    Step.CASES: cases.cases,
    Step.CASE_NEXT: cases.case_next,
    Step.OPTOUT: optout.optout,
}


def handlers(home: Home) -> dict[Step, Handler]:
    """The shared steps, each answering with `home` where it goes back to the menu."""
    return {step: partial(handler, home=home) for step, handler in SHARED.items()}
