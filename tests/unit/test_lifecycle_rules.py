"""The promise lifecycle's pure rules: which payments count toward which arrangement, once;
kept iff covered by the date; broken only once the date has passed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.lifecycle_rules import (
    Kind,
    Outcome,
    Owed,
    Paid,
    counts_toward,
    earliest_local_day,
    settle,
)

DAY0 = dt.date(2026, 12, 1)
T0 = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(hour), tzinfo=dt.UTC)


def promise(target_id: int, amount: int, due: int, made: int = 0) -> Owed:
    return Owed(
        Kind.PROMISE,
        target_id,
        amount,
        DAY0 + dt.timedelta(days=due),
        at(made),
        DAY0 + dt.timedelta(days=made),
    )


def instalment(target_id: int, amount: int, due: int, sequence: int, made: int = 0) -> Owed:
    return Owed(
        Kind.INSTALMENT,
        target_id,
        amount,
        DAY0 + dt.timedelta(days=due),
        at(made),
        DAY0 + dt.timedelta(days=made),
        plan_id=1,
        sequence=sequence,
    )


def card(payment_id: int, amount: int, day: int, hour: int = 13) -> Paid:
    return Paid(payment_id, amount, DAY0 + dt.timedelta(days=day), at(day, hour))


def bank(payment_id: int, amount: int, day: int) -> Paid:
    return Paid(payment_id, amount, DAY0 + dt.timedelta(days=day))


def outcomes(verdicts):
    return {(v.owed.kind, v.owed.target_id): v.outcome for v in verdicts}


def test_a_promise_paid_in_full_by_its_date_is_kept_with_the_payments_it_drew_on():
    [verdict] = settle(
        [promise(1, 100_00, due=5)],
        [card(7, 60_00, 2), card(8, 50_00, 4)],
        today=DAY0 + dt.timedelta(days=4),
    )
    assert verdict.outcome is Outcome.KEPT and verdict.covered_minor == 100_00
    assert [(d.payment_id, d.amount_minor) for d in verdict.draws] == [(7, 60_00), (8, 40_00)]


def test_a_promise_short_by_its_date_is_open_until_the_date_has_passed_then_broken():
    owed, paid = [promise(1, 100_00, due=5)], [card(7, 60_00, 2)]
    assert settle(owed, paid, today=DAY0 + dt.timedelta(days=5))[0].outcome is Outcome.OPEN
    broken = settle(owed, paid, today=DAY0 + dt.timedelta(days=6))[0]
    assert broken.outcome is Outcome.BROKEN and broken.covered_minor == 60_00


def test_a_payment_after_the_date_or_before_the_promise_does_not_count():
    owed = promise(1, 100_00, due=5, made=1)
    assert not counts_toward(card(1, 1, 6), owed)  # after the date
    assert not counts_toward(card(2, 1, 1, hour=9), owed)  # the same day, before the promise
    assert counts_toward(card(3, 1, 1, hour=13), owed)  # the same day, after it
    assert counts_toward(bank(4, 1, 1), owed)  # booked that day: only the day is known
    assert not counts_toward(bank(5, 1, 0), owed)
    assert counts_toward(bank(6, 1, 5), owed)


def test_one_payment_pays_two_instalments_in_order_and_keeps_what_is_left_for_the_third():
    owed = [
        instalment(11, 100_00, 30, 1),
        instalment(12, 100_00, 60, 2),
        instalment(13, 100_00, 90, 3),
    ]
    verdicts = settle(owed, [card(1, 250_00, 10)], today=DAY0 + dt.timedelta(days=10))
    assert [v.outcome for v in verdicts] == [Outcome.KEPT, Outcome.KEPT, Outcome.OPEN]
    assert verdicts[2].covered_minor == 50_00


def test_a_payment_counts_once_between_a_promise_and_an_instalment():
    owed = [promise(1, 100_00, due=5), instalment(11, 100_00, due=6, sequence=1)]
    verdicts = settle(owed, [card(1, 100_00, 3)], today=DAY0 + dt.timedelta(days=7))
    assert outcomes(verdicts) == {
        (Kind.PROMISE, 1): Outcome.KEPT,
        (Kind.INSTALMENT, 11): Outcome.BROKEN,
    }


def test_an_open_earlier_promise_holds_its_money_a_broken_one_gives_it_back():
    # A ($100 by day 5) and B ($50 by day 8); $60 paid on day 2.
    owed = [promise(1, 100_00, due=5), promise(2, 50_00, due=8)]
    paid = [card(1, 60_00, 2)]
    on_day_3 = outcomes(settle(owed, paid, today=DAY0 + dt.timedelta(days=3)))
    assert on_day_3 == {(Kind.PROMISE, 1): Outcome.OPEN, (Kind.PROMISE, 2): Outcome.OPEN}
    on_day_6 = outcomes(settle(owed, paid, today=DAY0 + dt.timedelta(days=6)))
    assert on_day_6 == {(Kind.PROMISE, 1): Outcome.BROKEN, (Kind.PROMISE, 2): Outcome.KEPT}


def test_the_local_day_is_the_earliest_among_the_zones():
    moment = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)  # Dec 1 evening in the US
    assert earliest_local_day(moment, ["Asia/Shanghai"]) == dt.date(2026, 12, 2)
    assert earliest_local_day(moment, ["Asia/Shanghai", "America/New_York"]) == dt.date(2026, 12, 1)


# --- properties -------------------------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=300_00)
days = st.integers(min_value=0, max_value=40)


@st.composite
def arrangements(draw):
    owed = []
    for target_id in range(1, draw(st.integers(0, 6)) + 1):
        made = draw(days)
        due = made + draw(st.integers(0, 30))
        kind = draw(st.sampled_from(Kind))
        owed.append(
            Owed(
                kind,
                target_id,
                draw(amounts),
                DAY0 + dt.timedelta(days=due),
                at(made, draw(st.integers(0, 23))),
                DAY0 + dt.timedelta(days=made),
                plan_id=1 if kind is Kind.INSTALMENT else None,
                sequence=target_id,
            )
        )
    return owed


@st.composite
def payments(draw):
    paid = []
    for payment_id in range(1, draw(st.integers(0, 8)) + 1):
        day = draw(days)
        if draw(st.booleans()):
            paid.append(Paid(payment_id, draw(amounts), DAY0 + dt.timedelta(days=day)))
        else:
            paid.append(
                Paid(
                    payment_id,
                    draw(amounts),
                    DAY0 + dt.timedelta(days=day),
                    at(day, draw(st.integers(0, 23))),
                )
            )
    return paid


@settings(max_examples=400, deadline=None)
@given(owed=arrangements(), paid=payments(), today=days)
def test_a_payment_is_never_counted_for_more_than_it_brings(owed, paid, today):
    verdicts = settle(owed, paid, today=DAY0 + dt.timedelta(days=today))
    drawn = defaultdict(int)
    for verdict in verdicts:
        if verdict.outcome is not Outcome.BROKEN:  # a broken one gives its money back
            for draw in verdict.draws:
                drawn[draw.payment_id] += draw.amount_minor
    free = {p.payment_id: p.free_minor for p in paid}
    assert all(drawn[i] <= free[i] for i in drawn)


@settings(max_examples=400, deadline=None)
@given(owed=arrangements(), paid=payments(), today=days)
def test_kept_means_covered_by_payments_that_count_and_broken_only_after_the_date(
    owed, paid, today
):
    by_id = {p.payment_id: p for p in paid}
    day = DAY0 + dt.timedelta(days=today)
    for verdict in settle(owed, paid, today=day):
        total = sum(d.amount_minor for d in verdict.draws)
        assert all(counts_toward(by_id[d.payment_id], verdict.owed) for d in verdict.draws)
        if verdict.outcome is Outcome.KEPT:
            assert total == verdict.owed.amount_minor
        else:
            assert total < verdict.owed.amount_minor
            assert (verdict.outcome is Outcome.BROKEN) == (day > verdict.owed.due)


@settings(max_examples=400, deadline=None)
@given(one=arrangements(), paid=payments(), today=days)
def test_alone_an_arrangement_is_kept_iff_what_counts_toward_it_reaches_its_amount(
    one, paid, today
):
    for owed in one[:1]:
        [verdict] = settle([owed], paid, today=DAY0 + dt.timedelta(days=today))
        counting = sum(p.free_minor for p in paid if counts_toward(p, owed))
        assert (verdict.outcome is Outcome.KEPT) == (counting >= owed.amount_minor)


@settings(max_examples=300, deadline=None)
@given(owed=arrangements(), paid=payments(), today=days, later=st.integers(0, 40))
def test_running_again_over_what_is_left_changes_nothing_decided(owed, paid, today, later):
    """The job stores kept draws and settled statuses; a second run (the same day or any
    later one) sees only the open arrangements and what is left free of each payment, and
    keeps every earlier decision: nothing is counted twice, nothing kept becomes broken."""
    first_day = DAY0 + dt.timedelta(days=today)
    first = settle(owed, paid, today=first_day)
    drawn = defaultdict(int)
    for verdict in first:
        if verdict.outcome is Outcome.KEPT:
            for draw in verdict.draws:
                drawn[draw.payment_id] += draw.amount_minor
    still_open = [v.owed for v in first if v.outcome is Outcome.OPEN]
    left = [Paid(p.payment_id, p.free_minor - drawn[p.payment_id], p.day, p.at) for p in paid]
    again = settle(still_open, left, today=first_day)
    assert all(v.outcome is Outcome.OPEN for v in again)
    later_run = settle(still_open, left, today=first_day + dt.timedelta(days=later))
    for verdict in later_run:
        for draw in verdict.draws:
            drawn[draw.payment_id] += draw.amount_minor if verdict.outcome is Outcome.KEPT else 0
    free = {p.payment_id: p.free_minor for p in paid}
    assert all(drawn[i] <= free[i] for i in drawn)
