"""Verification: the digits that prove who is calling, before anything about the debt."""

from __future__ import annotations

from dataclasses import replace

from flows.asking import Home, asking, retry, transfer_or_goodbye
from flows.effects import Effect, LockSelfService, RecordVerification
from flows.state import CallState, Facts, Heard, Outcome
from hotline.enums import Step
from telephony.voice import Say


def verify(state: CallState, heard: Heard, facts: Facts, home: Home) -> Outcome:
    """The verification digits. Whether they were checked at all (not for a locked account,
    nor once the failures in the window reach the limit: the service counts them under the
    account's row lock) and whether they matched are facts."""
    account = facts.account
    if heard.empty:
        return retry(
            state, heard, facts, (Say("enter_verify"),), max_digits=None, finish_on_key="#"
        )
    if account is None or not facts.limits.checkable(
        locked=account.locked, failures=account.failures_last_24h
    ):
        # A missing or locked account fails like wrong digits, and nothing is checked. One
        # at the limit and not yet locked is locked now: the keying that reached the limit
        # may have been the right digits (checked, so it locked nothing), or its turn may
        # have failed, and the lock must not hang on which turn came fifth.
        over = account is not None and not account.locked
        return verify_failed(state, facts, (LockSelfService(),) if over else ())
    if facts.digits_match:
        verified = state.to(Step.MENU, verified=True, verify_failures=0, pending={})
        says = []
        if facts.first_disclosure:
            says.append(Say("disclosure_first", {"bank": facts.bank}))
        elif facts.later_disclosure:
            says.append(Say("disclosure_later", {"bank": facts.bank}))
        outcome = home(verified, facts, tuple(says), effects=(RecordVerification(True),))
        if facts.record_calls and not state.recording:
            # Recording starts once the caller is verified, so the verification digits are
            # never in it, and after the notice where the law asks for one.
            notice = (Say("recording_notice"),) if facts.recording_notice else ()
            outcome = replace(
                outcome,
                turn=replace(outcome.turn, preamble=notice, start_recording=True),
                state=replace(outcome.state, recording=True),
            )
        return outcome
    effects: tuple[Effect, ...] = (RecordVerification(False),)
    if facts.limits.locks_after(account.failures_last_24h):
        effects += (LockSelfService(),)
    return verify_failed(state, facts, effects)


def verify_failed(state: CallState, facts: Facts, effects: tuple[Effect, ...]) -> Outcome:
    """One wording for every failure: wrong digits, an unknown account, a locked one."""
    failures = state.verify_failures + 1
    if failures >= facts.limits.verify_failures_per_call:
        ended = state.to(Step.VERIFY, verify_failures=failures, retries=state.retries, pending={})
        return transfer_or_goodbye(ended, facts, (Say("too_many_attempts"),), effects)
    if state.pending.get("keyed_account"):
        # The caller keyed an account number: either it or the digits may be wrong.
        return Outcome(
            asking(
                (Say("verify_failed"), Say("enter_account")),
                Step.ACCOUNT,
                max_digits=None,
                finish_on_key="#",
            ),
            state.to(Step.ACCOUNT, verify_failures=failures, account_id=None, pending={}),
            effects,
        )
    return Outcome(
        asking(
            (Say("verify_failed"), Say("enter_verify")),
            Step.VERIFY,
            max_digits=None,
            finish_on_key="#",
        ),
        state.to(Step.VERIFY, verify_failures=failures, retries=state.retries),
        effects,
    )
