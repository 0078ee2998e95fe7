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

At a read-back ("1" yes, "2" no) the answer is yes only when the whole utterance is yes
phrases and fillers ("_": please, thanks, I, that is, 请, 谢谢, 我): one word that no list
holds ("stop", "later", 贵, 多少) asks again, as does a "?" phrase (a question, a hedge) or
a question mark. A one-character Han yes (好, 是, 对, 行) is a yes only standing alone,
between the clause's ends and other yeses: in 好贵, 是多少, 对于, 对你们, 是我 it is part of
another word, so it means nothing known. Any "2" phrase (a negation, a no, "change") makes
it a no at a money read-back, where no is the safe answer, whatever else was said. At the
opt-out read-back neither answer is safe (keeping calls the caller asked to stop is the
harm): only a whole no keeps the calls, and words for both, or any unknown word, ask again.
There a negation (not, never, 不, 别, 不要, 不想 ...) reaches over fillers to the next
phrase: before a keep phrase it is a stop ("don't keep calling me", 不要继续打了); before a
stop phrase a keep ("don't stop calling", 别停止), except 不要, which may be a no of its own
(不要停止 may be "不要，停止", "no, stop") and so asks again, as "no keep calling" does.
能不能, 要不要 (a word, 不 or 没, the word again) are questions, not negations.

At other menus the words must name one option: words for two options, or for none, ask
again, so "I want a payment arrangement" (one phrase for 3) is the arrangement menu while
"pay my balance with a plan" (2 and 3) is asked again rather than guessed. An option after a
negation in its clause ("I don't want to pay", 不要转人工, "no chinese") is not chosen: the
menu asks again.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

YES, NO = "1", "2"
AGAIN = "?"  # not a key on the phone: a phrase under "?" means "ask again"
FILLER = "_"  # nor this: a phrase under "_" says nothing on its own (please, thanks, I)
NEGATED = "!"  # what a menu option under a negation counts as: ask again
QUESTION_MARK = "?"  # the word a written question mark becomes
# Read-back menus, and what words for both yes and no mean there.
READ_BACKS: Mapping[str, str | None] = {"confirm": NO, "optout": None}
# A menu that also hears another's phrases: the opt-out read-back hears every yes and no.
BASES: Mapping[str, str] = {"optout": "confirm"}

# Words that negate the word after them, rather than answer on their own as "no" does:
# "no, don't call me" is both a no and a stop, but "not correct" is only a no.
_NEGATING = frozenset({("not",), ("never",), ("不",), ("没",), ("别",), ("未",)})
# Words for "don't want" that are also a no on their own (不要! "no!").
_WISHING = frozenset({("不", "要"), ("不", "想"), ("不", "用")})
# A no of its own: run into a keep phrase ("no keep calling") it may be a keep or a stop.
_STANDALONE = frozenset({("no",)})
# At a menu, where no phrase lists them: "no chinese" is a negation too.
_MENU_NEGATING = _NEGATING | {("no",)}
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


# A phrase's reading in one clause: its words and its key, or UNKNOWN for a word no list holds.
UNKNOWN = None
Item = tuple[tuple[str, ...], str | None]


@dataclass(frozen=True)
class Lexicon:
    """One menu's phrases as word sequences, each standing for one key (or AGAIN, FILLER)."""

    menu: str
    phrases: Mapping[tuple[str, ...], str]
    longest: int
    # A read-back's own "2" phrases over its base's ("keep calling" at the opt-out): what a
    # negation turns into a "1" there.
    flips: frozenset[tuple[str, ...]] = frozenset()
    # Its own "1" phrases ("stop calling"), which 不要 before them leaves ambiguous.
    own_yes: frozenset[tuple[str, ...]] = frozenset()

    @classmethod
    def build(cls, menu: str, tables: Iterable[Mapping[str, Sequence[str]]]) -> Lexicon:
        """`tables` in order, the menu's own last (after its base's, see BASES)."""
        phrases: dict[tuple[str, ...], str] = {}
        own: dict[tuple[str, ...], str] = {}
        for table in tables:
            own = {}
            for key, listed in table.items():
                for phrase in listed:
                    parts = clauses(phrase)
                    if len(parts) != 1:
                        raise PhraseError(f"{menu}: {phrase!r} is not one phrase")
                    seen = phrases.setdefault(parts[0], key)
                    if seen != key:
                        raise PhraseError(f"{menu}: {phrase!r} stands for both {seen} and {key}")
                    own[parts[0]] = key
        based = menu in BASES
        return cls(
            menu,
            phrases,
            max(map(len, phrases), default=0),
            frozenset(p for p, k in own.items() if k == NO) if based else frozenset(),
            frozenset(p for p, k in own.items() if k == YES) if based else frozenset(),
        )

    def items(self, clause: Clause) -> list[Item]:
        """The clause cut into phrases, the longest first at each word; a word no phrase
        starts with is UNKNOWN, a question mark or an A不A question (能不能) is AGAIN."""
        spoken = clause.words
        found: list[Item] = []
        at = 0
        while at < len(spoken):
            phrase: tuple[str, ...] = ()
            key: str | None = UNKNOWN
            for size in range(min(self.longest, len(spoken) - at), 0, -1):
                candidate = spoken[at : at + size]
                key = self.phrases.get(candidate)
                # Only a filler may end inside a contraction: "do" of "don't" says nothing.
                if key is not None and (key == FILLER or at + size not in clause.glued):
                    phrase = candidate
                    break
            if len(phrase) < 3 and _asks_either(spoken[at : at + 3]):
                phrase, key = spoken[at : at + 3], AGAIN
            elif not phrase:
                phrase = spoken[at : at + 1]
                key = AGAIN if phrase == (QUESTION_MARK,) else UNKNOWN
            found.append((phrase, key))
            at += len(phrase)
        return found

    def keys_heard(self, text: str) -> list[str | None]:
        """What each phrase of `text` counts for at this menu, fillers left out; UNKNOWN
        for each word no list holds (see the module docstring)."""
        read_back = self.menu in READ_BACKS
        heard: list[str | None] = []
        for clause in read(text):
            found = self.items(clause)
            heard.extend(self._read_back(found) if read_back else self._menu(found))
        return heard

    def _read_back(self, found: list[Item]) -> list[str | None]:
        # A one-character Han yes (好, 是, 对) is a yes only standing alone: between the
        # clause's ends and other yeses. Next to anything else it is part of another word
        # (好贵, 是多少, 对于, 对你们, 是我) and means nothing known.
        alone = False
        while not alone:  # until no yes is left next to something else (是是吧)
            alone = True
            for i, (phrase, key) in enumerate(found):
                if (
                    key == YES
                    and len(phrase) == 1
                    and _is_han(phrase[0][0])
                    and any(n is not None and n[1] != YES for n in _neighbours(found, i))
                ):
                    found[i], alone = (phrase, UNKNOWN), False
        heard: list[str | None] = []
        at = 0
        while at < len(found):
            phrase, key = found[at]
            at += 1
            if key == FILLER:
                continue
            negator = phrase in _NEGATING or phrase in _WISHING
            if not negator:
                heard.append(key)
                if phrase in _STANDALONE and self._negates(found, at) in self.flips:
                    # "no keep calling": "no, keep calling", or half of "no, do not keep
                    # calling"? Both, so it asks again.
                    heard.append(YES)
                continue
            target = self._scope(found, at)
            negated, negated_key = found[target] if target < len(found) else ((), FILLER)
            if negated_key == YES:
                # "not correct", 不确认 are a no; but 不要停止 may be 不要，停止 ("no, stop"):
                # at the opt-out a 不要 before a stop phrase is both, so it asks again.
                heard.append(NO)
                if phrase in _WISHING and negated in self.own_yes:
                    heard.append(YES)
                at = target + 1
            elif negated in self.flips:
                # "don't keep calling", 不要继续打: not keeping the calls is stopping them.
                heard.append(YES)
                at = target + 1
            else:
                heard.append(NO)
        return heard

    @staticmethod
    def _scope(found: Sequence[Item], at: int) -> int:
        """Where the phrase a negation before `at` negates is: the next but fillers
        ("don't WANT TO keep calling")."""
        while at < len(found) and found[at][1] == FILLER:
            at += 1
        return at

    def _negates(self, found: Sequence[Item], at: int) -> tuple[str, ...]:
        target = self._scope(found, at)
        return found[target][0] if target < len(found) else ()

    def _menu(self, found: list[Item]) -> list[str | None]:
        # A negation puts every option after it in its clause out of reach ("I don't want to
        # pay", 不要转人工, "no chinese"): NEGATED makes the menu ask again.
        heard: list[str | None] = []
        negating = False
        for phrase, key in found:
            if key is UNKNOWN:
                negating = negating or phrase in _MENU_NEGATING
            elif key not in (AGAIN, FILLER):
                heard.append(NEGATED if negating else key)
        return heard

    def choose(self, text: str) -> str | None:
        """The key `text` stands for at this menu, or None to ask again."""
        heard = set(self.keys_heard(text))
        if self.menu in READ_BACKS:
            # A no anywhere is a no where no is the safe answer (a money read-back).
            if NO in heard and READ_BACKS[self.menu] == NO:
                return NO
            if heard == {NO}:
                return NO
            # A yes only when nothing but yeses (and fillers) was said.
            return YES if heard == {YES} else None
        if NEGATED in heard:
            return None
        return heard.pop() if len(heard) == 1 else None


def _neighbours(found: Sequence[Item], i: int) -> tuple[Item | None, Item | None]:
    return (found[i - 1] if i > 0 else None, found[i + 1] if i + 1 < len(found) else None)


def _asks_either(three: tuple[str, ...]) -> bool:
    """能不能, 要不要, 有没有: a word, 不 or 没, the word again is a question."""
    return (
        len(three) == 3
        and three[1] in ("不", "没")
        and three[0] == three[2]
        and _is_han(three[0][0])
    )
