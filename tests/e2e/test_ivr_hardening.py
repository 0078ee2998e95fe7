"""The inbound line attacked and confused: money that cannot be lost or doubled, lockout
under concurrency, no account oracle, and what a caller hears at the edges.

Calls are driven two ways: through the simulator (a whole call, as a caller would), and
turn by turn with signed webhook requests, where a test must act between two turns of a
call (another call pays meanwhile, a late callback arrives). Races run on PostgreSQL;
SQLite serialises every write and would hide them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from sqlalchemy import update

from hotline.models import (
    AuditEvent,
    CardAccount,
    IvrCall,
    Payment,
    PromiseToPay,
    RepaymentPlan,
    VerificationAttempt,
)
from hotline.settings import DEV_ACCOUNT_SID
from tests.conftest import backend
from tests.e2e.conftest import HOTLINE_NUMBER
from tests.e2e.test_ivr import (
    ALICE,
    ALICE_ACCOUNT,
    ALICE_DIGITS,
    WANG,
    WANG_DIGITS,
    _signed_post,
    account,
    heard,
    rows,
    said,
)

postgresql_only = pytest.mark.skipif(
    backend() != "postgresql", reason="a race: SQLite serialises every write and hides it"
)
VERIFY_FAILED = "We could not verify those details. Please try again."


class Turns:
    """One call driven turn by turn with signed webhook requests, as Twilio sends them."""

    def __init__(self, line, caller: str = ALICE) -> None:
        self.line, self.caller = line, caller
        self.sid = "CA" + secrets.token_hex(16)

    def post(self, path: str, **params: str) -> str:
        form = {
            "CallSid": self.sid,
            "AccountSid": DEV_ACCOUNT_SID,
            "From": self.caller,
            "To": HOTLINE_NUMBER,
            "CallStatus": "in-progress",
            **params,
        }
        response = _signed_post(self.line, path, form)
        assert response.status_code == 200, response.text
        assert "something went wrong" not in response.text, response.text
        return response.text

    def answer(self) -> str:
        return self.post("/ivr/voice", CallStatus="ringing")

    def key(self, step: str, digits: str) -> str:
        return self.post(f"/ivr/step/{step}", Digits=digits)

    def verified(self, digits: str = ALICE_DIGITS) -> Turns:
        self.answer()
        assert "For your balance" in self.key("verify", digits)
        return self

    def at_pay(self, choice: str) -> ET.Element:
        """From the menu to <Pay> for a pay-menu choice; the <Pay> element."""
        self.key("menu", "2")
        self.key("pay-choice", choice)
        return pay_of(self.key("pay-confirm", "1"))

    def pay_result(self, pay: ET.Element, **result: str) -> str:
        path = pay.attrib["action"].split("/ivr", 1)[1]
        return self.post("/ivr" + path, **result)


def pay_of(twiml: str) -> ET.Element:
    pay = ET.fromstring(twiml).find("Pay")
    assert pay is not None, twiml
    return pay


def says(twiml: str) -> list[str]:
    return [e.text or "" for e in ET.fromstring(twiml).iter("Say")]


def spoken(twiml: str) -> str:
    return " ".join(says(twiml))


def success(code: str) -> dict[str, str]:
    return {
        "Result": "success",
        "PaymentConfirmationCode": code,
        "PaymentCardType": "visa",
        "PaymentCardNumber": "xxxx-xxxx-xxxx-4242",
    }


def set_account(line, number: str = ALICE_ACCOUNT, **values: object) -> None:
    with line.app.extensions["hotline"].Session.begin() as session:
        session.execute(
            update(CardAccount).where(CardAccount.account_number == number).values(**values)
        )


def money(minor: int) -> str:
    return f"${minor // 100:,}.{minor % 100:02d}"


# --- a confirmed amount is checked when confirmed and when posted ---------------------------


def test_a_balance_paid_by_another_call_meanwhile_is_not_charged_again(hotline_app):
    balance = account(hotline_app).balance_minor
    first = Turns(hotline_app).verified()
    first.key("menu", "2")
    assert f"You are paying {money(balance)}." in spoken(first.key("pay-choice", "3"))
    # Meanwhile another call pays the whole balance.
    other = hotline_app.call(f"{ALICE_DIGITS}#,2,3,1")
    assert heard(other, f"Your payment of {money(balance)} was accepted.")
    answer = first.key("pay-confirm", "1")
    assert "<Pay" not in answer
    assert "There is nothing to pay on this account right now." in says(answer)
    assert [p.amount_minor for p in rows(hotline_app, Payment)] == [balance]
    assert account(hotline_app).balance_minor == 0


def test_a_balance_partly_paid_meanwhile_is_quoted_again_at_what_is_owed_now(hotline_app):
    row = account(hotline_app)
    first = Turns(hotline_app).verified()
    first.key("menu", "2")
    first.key("pay-choice", "3")
    hotline_app.call(f"{ALICE_DIGITS}#,2,1,1")  # another call pays the minimum
    owed = row.balance_minor - row.minimum_due_minor
    answer = first.key("pay-confirm", "1")
    assert "<Pay" not in answer
    assert says(answer) == [
        "The amount owed on your account has changed since we told you.",
        f"You are paying {money(owed)}. To confirm, press 1. To change the amount, press 2.",
    ]
    pay = pay_of(first.key("pay-confirm", "1"))
    assert pay.attrib["chargeAmount"] == f"{owed // 100}.{owed % 100:02d}"


def test_another_amount_above_what_is_owed_now_is_asked_again(hotline_app):
    row = account(hotline_app)
    first = Turns(hotline_app).verified()
    first.key("menu", "2")
    first.key("pay-choice", "4")
    first.key("pay-amount", str(row.balance_minor))
    set_account(hotline_app, balance_minor=row.balance_minor // 2)  # the bank's file posts
    answer = first.key("pay-confirm", "1")
    assert "<Pay" not in answer
    assert f"The amount cannot be more than your balance of {money(row.balance_minor // 2)}." in (
        says(answer)
    )


def test_payments_racing_past_the_balance_are_kept_whole_the_excess_as_credit(hotline_app):
    balance = account(hotline_app).balance_minor
    calls = [Turns(hotline_app).verified() for _ in range(2)]
    pays = [call.at_pay("3") for call in calls]
    assert [p.attrib["chargeAmount"] for p in pays] == [f"{balance / 100:.2f}"] * 2
    barrier = threading.Barrier(2)
    answers: list[str] = []

    def report(call: Turns, pay: ET.Element, code: str) -> None:
        barrier.wait()
        answers.append(call.pay_result(pay, **success(code)))

    threads = [
        threading.Thread(target=report, args=(call, pay, f"ch_race{i}"))
        for i, (call, pay) in enumerate(zip(calls, pays, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all("Your payment of" in a for a in answers)
    assert sorted(p.amount_minor for p in rows(hotline_app, Payment)) == [balance, balance]
    after = account(hotline_app)
    assert (after.balance_minor, after.credit_minor) == (0, balance)
    credited = [
        json.loads(e.data)["credited_minor"]
        for e in rows(hotline_app, AuditEvent, AuditEvent.action == "payment.posted")
    ]
    assert sorted(credited) == [0, balance]


@postgresql_only
def test_many_payments_racing_on_one_account_post_every_one_in_full(hotline_app):
    """Eight calls' results at the same instant: no deadlock, no lost update, no clamp."""
    balance = account(hotline_app).balance_minor
    calls = [Turns(hotline_app).verified() for _ in range(8)]
    pays = [call.at_pay("1") for call in calls]
    minimum = int(pays[0].attrib["chargeAmount"].replace(".", ""))
    barrier = threading.Barrier(len(calls))

    def report(i: int) -> None:
        barrier.wait()
        calls[i].pay_result(pays[i], **success(f"ch_many{i}"))

    threads = [threading.Thread(target=report, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    paid = sum(p.amount_minor for p in rows(hotline_app, Payment))
    assert paid == minimum * len(calls)
    after = account(hotline_app)
    assert after.balance_minor + paid - after.credit_minor == balance


# --- a result belongs to the <Pay> it answers ----------------------------------------------


def test_a_late_result_for_an_earlier_pay_is_not_taken_for_the_later_one(hotline_app):
    row = account(hotline_app)
    call = Turns(hotline_app).verified()
    first = call.at_pay("1")  # the minimum
    failed = {"Result": "too-many-failed-attempts"}
    assert "To try again, press 1." in " ".join(says(call.pay_result(first, **failed)))
    call.key("pay-retry", "*")
    second = call.at_pay("3")  # now the full balance
    assert first.attrib["action"] != second.attrib["action"]
    # Twilio retries the first <Pay>'s callback while the second is in progress.
    call.pay_result(first, **failed)
    answer = call.pay_result(second, **success("ch_second0001"))
    assert f"Thank you. Your payment of {money(row.balance_minor)} was accepted." in spoken(answer)
    [payment] = rows(hotline_app, Payment)
    assert payment.amount_minor == row.balance_minor


def test_a_success_for_an_earlier_pay_posts_that_pays_own_amount_once(hotline_app):
    row = account(hotline_app)
    call = Turns(hotline_app).verified()
    first = call.at_pay("1")
    call.pay_result(first, **success("ch_first00001"))
    second = call.at_pay("3")
    call.pay_result(first, **success("ch_first00001"))  # a replay of the first result
    call.pay_result(first, **success("ch_recut00001"))  # the same <Pay>, another code
    assert [p.amount_minor for p in rows(hotline_app, Payment)] == [row.minimum_due_minor]
    call.pay_result(second, **success("ch_second0001"))
    assert sorted(p.amount_minor for p in rows(hotline_app, Payment)) == sorted(
        [row.minimum_due_minor, row.balance_minor - row.minimum_due_minor]
    )


def test_no_fields_length_stops_a_charged_payment_from_posting_once(hotline_app):
    call = Turns(hotline_app).verified()
    pay = call.at_pay("1")
    result = {
        "Result": "success",
        "PaymentConfirmationCode": "ch_" + "A" * 997,
        "PaymentCardType": "visa-" + "x" * 300,
        "PaymentCardNumber": "x" * 150 + "4242",
    }
    first = call.pay_result(pay, **result)
    again = call.pay_result(pay, **result)
    assert "Your payment of" in first and first == again
    [payment] = rows(hotline_app, Payment)
    assert len(payment.card_brand or "") <= 20 and len(payment.idempotency_key) <= 200


def test_a_card_last4_is_four_ascii_digits_or_nothing(hotline_app):
    for masked, expected in (("xxxx-xxxx-xxxx-٤٢٤٢", None), ("xx42", None), ("**1234", "1234")):
        call = Turns(hotline_app).verified()
        pay = call.at_pay("1")
        call.pay_result(
            pay, **{**success("ch_" + secrets.token_hex(4)), "PaymentCardNumber": masked}
        )
        newest = max(rows(hotline_app, Payment), key=lambda p: p.id)
        assert newest.card_last4 == expected
        set_account(hotline_app, balance_minor=100000, minimum_due_minor=5000)


# --- nothing due: no <Pay> for nothing, no "$0.00" choice, no past date "is due" ----------


def test_after_paying_everything_the_menus_offer_nothing_to_pay(hotline_app):
    balance = account(hotline_app).balance_minor
    call = hotline_app.call(f"{ALICE_DIGITS}#,2,3,1,1,2")
    texts = said(call)
    assert f"Thank you. Your payment of {money(balance)} was accepted." in " ".join(texts)
    assert "No minimum payment is due." in texts
    assert "There is nothing to pay on this account right now." in texts
    assert not any("$0.00" in t for t in texts)
    assert sum(1 for e in call.transcript if e.kind == "pay" and e.detail["stage"] == "start") == 1


def test_the_pay_menu_offers_only_choices_that_come_to_something(hotline_app):
    set_account(hotline_app, past_due_minor=0)
    call = hotline_app.call(f"{ALICE_DIGITS}#,2,*")
    texts = said(call)
    assert any(t.startswith("To pay the minimum due of") for t in texts)
    assert not any("past-due amount" in t for t in texts)
    assert "To enter another amount, press 4." in texts


def test_a_due_date_in_the_past_was_due(hotline_app):
    past = dt.date.today() - dt.timedelta(days=20)
    set_account(hotline_app, due_date=past)
    texts = said(hotline_app.call(f"{ALICE_DIGITS}#,1"))
    assert any(" was due on " in t for t in texts)
    assert not any(" is due on " in t for t in texts)


# --- verification: lockout under concurrency, no oracle, unlock ----------------------------


@postgresql_only
def test_a_burst_of_wrong_guesses_checks_at_most_five_and_none_after(hotline_app):
    calls = [Turns(hotline_app) for _ in range(40)]
    for call in calls:
        call.answer()
    right = calls[17]
    barrier = threading.Barrier(len(calls))
    answers: dict[str, str] = {}

    def guess(call: Turns) -> None:
        digits = ALICE_DIGITS if call is right else "11111"
        barrier.wait()
        answers[call.sid] = call.key("verify", digits)

    threads = [threading.Thread(target=guess, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every keying is counted (recorded as failed before its digits are checked, in the
    # order the account's lock let them through); only the first five can be checked.
    attempts = sorted(rows(hotline_app, VerificationAttempt), key=lambda a: a.id)
    assert len(attempts) == len(calls)
    assert account(hotline_app).self_service_locked_at is not None
    reached_menu = [sid for sid, answer in answers.items() if "For your balance" in answer]
    assert reached_menu in ([], [right.sid])
    successes = [a for a in attempts if a.succeeded]
    assert len(successes) == len(reached_menu)
    if successes:  # checked before the limit: then, and only then, it may reach the menu
        assert sum(1 for a in attempts if a.id < successes[0].id and not a.succeeded) < 5
    # After the burst not even the right digits are checked.
    late = Turns(hotline_app)
    late.answer()
    assert says(late.key("verify", ALICE_DIGITS))[0] == VERIFY_FAILED
    assert sum(1 for a in rows(hotline_app, VerificationAttempt) if a.succeeded) == len(successes)


def test_an_unlock_lets_the_cardholder_in_and_starts_the_count_afresh(hotline_app, hotline):
    hotline_app.call("11111#,22222#,33333#")
    hotline_app.call("44444#,55555#")
    assert account(hotline_app).self_service_locked_at is not None
    result = hotline("accounts", "unlock", ALICE_ACCOUNT, "--by", "agent-7")
    assert result.exit_code == 0, result.output
    assert "phone self-service unlocked" in result.stdout
    assert account(hotline_app).self_service_locked_at is None
    wrong_once = hotline_app.call("66666#")  # a slip after the unlock does not lock again
    assert account(hotline_app).self_service_locked_at is None and heard(wrong_once, VERIFY_FAILED)
    assert heard(hotline_app.call(f"{ALICE_DIGITS}#,1"), "Your current balance is")
    [event] = rows(hotline_app, AuditEvent, AuditEvent.action == "self-service.unlocked")
    assert event.actor == "cli:agent-7"


def test_unlocking_an_unknown_account_is_one_clear_line(hotline, hotline_app):
    result = hotline("accounts", "unlock", "9999")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: no account '9999'"


@pytest.mark.parametrize("entered", ["existing", "missing", "locked"])
def test_the_account_step_answers_every_account_number_the_same_way(hotline_app, entered):
    if entered == "locked":
        set_account(hotline_app, self_service_locked_at=dt.datetime.now(dt.UTC))
    number = "9999000099990000" if entered == "missing" else ALICE_ACCOUNT
    call = Turns(hotline_app, caller="+14155550177")
    call.answer()
    call.key("language", "1")
    assert says(call.key("account", number)) == [
        "To confirm your identity, please enter your verification digits, such as your "
        "billing ZIP code, then press the pound key."
    ]
    assert says(call.key("verify", "12345")) == [
        VERIFY_FAILED,
        "Please enter your account number, then press the pound key.",
    ]


# --- two first requests for one call --------------------------------------------------------


@postgresql_only
def test_first_requests_for_one_call_at_once_all_get_the_same_answer(hotline_app):
    call = Turns(hotline_app)
    barrier = threading.Barrier(6)
    answers: list[str] = []

    def ring() -> None:
        barrier.wait()
        answers.append(call.answer())  # Turns.post asserts 200 and no apology

    threads = [threading.Thread(target=ring) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(answers)) == 1 and len(answers) == 6
    assert len(rows(hotline_app, IvrCall, IvrCall.call_sid == call.sid)) == 1


# --- what the caller hears --------------------------------------------------------------------


def test_the_chinese_queue_position_is_the_callers_place_in_line(hotline_app):
    call = Turns(hotline_app, caller=WANG)
    call.answer()
    assert says(call.post("/ivr/hold", QueuePosition="1")) == [
        "所有客服正忙，您是第1位，请不要挂机。"
    ]


def test_after_hours_no_agent_is_promised_before_saying_none_is_there(hotline_line):
    line = hotline_line(agent_hours="never")
    texts = said(line.call(f"{ALICE_DIGITS}#,7,8,6"))
    assert "Let me connect you with an agent." not in texts
    assert "Our agents are not available right now." in texts
    case = said(line.call(f"{ALICE_DIGITS}#,4,1"))
    assert "To return to the main menu, press 2." in case
    assert not any("speak with an agent now" in t for t in case)


def test_a_plan_read_back_says_a_last_instalment_that_differs(hotline_app):
    set_account(hotline_app, balance_minor=1113682, minimum_due_minor=50000, past_due_minor=0)
    texts = said(hotline_app.call(f"{ALICE_DIGITS}#,3,2,1"))
    assert any(
        t.startswith("You chose 3 monthly payments of $3,712.28, the last one $3,712.26,")
        for t in texts
    )


def test_the_bank_has_its_name_in_each_language(hotline_line):
    line = hotline_line(bank_name_zh="示例银行")
    assert said(line.call(f"{WANG_DIGITS}#", caller=WANG))[0] == "感谢致电示例银行。"
    assert said(line.call(f"{ALICE_DIGITS}#"))[0] == "Thank you for calling Example Bank."


def test_a_later_verified_call_says_it_is_from_a_debt_collector(hotline_app):
    first = said(hotline_app.call(f"{ALICE_DIGITS}#"))
    later = said(hotline_app.call(f"{ALICE_DIGITS}#"))
    assert any("This is an attempt to collect a debt" in t for t in first)
    assert "This call is from Example Bank, a debt collector." in later
    assert not any("This is an attempt to collect a debt" in t for t in later)


def test_today_is_the_callers_local_day(hotline_app):
    """At 03:00 UTC it is still yesterday evening in California: a promise for the
    caller's today is accepted, and the window is counted from it."""
    ivr = hotline_app.app.extensions["ivr"]
    evening: Callable[[], dt.datetime] = lambda: dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)  # noqa: E731
    hotline_app.app.extensions["ivr"] = dataclasses.replace(ivr, clock=evening)
    row = account(hotline_app)
    call = hotline_app.call(f"{ALICE_DIGITS}#,3,1,{max(row.minimum_due_minor, 100)}#,20261201#,1")
    assert heard(call, "The latest date you can choose is December 31, 2026.")
    assert heard(call, "Your promise to pay is recorded.")
    [promise] = rows(hotline_app, PromiseToPay)
    assert promise.promised_date == dt.date(2026, 12, 1)


# --- a charged result is never lost to a sick database ------------------------------------


@postgresql_only
def test_a_charged_result_whose_turn_fails_is_kept_and_reconciled_once(
    hotline_app, hotline, caplog
):
    """The audit chain's lock held elsewhere (a long import, say) fails the turn that
    would post the payment: the caller hears the apology, but the result was kept first,
    and `hotline payments reconcile` posts it, once."""
    from sqlalchemy import text

    from hotline.audit import _CHAIN_LOCK_KEY

    balance = account(hotline_app).balance_minor
    call = Turns(hotline_app).verified()
    pay = call.at_pay("1")
    engine = hotline_app.app.extensions["hotline"].engine
    with engine.connect() as blocker:
        blocker.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
        path = pay.attrib["action"].split("/ivr", 1)[1]
        form = {
            "CallSid": call.sid,
            "AccountSid": DEV_ACCOUNT_SID,
            "From": call.caller,
            "To": HOTLINE_NUMBER,
            "CallStatus": "in-progress",
            **success("ch_kept000001"),
        }
        answer = _signed_post(hotline_app, "/ivr" + path, form)
        blocker.rollback()
    assert answer.status_code == 200 and "something went wrong" in answer.text
    assert rows(hotline_app, Payment) == []
    assert any("kept for `hotline payments reconcile`" in r.getMessage() for r in caplog.records)
    first = hotline("payments", "reconcile")
    again = hotline("payments", "reconcile")
    assert "posted 1 payment(s)" in first.stdout and "posted 0 payment(s)" in again.stdout
    [payment] = rows(hotline_app, Payment)
    minimum = int(pay.attrib["chargeAmount"].replace(".", ""))
    assert payment.amount_minor == minimum
    assert account(hotline_app).balance_minor == balance - minimum
    # Twilio replays the result once the database is well: still one payment.
    call.pay_result(pay, **success("ch_kept000001"))
    assert len(rows(hotline_app, Payment)) == 1


@postgresql_only
def test_guesses_whose_turn_fails_are_still_counted_and_lock_holds(hotline_app):
    """An attacker keys guesses while the audit chain's lock is held elsewhere (the turn
    that would lock the account cannot finish): every guess is still counted, so the
    right digits afterwards do not reach the menu."""
    from sqlalchemy import text

    from hotline.audit import _CHAIN_LOCK_KEY

    for wrong in ("11111", "22222"):  # two failures on record first
        call = Turns(hotline_app)
        call.answer()
        call.key("verify", wrong)
    engine = hotline_app.app.extensions["hotline"].engine
    calls = [Turns(hotline_app) for _ in range(8)]
    for call in calls:
        call.answer()
    with engine.connect() as blocker:
        blocker.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
        barrier = threading.Barrier(len(calls))

        def guess(call: Turns) -> None:
            barrier.wait()
            form = {
                "CallSid": call.sid,
                "AccountSid": DEV_ACCOUNT_SID,
                "From": call.caller,
                "To": HOTLINE_NUMBER,
                "CallStatus": "in-progress",
                "Digits": "33333",
            }
            assert _signed_post(hotline_app, "/ivr/step/verify", form).status_code == 200

        threads = [threading.Thread(target=guess, args=(call,)) for call in calls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        blocker.rollback()
    failures = [a for a in rows(hotline_app, VerificationAttempt) if not a.succeeded]
    assert len(failures) == 2 + len(calls)  # every guess counted, whatever its turn did
    late = Turns(hotline_app)
    late.answer()
    assert says(late.key("verify", ALICE_DIGITS))[0] == VERIFY_FAILED


@postgresql_only
def test_a_plan_confirmed_while_the_balance_changes_is_read_back_again(hotline_app):
    """The balance changes (another transaction, holding the account) just as the caller
    confirms a plan: the turn waits, reads the new balance, and reads the plan back again
    instead of saving instalments that no longer add up to what it said."""
    set_account(hotline_app, balance_minor=90_000, minimum_due_minor=5_000, past_due_minor=0)
    call = Turns(hotline_app).verified()
    call.key("menu", "3")
    call.key("arrangement", "2")
    assert "You chose 3 monthly payments of $300.00" in spoken(call.key("plan-choice", "1"))
    engine = hotline_app.app.extensions["hotline"].engine
    answers: list[str] = []
    with engine.connect() as other:
        other.execute(
            update(CardAccount)
            .where(CardAccount.account_number == ALICE_ACCOUNT)
            .values(balance_minor=150_000)
        )  # the row stays locked until `other` commits
        confirming = threading.Thread(target=lambda: answers.append(call.key("plan-confirm", "1")))
        confirming.start()
        time.sleep(0.5)  # the turn is waiting on the account's row
        other.commit()
    confirming.join()
    assert "has changed" in spoken(answers[0])
    assert "You chose 3 monthly payments of $500.00" in spoken(answers[0])
    assert rows(hotline_app, RepaymentPlan) == []


@postgresql_only  # on SQLite a missing table is an OperationalError: the database's fault
def test_the_apology_is_in_the_callers_language(hotline_app):
    call = Turns(hotline_app, caller=WANG)
    call.answer()
    engine = hotline_app.app.extensions["hotline"].engine
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE verification_attempt RENAME TO gone_away")
    try:
        form = {
            "CallSid": call.sid,
            "AccountSid": DEV_ACCOUNT_SID,
            "From": WANG,
            "To": HOTLINE_NUMBER,
            "Digits": WANG_DIGITS,
        }
        response = _signed_post(hotline_app, "/ivr/step/verify", form)
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE gone_away RENAME TO verification_attempt")
    assert response.status_code == 200
    assert says(response.text)[0] == "抱歉，我们的系统出现了问题。"


def test_a_request_delivered_twice_is_answered_once(hotline_app):
    """Twilio retries a request with the same I-Twilio-Idempotency-Token: a wrong keying
    delivered three times counts once, and the call goes on as after one."""
    import requests

    from simulator.signing import signature
    from tests.e2e.conftest import AUTH_TOKEN

    call = Turns(hotline_app)
    call.answer()
    url = hotline_app.base_url + "/ivr/step/verify"
    form = {
        "CallSid": call.sid,
        "AccountSid": DEV_ACCOUNT_SID,
        "From": call.caller,
        "To": HOTLINE_NUMBER,
        "Digits": "11111",
    }
    headers = {
        "X-Twilio-Signature": signature(AUTH_TOKEN, url, form.items()),
        "I-Twilio-Idempotency-Token": "retry-" + secrets.token_hex(8),
    }
    answers = [requests.post(url, data=form, headers=headers, timeout=30).text for _ in range(3)]
    assert len(set(answers)) == 1 and says(answers[0])[0] == VERIFY_FAILED
    assert len(rows(hotline_app, VerificationAttempt)) == 1
    # The next, new keying is the second failure, not the fourth: the call goes on.
    assert says(call.key("verify", "22222"))[0] == VERIFY_FAILED
