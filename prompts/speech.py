"""What a caller's words stand for at a menu: pure rules over the catalogue's phrase lists.

Words, not letters. Text is normalised (NFKC folds full-width forms, case is folded, curly
apostrophes are straightened, English contractions are spelled out: "don't" is "do not")
and cut into words: an English word is a run of letters and digits, and each Han character
is a word of its own, since Chinese is written without spaces. A phrase matches a run of
whole words, so "no" is never found in "know" and "yes" never in "yesterday". Where several
phrases start at a word the longest wins, so 没错 ("that's right") is read before 没 ("not"),
不是 before 是, 对不对 (a question) before 对, and "don't call me" before "not". Clause
punctuation (, . ; : ! ? 。 and their full-width forms) ends a clause and no phrase runs
across one; a question mark is itself a word that asks again.

At a read-back ("1" yes, "2" no) the answer is yes only when a yes phrase was heard and
nothing else that counts: a "?" phrase (a question, a hedge, a word whose characters would
mislead) or a question mark asks again; any "2" phrase (a negation, a no, "change") makes it
a no at a money read-back, where no is the safe answer. At the opt-out read-back neither
answer is safe (keeping calls the caller asked to stop is the harm), so words for both ask
again there. Nothing known asks again.

At other menus the words must name one option: words for two options, or for none, ask
again, so "I want a payment arrangement" (one phrase for 3) is the arrangement menu while
"pay my balance with a plan" (2 and 3) is asked again rather than guessed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

YES, NO = "1", "2"
AGAIN = "?"  # not a key on the phone: a phrase under "?" means "ask again"
QUESTION_MARK = "?"  # the word a written question mark becomes
# Read-back menus, and what words for both yes and no mean there.
READ_BACKS: Mapping[str, str | None] = {"confirm": NO, "optout": None}
# A menu that also hears another's phrases: the opt-out read-back hears every yes and no.
BASES: Mapping[str, str] = {"optout": "confirm"}

# Words that negate the word after them, rather than answer on their own as "no" does:
# "no, don't call me" is both a no and a stop, but "not correct" is only a no.
_NEGATING = frozenset({("not",), ("never",), ("不",), ("没",), ("别",), ("未",)})
_CLAUSE_ENDS = frozenset(",.;:!?。、…—")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
# Contractions as recognisers write them, with and without the apostrophe; any other
# "...n't" is "... not" by rule.
_SPELLED_OUT = {
    "can't": ("can", "not"),
    "cant": ("can", "not"),
    "cannot": ("can", "not"),
    "won't": ("will", "not"),
    "shan't": ("shall", "not"),
    "ain't": ("is", "not"),
    "aint": ("is", "not"),
    **{
        stem + "nt": (stem, "not")
        for stem in (
            "do",
            "does",
            "did",
            "is",
            "was",
            "are",
            "were",
            "could",
            "would",
            "should",
            "have",
            "has",
            "had",
        )
    },
}


class PhraseError(ValueError):
    """A phrase list that cannot be read unambiguously (empty, or one phrase, two keys)."""


def _is_han(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3FFFF
    )


def _words_of(word: str) -> tuple[str, ...]:
    word = word.strip("'")
    if not word:
        return ()
    if word in _SPELLED_OUT:
        return _SPELLED_OUT[word]
    if word.endswith("n't") and len(word) > 3:
        return (word[:-3], "not")
    return (word,)


@dataclass(frozen=True)
class Clause:
    words: tuple[str, ...]
    # Where a phrase may not end: inside a spelled-out contraction, so "please do" is not
    # heard in "please don't".
    glued: frozenset[int] = frozenset()


def read(text: str) -> list[Clause]:
    """The words of `text`, clause by clause (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    found: list[Clause] = []
    clause: list[str] = []
    glued: set[int] = set()
    word: list[str] = []

    def end_word() -> None:
        parts = _words_of("".join(word))
        clause.extend(parts)
        if len(parts) > 1:
            glued.update(range(len(clause) - len(parts) + 1, len(clause)))
        word.clear()

    def end_clause() -> None:
        end_word()
        if clause:
            found.append(Clause(tuple(clause), frozenset(glued)))
        clause.clear()
        glued.clear()

    for char in folded:
        if _is_han(char):
            end_word()
            clause.append(char)
        elif char.isalnum() or (char == "'" and word):
            word.append(char)
        elif char in _CLAUSE_ENDS:
            end_word()
            if char == "?":
                clause.append(QUESTION_MARK)
            end_clause()
        else:  # spaces, hyphens ("uh-huh"), quotes, symbols: between words
            end_word()
    end_clause()
    return found


def clauses(text: str) -> list[tuple[str, ...]]:
    return [clause.words for clause in read(text)]


def words(text: str) -> tuple[str, ...]:
    """All the words of `text`, clauses run together."""
    return tuple(w for clause in clauses(text) for w in clause)


@dataclass(frozen=True)
class Lexicon:
    """One menu's phrases as word sequences, each standing for one key (or AGAIN)."""

    menu: str
    phrases: Mapping[tuple[str, ...], str]
    longest: int

    @classmethod
    def build(cls, menu: str, tables: Iterable[Mapping[str, Sequence[str]]]) -> Lexicon:
        phrases: dict[tuple[str, ...], str] = {}
        for table in tables:
            for key, listed in table.items():
                for phrase in listed:
                    parts = clauses(phrase)
                    if len(parts) != 1:
                        raise PhraseError(f"{menu}: {phrase!r} is not one phrase")
                    seen = phrases.setdefault(parts[0], key)
                    if seen != key:
                        raise PhraseError(f"{menu}: {phrase!r} stands for both {seen} and {key}")
        return cls(menu, phrases, max(map(len, phrases), default=0))

    def keys_heard(self, text: str) -> list[str]:
        """The key of each phrase found in `text`, longest phrase first at each word; a yes
        phrase right after a negating word ("not correct", 不确认) is part of that no."""
        found: list[str] = []
        read_back = self.menu in READ_BACKS  # elsewhere "2" is an option, not a no
        for clause in read(text):
            spoken = clause.words
            at, negating = 0, False
            while at < len(spoken):
                for size in range(min(self.longest, len(spoken) - at), 0, -1):
                    phrase = spoken[at : at + size]
                    key = self.phrases.get(phrase)
                    if key is not None and at + size not in clause.glued:
                        if not (negating and key == YES):
                            found.append(key)
                        negating = read_back and key == NO and phrase in _NEGATING
                        at += size
                        break
                else:
                    if spoken[at] == QUESTION_MARK:
                        found.append(AGAIN)
                    negating = False
                    at += 1
        return found

    def choose(self, text: str) -> str | None:
        """The key `text` stands for at this menu, or None to ask again."""
        heard = set(self.keys_heard(text))
        if self.menu in READ_BACKS:
            if AGAIN in heard:
                return None
            if NO in heard:
                return NO if heard == {NO} else READ_BACKS[self.menu]
            return YES if heard == {YES} else None
        heard.discard(AGAIN)
        return heard.pop() if len(heard) == 1 else None
