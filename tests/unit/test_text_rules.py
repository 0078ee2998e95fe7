"""The texts' pure rules: which follow-ups are owed and when, what a text may say, and the
contact policy read for a text (property tests over the policy tests' random cases)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from dialer import text_rules
from dialer.campaigns import AmdMode, RetryOutcome, TierSettings
from dialer.policy import Channel, Reason, decide_text
from hotline.enums import Disposition, PhoneType, TextKind
from hotline.profiles import PROFILES, CapScope
from prompts.catalog import load_all
from tests.unit.test_dialer_flow import DEBT_WORDS
from tests.unit.test_policy import (
    A1,
    BLOCKING,
    PROPERTY_SETTINGS,
    cases,
    counted,
    is_holiday,
    person_zones,
)

CATALOGS = load_all()
# The zones furthest ahead of and behind UTC, and two between.
EXTREME_ZONES = ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Shanghai", "America/New_York"]


def tier(**overrides: object) -> TierSettings:
    values: dict[str, object] = {
        "tier": "mid",
        "script": ("reminder_mid",),
        "attempts_per_day": 2,
        "spacing": dt.timedelta(hours=3),
        "retry_delay": {o: dt.timedelta(hours=1) for o in RetryOutcome},
        "amd": AmdMode.DETECT_MESSAGE_END,
        "offer_agent": True,
        "sms_after_voicemail": True,
        "sms_after_no_answer": False,
        "courtesy_reminder_days": 2,
        "thank_you_sms": True,
    }
    values.update(overrides)
    return TierSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("disposition", "voicemail", "no_answer", "wanted"),
    [
        (Disposition.VOICEMAIL_LEFT, True, False, True),
        (Disposition.VOICEMAIL_LEFT, False, True, False),
        (Disposition.NO_ANSWER, False, True, True),
        (Disposition.NO_ANSWER, True, False, False),
        (Disposition.BUSY, True, True, False),
        (Disposition.RIGHT_PARTY, True, True, False),
        (Disposition.WRONG_PARTY, True, True, False),
        (None, True, True, False),
    ],
)
def test_a_follow_up_is_owed_only_after_the_outcomes_the_tier_names(
    disposition, voicemail, no_answer, wanted
):
    settings = tier(sms_after_voicemail=voicemail, sms_after_no_answer=no_answer)
    assert text_rules.wants_follow_up(disposition, settings) is wanted


def test_a_reminder_is_due_from_the_start_of_its_day_in_every_zone_until_the_date():
    timing = text_rules.reminder_timing(
        dt.date(2026, 12, 10), tier(), ("America/New_York", "America/Los_Angeles")
    )
    assert timing is not None
    # 2 days before, from midnight in Los Angeles (the later), until midnight in New York.
    assert timing.due_at == dt.datetime(2026, 12, 8, 0, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert timing.expires_at == dt.datetime(2026, 12, 10, 0, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize("days", [None, 0])
def test_a_tier_without_reminder_days_sends_no_reminder(days):
    assert (
        text_rules.reminder_timing(dt.date(2026, 12, 10), tier(courtesy_reminder_days=days), ())
        is None
    )


@given(
    date=st.dates(dt.date(2026, 1, 1), dt.date(2028, 12, 31)),
    days=st.integers(1, text_rules.MAX_REMINDER_DAYS),
    zones=st.lists(
        st.sampled_from(EXTREME_ZONES),
        max_size=3,
    ),
)
def test_a_reminder_is_never_due_before_its_earliest_in_any_zone(date, days, zones):
    settings = tier(courtesy_reminder_days=days)
    timing = text_rules.reminder_timing(date, settings, zones)
    earliest = text_rules.earliest_reminder(date, settings)
    assert timing is not None and earliest is not None
    assert earliest <= timing.due_at
    # Tight where the day starts first: 14 hours ahead of UTC.
    if zones == ["Pacific/Kiritimati"]:
        assert earliest == timing.due_at


@given(
    date=st.dates(dt.date(2026, 1, 1), dt.date(2028, 12, 31)),
    days=st.integers(1, text_rules.MAX_REMINDER_DAYS),
    more=st.integers(0, 5),
    zones=st.lists(st.sampled_from(EXTREME_ZONES), min_size=1, max_size=3),
    share=st.integers(0, 999),
)
def test_every_reminder_due_now_is_among_the_dates_read_for_the_longest_lead(
    date, days, more, zones, share
):
    # The texts job reads only the dates reminder_dates_from gives for the longest lead of
    # any tier (`days` + `more` here): a reminder due now outside them would never be sent.
    timing = text_rules.reminder_timing(date, tier(courtesy_reminder_days=days), zones)
    assert timing is not None
    now = timing.due_at + (timing.expires_at - timing.due_at) * share / 1000  # due now
    first, last = text_rules.reminder_dates_from(now.date(), days + more)
    assert first <= date <= last


@pytest.mark.parametrize("days", [None, 0, text_rules.MAX_REMINDER_DAYS + 1])
def test_a_tier_without_reminders_has_no_earliest_reminder(days):
    assert (
        text_rules.earliest_reminder(dt.date(2026, 12, 10), tier(courtesy_reminder_days=days))
        is None
    )


NOW = dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.UTC)


def test_one_follow_up_and_one_thank_you_a_day_but_every_reminder():
    earlier = [text_rules.Sent(TextKind.FOLLOW_UP, NOW - dt.timedelta(hours=3))]
    assert text_rules.why_not_now(TextKind.FOLLOW_UP, None, earlier, NOW) is not None
    assert text_rules.why_not_now(TextKind.THANK_YOU, None, earlier, NOW) is None
    day_before = [text_rules.Sent(TextKind.FOLLOW_UP, NOW - dt.timedelta(hours=21))]
    assert text_rules.why_not_now(TextKind.FOLLOW_UP, None, day_before, NOW) is None
    reminders = [text_rules.Sent(TextKind.REMINDER, NOW - dt.timedelta(hours=1))]
    assert text_rules.why_not_now(TextKind.REMINDER, None, reminders, NOW) is None


def test_a_text_past_its_time_is_not_sent_late():
    assert text_rules.why_not_now(TextKind.REMINDER, NOW, [], NOW) is not None
    assert text_rules.why_not_now(TextKind.REMINDER, NOW + dt.timedelta(seconds=1), [], NOW) is None


# --- what a text says ------------------------------------------------------------------------

OPT_OUT = {"en": "Reply STOP to opt out.", "zh-CN": "回复退订停止接收。"}
PARAMS = {"business": "EB", "name": "Maria", "callback": "+18005550100", "date": "12/10"}


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("key", sorted(text_rules.BODY_KEYS.values()))
def test_every_text_ends_with_how_to_opt_out_and_names_no_amount(language, key):
    text = CATALOGS[language].render(key, PARAMS)
    assert text.endswith(OPT_OUT[language])
    assert "amount" not in CATALOGS[language].prompts[key]  # no {amount} placeholder
    assert not any(symbol in text for symbol in ("$", "¥", "元"))


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_a_follow_up_says_no_more_than_the_limited_content_voicemail(language):
    text = CATALOGS[language].prompts["sms_follow_up"].lower()
    assert [word for word in DEBT_WORDS[language] if word in text] == []


# Words that tell of a debt beyond "a payment": none in a reminder or a thank-you either.
DEBT_ONLY = {
    "en": ("debt", "collect", "owe", "overdue", "past due", "balance", "arrears", "delinquen"),
    "zh-CN": ("欠", "债", "催收", "逾期", "账单", "金额"),
}


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("key", ["sms_reminder", "sms_thank_you"])
def test_a_reminder_or_thank_you_names_a_payment_at_most(language, key):
    text = CATALOGS[language].prompts[key].lower()
    assert [word for word in DEBT_ONLY[language] if word in text] == []


# --- the policy read for a text -----------------------------------------------------------


def text_broken_rules(facts, numbers, history, profile, t, to):
    """The rules a text at t to `to` would break (an oracle written apart from the policy)."""
    broken = []
    if facts.flags & BLOCKING or facts.open_dispute:
        broken.append("blocked account")
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
        for cap in profile.caps:
            if not cap.counts_sms:
                continue  # a text is held to the caps that count texts
            number = to if cap.scope is CapScope.NUMBER else None
            n = sum(
                1
                for a in history
                if counted(cap, a, number)
                and 0 <= (day - a.placed_at.astimezone(ZoneInfo(zone)).date()).days < cap.days
            )
            if n >= cap.limit:
                broken.append(f"over {cap.label}")
    phone = next((p for p in numbers if p.e164 == to and not p.removed), None)
    if phone is None:
        return [*broken, "not the cardholder's number on file"]
    if phone.opted_out or phone.bad_number or phone.under_review:
        broken.append("blocked number")
    if phone.type is not PhoneType.MOBILE:
        broken.append("not a mobile")
    if not phone.autodial_consent:
        broken.append("no consent")
    if phone.allowed_hours:
        from tests.unit.test_policy import zones_of_number

        for zone in zones_of_number(to) or zones:
            if not phone.allowed_hours.contains(t.astimezone(ZoneInfo(zone)).time()):
                broken.append("outside preferred hours")
    return broken


@PROPERTY_SETTINGS
@given(cases(), st.integers(0, 2))
def test_a_text_is_allowed_exactly_when_it_breaks_no_rule(case, which):
    """Never to a landline, an unconsented, opted-out, bad or under-review number, outside
    the window or on a holiday in any zone, or over a cap that counts texts; and no
    stricter than that."""
    facts, numbers, history, profile, now = case
    to = numbers[which % len(numbers)].e164
    decision = decide_text(facts, numbers, history, profile, now, to)
    event("allowed" if decision.allowed else f"denied: {decision.reason}")
    broken = text_broken_rules(facts, numbers, history, profile, now, to)
    assert decision.allowed == (broken == []), (decision, broken)
    if decision.allowed:
        assert decision.phones == (to,)


@PROPERTY_SETTINGS
@given(cases(), st.integers(0, 2))
def test_a_denied_texts_next_eligible_time_is_allowed(case, which):
    facts, numbers, history, profile, now = case
    to = numbers[which % len(numbers)].e164
    decision = decide_text(facts, numbers, history, profile, now, to)
    if decision.allowed or decision.next_eligible is None:
        return
    then = decision.next_eligible
    assert then > now
    assert text_broken_rules(facts, numbers, history, profile, then, to) == []


def test_a_text_is_never_sent_to_a_number_not_on_file():
    facts, numbers, history, profile, now = _simple()
    decision = decide_text(facts, numbers, history, profile, now, "+14155550199")
    assert not decision.allowed and decision.reason is Reason.NO_NUMBER


def test_reminders_paused_and_nothing_due_do_not_stop_a_reminder_or_a_thank_you():
    import dataclasses

    facts, numbers, history, profile, now = _simple()
    paid = dataclasses.replace(
        facts, past_due_minor=0, days_past_due=0, reminders_paused_until=now.date()
    )
    assert decide_text(paid, numbers, history, profile, now, numbers[0].e164).allowed


def test_us_ma_counts_texts_toward_its_2_in_7_and_reg_f_does_not():
    from dialer.policy import Attempt, decide

    facts, numbers, _, _, now = _simple()
    texts = [
        Attempt(
            now - dt.timedelta(days=d),
            numbers[0].e164,
            text_rules_outcome(),
            frozenset({A1}),
            channel=Channel.SMS,
        )
        for d in (1, 2)
    ]
    assert not decide(facts, numbers, texts, PROFILES["us-ma"], now).allowed
    assert decide(facts, numbers, texts, PROFILES["us-regf"], now).allowed
    assert PROFILES["us-ma"].sms_counts_toward_caps
    assert PROFILES["cn-default"].sms_counts_toward_caps
    assert not PROFILES["us-regf"].sms_counts_toward_caps
    assert not PROFILES["us-wa"].sms_counts_toward_caps


def text_rules_outcome():
    from hotline.profiles import AttemptOutcome

    return AttemptOutcome.NO_ANSWER


def _simple():
    from tests.unit.test_policy import account, phone

    return account(), [phone(type_=PhoneType.MOBILE, consent=True)], [], PROFILES["us-regf"], NOW
