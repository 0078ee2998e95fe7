"""Prompt catalogues: wording by key and language, checked for parity when loaded.

A missing key, a placeholder one language has and the other lacks, or a render without a
value for a placeholder fails loudly, at start or in tests, never as silence on a call.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from prompts.speech import AGAIN, BASES, FILLER, NO, READ_BACKS, YES, Lexicon, PhraseError

LANGUAGES = ("en", "zh-CN")
MAX_HINTS = 500  # Twilio's limit on <Gather hints> entries


class PromptError(KeyError):
    """A prompt key or placeholder that the catalogue cannot satisfy."""


def placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


@dataclass(frozen=True)
class Catalog:
    language: str
    prompts: Mapping[str, str]
    speech: Mapping[str, Mapping[str, tuple[str, ...]]]
    # Each menu's phrases read once, with its base menu's (prompts.speech.BASES).
    lexicons: Mapping[str, Lexicon] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lexicons = {}
        for menu in self.speech:
            tables = self._tables(menu)
            try:
                lexicons[menu] = Lexicon.build(menu, tables)
            except PhraseError as exc:
                raise PromptError(f"{self.language}: {exc}") from None
            if menu in READ_BACKS and not {YES, NO} <= set(lexicons[menu].phrases.values()):
                raise PromptError(f"{self.language}: read-back {menu!r} needs {YES} and {NO}")
        object.__setattr__(self, "lexicons", lexicons)

    def render(self, key: str, params: Mapping[str, Any] | None = None) -> str:
        try:
            text = self.prompts[key]
        except KeyError:
            raise PromptError(f"{self.language}: no prompt {key!r}") from None
        values = dict(params or {})
        missing = placeholders(text) - values.keys()
        if missing:
            raise PromptError(f"{self.language}: prompt {key!r} needs {sorted(missing)}")
        return text.format(**values)

    def choice_for_speech(self, menu: str, heard: str) -> str | None:
        """The key a spoken answer stands for in a menu, or None to ask again (see
        prompts.speech: whole words, the longest phrase first, a negation is never a yes)."""
        lexicon = self.lexicons.get(menu)
        return lexicon.choose(heard) if lexicon is not None else None

    def hints(self, menu: str) -> str:
        """The menu's phrases for <Gather hints>: what the caller is likely to say."""
        listed = (
            p
            for t in self._tables(menu)
            for k, ps in t.items()
            if k not in (AGAIN, FILLER)
            for p in ps
        )
        return ", ".join(list(dict.fromkeys(listed))[:MAX_HINTS])

    def _tables(self, menu: str) -> list[Mapping[str, tuple[str, ...]]]:
        return [self.speech[m] for m in (BASES.get(menu, ""), menu) if m in self.speech]


def load(language: str) -> Catalog:
    data = tomllib.loads(resources.files("prompts").joinpath(f"{language}.toml").read_text("utf-8"))
    speech = {
        menu: {key: tuple(phrases) for key, phrases in table.items()}
        for menu, table in data.get("speech", {}).items()
    }
    return Catalog(language, dict(data["prompts"]), speech)


def load_all() -> dict[str, Catalog]:
    """Every language's catalogue; PromptError if they differ in keys or placeholders."""
    catalogs = {language: load(language) for language in LANGUAGES}
    check_parity(catalogs)
    return catalogs


def check_parity(catalogs: Mapping[str, Catalog]) -> None:
    reference = catalogs[LANGUAGES[0]]
    for language, catalog in catalogs.items():
        missing = reference.prompts.keys() - catalog.prompts.keys()
        extra = catalog.prompts.keys() - reference.prompts.keys()
        if missing or extra:
            raise PromptError(
                f"{language}: keys differ from {reference.language} "
                f"(missing {sorted(missing)}, extra {sorted(extra)})"
            )
        for key, text in reference.prompts.items():
            if placeholders(text) != placeholders(catalog.prompts[key]):
                raise PromptError(f"{language}: prompt {key!r} placeholders differ")
        if {m: set(t) for m, t in reference.speech.items()} != {
            m: set(t) for m, t in catalog.speech.items()
        }:
            raise PromptError(f"{language}: speech menus differ from {reference.language}")
