"""The KPI arithmetic: local days, folding counts, rates, roll rates, reasons, case ages."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.history import CONVERSATIONS, POLICY_OUTCOME
from hotline.kpi_rules import (
    NO_TIER,
    AttemptBucket,
    Counts,
    PaymentBucket,
    PaymentDay,
    PromiseDue,
    RangeError,
    blocked_by_reason,
    bucket_of,
    by_day,
    case_age,
    fold,
    local_day,
    parse_range,
    rate,
    roll_rates,
    total,
    utc_window,
)
from hotline.kpis import CONNECTED, RIGHT_PARTY
from hotline.profiles import AttemptOutcome

NY = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # +05:45: a quarter-hour offset
DAY = dt.date(2026, 12, 1)


def test_the_kpis_count_connects_and_right_parties_as_the_contact_rules_do():
    assert {d for d, o in POLICY_OUTCOME.items() if o is AttemptOutcome.CONNECTED} == CONNECTED
    assert set(CONVERSATIONS) == RIGHT_PARTY
    assert RIGHT_PARTY <= CONNECTED


def test_a_call_late_in_the_evening_in_new_york_counts_on_that_evening_not_on_the_utc_day():
    moment = dt.datetime(2026, 12, 2, 3, 30, tzinfo=dt.UTC)  # 22:30 on the 1st in New York
    assert local_day(bucket_of(moment), NY) == DAY
    assert local_day(bucket_of(moment), SHANGHAI) == dt.date(2026, 12, 2)


@settings(deadline=None)  # pure arithmetic; a loaded CI machine is not a failure
@given(
    moment=st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2090, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    zone=st.sampled_from(
        [NY, SHANGHAI, KATHMANDU, ZoneInfo("UTC"), ZoneInfo("Australia/Adelaide")]
    ),
)
def test_a_moment_and_its_bucket_fall_on_the_same_local_day(moment, zone):
    assert local_day(bucket_of(moment), zone) == moment.astimezone(zone).date()


def test_the_window_of_local_days_is_their_utc_span():
    since, until = utc_window(DAY, DAY, NY)
    assert since == dt.datetime(2026, 12, 1, 5, tzinfo=dt.UTC)
    assert until == dt.datetime(2026, 12, 2, 5, tzinfo=dt.UTC)


def test_a_rate_over_nothing_is_no_rate_not_zero():
    assert rate(0, 0) is None
    assert rate(1, 4) == 0.25


counts = st.integers(min_value=0, max_value=1000)


@st.composite
def attempt_buckets(draw):
    attempts = draw(counts)
    connects = draw(st.integers(0, attempts))
    right = draw(st.integers(0, connects))
    bucket = draw(
        st.integers(
            bucket_of(dt.datetime(2026, 11, 28, tzinfo=dt.UTC)),
            bucket_of(dt.datetime(2026, 12, 4, tzinfo=dt.UTC)),
        )
    )
    return AttemptBucket(
        bucket, draw(st.sampled_from(["early", "mid", None])), attempts, connects, right
    )


@settings(deadline=None)  # pure arithmetic; a loaded CI machine is not a failure
@given(st.lists(attempt_buckets(), max_size=40))
def test_rates_stay_between_0_and_1_and_days_add_up_to_the_whole(rows):
    start, end = dt.date(2026, 11, 28), dt.date(2026, 12, 3)
    table = fold(NY, start, end, attempts=rows)
    for c in table.values():
        for value in (c.connect_rate, c.right_party_rate):
            assert value is None or 0 <= value <= 1
    whole = total(table)
    assert whole.attempts == sum(c.attempts for c in by_day(table).values())
    in_range = [r for r in rows if start <= local_day(r.bucket, NY) <= end]
    assert whole.attempts == sum(r.attempts for r in in_range)
    assert whole.connects == sum(r.connects for r in in_range)
    assert whole.right_party <= whole.connects <= whole.attempts


def test_rows_outside_the_range_are_left_out_and_no_tier_reads_current():
    inside = AttemptBucket(bucket_of(dt.datetime(2026, 12, 1, 15, tzinfo=dt.UTC)), None, 3, 2, 1)
    outside = AttemptBucket(bucket_of(dt.datetime(2026, 12, 2, 15, tzinfo=dt.UTC)), None, 9, 9, 9)
    table = fold(NY, DAY, DAY, attempts=[inside, outside])
    assert list(table) == [(DAY, NO_TIER)]
    assert table[(DAY, NO_TIER)].attempts == 3


def test_money_is_added_per_currency_never_across():
    b = bucket_of(dt.datetime(2026, 12, 1, 15, tzinfo=dt.UTC))
    table = fold(
        NY,
        DAY,
        DAY,
        payments=[
            PaymentBucket(b, "early", "USD", 2, 150_00),
            PaymentBucket(b, "mid", "USD", 1, 50_00),
            PaymentBucket(b, "mid", "CNY", 1, 800_00),
        ],
    )
    assert by_day(table)[DAY].collected_minor == {"USD": 200_00, "CNY": 800_00}
    assert by_day(table)[DAY].payments == 4


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Shanghai", "Pacific/Kiritimati"])
def test_a_bank_posting_day_is_that_day_in_every_zone(zone):
    day = dt.date(2026, 12, 1)
    table = fold(ZoneInfo(zone), day, day, payments=[PaymentDay(day, "mid", "USD", 1, 40_00)])
    assert table[(day, "mid")].collected_minor == {"USD": 40_00}
    assert (
        fold(
            ZoneInfo(zone),
            day + dt.timedelta(days=1),
            day + dt.timedelta(days=2),
            payments=[PaymentDay(day, "mid", "USD", 1, 40_00)],
        )
        == {}
    )


def test_the_kept_rate_counts_only_promises_that_came_to_an_end():
    table = fold(NY, DAY, DAY, due=[PromiseDue(DAY, "early", kept=3, broken=1)])
    assert table[(DAY, "early")].promise_kept_rate == 0.75
    assert Counts().promise_kept_rate is None


@settings(deadline=None)  # pure arithmetic; a loaded CI machine is not a failure
@given(
    st.lists(
        st.tuples(
            st.sampled_from([DAY, DAY + dt.timedelta(days=1)]),
            st.sampled_from(["early", "mid", None]),
            st.sampled_from(["early", "mid", "late", None]),
            st.integers(1, 50),
        ),
        max_size=30,
    )
)
def test_the_roll_rates_out_of_a_tier_add_up_to_one(moves):
    rolls = roll_rates(moves)
    sums: dict = {}
    for r in rolls:
        assert r.rate is not None and 0 < r.rate <= 1
        sums[(r.day, r.source)] = sums.get((r.day, r.source), 0) + r.rate
    assert all(abs(s - 1) < 1e-9 for s in sums.values())


def test_a_roll_rate_is_the_share_of_a_tier_that_moved():
    rolls = roll_rates(
        [(DAY, "early", "early", 8), (DAY, "early", "mid", 2), (DAY, "mid", None, 1)]
    )
    by = {(r.source, r.target): r for r in rolls}
    assert by[("early", "mid")].rate == 0.2
    assert by[("early", "mid")].out_of == 10
    assert by[("mid", NO_TIER)].rate == 1


def test_blocked_accounts_are_counted_by_reason_without_their_dates():
    lines = [
        (
            "early",
            False,
            "outside the calling window; next eligible 2026-12-02 08:00 America/New_York",
        ),
        (
            "early",
            False,
            "outside the calling window; next eligible 2026-12-02 09:00 America/Chicago",
        ),
        ("early", True, ""),
        ("mid", False, "account flagged disputed"),
    ]
    assert blocked_by_reason(lines) == {
        ("early", "outside the calling window"): 2,
        ("mid", "account flagged disputed"): 1,
    }


def test_a_case_is_overdue_once_older_than_its_sla():
    opened = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    age = case_age(opened, dt.datetime(2026, 12, 1, 13, tzinfo=dt.UTC), 30)
    assert (age.age_days, age.days_left, age.overdue) == (30, 0, False)
    later = case_age(opened, dt.datetime(2026, 12, 2, 13, tzinfo=dt.UTC), 30)
    assert later.overdue and later.days_left == -1
    assert later.due == dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


def test_a_range_defaults_to_the_week_ending_today():
    assert parse_range(None, None, DAY) == (dt.date(2026, 11, 25), DAY)
    assert parse_range("2026-11-01", "2026-11-03", DAY) == (
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 3),
    )


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "message"),
    [
        ("2026-13-01", None, "'2026-13-01' is not a date"),
        (None, "yesterday", "'yesterday' is not a date"),
        ("2026-12-05", "2026-12-01", "is after --to"),
        ("2020-01-01", "2026-12-01", "more than 366 days"),
    ],
)
def test_a_bad_range_is_refused_in_words(raw_from, raw_to, message):
    with pytest.raises(RangeError, match=message):
        parse_range(raw_from, raw_to, DAY)


@pytest.mark.parametrize("raw", ["9999-12-31", "0001-01-01", "1999-12-31", "3000-01-01"])
def test_a_date_at_the_ends_of_the_calendar_is_refused_in_words(raw):
    with pytest.raises(RangeError, match="out of range: give a date from 2000-01-01"):
        parse_range(None, raw, dt.date(2026, 12, 1))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-12.50", "-12.50"),
        ("A1", "A1"),
        (3, 3),
    ],
)
def test_a_csv_cell_a_spreadsheet_would_run_is_quoted(value, cell):
    from hotline.kpis import csv_cell

    assert csv_cell(value) == cell
