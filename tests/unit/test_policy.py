"""The dialer's contact policy: examples for each rule and profile, and properties that
must hold for every history, time, zone and profile (hypothesis)."""

import ast
import dataclasses
import datetime as dt
import functools
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as pn_timezone

import dialer.policy
from dialer.policy import (
    AccountFacts,
    Attempt,
    AttemptOutcome,
    Channel,
    LocalHours,
    PhoneFacts,
    Reason,
    address_zones,
    callable_numbers,
    decide,
)
from hotline.enums import AccountFlag, Direction, PhoneType
from hotline.profiles import PROFILES, CallingWindow, CapScope

UTC = dt.UTC
CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
IL_HOME = "+13125550100"  # Chicago
IL_MOBILE = "+13125550101"
NY_HOME = "+12125550100"
LA_HOME = "+12135550100"
CN_MOBILE = "+8613800138000"
CN_MOBILE_2 = "+8613912345678"
A1 = "A1"

Outcome = AttemptOutcome


def account(**changes):
    base = dict(
        account_number=A1,
        flags=frozenset(),
        open_dispute=False,
        past_due_minor=5000,
        days_past_due=35,
        reminders_paused_until=None,
        country="US",
        address_region="IL",
    )
    base.update(changes)
    return AccountFacts(**base)


def cn_account(**changes):
    return account(country="CN", address_region="BJ", **changes)


def phone(e164=IL_HOME, type_=PhoneType.HOME, consent=False, **changes):
    return PhoneFacts(e164, type_, consent, **changes)


def at(zone, *args):
    """A local wall time in a zone, as aware UTC."""
    return dt.datetime(*args, tzinfo=zone).astimezone(UTC)


def call(when, number=IL_HOME, outcome=Outcome.NO_ANSWER, accounts=(A1,), **changes):
    return Attempt(when, number, outcome, frozenset(accounts), **changes)


def decide_us(now, history=(), phones=None, profile="us-regf", **account_changes):
    return decide(
        account(**account_changes),
        phones if phones is not None else [phone()],
        list(history),
        PROFILES[profile],
        now,
    )


# -- the calling window ------------------------------------------------------------------


def test_inside_the_window_the_account_may_be_called_on_its_number():
    decision = decide_us(at(CHICAGO, 2026, 11, 18, 10, 0))
    assert decision.allowed
    assert decision.phones == (IL_HOME,)
    assert decision.reason is None


@pytest.mark.parametrize(
    ("local", "allowed"),
    [
        ((7, 59, 59), False),
        ((8, 0, 0), True),
        ((20, 59, 59), True),
        ((21, 0, 0), False),
    ],
)
def test_the_window_is_0800_to_2100_half_open(local, allowed):
    assert decide_us(at(CHICAGO, 2026, 11, 18, *local)).allowed is allowed


def test_before_the_window_the_next_eligible_time_is_its_opening_that_day():
    decision = decide_us(at(CHICAGO, 2026, 11, 18, 6, 15))
    assert decision.reason is Reason.OUTSIDE_WINDOW
    assert decision.next_eligible == at(CHICAGO, 2026, 11, 18, 8, 0)
    assert decision.explanation == (
        "outside the calling window; next eligible 2026-11-18 08:00 America/Chicago"
    )


def test_after_the_window_the_next_eligible_time_is_the_next_morning():
    decision = decide_us(at(CHICAGO, 2026, 11, 18, 21, 0))
    assert decision.next_eligible == at(CHICAGO, 2026, 11, 19, 8, 0)


def test_a_person_with_numbers_in_two_zones_is_called_only_when_both_are_in_window():
    phones = [phone(NY_HOME), phone(LA_HOME)]
    # 09:00 in New York is 06:00 in Los Angeles: not yet.
    early = decide_us(at(NEW_YORK, 2026, 11, 18, 9, 0), phones=phones, address_region="NY")
    assert early.reason is Reason.OUTSIDE_WINDOW
    assert early.next_eligible == at(ZoneInfo("America/Los_Angeles"), 2026, 11, 18, 8, 0)
    assert early.explanation.endswith("2026-11-18 08:00 America/Los_Angeles")
    # 18:30 in Los Angeles is 21:30 in New York: no longer.
    late = decide_us(at(NEW_YORK, 2026, 11, 18, 21, 30), phones=phones, address_region="NY")
    assert not late.allowed
    assert decide_us(at(NEW_YORK, 2026, 11, 18, 12, 0), phones=phones).allowed


def test_the_address_zone_counts_even_when_the_numbers_are_elsewhere():
    # A Chicago number, a Hawaii address: 08:30 in Chicago is 04:30 in Honolulu.
    decision = decide_us(at(CHICAGO, 2026, 11, 18, 8, 30), address_region="HI")
    assert decision.next_eligible == at(ZoneInfo("Pacific/Honolulu"), 2026, 11, 18, 8, 0)


def test_the_window_opens_at_local_0800_across_the_spring_dst_change():
    # Sunday 8 March 2026: clocks go forward at 02:00 in Chicago (CST -6 -> CDT -5).
    decision = decide_us(at(CHICAGO, 2026, 3, 8, 1, 30))
    assert decision.next_eligible == dt.datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # 08:00 CDT


def test_the_window_opens_at_local_0800_across_the_autumn_dst_change():
    decision = decide_us(at(CHICAGO, 2026, 11, 1, 1, 30))
    assert decision.next_eligible == dt.datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # 08:00 CST
    assert decide_us(dt.datetime(2026, 11, 1, 13, 30, tzinfo=UTC)).allowed is False  # 07:30


def test_a_window_shared_across_the_world_may_open_only_when_daylight_saving_starts():
    # A Shanghai address and a New York number its holder wants called 08:00-09:00 only:
    # in EST that hour is 21:00-22:00 in Shanghai, too late; from 14 March 2027 (EDT) it
    # is 20:00-21:00 there, so the first eligible time is more than three months away.
    early_only = phone(NY_HOME, allowed_hours=LocalHours(dt.time(8, 0), dt.time(9, 0)))
    decision = decide(
        cn_account(), [early_only], [], PROFILES["us-regf"], at(NEW_YORK, 2026, 12, 1, 12, 0)
    )
    assert decision.reason is Reason.OUTSIDE_WINDOW  # whenever the number's hours are on
    assert decision.next_eligible == at(NEW_YORK, 2027, 3, 14, 8, 0)
    assert decision.explanation.endswith("next eligible 2027-03-14 08:00 America/New_York")


# -- holidays ----------------------------------------------------------------------------


def test_no_call_on_a_us_federal_holiday_and_the_next_is_the_day_after():
    decision = decide_us(at(CHICAGO, 2026, 11, 26, 10, 0))  # Thanksgiving
    assert decision.reason is Reason.HOLIDAY
    assert decision.next_eligible == at(CHICAGO, 2026, 11, 27, 8, 0)


def test_patriots_day_blocks_the_massachusetts_profile_only():
    now = at(NEW_YORK, 2026, 4, 20, 10, 0)
    assert decide_us(now, address_region="MA", phones=[phone(NY_HOME)], profile="us-ma").reason is (
        Reason.HOLIDAY
    )
    assert decide_us(now, address_region="MA", phones=[phone(NY_HOME)]).allowed


def test_china_golden_week_is_skipped():
    decision = decide(
        cn_account(),
        [phone(CN_MOBILE, PhoneType.MOBILE, consent=True)],
        [],
        PROFILES["cn-default"],
        at(SHANGHAI, 2026, 10, 1, 10, 0),
    )
    assert decision.reason is Reason.HOLIDAY
    # 1-7 October are days off; the `holidays` package lists the 4th (a Sunday) as no
    # holiday, and the profile bridges it. The 8th is a working day.
    assert decision.next_eligible == at(SHANGHAI, 2026, 10, 8, 8, 0)


# -- Reg F 7-in-7 and the pause after a conversation --------------------------------------


def seven_calls_on(day, outcomes):
    return [call(at(CHICAGO, *day, 9 + i, 0), outcome=o) for i, o in enumerate(outcomes)]


def test_seven_placed_calls_in_seven_days_stop_the_eighth_until_the_first_day_leaves():
    counted = [Outcome.NO_ANSWER, Outcome.VOICEMAIL, Outcome.CONNECTED] * 2 + [Outcome.NO_ANSWER]
    history = seven_calls_on((2026, 11, 16), counted)
    decision = decide_us(at(CHICAGO, 2026, 11, 20, 10, 0), history)
    assert decision.reason is Reason.DEBT_CAP
    assert decision.rule == "7-in-7 cap reached"
    # Calls on the 16th count on the 16th..22nd; the 23rd is the first day free of them.
    assert decision.next_eligible == at(CHICAGO, 2026, 11, 23, 8, 0)
    assert (
        decision.explanation == "7-in-7 cap reached; next eligible 2026-11-23 08:00 America/Chicago"
    )
    assert not decide_us(at(CHICAGO, 2026, 11, 22, 20, 59), history).allowed


def test_busy_failed_and_invalid_calls_do_not_count_toward_7_in_7():
    history = seven_calls_on((2026, 11, 16), [Outcome.NO_ANSWER] * 6)
    history += [
        call(at(CHICAGO, 2026, 11, 17, 9, m), outcome=o)
        for m, o in enumerate([Outcome.BUSY, Outcome.FAILED, Outcome.INVALID] * 5)
    ]
    assert decide_us(at(CHICAGO, 2026, 11, 18, 10, 0), history).allowed


def test_calls_about_another_debt_do_not_count_for_this_one_but_shared_calls_do():
    other = [call(at(CHICAGO, 2026, 11, 16, 9, i), accounts=("A2",)) for i in range(7)]
    assert decide_us(at(CHICAGO, 2026, 11, 18, 10, 0), other).allowed
    shared = [call(at(CHICAGO, 2026, 11, 16, 9, i), accounts=("A1", "A2")) for i in range(7)]
    assert decide_us(at(CHICAGO, 2026, 11, 18, 10, 0), shared).reason is Reason.DEBT_CAP


def test_the_cardholders_own_calls_are_not_placed_calls():
    inbound = [call(at(CHICAGO, 2026, 11, 16, 9, i), direction=Direction.INBOUND) for i in range(7)]
    assert decide_us(at(CHICAGO, 2026, 11, 18, 10, 0), inbound).allowed


def test_a_conversation_pauses_calls_for_seven_days_counting_its_day_as_day_one():
    talk = call(at(CHICAGO, 2026, 11, 2, 19, 0), outcome=Outcome.CONNECTED, conversation=True)
    decision = decide_us(at(CHICAGO, 2026, 11, 8, 20, 0), [talk])
    assert decision.reason is Reason.CONVERSATION_PAUSE
    assert decision.next_eligible == at(CHICAGO, 2026, 11, 9, 8, 0)
    assert decide_us(at(CHICAGO, 2026, 11, 9, 8, 0), [talk]).allowed


def test_a_conversation_about_another_debt_does_not_pause_this_one():
    talk = call(
        at(CHICAGO, 2026, 11, 2, 10, 0),
        outcome=Outcome.CONNECTED,
        conversation=True,
        accounts=("A2",),
    )
    assert decide_us(at(CHICAGO, 2026, 11, 3, 10, 0), [talk]).allowed


def test_a_conversation_on_an_inbound_call_pauses_calls_too():
    talk = call(
        at(CHICAGO, 2026, 11, 2, 10, 0),
        outcome=Outcome.CONNECTED,
        conversation=True,
        direction=Direction.INBOUND,
    )
    assert decide_us(at(CHICAGO, 2026, 11, 5, 10, 0), [talk]).reason is Reason.CONVERSATION_PAUSE


def test_a_connected_call_without_a_conversation_does_not_pause():
    answered = call(at(CHICAGO, 2026, 11, 2, 10, 0), outcome=Outcome.CONNECTED)
    assert decide_us(at(CHICAGO, 2026, 11, 3, 10, 0), [answered]).allowed


def test_the_pause_day_is_read_in_every_zone_of_the_person():
    # 21:30 on the 2nd in Los Angeles is already the 3rd in New York: day 1 there is the 3rd.
    la = ZoneInfo("America/Los_Angeles")
    phones = [phone(NY_HOME), phone(LA_HOME)]
    talk = call(
        at(la, 2026, 11, 2, 21, 30),
        LA_HOME,
        Outcome.CONNECTED,
        conversation=True,
        direction=Direction.INBOUND,  # the cardholder rang late
    )
    decision = decide_us(at(la, 2026, 11, 9, 9, 0), [talk], phones=phones, address_region="NY")
    assert decision.reason is Reason.CONVERSATION_PAUSE
    assert decision.next_eligible == at(la, 2026, 11, 10, 8, 0)


# -- state caps --------------------------------------------------------------------------


def test_massachusetts_allows_two_calls_in_seven_days():
    history = [
        call(at(NEW_YORK, 2026, 11, 16, 10, 0), NY_HOME),
        call(at(NEW_YORK, 2026, 11, 18, 10, 0), NY_HOME, Outcome.VOICEMAIL),
    ]
    kwargs = dict(phones=[phone(NY_HOME)], address_region="MA")
    now = at(NEW_YORK, 2026, 11, 19, 10, 0)
    decision = decide_us(now, history, profile="us-ma", **kwargs)
    assert decision.reason is Reason.DEBT_CAP
    assert decision.rule == "Massachusetts 2-in-7 cap reached"
    assert decision.next_eligible == at(NEW_YORK, 2026, 11, 23, 8, 0)
    assert decide_us(now, history, profile="us-regf", **kwargs).allowed
    assert decide_us(now, history[:1], profile="us-ma", **kwargs).allowed


def test_a_text_counts_toward_the_massachusetts_cap_but_not_reg_f():
    texts = [
        call(at(NEW_YORK, 2026, 11, 16, 10, i), NY_HOME, Outcome.CONNECTED, channel=Channel.SMS)
        for i in range(7)
    ]
    kwargs = dict(phones=[phone(NY_HOME)], address_region="MA")
    now = at(NEW_YORK, 2026, 11, 18, 10, 0)
    assert decide_us(now, texts, profile="us-ma", **kwargs).reason is Reason.DEBT_CAP
    assert decide_us(now, texts, profile="us-regf", **kwargs).allowed
    assert PROFILES["us-ma"].sms_counts_toward_caps
    assert not PROFILES["us-regf"].sms_counts_toward_caps


def test_washington_allows_three_calls_in_seven_days():
    la = ZoneInfo("America/Los_Angeles")
    history = [call(at(la, 2026, 11, 16 + i, 10, 0), LA_HOME) for i in range(3)]
    kwargs = dict(phones=[phone(LA_HOME)], address_region="WA")
    now = at(la, 2026, 11, 19, 10, 0)
    decision = decide_us(now, history, profile="us-wa", **kwargs)
    assert decision.rule == "Washington 3-in-7 cap reached"
    assert decision.next_eligible == at(la, 2026, 11, 23, 8, 0)
    assert decide_us(now, history[:2], profile="us-wa", **kwargs).allowed


def test_washington_keeps_to_reg_f_0800_though_its_own_law_allows_0730():
    la = ZoneInfo("America/Los_Angeles")
    kwargs = dict(phones=[phone(LA_HOME)], address_region="WA", profile="us-wa")
    assert PROFILES["us-wa"].window == (dt.time(8, 0), dt.time(21, 0))
    assert not decide_us(at(la, 2026, 11, 18, 7, 45), **kwargs).allowed
    assert decide_us(at(la, 2026, 11, 18, 8, 0), **kwargs).allowed


# -- China -------------------------------------------------------------------------------


def decide_cn(now, history=(), phones=None):
    phones = phones or [
        phone(CN_MOBILE, PhoneType.MOBILE, consent=True),
        phone(CN_MOBILE_2, PhoneType.MOBILE, consent=True),
    ]
    return decide(cn_account(), phones, list(history), PROFILES["cn-default"], now)


def test_china_six_unanswered_calls_a_day_stop_that_number_only():
    history = [
        call(at(SHANGHAI, 2026, 11, 18, 9, i), CN_MOBILE, o)
        for i, o in enumerate([Outcome.NO_ANSWER, Outcome.BUSY, Outcome.VOICEMAIL] * 2)
    ]
    decision = decide_cn(at(SHANGHAI, 2026, 11, 18, 15, 0), history)
    assert decision.allowed
    assert decision.phones == (CN_MOBILE_2,)
    assert (CN_MOBILE, Reason.NUMBER_CAP) in decision.excluded


def test_china_number_cap_is_per_local_day():
    history = [call(at(SHANGHAI, 2026, 11, 18, 9, i), CN_MOBILE) for i in range(6)]
    decision = decide_cn(
        at(SHANGHAI, 2026, 11, 18, 15, 0), history, [phone(CN_MOBILE, PhoneType.HOME)]
    )
    assert decision.reason is Reason.NUMBER_CAP
    assert decision.rule == "6 unanswered calls today to this number"
    assert decision.next_eligible == at(SHANGHAI, 2026, 11, 19, 8, 0)


def test_china_failed_and_invalid_calls_are_not_unanswered_attempts():
    history = [
        call(at(SHANGHAI, 2026, 11, 18, 9, i), CN_MOBILE, o)
        for i, o in enumerate([Outcome.FAILED, Outcome.INVALID] * 5)
    ]
    assert CN_MOBILE in decide_cn(at(SHANGHAI, 2026, 11, 18, 15, 0), history).phones


def test_china_three_connected_calls_a_day_per_debtor_on_any_number_and_account():
    history = [
        call(at(SHANGHAI, 2026, 11, 18, 9, 0), CN_MOBILE, Outcome.CONNECTED),
        call(at(SHANGHAI, 2026, 11, 18, 10, 0), CN_MOBILE_2, Outcome.CONNECTED, ("B2",)),
        call(at(SHANGHAI, 2026, 11, 18, 11, 0), CN_MOBILE, Outcome.CONNECTED, conversation=True),
    ]
    decision = decide_cn(at(SHANGHAI, 2026, 11, 18, 15, 0), history)
    assert decision.reason is Reason.DEBTOR_CAP
    assert decision.next_eligible == at(SHANGHAI, 2026, 11, 19, 8, 0)
    # No pause after a conversation in China: the next day is open.
    assert decide_cn(at(SHANGHAI, 2026, 11, 19, 8, 0), history).allowed
    assert decide_cn(at(SHANGHAI, 2026, 11, 18, 15, 0), history[:2]).allowed


def test_china_counts_a_call_still_ringing_as_connected_too():
    """Two connected calls today and a third ringing on the other number: that one may be
    answered, so a call now could make four; counted as unanswered only, it was allowed."""
    history = [
        call(at(SHANGHAI, 2026, 11, 18, 9, 0), CN_MOBILE, Outcome.CONNECTED),
        call(at(SHANGHAI, 2026, 11, 18, 10, 0), CN_MOBILE, Outcome.CONNECTED),
    ]
    ringing = call(at(SHANGHAI, 2026, 11, 18, 15, 0), CN_MOBILE_2, live=True)
    now = at(SHANGHAI, 2026, 11, 18, 15, 1)
    assert decide_cn(now, history).allowed
    decision = decide_cn(now, [*history, ringing])
    assert decision.reason is Reason.DEBTOR_CAP
    # Ended unanswered, it counts as what it was.
    ended = call(at(SHANGHAI, 2026, 11, 18, 15, 0), CN_MOBILE_2, Outcome.NO_ANSWER)
    assert decide_cn(now, [*history, ended]).allowed


def test_a_live_attempt_is_a_voice_call_not_over_yet():
    with pytest.raises(ValueError, match="live attempt"):
        call(at(SHANGHAI, 2026, 11, 18, 9, 0), CN_MOBILE, live=True, channel=Channel.SMS)


def test_china_window_is_0800_to_2100():
    assert decide_cn(at(SHANGHAI, 2026, 11, 18, 20, 59)).allowed
    decision = decide_cn(at(SHANGHAI, 2026, 11, 18, 21, 0))
    assert decision.next_eligible == at(SHANGHAI, 2026, 11, 19, 8, 0)


# -- the account -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "reason"),
    [
        (AccountFlag.BANKRUPTCY, Reason.BANKRUPTCY),
        (AccountFlag.DECEASED, Reason.DECEASED),
        (AccountFlag.ATTORNEY, Reason.ATTORNEY),
        (AccountFlag.DISPUTE, Reason.DISPUTE),
        (AccountFlag.CEASE, Reason.CEASE),
        (AccountFlag.FRAUD, Reason.FRAUD),
        (AccountFlag.DNC, Reason.DO_NOT_CALL),
    ],
)
def test_a_hard_block_is_never_called(flag, reason):
    decision = decide_us(at(CHICAGO, 2026, 11, 18, 10, 0), flags=frozenset({flag}))
    assert (decision.allowed, decision.reason, decision.next_eligible) == (False, reason, None)
    assert decision.explanation.endswith("; not called")


def test_hardship_alone_does_not_stop_reminders():
    assert decide_us(at(CHICAGO, 2026, 11, 18, 10), flags=frozenset({AccountFlag.HARDSHIP})).allowed


def test_an_open_dispute_and_nothing_due_are_never_called():
    now = at(CHICAGO, 2026, 11, 18, 10, 0)
    assert decide_us(now, open_dispute=True).reason is Reason.OPEN_DISPUTE
    assert decide_us(now, past_due_minor=0).reason is Reason.NOTHING_DUE
    assert decide_us(now, days_past_due=0).next_eligible is None


def test_a_promise_pauses_reminders_through_its_date():
    decision = decide_us(
        at(CHICAGO, 2026, 11, 18, 10, 0), reminders_paused_until=dt.date(2026, 12, 3)
    )
    assert decision.reason is Reason.REMINDERS_PAUSED
    assert decision.next_eligible == at(CHICAGO, 2026, 12, 4, 8, 0)


# -- the numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (phone(opted_out=True), Reason.OPTED_OUT),
        (phone(bad_number=True), Reason.BAD_NUMBER),
        (phone(under_review=True), Reason.UNDER_REVIEW),
        (phone(IL_MOBILE, PhoneType.MOBILE, consent=False), Reason.NO_AUTODIAL_CONSENT),
    ],
)
def test_a_number_that_may_not_be_dialled_is_never_dialled(number, reason):
    now = at(CHICAGO, 2026, 11, 18, 10, 0)
    alone = decide_us(now, phones=[number])
    assert (alone.allowed, alone.reason, alone.next_eligible) == (False, reason, None)
    beside = decide_us(now, phones=[number, phone(NY_HOME)])
    assert beside.phones == (NY_HOME,)
    assert beside.excluded == ((number.e164, reason),)


def test_a_mobile_with_consent_and_a_landline_without_it_may_be_dialled():
    now = at(CHICAGO, 2026, 11, 18, 10, 0)
    phones = [phone(IL_MOBILE, PhoneType.MOBILE, consent=True), phone(IL_HOME)]
    assert decide_us(now, phones=phones).phones == (IL_MOBILE, IL_HOME)


def test_numbers_blocked_for_different_reasons_deny_as_no_number():
    phones = [phone(opted_out=True), phone(NY_HOME, bad_number=True)]
    assert decide_us(at(CHICAGO, 2026, 11, 18, 10, 0), phones=phones).reason is Reason.NO_NUMBER


def test_a_removed_number_is_neither_dialled_nor_a_zone_of_the_person():
    phones = [phone(), phone(LA_HOME, removed=True)]
    decision = decide_us(at(CHICAGO, 2026, 11, 18, 8, 30), phones=phones)
    assert decision.phones == (IL_HOME,)
    assert decide_us(at(CHICAGO, 2026, 11, 18, 8, 30), phones=[]).reason is Reason.NO_NUMBER


def test_a_person_placed_in_no_zone_is_not_called():
    decision = decide(
        account(country="GB", address_region=None),
        [phone("+80012345678")],
        [],
        PROFILES["us-regf"],
        at(CHICAGO, 2026, 11, 18, 10, 0),
    )
    assert (decision.reason, decision.next_eligible) == (Reason.NO_TIME_ZONE, None)


def test_the_cardholders_preferred_hours_are_kept_on_that_number():
    evening = phone(allowed_hours=LocalHours(dt.time(18, 0), dt.time(20, 0)))
    decision = decide_us(at(CHICAGO, 2026, 11, 18, 10, 0), phones=[evening])
    assert decision.reason is Reason.OUTSIDE_PREFERRED_HOURS
    assert decision.next_eligible == at(CHICAGO, 2026, 11, 18, 18, 0)
    assert decision.explanation.endswith("2026-11-18 18:00 America/Chicago")
    both = decide_us(at(CHICAGO, 2026, 11, 18, 10, 0), phones=[evening, phone(IL_MOBILE)])
    assert both.phones == (IL_MOBILE,)
    assert decide_us(at(CHICAGO, 2026, 11, 18, 20, 0), phones=[evening]).next_eligible == at(
        CHICAGO, 2026, 11, 19, 18, 0
    )


def test_preferred_hours_outside_every_window_leave_no_eligible_time():
    night = phone(allowed_hours=LocalHours(dt.time(22, 0), dt.time(23, 0)))
    decision = decide_us(at(CHICAGO, 2026, 11, 18, 10, 0), phones=[night])
    assert (decision.allowed, decision.next_eligible) == (False, None)
    assert "no eligible time within" in decision.explanation


def night_profile(start, end):
    """A profile whose window spans the hours clocks change in, as a bank could write one."""
    return dataclasses.replace(
        PROFILES["us-regf"],
        name="night",
        windows=(CallingWindow(start, end, "test"),),
        caps=(),
        holidays=None,
    )


def test_a_window_edge_the_clocks_pass_twice_is_found_the_second_time():
    # 1 November 2026, Chicago: 02:00 CDT becomes 01:00 CST (07:00 UTC). At 01:00 CST the
    # window [01:30, 21:00) is closed again, and opens again at the second 01:30.
    profile = night_profile(dt.time(1, 30), dt.time(21, 0))
    now = dt.datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    decision = decide(account(), [phone()], [], profile, now)
    assert decision.next_eligible == dt.datetime(2026, 11, 1, 7, 30, tzinfo=UTC)


def test_a_window_reopened_by_the_clocks_going_back_opens_at_the_transition():
    # [00:00, 01:30): closed at 01:45 CDT, open again when 02:00 CDT becomes 01:00 CST.
    profile = night_profile(dt.time(0, 0), dt.time(1, 30))
    now = dt.datetime(2026, 11, 1, 6, 45, tzinfo=UTC)
    decision = decide(account(), [phone()], [], profile, now)
    assert decision.next_eligible == dt.datetime(2026, 11, 1, 7, 0, tzinfo=UTC)


def test_inputs_must_be_timezone_aware_and_consistent():
    with pytest.raises(ValueError, match="aware"):
        decide_us(dt.datetime(2026, 11, 18, 10, 0))
    with pytest.raises(ValueError, match="aware"):
        call(dt.datetime(2026, 11, 18, 10, 0))
    with pytest.raises(ValueError, match="conversation"):
        call(at(CHICAGO, 2026, 11, 18, 10), outcome=Outcome.VOICEMAIL, conversation=True)
    with pytest.raises(ValueError):
        LocalHours(dt.time(20, 0), dt.time(8, 0))


def test_every_profile_ships_with_its_rules():
    assert set(PROFILES) == {"us-regf", "us-ma", "us-wa", "cn-default"}
    regf = PROFILES["us-regf"]
    assert [(c.limit, c.days, c.scope) for c in regf.caps] == [(7, 7, CapScope.DEBT)]
    assert regf.conversation_pause_days == 7
    assert Outcome.BUSY not in regf.caps[0].counts
    cn = PROFILES["cn-default"]
    assert [(c.limit, c.days, c.scope) for c in cn.caps] == [
        (6, 1, CapScope.NUMBER),
        (3, 1, CapScope.DEBTOR),
    ]
    assert cn.conversation_pause_days is None
    assert cn.records_calls and not cn.debt_collector_disclosure


# -- properties --------------------------------------------------------------------------
# An independent reading of each rule, written from the profile's data and the packages
# (phonenumbers, holidays) directly: a call the policy allows must break none of them.

NUMBERS = [
    NY_HOME,
    IL_HOME,
    IL_MOBILE,
    LA_HOME,
    "+13035550100",  # Denver
    "+16025550100",  # Phoenix (no DST)
    "+18085550100",  # Honolulu
    "+19075550100",  # Alaska: two zones
    CN_MOBILE,
    CN_MOBILE_2,
]
REGIONS = [("US", "IL"), ("US", "NY"), ("US", "TX"), ("US", "MA"), ("US", "WA"), ("US", "AZ")]
REGIONS += [("CN", "BJ"), ("US", None)]
BLOCKING = {
    AccountFlag.BANKRUPTCY,
    AccountFlag.DECEASED,
    AccountFlag.ATTORNEY,
    AccountFlag.DISPUTE,
    AccountFlag.CEASE,
    AccountFlag.FRAUD,
    AccountFlag.DNC,
}
START = dt.datetime(2026, 1, 6, 15, 0, tzinfo=UTC)  # a working Tuesday: the simplest case
# Instants near the DST changes of the zones above, so the properties meet them often.
DST_DAYS = [dt.datetime(2026, 3, 8, tzinfo=UTC), dt.datetime(2026, 11, 1, tzinfo=UTC)]


@st.composite
def preferences(draw):
    """Hours a cardholder might ask for: from 15 minutes to 6 hours, starting 07:00-20:45."""
    start = draw(st.integers(28, 83))
    end = min(start + draw(st.integers(1, 24)), 95)
    return LocalHours(dt.time(start // 4, start % 4 * 15), dt.time(end // 4, end % 4 * 15))


def sometimes(one_in):
    """True about once in `one_in` draws (hypothesis's simplest value, 0, reads False)."""
    return st.integers(0, one_in - 1).map(lambda n: n == one_in - 1)


@st.composite
def phones_on_file(draw):
    numbers = draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3, unique=True))
    return [
        PhoneFacts(
            number,
            draw(st.sampled_from(list(PhoneType))),
            not draw(sometimes(4)),
            opted_out=draw(sometimes(8)),
            bad_number=draw(sometimes(12)),
            removed=draw(sometimes(12)),
            under_review=draw(sometimes(12)),
            allowed_hours=draw(preferences()) if draw(sometimes(4)) else None,
        )
        for number in numbers
    ]


@st.composite
def instants(draw):
    if draw(st.booleans()):
        base = draw(st.sampled_from(DST_DAYS))
        return base + dt.timedelta(minutes=draw(st.integers(-36 * 60, 36 * 60)))
    return START + dt.timedelta(minutes=draw(st.integers(0, 2 * 365 * 24 * 60)))


@st.composite
def cases(draw):
    now = draw(instants())
    numbers = draw(phones_on_file())
    country, region = draw(st.sampled_from(REGIONS))
    paused = now.date() + dt.timedelta(draw(st.integers(-3, 12))) if draw(sometimes(6)) else None
    flags = (
        draw(st.sets(st.sampled_from(list(AccountFlag)), max_size=2))
        if draw(sometimes(6))
        else None
    )
    facts = AccountFacts(
        A1,
        frozenset(flags or ()),
        draw(sometimes(20)),
        0 if draw(sometimes(20)) else 5000,
        0 if draw(sometimes(20)) else 35,
        paused,
        country,
        region,
    )
    history = []
    dialled = [p.e164 for p in numbers] or [NY_HOME]
    # Histories spread over nine days, or bunched into the last day or hours, where the
    # daily caps bite; half of them with a burst of calls to one number, about one debt.
    spread = draw(st.sampled_from([9 * 24 * 60, 24 * 60, 6 * 60]))
    loose = draw(st.integers(0, 12))
    burst = draw(st.integers(4, 9)) if draw(st.booleans()) else 0
    burst_number = draw(st.sampled_from(dialled))
    for _ in range(loose):
        outcome = draw(st.sampled_from(list(Outcome)))
        history.append(
            Attempt(
                now - dt.timedelta(minutes=draw(st.integers(0, spread))),
                draw(st.sampled_from(dialled)),
                outcome,
                frozenset(draw(st.sampled_from([{A1}, {"A2"}, {A1, "A2"}]))),
                conversation=outcome is Outcome.CONNECTED and draw(sometimes(3)),
                direction=Direction.INBOUND if draw(sometimes(5)) else Direction.OUTBOUND,
                channel=Channel.SMS
                if outcome is not Outcome.CONNECTED and draw(sometimes(4))
                else Channel.VOICE,
            )
        )
    # The dialer's own calls, one after another on one number within the day; now and then
    # one still ringing (read as unanswered so far).
    for _ in range(burst):
        live = draw(sometimes(6))
        history.append(
            Attempt(
                now - dt.timedelta(minutes=draw(st.integers(0, 24 * 60))),
                burst_number,
                Outcome.NO_ANSWER
                if live
                else draw(
                    st.sampled_from(
                        [Outcome.NO_ANSWER, Outcome.BUSY, Outcome.VOICEMAIL] * 2
                        + [Outcome.CONNECTED]
                    )
                ),
                frozenset({A1}),
                live=live,
            )
        )
    profile = PROFILES[draw(st.sampled_from(sorted(PROFILES)))]
    return facts, numbers, history, profile, now


@functools.lru_cache
def listed_holidays(country, subdivision, year):
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def is_holiday(calendar, day):
    listed = listed_holidays(calendar.country, calendar.subdivision, day.year)
    if day in listed:
        return True
    if not calendar.bridge_weekends or day.weekday() < 5:
        return False
    # A weekend inside a break: the working days on either side are both holidays.
    before = day - dt.timedelta(days=day.weekday() - 4)
    after = day + dt.timedelta(days=7 - day.weekday())
    return all(
        d in listed_holidays(calendar.country, calendar.subdivision, d.year)
        for d in (before, after)
    )


@functools.lru_cache
def zones_of_number(e164):
    zones = pn_timezone.time_zones_for_number(phonenumbers.parse(e164))
    return [z for z in zones if z != "Etc/Unknown"]


def person_zones(facts, numbers):
    zones = set(address_zones(facts.country, facts.address_region))
    for p in numbers:
        if not p.removed:
            zones.update(zones_of_number(p.e164))
    return zones


def counted(cap, attempt, number=None):
    if attempt.direction is not Direction.OUTBOUND:
        return False
    if cap.scope is CapScope.DEBT and A1 not in attempt.accounts:
        return False
    if cap.scope is CapScope.NUMBER and attempt.phone != number:
        return False
    if attempt.channel is Channel.SMS:
        return cap.counts_sms and attempt.outcome not in (Outcome.FAILED, Outcome.INVALID)
    return attempt.live or attempt.outcome in cap.counts  # a ringing call may end any way


def broken_rules(facts, numbers, history, profile, t, allowed_numbers):
    """The rules a call at t to these numbers would break."""
    broken = []
    if facts.flags & BLOCKING or facts.open_dispute:
        broken.append("blocked account")
    if facts.past_due_minor <= 0 or facts.days_past_due <= 0:
        broken.append("nothing due")
    zones = person_zones(facts, numbers)
    if not zones:
        broken.append("no zone")
    start = max(w.start for w in profile.windows)
    end = min(w.end for w in profile.windows)
    for zone in zones:
        local = t.astimezone(ZoneInfo(zone))
        day = local.date()
        if not start <= local.time() < end:
            broken.append(f"outside window in {zone}")
        if profile.holidays and is_holiday(profile.holidays, day):
            broken.append(f"holiday in {zone}")
        if facts.reminders_paused_until and day <= facts.reminders_paused_until:
            broken.append("paused")
        for a in history:
            talked = a.placed_at.astimezone(ZoneInfo(zone)).date()
            pause = profile.conversation_pause_days
            if pause and a.conversation and A1 in a.accounts and (day - talked).days < pause:
                broken.append("within the pause")
        for cap in profile.caps:
            for number in allowed_numbers if cap.scope is CapScope.NUMBER else [None]:
                n = sum(
                    1
                    for a in history
                    if counted(cap, a, number)
                    and 0 <= (day - a.placed_at.astimezone(ZoneInfo(zone)).date()).days < cap.days
                )
                if n >= cap.limit:
                    broken.append(f"over {cap.label}")
    by_number = {p.e164: p for p in numbers}
    for e164 in allowed_numbers:
        p = by_number.get(e164)
        if p is None or p.removed:
            broken.append("not the cardholder's number on file")
            continue
        if p.opted_out or p.bad_number or p.under_review:
            broken.append("blocked number")
        if p.type is PhoneType.MOBILE and not p.autodial_consent:
            broken.append("unconsented mobile")
        if p.allowed_hours:
            for zone in zones_of_number(e164) or zones:
                if not p.allowed_hours.contains(t.astimezone(ZoneInfo(zone)).time()):
                    broken.append("outside preferred hours")
    return broken


PROPERTY_SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(cases())
def test_an_allowed_call_breaks_no_rule(case):
    facts, numbers, history, profile, now = case
    decision = decide(facts, numbers, history, profile, now)
    event("allowed" if decision.allowed else f"denied: {decision.reason}")
    if decision.allowed:
        assert decision.phones
        assert broken_rules(facts, numbers, history, profile, now, decision.phones) == []
    else:
        assert decision.phones == ()
        assert decision.reason is not None


@PROPERTY_SETTINGS
@given(cases())
def test_every_number_that_breaks_no_rule_is_allowed(case):
    """The policy is no stricter than the rules either: exactly the numbers a call to which
    breaks none of them may be dialled."""
    facts, numbers, history, profile, now = case
    fine = tuple(
        p.e164
        for p in numbers
        if not p.removed and not broken_rules(facts, numbers, history, profile, now, [p.e164])
    )
    assert decide(facts, numbers, history, profile, now).phones == fine


@PROPERTY_SETTINGS
@given(cases())
def test_a_denials_next_eligible_time_is_allowed_then_and_nothing_earlier_is(case):
    facts, numbers, history, profile, now = case
    decision = decide(facts, numbers, history, profile, now)
    if decision.allowed:
        return
    if decision.next_eligible is None:
        # Never by time alone: no instant of the next fortnight is allowed either.
        for minutes in range(7, 14 * 24 * 60, 997):
            later = now + dt.timedelta(minutes=minutes)
            assert callable_numbers(facts, numbers, history, profile, later) == (), later
        return
    then = decision.next_eligible
    assert then > now
    assert then.utcoffset() == dt.timedelta(0)
    later = decide(facts, numbers, history, profile, then)
    assert later.allowed, (decision, later)
    assert broken_rules(facts, numbers, history, profile, then, later.phones) == []
    # Earliest: instants spread between now and then are all still denied.
    for i in range(1, 8):
        between = now + (then - now) * i / 8
        assert callable_numbers(facts, numbers, history, profile, between) == (), between
    just_before = then - dt.timedelta(seconds=1)
    assert callable_numbers(facts, numbers, history, profile, just_before) == ()


@PROPERTY_SETTINGS
@given(cases(), st.integers(0, 3 * 24 * 60))
def test_a_search_bounded_by_the_planners_horizon_finds_what_the_full_one_finds_by_then(
    case, minutes
):
    """The planner asks for a next eligible time only up to its horizon: the same decision
    when the full search's time falls by then, and none (with the same reason) otherwise."""
    facts, numbers, history, profile, now = case
    until = now + dt.timedelta(minutes=minutes)
    full = decide(facts, numbers, history, profile, now)
    bounded = decide(facts, numbers, history, profile, now, until=until)
    if not full.allowed and (full.next_eligible is None or full.next_eligible > until):
        event("none by the bound")
        assert bounded.next_eligible is None and not bounded.allowed
        assert (bounded.reason, bounded.rule, bounded.excluded) == (
            full.reason,
            full.rule,
            full.excluded,
        )
    else:
        assert bounded == full


@PROPERTY_SETTINGS
@given(cases(), st.integers(0, 7 * 24 * 60))
@example((account(), [phone()], [], PROFILES["us-regf"], at(CHICAGO, 2026, 11, 18, 10)), 0)
def test_at_any_later_instant_a_call_allowed_breaks_no_rule_whatever_the_history_order(
    case, minutes
):
    facts, numbers, history, profile, now = case
    later = now + dt.timedelta(minutes=minutes)
    decision = decide(facts, numbers, history, profile, later)
    assert decide(facts, numbers, list(reversed(history)), profile, later) == decision
    if decision.allowed:
        assert broken_rules(facts, numbers, history, profile, later, decision.phones) == []


def test_the_policy_reads_no_clock():
    """`now` is an argument: nothing in the module asks the system for the time."""
    source = Path(dialer.policy.__file__).read_text()
    clocks = {"now", "utcnow", "today", "time_ns", "monotonic", "perf_counter"}
    calls = [
        node.func.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    ]
    assert sorted(set(calls) & clocks) == []
    assert "import time" not in source
