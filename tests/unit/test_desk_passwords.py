"""The desk's password rules and hash parameters (no database)."""

from __future__ import annotations

import pytest

from hotline import users


def test_passwords_are_hashed_with_argon2id_at_owasps_parameters():
    stored = users.hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert users.HASHER.verify(stored, "correct horse battery staple")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 12 characters"),
        ("x" * 257, "at most 256 characters"),
        (" padded password ", "must not begin or end with a space"),
    ],
)
def test_a_password_that_breaks_a_rule_is_refused_with_the_rule(password, reason):
    with pytest.raises(users.UserError, match=reason):
        users.hash_password(password)


@pytest.mark.parametrize("name", ["Ann", " ann ", "ＡＮＮ"])
def test_user_names_are_folded_to_one_form(name):
    assert users.check_username(name) == "ann"


@pytest.mark.parametrize("name", ["a", "a b", "名字", "x" * 65, "ann;drop"])
def test_user_names_outside_the_rule_are_refused(name):
    with pytest.raises(users.UserError, match="2 to 64 letters"):
        users.check_username(name)
