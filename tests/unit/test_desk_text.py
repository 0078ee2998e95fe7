"""The desk's two catalogues agree, and the formatting filters follow the viewer."""

from __future__ import annotations

import datetime as dt

import pytest

from desk import text
from hotline.enums import Language


def test_the_shipped_catalogues_have_the_same_keys_and_placeholders():
    catalogues = text.load()
    assert catalogues[Language.EN].keys() == catalogues[Language.ZH_CN].keys()
    assert text.translate(catalogues, Language.ZH_CN, "home.welcome", name="李") == "欢迎，李。"


def _write(folder, en: str, zh: str) -> None:
    (folder / "en.toml").write_text(en, encoding="utf-8")
    (folder / "zh-CN.toml").write_text(zh, encoding="utf-8")


@pytest.mark.parametrize(
    ("en", "zh", "message"),
    [
        ('[a]\nx = "X"\ny = "Y"\n', '[a]\nx = "叉"\n', "missing ['a.y']"),
        ('[a]\nx = "X"\n', '[a]\nx = "叉"\nz = "Z"\n', "not in en.toml ['a.z']"),
        ('[a]\nx = "Hi {name}"\n', '[a]\nx = "你好 {nam}"\n', "a.x has placeholders ['nam']"),
        ("[a]\nx = 3\n", '[a]\nx = "3"\n', "a.x: a text must be a string"),
        ("[a\n", "[a]\n", "en.toml"),
    ],
)
def test_catalogues_that_disagree_are_refused_at_start(tmp_path, en, zh, message):
    _write(tmp_path, en, zh)
    with pytest.raises(text.TextError, match=message.replace("[", r"\[").replace("]", r"\]")):
        text.load(tmp_path)


def test_money_dates_and_times_follow_the_viewers_locale_and_zone(app, Session, cheap_passwords):
    import desk
    from tests.desk_support import make_user, sign_in

    make_user(Session, "li", language=Language.ZH_CN, time_zone="Asia/Shanghai")
    make_user(Session, "ann")
    moment = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    seen = {}
    for name in ("li", "ann"):
        client = app.test_client()
        sign_in(client, name)
        with client:
            client.get("/desk/")
            seen[name] = (
                desk.money(123456, "USD"),
                desk.money(123456, "CNY"),
                desk.when(moment, "short"),
                desk.day(dt.date(2026, 12, 2)),
            )
    assert seen["ann"] == ("$1,234.56", "CN¥1,234.56", "12/1/26, 6:30\u202fPM", "Dec 2, 2026")
    assert seen["li"] == ("US$1,234.56", "¥1,234.56", "2026/12/2 07:30", "2026年12月2日")
