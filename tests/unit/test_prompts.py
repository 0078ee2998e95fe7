import pytest

from prompts.catalog import Catalog, PromptError, check_parity, load, load_all, placeholders


def test_both_catalogues_have_the_same_keys_placeholders_and_speech_menus():
    catalogs = load_all()
    english, chinese = catalogs["en"], catalogs["zh-CN"]
    assert english.prompts.keys() == chinese.prompts.keys()
    for key in english.prompts:
        assert placeholders(english.prompts[key]) == placeholders(chinese.prompts[key]), key


def test_a_missing_key_or_placeholder_fails_loudly():
    english = load("en")
    broken = Catalog(
        "zh-CN", {k: v for k, v in english.prompts.items() if k != "menu"}, english.speech
    )
    with pytest.raises(PromptError, match="missing \\['menu'\\]"):
        check_parity({"en": english, "zh-CN": broken})
    with pytest.raises(PromptError, match="needs \\['balance'"):
        english.render("balance", {"minimum_due": "$1", "due_date": "today"})
    with pytest.raises(PromptError, match="no prompt 'nope'"):
        english.render("nope")


def test_speech_maps_to_the_same_keys_in_each_language():
    catalogs = load_all()
    assert catalogs["en"].choice_for_speech("menu", "I'd like to make a payment") == "2"
    assert catalogs["zh-CN"].choice_for_speech("menu", "我想还款") == "2"
    assert catalogs["en"].choice_for_speech("menu", "") is None
