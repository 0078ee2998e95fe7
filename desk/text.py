"""The desk's words in English and Chinese: desk/text/en.toml and zh-CN.toml.

Keys are dotted paths into the TOML tables (`nav.home`); `{name}` placeholders are filled
by `t(key, name=...)`. Both files must have the same keys and the same placeholders per
key: checked when the app starts, so a missing translation fails at start (and in every
test), never in front of an agent.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from hotline.enums import Language


class TextError(ValueError):
    """The two catalogues disagree, or a file is not valid TOML."""


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{path}."))
        elif isinstance(value, str):
            flat[path] = value
        else:
            raise TextError(f"{path}: a text must be a string, not {type(value).__name__}")
    return flat


def _placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


def load(folder: Traversable | None = None) -> dict[Language, dict[str, str]]:
    """Both catalogues (from desk/text unless another folder is given), checked."""
    folder = folder or resources.files("desk") / "text"
    catalogues: dict[Language, dict[str, str]] = {}
    for language in Language:
        source = folder / f"{language.value}.toml"
        try:
            catalogues[language] = _flatten(tomllib.loads(source.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise TextError(f"desk/text/{language.value}.toml: {exc}") from None
    check(catalogues)
    return catalogues


def check(catalogues: Mapping[Language, Mapping[str, str]]) -> None:
    """TextError unless every catalogue has English's keys and placeholders, no more."""
    english = catalogues[Language.EN]
    for language, texts in catalogues.items():
        missing = sorted(english.keys() - texts.keys())
        extra = sorted(texts.keys() - english.keys())
        if missing or extra:
            raise TextError(
                f"desk/text/{language.value}.toml: missing {missing or 'none'}, "
                f"not in en.toml {extra or 'none'}"
            )
        for key, text in texts.items():
            if _placeholders(text) != _placeholders(english[key]):
                raise TextError(
                    f"desk/text/{language.value}.toml: {key} has placeholders "
                    f"{sorted(_placeholders(text))}, en.toml {sorted(_placeholders(english[key]))}"
                )


def translate(
    catalogues: Mapping[Language, Mapping[str, str]], language: Language, key: str, **params: Any
) -> str:
    """The text for the key in the language, placeholders filled; KeyError if no such key."""
    text = catalogues[language][key]
    return text.format(**params) if params else text
