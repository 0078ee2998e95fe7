"""Speech at the read-backs and the menu, end to end: the real app over HTTP, called through
the simulator, in both languages. A no (however it is said) saves nothing, opts nothing out
and never reaches <Pay>; a plain yes does what key 1 does."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from hotline.models import Payment, Phone, PromiseToPay, RepaymentPlan
from hotline.settings import DEV_ACCOUNT_SID
from prompts.catalog import load
from simulator.callees import Party, Script, Step, steps_from_keys
from tests.e2e.test_ivr import CALLERS, _signed_post, account, rows, said

NO = {
    "en": ["no, that's not correct", "that's not right", "I don't think so"],
    "zh-CN": ["不对", "不是", "不确认"],
}
YES = {"en": ["yes, that's correct", "yeah"], "zh-CN": ["是的", "没错"]}
ANSWERS = [(lang, words, "no") for lang in NO for words in NO[lang]] + [
    (lang, words, "yes") for lang in YES for words in YES[lang]
]


def speak(line, language: str, keys: str, *spoken: str):
    """The demo caller of `language` keys their digits, then `keys`, then says `spoken`
    (one item per prompt); returns the call, what it heard and its catalogue."""
    caller, _, digits = CALLERS[language]
    steps = [*steps_from_keys(f"{digits}#,{keys}"), *(Step(say=s, confidence=0.9) for s in spoken)]
    call = line.carrier.start_inbound(caller, party=Party(Script(steps=tuple(steps))))
    done = line.carrier.wait(call.sid, timeout=60)
    return done, said(done), load(language)


def pay_sessions(call) -> int:
    return sum(1 for e in call.transcript if e.kind == "pay" and e.detail.get("stage") == "start")


@pytest.mark.parametrize(("language", "words", "meaning"), ANSWERS)
def test_a_spoken_no_at_the_promise_read_back_saves_no_promise(
    hotline_app, language, words, meaning
):
    _, number, _ = CALLERS[language]
    row = account(hotline_app, number)
    promised = dt.date.today() + dt.timedelta(days=10)
    amount = max(row.minimum_due_minor, 100)
    _, texts, catalog = speak(hotline_app, language, f"3,1,{amount}#,{promised:%Y%m%d}#", words)
    asked_amount = catalog.prompts["promise_amount"].split("{")[0]
    if meaning == "no":
        assert rows(hotline_app, PromiseToPay) == []
        assert catalog.render("promise_saved") not in texts
        # Key 2 at this read-back starts again: the amount is asked a second time.
        assert sum(1 for t in texts if t.startswith(asked_amount)) == 2
        assert account(hotline_app, number).reminders_paused_until is None
    else:
        [promise] = rows(hotline_app, PromiseToPay)
        assert (promise.amount_minor, promise.promised_date) == (amount, promised)
        assert catalog.render("promise_saved") in texts


@pytest.mark.parametrize(("language", "words", "meaning"), ANSWERS)
def test_a_spoken_no_at_the_opt_out_read_back_keeps_the_calls(
    hotline_app, language, words, meaning
):
    caller = CALLERS[language][0]
    _, texts, catalog = speak(hotline_app, language, "9", words)
    assert catalog.render("optout_confirm", {"last4": caller[-4:]}) in texts
    [phone] = rows(hotline_app, Phone, Phone.e164 == caller)
    if meaning == "no":
        assert phone.opted_out_at is None
        assert catalog.render("optout_saved", {"last4": caller[-4:]}) not in texts
        assert texts[-1] == catalog.render("menu")
    else:
        assert phone.opted_out_at is not None and phone.opted_out_source == "ivr"
        assert catalog.render("optout_saved", {"last4": caller[-4:]}) in texts


@pytest.mark.parametrize(("language", "words"), [("en", "stop calling me"), ("zh-CN", "别再打了")])
def test_asking_to_stop_the_calls_at_the_opt_out_read_back_stops_them(hotline_app, language, words):
    caller = CALLERS[language][0]
    _, texts, catalog = speak(hotline_app, language, "9", words)
    [phone] = rows(hotline_app, Phone, Phone.e164 == caller)
    assert phone.opted_out_at is not None
    assert catalog.render("optout_saved", {"last4": caller[-4:]}) in texts


@pytest.mark.parametrize(("language", "words", "meaning"), ANSWERS)
def test_a_spoken_no_at_the_payment_read_back_never_reaches_pay(
    hotline_app, language, words, meaning
):
    minimum = account(hotline_app, CALLERS[language][1]).minimum_due_minor
    call, texts, catalog = speak(hotline_app, language, "2,1", words)
    read_back = catalog.prompts["pay_confirm"].split("{")[0]
    assert sum(1 for t in texts if t.startswith(read_back)) == 1
    if meaning == "no":
        assert pay_sessions(call) == 0
        assert rows(hotline_app, Payment) == []
        # Key 2 here changes the amount: the payment menu again, not the card prompt.
        pay_menu = catalog.prompts["pay_option_minimum"].split("{")[0]
        assert sum(1 for t in texts if t.startswith(pay_menu)) == 2
        assert catalog.render("pay_instructions") not in texts
    else:
        assert pay_sessions(call) == 1
        [payment] = rows(hotline_app, Payment)
        assert payment.amount_minor == minimum


@pytest.mark.parametrize(
    ("language", "words", "prompt"),
    [
        ("en", "I want a payment arrangement", "arrangement_menu"),
        ("en", "I'd like to make a payment", "pay_option_minimum"),
        ("zh-CN", "我要还款安排", "arrangement_menu"),
        ("zh-CN", "我要还款", "pay_option_minimum"),
    ],
)
def test_menu_speech_goes_where_the_whole_words_mean(hotline_app, language, words, prompt):
    caller, _, digits = CALLERS[language]
    steps = (Step(press=f"{digits}#"), Step(say=words, confidence=0.9))
    call = hotline_app.carrier.start_inbound(caller, party=Party(Script(steps=steps)))
    texts = said(hotline_app.carrier.wait(call.sid, timeout=60))
    catalog = load(language)
    start = catalog.prompts[prompt].split("{")[0]
    assert any(t.startswith(start) for t in texts)
    other = "pay_option_minimum" if prompt == "arrangement_menu" else "arrangement_menu"
    assert not any(t.startswith(catalog.prompts[other].split("{")[0]) for t in texts)


def _turn(line, path: str, sid: str, caller: str, **fields: str) -> ET.Element:
    response = _signed_post(
        line, path, {"CallSid": sid, "AccountSid": DEV_ACCOUNT_SID, "From": caller, **fields}
    )
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.text)


@pytest.mark.parametrize(("language", "no"), [("en", "No, that's not correct."), ("zh-CN", "不对")])
def test_the_payment_read_back_answers_a_spoken_no_with_no_pay_verb(hotline_app, language, no):
    """Twilio's own requests, one by one: what the line answers to SpeechResult."""
    caller, _, digits = CALLERS[language]
    sid = "CA" + ("5" if language == "en" else "6") * 32
    _turn(hotline_app, "/ivr/voice", sid, caller)
    _turn(hotline_app, "/ivr/step/verify", sid, caller, Digits=digits)
    _turn(hotline_app, "/ivr/step/menu", sid, caller, Digits="2")
    read_back = _turn(hotline_app, "/ivr/step/pay-choice", sid, caller, Digits="1")
    assert read_back.find("Gather").get("input") == "dtmf speech"
    answer = _turn(
        hotline_app, "/ivr/step/pay-confirm", sid, caller, SpeechResult=no, Confidence="0.93"
    )
    assert answer.find(".//Pay") is None
    assert answer.find("Gather").get("action").endswith("/ivr/step/pay-choice")
    again = _turn(hotline_app, "/ivr/step/pay-choice", sid, caller, Digits="1")
    assert again.find("Gather").get("action").endswith("/ivr/step/pay-confirm")
    yes = "Yes." if language == "en" else "是的。"
    answer = _turn(
        hotline_app, "/ivr/step/pay-confirm", sid, caller, SpeechResult=yes, Confidence="0.93"
    )
    assert answer.find(".//Pay") is not None


@pytest.mark.parametrize(
    ("language", "words"), [("en", "no, that's not correct"), ("zh-CN", "不对")]
)
def test_a_spoken_no_at_the_plan_read_back_sets_up_no_plan(hotline_app, language, words):
    _, texts, catalog = speak(hotline_app, language, "3,2,2", words)
    assert rows(hotline_app, RepaymentPlan) == []
    assert catalog.render("plan_saved") not in texts
    assert account(hotline_app, CALLERS[language][1]).reminders_paused_until is None


def _times_heard(texts: list[str], catalog, prompt: str) -> int:
    start = catalog.prompts[prompt].split("{")[0]
    return sum(1 for t in texts if t.startswith(start))


# Issue 10 (F3): words with a yes inside them that are not a yes. The read-back is asked
# again (heard twice) and nothing is saved or paid.
NOT_A_YES = {
    "plan": [("zh-CN", "好贵"), ("zh-CN", "好多钱"), ("en", "okay pay it later")],
    "pay": [("en", "okay stop"), ("zh-CN", "是多少"), ("en", "yes but only half")],
    "promise": [("en", "sure, I will think about it"), ("zh-CN", "好，我先挂了")],
}


@pytest.mark.parametrize(("language", "words"), NOT_A_YES["plan"])
def test_words_that_are_not_a_yes_set_up_no_plan(hotline_app, language, words):
    _, texts, catalog = speak(hotline_app, language, "3,2,2", words)
    assert rows(hotline_app, RepaymentPlan) == []
    assert catalog.render("plan_saved") not in texts
    assert _times_heard(texts, catalog, "plan_confirm") == 2
    assert account(hotline_app, CALLERS[language][1]).reminders_paused_until is None


@pytest.mark.parametrize(("language", "words"), NOT_A_YES["pay"])
def test_words_that_are_not_a_yes_never_reach_pay(hotline_app, language, words):
    call, texts, catalog = speak(hotline_app, language, "2,1", words)
    assert pay_sessions(call) == 0
    assert rows(hotline_app, Payment) == []
    assert catalog.render("pay_instructions") not in texts
    assert _times_heard(texts, catalog, "pay_confirm") == 2


@pytest.mark.parametrize(("language", "words"), NOT_A_YES["promise"])
def test_words_that_are_not_a_yes_save_no_promise(hotline_app, language, words):
    _, number, _ = CALLERS[language]
    row = account(hotline_app, number)
    promised = dt.date.today() + dt.timedelta(days=10)
    amount = max(row.minimum_due_minor, 100)
    _, texts, catalog = speak(hotline_app, language, f"3,1,{amount}#,{promised:%Y%m%d}#", words)
    assert rows(hotline_app, PromiseToPay) == []
    assert catalog.render("promise_saved") not in texts
    assert _times_heard(texts, catalog, "promise_confirm") == 2


# Issue 10 (F4): at the opt-out read-back, not wanting the calls kept is a stop.
@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", "don't keep calling me"),
        ("en", "I don't want to keep receiving calls"),
        ("zh-CN", "不要继续打了"),
        ("zh-CN", "别打电话了"),
    ],
)
def test_a_negated_keep_at_the_opt_out_read_back_stops_the_calls(hotline_app, language, words):
    caller = CALLERS[language][0]
    _, texts, catalog = speak(hotline_app, language, "9", words)
    [phone] = rows(hotline_app, Phone, Phone.e164 == caller)
    assert phone.opted_out_at is not None and phone.opted_out_source == "ivr"
    assert catalog.render("optout_saved", {"last4": caller[-4:]}) in texts


# Issue 10 (F13): an option under a negation is asked again, not chosen.
@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", "I do not want to talk to a person"),
        ("en", "I don't want to pay"),
        ("zh-CN", "不要转人工"),
    ],
)
def test_a_negated_menu_option_is_asked_again(hotline_app, language, words):
    caller, _, digits = CALLERS[language]
    steps = (Step(press=f"{digits}#"), Step(say=words, confidence=0.9))
    call = hotline_app.carrier.start_inbound(caller, party=Party(Script(steps=steps)))
    texts = said(hotline_app.carrier.wait(call.sid, timeout=60))
    catalog = load(language)
    assert _times_heard(texts, catalog, "menu") >= 2
    for prompt in ("pay_option_minimum", "arrangement_menu", "transfer_notice", "agents_closed"):
        if prompt in catalog.prompts:
            assert _times_heard(texts, catalog, prompt) == 0, prompt


@pytest.mark.parametrize(
    ("words", "language"), [("English please", "en"), ("Mandarin", "zh-CN"), ("中文", "zh-CN")]
)
def test_an_unknown_caller_can_say_the_language(hotline_app, words, language):
    call = hotline_app.carrier.start_inbound(
        "+14155550177", party=Party(Script(steps=(Step(say=words, confidence=0.9),)))
    )
    texts = said(hotline_app.carrier.wait(call.sid, timeout=60))
    assert load(language).render("enter_account") in texts
