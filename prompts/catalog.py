"""Prompt catalogues: wording by key and language, checked for parity when loaded.

A missing key, a placeholder one language has and the other lacks, or a render without a
value for a placeholder fails loudly, at start or in tests, never as silence on a call.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

LANGUAGES = ("en", "zh-CN")


class PromptError(KeyError):
    """A prompt key or placeholder that the catalogue cannot satisfy."""


def placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


@dataclass(frozen=True)
class Catalog:
    language: str
    prompts: Mapping[str, str]
    speech: Mapping[str, Mapping[str, tuple[str, ...]]]

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
        """The key a spoken answer stands for in a menu, or None."""
        spoken = heard.strip().lower()
        if not spoken:
            return None
        for key, phrases in self.speech.get(menu, {}).items():
            if any(phrase.lower() in spoken for phrase in phrases):
                return key
        return None

    def hints(self, menu: str) -> str:
        return ", ".join(p for phrases in self.speech.get(menu, {}).values() for p in phrases)


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
