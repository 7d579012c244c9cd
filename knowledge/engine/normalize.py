"""Text normalisation shared by documents and questions.

Order: width folding (NFKC) → traditional to simplified (OpenCC) → lower case → typo, dialect and
alias tables (longest match first) → for questions, near-miss homophones of policy terms.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache

import opencc

# Only single characters are looked up: pypinyin's phrase dictionary would cost ~40 MB for nothing.
os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")

from knowledge.engine.tables import TermTables

_T2S = opencc.OpenCC("t2s")
# Punctuation and symbols become spaces, so they split words but never match.
_PUNCT = re.compile(r"[^\w\u4e00-\u9fff]+")


# Ages and counts said in words (八十岁, 七十五了, 一百岁) become digits, as documents write them (80周岁).
_DIGIT = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SPOKEN_NUMBER = re.compile(r"([一二两三四五六七八九]?十[一二三四五六七八九]?|[一二两三四五六七八九]百零?"
                            r"(?:[一二三四五六七八九]?十)?[一二三四五六七八九]?)(?=周?岁|多岁|几岁|了|多)")


def _number_value(words: str) -> int:
    value = 0
    if "百" in words:
        hundreds, words = words.split("百", 1)
        value += _DIGIT[hundreds] * 100
        words = words.lstrip("零")
    if "十" in words:
        tens, words = words.split("十", 1)
        value += (_DIGIT[tens] if tens else 1) * 10
    return value + (_DIGIT[words] if words else 0)


def spoken_numbers(text: str) -> str:
    return _SPOKEN_NUMBER.sub(lambda m: str(_number_value(m.group(1))), text) if "十" in text or "百" in text else text


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


def _fuzzy(syllable: str) -> str:
    """A syllable as Guangdong speakers often say and type it: zh/ch/sh as z/c/s, l as n, -ng as -n
    (投述 for 投诉, 申亲 for 申请)."""
    if syllable[:2] in ("zh", "ch", "sh"):
        syllable = syllable[0] + syllable[2:]
    elif syllable[:1] == "l":
        syllable = "n" + syllable[1:]
    return syllable[:-1] if syllable.endswith("ng") else syllable


@lru_cache(maxsize=8192)
def _pinyin(ch: str) -> str:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(ch)[0] if "\u4e00" <= ch <= "\u9fff" else ch


class Normalizer:
    """Folding and table replacement. Typo correction works on words, never inside them: the caller
    segments the question first (`correct`), so 当地保险 is 当地/保险 and stays as it is."""

    def __init__(self, tables: TermTables, known_word: Callable[[str], bool] | None = None) -> None:
        self.tables = tables
        # Canonical terms and policy terms map to themselves so that a shorter alias inside them
        # (长者 inside 长者饭堂) cannot break them apart.
        protected = {t: t for t in [*tables.domain_terms, *tables.synonyms.values()]}
        self._spoken = Replacer({**{k: v for k, v in protected.items() if k not in tables.dialect},
                                 **tables.dialect})
        self._aliases = Replacer({**protected, **tables.synonyms})
        self._known_word = known_word or (lambda w: False)
        self._joinable = {*tables.domain_terms, *tables.synonyms, *tables.synonyms.values()}
        # Words of other offices' topics and of danger are corrected too (失叶金 → 失业金, 家爆 → 家暴).
        outside = [w for table in (tables.referrals, tables.emergencies) for row in table.values() for w in row.words]
        # ...and the generic process words (申情 → 申请, 投述 → 投诉), and the aliases (长期护里险 → 长期护理险).
        self._terms = {*tables.domain_terms, *tables.synonyms, *tables.synonyms.values(), *outside,
                       *tables.generic_words}
        # (length, blurred pinyin) → [(term, exact pinyin)]: one lookup per span finds both kinds of typo.
        self._sound_index: dict[tuple[int, str], list[tuple[str, str]]] = {}
        for term in self._terms:
            if 2 <= len(term) <= 6 and all("\u4e00" <= c <= "\u9fff" for c in term):
                key = (len(term), " ".join(_blurred(c) for c in term))
                self._sound_index.setdefault(key, []).append((term, " ".join(_pinyin(c) for c in term)))
        # Words no document uses (set by the knowledge base once its index is built): a typo that happens to be
        # a word (分散共养 for 分散供养) is corrected like a stray character.
        self.unknown: Callable[[str], bool] = lambda w: False
        self._term_lengths = sorted({k[0] for k in self._sound_index}, reverse=True)

    def spoken(self, text: str) -> str:
        """Folded, with colloquial and Cantonese words in Mandarin and spoken ages in digits."""
        return spoken_numbers(self._spoken(fold(text)))

    def join_particles(self, text: str) -> str:
        """Speech puts 的 inside policy terms (高龄的补贴, 残疾人的补贴): drop it where the words on both sides
        make a known term or alias."""
        if "的" not in text:
            return text
        known = self._joinable
        out = text
        for i in reversed([i for i, ch in enumerate(text) if ch == "的"]):
            for left in range(min(4, i), 0, -1):
                if any(out[i - left : i] + out[i + 1 : i + 1 + right] in known for right in range(1, 5)):
                    out = out[:i] + out[i + 1 :]
                    break
        return out

    def aliases(self, text: str) -> str:
        return self._aliases(text)

    def document(self, text: str) -> str:
        return self._aliases(self._spoken(fold(text)))

    def correct(self, words: Iterable[str]) -> str:
        """Rejoin segmented words, fixing listed typos (whole words only) and spans that sound
        like a policy term (抵/保 → 低保, 特困/人/圆 → 特困人员), exactly or as Guangdong speakers blur the sounds
        (投/述 → 投诉). A span starts and ends at word borders and contains a stray single character or a word no
        document uses (分散/共养 → 分散供养), so real words (当地/保险) are never cut or changed."""
        tokens = [self.tables.typos.get(w, w) for w in words]
        text = "".join(tokens)
        stop, unknown = self.tables.stopwords, self.unknown
        stray = [
            ("\u4e00" <= t <= "\u9fff" and t not in stop)
            if len(t) == 1
            else (len(t) == 2 and "\u4e00" <= t[0] <= "\u9fff" and unknown(t) and t not in stop)
            for t in tokens
        ]
        if not self._sound_index or not any(stray):
            return text
        starts, strays_before = [0], [0]  # prefix sums: character offsets and stray counts
        for t, is_stray in zip(tokens, stray, strict=False):
            starts.append(starts[-1] + len(t))
            strays_before.append(strays_before[-1] + is_stray)
        longest = self._term_lengths[0]
        out: list[str] = []
        n = 0
        while n < len(tokens):
            i = starts[n]
            for m in range(min(len(tokens), n + longest), n, -1):  # longest span first
                length = starts[m] - i
                if not 2 <= length <= longest or strays_before[m] == strays_before[n]:
                    continue
                chunk = text[i : i + length]
                if chunk in self._terms or self._known_word(chunk):
                    continue
                similar = self._sound_index.get((length, " ".join(_blurred(c) for c in chunk)))
                if similar:
                    exact = " ".join(_pinyin(c) for c in chunk)
                    candidates = [t for t, sound in similar if sound == exact] or [t for t, _ in similar]
                    # Prefer the term sharing the most characters with what was typed.
                    best = max(candidates, key=lambda t: sum(a == b for a, b in zip(t, chunk, strict=False)))
                    if sum(a == b for a, b in zip(best, chunk, strict=False)) >= length - max(1, length // 3):
                        out.append(best)
                        n = m
                        break
            else:
                out.append(tokens[n])
                n += 1
        return "".join(out)


@lru_cache(maxsize=8192)
def _blurred(ch: str) -> str:
    return _fuzzy(_pinyin(ch))


def strip_punctuation(text: str) -> str:
    return _PUNCT.sub(" ", text)
