"""What callers' words stand for, in both languages.

The tables are how callers answer, written from the prompts and from how people talk, not
copied from the catalogues' phrase lists: when a row fails, the lists (which the bank
edits) or the rules are wrong, never the row. Confirm keys: 1 yes, 2 no or change; None
asks again.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prompts.catalog import Catalog, PromptError, load_all
from prompts.speech import clauses, words

CATALOGS = load_all()
EN, ZH = CATALOGS["en"], CATALOGS["zh-CN"]

EN_CONFIRM = {
    # yes
    "yes": "1",
    "Yes.": "1",
    "YES": "1",
    "yeah": "1",
    "yep": "1",
    "Yes, that's correct.": "1",
    "yes that's right": "1",
    "That's right": "1",
    "correct": "1",
    "that is correct": "1",
    "sure": "1",
    "okay": "1",
    "OK": "1",
    "yes please": "1",
    "absolutely": "1",
    "of course": "1",
    "Yeah, go ahead.": "1",
    "yes I confirm": "1",
    "uh-huh": "1",
    "Yes, yes": "1",
    "Ｙｅｓ": "1",  # full-width, as some recognisers send it
    "  yes  ": "1",
    # no: any negation, wherever it is
    "no": "2",
    "No.": "2",
    "nope": "2",
    "no, that's not correct": "2",
    "No that is not right": "2",
    "that\u2019s not right": "2",  # a curly apostrophe
    "that's wrong": "2",
    "incorrect": "2",
    "not yes": "2",
    "yes no": "2",
    "no yes": "2",
    "yeah no": "2",
    "I don't think so": "2",
    "I dont think so": "2",
    "do not confirm": "2",
    "I do not agree": "2",
    "yes, but the amount is wrong": "2",
    "absolutely not": "2",
    "of course not": "2",
    "that isn't right": "2",
    "it's not correct": "2",
    "I can't confirm that": "2",
    "please don't": "2",
    "cancel": "2",
    "I want to change the amount": "2",
    "No!": "2",
    "no, no, no": "2",
    "never": "2",
    "not at all": "2",
    "I disagree": "2",
    "never mind": "2",
    "I'd rather not": "2",
    # neither: ask again
    "": None,
    "   ": None,
    "yesterday": None,
    "I know": None,
    "now": None,
    "nobody": None,
    "notebook": None,
    "hello": None,
    "um": None,
    "purple elephant": None,
    "what?": None,
    "is that right?": None,
    "is that correct": None,
    "yes?": None,
    "maybe": None,
    "I'm not sure": None,
    "I don't know": None,
    "hold on": None,
    "pardon": None,
    "could you repeat that": None,
    "how much was it": None,
    "I think so": None,
    # Issue 10 (F3): a yes word inside a sentence that is not a yes asks again
    "okay stop": None,
    "sure, I will think about it": None,
    "absolutely nothing": None,
    "okay pay it later": None,
    "yes but only half": None,
    "ok bye": None,
    "yes, later": None,
    "sure, call me tomorrow": None,
    "okay I'm hanging up": None,
    "fine whatever": None,
    "yes that is correct thank you": "1",
    "yes it is": "1",
    "okay, thanks": "1",
    "I don't think it's right, no": "2",
    "no?": "2",  # a negation anywhere is a no, even asked
    "yes please, thank you": "1",
}

ZH_CONFIRM = {
    # 是
    "是": "1",
    "是的": "1",
    "是的是的": "1",
    "是的。": "1",
    "是 的": "1",  # a recogniser's space inside a word
    "对": "1",
    "对的": "1",
    "对，没错": "1",
    "没错": "1",  # "that's right", though it starts with 没
    "没错没错": "1",
    "确认": "1",
    "我确认": "1",
    "确定": "1",
    "好": "1",
    "好的": "1",
    "好吧": "1",
    "可以": "1",
    "行": "1",
    "没问题": "1",
    "嗯": "1",
    "嗯嗯": "1",
    "正确": "1",
    "对的对的": "1",
    "同意": "1",
    "没有错": "1",  # "there is no mistake"
    "当然可以": "1",
    "ＯＫ": "1",
    # 否：任何否定
    "不": "2",
    "不是": "2",
    "不对": "2",
    "不确认": "2",
    "我不确认": "2",
    "不行": "2",
    "错了": "2",
    "日期错了": "2",
    "金额不对": "2",
    "不是的": "2",
    "不对不对": "2",
    "不要": "2",
    "不用了": "2",
    "没有": "2",
    "取消": "2",
    "我要修改": "2",
    "改一下": "2",
    "重新来": "2",
    "算了": "2",
    "不，不是这个": "2",
    "是的，不对": "2",
    "对，不对": "2",
    "我不同意": "2",
    "否": "2",
    # 重新询问
    "": None,
    "对不对": None,  # a question
    "是不是": None,
    "是吗": None,
    "对吗？": None,
    "可以吗": None,
    "什么": None,
    "什么意思": None,
    "我不确定": None,
    "不知道": None,
    "等一下": None,
    "不错": None,  # "not bad": not a yes to a read-back, and not a no either
    "你好": None,
    "差不多吧": None,
    "可能吧": None,
    "好像是": None,
    "为什么": None,
    "喂": None,
    "不好意思": None,  # "excuse me", not a no
    "嗯？": None,
    # Issue 10 (F3): 好/是/对 inside another word is not a yes
    "好贵": None,  # "so expensive!"
    "好多钱": None,  # "that's a lot of money"
    "是多少": None,  # "how much is it?"
    "是谁": None,  # "who is it?"
    "对于这个金额我有疑问": None,  # "about this amount, I have a question"
    "对你们很失望": None,  # "I'm very disappointed in you"
    "我是来投诉的": None,  # "I'm here to complain"
    "好，我先挂了": None,  # "okay, I'll hang up now"
    "可以分期": None,  # "can it be in instalments"
    "好了": None,  # "that's enough" as often as "done"
    "对了": None,  # "by the way"
    "是吧": None,  # "right?"
    "没错吧": None,  # "that's right, isn't it?"
    "对呀": "1",
    "等会再说": None,
    "稍后": None,
    "能不能再说一遍": None,  # A不A is a question, not a negation
    "是我": None,  # "it's me"
    "好的，谢谢": "1",
    "对对对": "1",
    "可以，确认": "1",
    "是的，没错": "1",
}

EN_OPTOUT = {
    "yes": "1",
    "yes, stop calling me": "1",
    "please stop": "1",
    "don't call me anymore": "1",
    "do not call me": "1",
    "no more calls please": "1",
    "no": "2",
    "no, that's not correct": "2",
    "keep calling": "2",
    "no, don't call me": None,  # both: at the opt-out neither answer is the safe one
    "no don't call me": None,
    "please don't stop calling": "2",  # "not" negates "stop calling": keep the calls
    "I'm not sure": None,
    "what": None,
    # Issue 10 (F4): a negated keep is a stop; never a keep by default
    "I don't want to keep receiving calls": "1",
    "don't keep calling me": "1",
    "do not keep calling": "1",
    "no calls": "1",
    "no calls please": "1",
    "don't call": "1",
    "I do not want calls": "1",
    "never call me again": "1",
    "don't ever call me again": "1",
    "keep the calls": "2",
    "I don't know": None,
    "sure, I will think about it": None,
    "keep calling, I mean stop": None,
    "no keep calling": None,  # "no, keep calling" or "no: keep calling"? Either: ask
    "no, keep calling": "2",
}

ZH_OPTOUT = {
    "是的": "1",
    "确认": "1",
    "停止": "1",
    "别再打了": "1",
    "不要再给我打电话了": "1",
    "以后不要再打了": "1",
    "不对": "2",
    "不是": "2",
    "不确认": "2",
    "继续": "2",
    "继续接听": "2",
    "不要停止": None,  # 不要 (don't) and 停止 (stop): both, so ask
    "别停止": "2",  # 别 negates 停止: keep the calls
    "什么": None,
    # Issue 10 (F4)
    "不要继续打了": "1",
    "别继续打了": "1",
    "不要继续打电话": "1",
    "别打电话了": "1",
    "以后别打": "1",
    "以后别打了": "1",
    "不要打电话": "1",
    "不要打电话了": "1",
    "不想接电话": "1",
    "继续打吧": None,  # 吧 may make it a question ("keep calling, then?")
    "好贵": None,
    "我想想": None,  # "let me think"
}

EN_MENU = {
    "what's my balance": "1",
    "balance": "1",
    "how much do I owe": "1",
    "when is my payment due": "1",
    "I want to pay": "2",
    "make a payment": "2",
    "I'd like to pay my bill": "2",
    "I'd like to make a payment": "2",
    "I want a payment arrangement": "3",
    "can I set up a payment plan": "3",
    "I need more time": "3",
    "I want to pay in installments": "3",
    "I promise to pay on Friday": "3",
    "I have a complaint": "4",
    "I want to dispute a charge": "4",
    "I lost my job": "4",
    "I can't pay": "4",
    "I'm having financial difficulties": "4",
    "can I speak to a manager": "0",
    "remove me from your list": "9",
    "agent": "0",
    "let me talk to a representative": "0",
    "I want a human": "0",
    "customer service please": "0",
    "stop calling me": "9",
    "take me off your list": "9",
    "please repeat the options": "*",
    "banana": None,
    "": None,
    "payday": None,  # not "pay"
    "planet": None,  # not "plan"
    "personally": None,  # not "person"
    "agent or payment": None,  # two options: ask, don't guess
    "pay my balance with a plan": None,
    # Issue 10 (F13): an option under a negation is not chosen
    "I do not want to talk to a person": None,
    "I don't want to pay": None,
    "I don't want a payment plan": None,
    "no agent": None,
    "never mind the balance": None,
    "no, I want to pay": "2",  # the no is a clause of its own
}

ZH_MENU = {
    "我要还款安排": "3",
    "还款安排": "3",
    "我要还款": "2",
    "我想还钱": "2",
    "查一下余额": "1",
    "我还欠多少": "1",
    "我想办分期": "3",
    "能不能延期还款": "3",
    "我要投诉": "4",
    "我还不起了": "4",
    "人工": "0",
    "客服": "0",
    "转人工服务": "0",
    "我要找真人": "0",
    "别再打了": "9",
    "别再给我打电话了": "9",
    "什么时候到期": "1",
    "不要再打电话了": "9",
    "再说一遍": "*",
    "你好": None,
    "听不懂": None,
    "我要还款，还要投诉": None,
    # Issue 10 (F13)
    "不要转人工": None,
    "我不想还款": None,
    "别转人工": None,
    "没有投诉": None,
    "不，我要还款": "2",
    "能不能转人工": "0",  # 能不能 asks; it negates nothing
}

LANGUAGE = {
    "English please": "1",
    "english": "1",
    "英语": "1",
    "Chinese": "2",
    "Mandarin please": "2",
    "中文": "2",
    "普通话": "2",
    "我要中文服务": "2",
}

# Issue 10 (F13): a language under a negation is not chosen, in either catalogue
LANGUAGE_NOT = ["I don't speak Chinese", "no chinese", "not English", "不要中文", "我不会说英语"]


def _rows(table: dict[str, str | None]) -> list[tuple[str, str | None]]:
    return list(table.items())


@pytest.mark.parametrize(("said", "key"), _rows(EN_CONFIRM))
def test_english_read_back_answers(said, key):
    assert EN.choice_for_speech("confirm", said) == key


@pytest.mark.parametrize(("said", "key"), _rows(ZH_CONFIRM))
def test_chinese_read_back_answers(said, key):
    assert ZH.choice_for_speech("confirm", said) == key


@pytest.mark.parametrize(("said", "key"), _rows(EN_OPTOUT))
def test_english_opt_out_answers(said, key):
    assert EN.choice_for_speech("optout", said) == key


@pytest.mark.parametrize(("said", "key"), _rows(ZH_OPTOUT))
def test_chinese_opt_out_answers(said, key):
    assert ZH.choice_for_speech("optout", said) == key


@pytest.mark.parametrize(("said", "key"), _rows(EN_MENU))
def test_english_menu_intents(said, key):
    assert EN.choice_for_speech("menu", said) == key


@pytest.mark.parametrize(("said", "key"), _rows(ZH_MENU))
def test_chinese_menu_intents(said, key):
    assert ZH.choice_for_speech("menu", said) == key


@pytest.mark.parametrize(("said", "key"), _rows(LANGUAGE))
def test_the_language_menu_hears_either_language_in_either_catalogue(said, key):
    assert {c.choice_for_speech("language", said) for c in CATALOGS.values()} - {None} == {key}


@pytest.mark.parametrize("said", LANGUAGE_NOT)
def test_a_negated_language_is_not_chosen(said):
    assert {c.choice_for_speech("language", said) for c in CATALOGS.values()} == {None}


@pytest.mark.parametrize(
    ("menu", "english", "chinese", "key"),
    [
        ("confirm", "yes", "是的", "1"),
        ("confirm", "no", "不是", "2"),
        ("confirm", "that's not right", "不对", "2"),
        ("optout", "stop calling", "停止拨打", "1"),
        ("menu", "I want a payment arrangement", "我要还款安排", "3"),
        ("menu", "agent", "人工", "0"),
    ],
)
def test_the_same_answer_in_each_language_means_the_same_key(menu, english, chinese, key):
    assert EN.choice_for_speech(menu, english) == ZH.choice_for_speech(menu, chinese) == key


def test_words_are_whole_and_clauses_end_at_punctuation():
    assert words("Yesterday I knew") == ("yesterday", "i", "knew")
    assert words("I don't know") == ("i", "do", "not", "know")
    assert words("that isnt right") == ("that", "is", "not", "right")
    assert words("不对") == ("不", "对")
    assert clauses("No, that's not correct.") == [("no",), ("that's", "not", "correct")]
    assert clauses("是的，不对") == [("是", "的"), ("不", "对")]
    assert clauses("对吗？") == [("对", "吗", "?")]


def test_hints_list_what_callers_say_and_not_the_ask_again_words():
    hints = EN.hints("optout").split(", ")
    assert "yes" in hints and "no" in hints and "stop calling" in hints
    assert "maybe" not in hints and "what" not in hints
    assert len(hints) == len(set(hints)) <= 500
    assert "还款" in ZH.hints("menu").split(", ")


def test_a_phrase_for_two_keys_in_one_menu_fails_loudly():
    speech = {**EN.speech, "confirm": {**EN.speech["confirm"], "1": ("yes", "no")}}
    with pytest.raises(PromptError, match="'no' stands for both"):
        Catalog("en", EN.prompts, speech)
    optout = {**EN.speech, "optout": {"1": ("nope",), "2": ("keep",)}}  # nope: no, in confirm
    with pytest.raises(PromptError, match="'nope' stands for both"):
        Catalog("en", EN.prompts, optout)


def test_a_read_back_without_a_yes_or_a_no_fails_loudly():
    speech = {**EN.speech, "confirm": {"1": ("yes",)}, "optout": {"1": ("stop",)}}
    with pytest.raises(PromptError, match="read-back 'confirm' needs 1 and 2"):
        Catalog("en", EN.prompts, speech)


# --- properties ---------------------------------------------------------------------------

# Written here, not read from the catalogues: ways of saying no a caller uses.
EN_NEGATIONS = [
    "no",
    "not",
    "nope",
    "never",
    "don't",
    "do not",
    "isn't",
    "wrong",
    "incorrect",
    "that's not right",
    "no, that's not correct",
    "I don't think so",
    "absolutely not",
    "cancel",
]
ZH_NEGATIONS = [
    "不",
    "不是",
    "不对",
    "不确认",
    "没有",
    "错了",
    "不行",
    "不要",
    "别",
    "取消",
    "不同意",
]
EN_WORDS = ["yes", "yeah", "correct", "right", "sure", "ok", "confirm", "that's", "please", "I"]
ZH_WORDS = ["是", "是的", "对", "确认", "好的", "可以", "行", "没错", "没问题", "嗯", "我"]


def _utterances(pool: list[str], glue: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=30), st.lists(st.sampled_from(pool), max_size=6).map(glue.join)
    )


@settings(max_examples=300, deadline=None)
@given(
    text=_utterances(EN_WORDS, " "),
    negation=st.sampled_from(EN_NEGATIONS),
    glue=st.sampled_from([" ", ", ", ". ", "! "]),
    before=st.booleans(),
)
def test_an_english_negation_before_or_after_anything_is_never_a_yes(text, negation, glue, before):
    said = negation + glue + text if before else text + glue + negation
    assert EN.choice_for_speech("confirm", said) != "1"
    if glue != " ":  # a clause of its own: not part of "never call me" at the opt-out
        assert EN.choice_for_speech("optout", said) != "1"


@settings(max_examples=300, deadline=None)
@given(
    text=_utterances(ZH_WORDS, ""),
    negation=st.sampled_from(ZH_NEGATIONS),
    glue=st.sampled_from(["，", "。", ",", "！", " , "]),
    before=st.booleans(),
)
def test_a_chinese_negation_before_or_after_anything_is_never_a_yes(text, negation, glue, before):
    said = negation + glue + text if before else text + glue + negation
    assert ZH.choice_for_speech("confirm", said) != "1"


@settings(max_examples=300, deadline=None)
@given(text=_utterances(EN_WORDS + EN_NEGATIONS, " "))
def test_an_english_utterance_with_a_negation_word_is_never_confirmed(text):
    if {"no", "not", "never", "nope"} & set(words(text)):
        assert EN.choice_for_speech("confirm", text) != "1"


@settings(max_examples=300, deadline=None)
@given(word=st.from_regex(r"[a-z]{1,12}", fullmatch=True))
def test_an_unknown_word_means_nothing_however_it_is_spelled(word):
    """Whole words only: a word the catalogue does not list is never heard as one it does
    ("know" is not "no", "yesterday" not "yes", "payday" not "pay")."""
    if words(word) != (word,):  # a contraction without its apostrophe: "dont" is "do not"
        return
    for catalog in CATALOGS.values():
        for menu, lexicon in catalog.lexicons.items():
            if (word,) not in lexicon.phrases:
                assert lexicon.choose(word) is None, (catalog.language, menu, word)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_any_text_at_any_menu_is_one_of_its_keys_or_asks_again(text):
    for catalog in CATALOGS.values():
        for menu, table in catalog.speech.items():
            key = catalog.choice_for_speech(menu, text)
            assert key is None or (key in table and key != "?")


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.sampled_from(EN_WORDS + EN_NEGATIONS), min_size=1, max_size=5))
def test_case_width_and_spacing_do_not_change_the_answer(parts):
    said = " ".join(parts)
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in said)
    key = EN.choice_for_speech("confirm", said)
    assert EN.choice_for_speech("confirm", said.upper()) == key
    assert EN.choice_for_speech("confirm", "  " + said.replace(" ", "   ") + " ") == key
    assert EN.choice_for_speech("confirm", wide) == key


# Written here: yeses and the small words around them (please, thanks, I, that is ...).
EN_PLAIN = ["yes", "yeah", "sure", "ok", "okay", "correct", "please", "thank you", "i", "that is"]
ZH_PLAIN = ["是的", "对", "好的", "确认", "可以", "没错", "嗯", "请", "谢谢", "我"]


def _outside(catalog: Catalog, menu: str, word: str) -> bool:
    """`word` is in none of the menu's yes or filler phrases (so it cannot complete one)."""
    lexicon = catalog.lexicons[menu]
    return all(word not in phrase for phrase, key in lexicon.phrases.items() if key in {"1", "_"})


@settings(max_examples=300, deadline=None)
@given(
    plain=st.lists(st.sampled_from(EN_PLAIN), min_size=1, max_size=5),
    word=st.from_regex(r"[a-z]{1,12}", fullmatch=True),
    at=st.integers(min_value=0, max_value=5),
    glue=st.sampled_from([" ", ", ", ". "]),
)
def test_an_english_word_outside_the_yes_and_filler_lists_never_confirms(plain, word, at, glue):
    """Issue 10: a read-back confirms only on the whole utterance being a yes; one word the
    lists do not hold ("stop", "later", "think", "nothing") asks again or is a no."""
    said = glue.join([*plain[:at], word, *plain[at:]])
    for menu in ("confirm", "optout"):
        if words(word) == (word,) and _outside(EN, menu, word):
            assert EN.choice_for_speech(menu, said) != "1", (menu, said)


@settings(max_examples=300, deadline=None)
@given(
    plain=st.lists(st.sampled_from(ZH_PLAIN), min_size=1, max_size=5),
    char=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    at=st.integers(min_value=0, max_value=5),
    glue=st.sampled_from(["", "，", " "]),
)
def test_a_chinese_character_outside_the_yes_and_filler_lists_never_confirms(plain, char, at, glue):
    """Issue 10: 好贵, 是多少, 是谁: a character that is no yes and no filler, next to 好/是/对
    or anywhere else, never lets a read-back confirm."""
    said = glue.join([*plain[:at], char, *plain[at:]])
    for menu in ("confirm", "optout"):
        if _outside(ZH, menu, char):
            assert ZH.choice_for_speech(menu, said) != "1", (menu, said)
