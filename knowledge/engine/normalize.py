"""Text normalisation shared by documents and questions.

Order: width folding (NFKC) → traditional to simplified (OpenCC) → lower case → typo, dialect and
alias tables (longest match first) → for questions, near-miss homophones of policy terms.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

from knowledge.engine.tables import TermTables

_T2S = opencc.OpenCC("t2s")
# Punctuation and symbols become spaces, so they split words but never match.
_PUNCT = re.compile(r"[^\w\u4e00-\u9fff]+")


def to_simplified(text: str) -> str:
    return _T2S.convert(unicodedata.normalize("NFKC", text))


def fold(text: str) -> str:
    """Width, script and case folding; keeps characters one-to-one where it can."""
    return to_simplified(text).lower()


class Replacer:
    """Longest-match, single-pass replacement of many literal keys."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping
        keys = sorted(mapping, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, keys))) if keys else None

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda m: self.mapping[m.group(0)], text)


@lru_cache(maxsize=8192)
def _pinyin(ch: str) -> str:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(ch)[0] if "\u4e00" <= ch <= "\u9fff" else ch


class Normalizer:
    def __init__(self, tables: TermTables, known_word=None) -> None:  # noqa: ANN001
        self.tables = tables
        # Canonical terms and policy terms map to themselves so that a shorter alias inside them
        # (长者 inside 长者饭堂) cannot break them apart.
        protected = {t: t for t in [*tables.domain_terms, *tables.synonyms.values()]}
        colloquial = {**protected, **{k: v for k, v in tables.synonyms.items()}}
        self._spoken = Replacer({**{k: v for k, v in protected.items() if k not in tables.dialect},
                                 **tables.typos, **tables.dialect})
        self._aliases = Replacer(colloquial)
        self._known_word = known_word or (lambda w: False)
        self._sound_index: dict[tuple[int, str], list[str]] = {}
        for term in {*tables.domain_terms, *tables.synonyms.values()}:
            if 2 <= len(term) <= 6 and all("\u4e00" <= c <= "\u9fff" for c in term):
                key = (len(term), " ".join(_pinyin(c) for c in term))
                self._sound_index.setdefault(key, []).append(term)
        self._term_lengths = sorted({k[0] for k in self._sound_index}, reverse=True)
        self._terms = {*tables.domain_terms, *tables.synonyms.values()}

    def document(self, text: str) -> str:
        return self._aliases(self._spoken(fold(text)))

    def question(self, text: str) -> str:
        return self._aliases(self._fix_homophones(self._spoken(fold(text))))

    def _fix_homophones(self, text: str) -> str:
        """Replace a run that sounds exactly like a policy term but is not a word (抵保 → 低保)."""
        if not self._sound_index:
            return text
        sounds = [_pinyin(c) for c in text]
        out, i = [], 0
        while i < len(text):
            for length in self._term_lengths:
                chunk = text[i : i + length]
                if len(chunk) < length or chunk in self._terms or self._known_word(chunk):
                    continue
                candidates = self._sound_index.get((length, " ".join(sounds[i : i + length])))
                if candidates:
                    # Prefer the term sharing the most characters with what was typed.
                    best = max(candidates, key=lambda t: sum(a == b for a, b in zip(t, chunk)))
                    if sum(a == b for a, b in zip(best, chunk)) >= length - max(1, length // 3):
                        out.append(best)
                        i += length
                        break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)


def strip_punctuation(text: str) -> str:
    return _PUNCT.sub(" ", text)
