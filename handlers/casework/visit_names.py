"""Which people a visit report is about: names looked up in the worker's roster instead of being cut out of
the text by position, and near misses (a wrong character, a homophone from voice input) offered as
suggestions, never silently replaced. Pure: the caller passes the roster's names."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from knowledge.engine.normalize import to_simplified

# Names are compared one character at a time, so pypinyin's phrase dictionary (about 40 MB) is not needed;
# this must be set before pypinyin is first imported.
os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
from pypinyin import lazy_pinyin

MAX_SUGGESTIONS = 3


@lru_cache(maxsize=8192)
def syllable(char: str) -> str:
    """The toneless pinyin of one character (the character itself when it is not a Han character)."""
    return lazy_pinyin(char)[0] if "\u4e00" <= char <= "\u9fff" else char


def sounds_alike(a: str, b: str) -> bool:
    return len(a) == len(b) and all(syllable(x) == syllable(y) for x, y in zip(a, b, strict=False))


def near_miss(typed: str, name: str) -> bool:
    """`陈贵英` for `陈桂英`: the same sound, or (three characters or more) the same surname and one
    character different. Two-character names need the same sound: one character off is another name."""
    if typed == name or len(typed) != len(name) or len(typed) < 2:
        return False
    if sounds_alike(typed, name):
        return True
    return len(typed) >= 3 and typed[0] == name[0] and sum(x != y for x, y in zip(typed, name, strict=False)) == 1


def _is_han(text: str) -> bool:
    return all("\u4e00" <= c <= "\u9fff" for c in text)


@dataclass(frozen=True)
class Roster:
    """The names of the cases a worker reports on, simplified, longest first."""

    names: tuple[str, ...]
    _by_length: dict[int, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, names: Iterable[str]) -> Roster:
        simple = sorted({to_simplified(n).strip() for n in names if n and n.strip()}, key=len, reverse=True)
        by_length: dict[int, list[str]] = {}
        for name in simple:
            by_length.setdefault(len(name), []).append(name)
        return cls(tuple(simple), {k: tuple(v) for k, v in by_length.items()})

    def __bool__(self) -> bool:
        return bool(self.names)

    def at(self, text: str, pos: int = 0) -> str:
        """The (longest) roster name that starts at `pos`, or ""."""
        for name in self.names:
            if text.startswith(name, pos):
                return name
        return ""

    def mentions(self, text: str) -> tuple[str, ...]:
        """Every roster name in `text`, in order of first mention; a longer name hides a shorter one inside it."""
        found: dict[str, None] = {}
        pos = 0
        while pos < len(text):
            name = self.at(text, pos)
            if name:
                found[name] = None
                pos += len(name)
            else:
                pos += 1
        return tuple(found)

    def near(self, text: str) -> tuple[str, tuple[str, ...]]:
        """A near miss of roster names at the start of `text`: (the characters typed, the roster names they
        may mean), or ("", ()) when nothing is close."""
        for length in sorted(self._by_length, reverse=True):
            typed = text[:length]
            if len(typed) < length or not _is_han(typed):
                continue
            close = tuple(n for n in self._by_length[length] if near_miss(typed, n))
            if close:
                return typed, close[:MAX_SUGGESTIONS]
        return "", ()
