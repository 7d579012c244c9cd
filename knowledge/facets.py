"""What a question asks about its topic (申请流程, 材料, 条件, 金额, 时限, 地点, 是什么, 后果), and which section
of a document answers it. The words are data (knowledge/data/facets.tsv)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from knowledge.engine.normalize import fold
from knowledge.engine.tables import FIRST_SECTION, TermTables
from knowledge.ingest import Document, Passage

HEADING_MATCH = 3.0  # a section whose heading names the facet
SPECIAL_CASE = 1.5  # ...less when the heading says it is about a special case (facets.tsv "special")
TEXT_MATCH = 0.5  # per distinct hint word in the section's text (a figure such as #元 counts twice)...
TEXT_MATCH_CAP = 4  # ...counting at most this many
NUMBER = r"\d+(?:\.\d+)?"  # what "#" stands for in a hint word
NEAR_MATCH = 1.0  # a section headed for a near facet (地点 → 申请流程), when none is headed for this one
ANSWERS_FACET = 1.0  # below this, the document has no section for the facet
MAX_FACETS = 2


@dataclass(frozen=True, slots=True)
class Section:
    """A `## ` section of a document: its heading ("" for text under the title) and its passages."""

    heading: str
    passages: tuple[Passage, ...]

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.passages)


def _alternation(words: list[str]) -> re.Pattern[str] | None:
    words = sorted({w for w in words if w}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, words))) if words else None


_RUN = re.compile(r"[\u4e00-\u9fff0-9a-z]+")


def _bigrams(text: str) -> list[str]:
    """Character bigrams of the runs of Chinese characters and digits in a text (folded: simplified, lower)."""
    return [m[i : i + 2] for m in _RUN.findall(fold(text)) for i in range(len(m) - 1)]


class FacetTable:
    def __init__(self, tables: TermTables) -> None:
        self.labels = {facet: kinds["label"][0] for facet, kinds in tables.facets.items()}
        self._ask_facet: dict[str, str] = {}
        self._ask_figures: list[tuple[re.Pattern[str], str]] = []  # 82岁, 800元: a figure says what is asked
        for facet, kinds in tables.facets.items():
            for word in kinds.get("ask", []):
                if "#" in word:
                    self._ask_figures.append((re.compile(re.escape(word).replace("\\#", NUMBER)), facet))
                    continue
                # A word listed for two facets belongs to the first: the file's order decides.
                self._ask_facet.setdefault(word, facet)
        self._ask = _alternation(list(self._ask_facet))
        # A question that is only a topic and a verb (孤儿补助申请, 办残疾证) asks how to get it.
        self._edges = [
            (facet, tuple(kinds.get("ask_start", [])), tuple(kinds.get("ask_end", [])))
            for facet, kinds in tables.facets.items()
        ]
        # Heading words of all facets compete: the longest at a place wins, so 找到工作 (后果) is not 找到 (地点)
        # and 要做什么 (a duty) is not 做什么 (what it is). A word may be listed for several facets.
        self._heading_facets: dict[str, set[str]] = {}
        for facet, kinds in tables.facets.items():
            for word in kinds.get("heading", []):
                self._heading_facets.setdefault(word, set()).add(facet)
        self._heading_words = _alternation(list(self._heading_facets))
        self._heading_cache: dict[str, frozenset[str]] = {}
        self._text = {
            f: [
                (re.compile(re.escape(w).replace("\\#", NUMBER)), 2 if "#" in w else 1)
                for w in dict.fromkeys(k.get("text", []))
            ]
            for f, k in tables.facets.items()
        }
        self._near = {f: tuple(k.get("near", [])) for f, k in tables.facets.items()}
        self._special = {f: _alternation(k.get("special", [])) for f, k in tables.facets.items()}
        self._sections: dict[int, list[Section]] = {}
        self._scores: dict[tuple[int, str], list[float]] = {}
        self._heading_weight: dict[str, float] = {}
        self._default_weight = 0.0
        self._heading_bigrams: dict[int, list[dict[str, float]]] = {}

    def index_headings(self, documents: Iterable[Document]) -> None:
        """Weigh the character bigrams of section headings by how few headings use them: 帮助 or 保密 in a
        heading tells its section apart, 什么 or 怎么 hardly does."""
        df: Counter[str] = Counter()
        headings = {s.heading for d in documents for s in self.sections(d) if s.heading}
        for heading in headings:
            df.update(set(_bigrams(heading)))
        total = len(headings) + 1
        self._heading_weight = {b: math.log(total / n) for b, n in df.items()}
        self._default_weight = math.log(total)
        self._heading_bigrams.clear()

    def echo(self, doc: Document, forms: Iterable[str]) -> list[float]:
        """For each section, the share of its heading (weighted bigrams, leaving out those of the document's
        title, which every section shares) that the question repeats: 消费券可以买哪些服务 and
        消费券能用于哪些服务."""
        per_section = self._heading_bigrams.get(id(doc))
        if per_section is None:
            title = set(_bigrams(doc.title))
            per_section = []
            for section in self.sections(doc):
                own = {b for b in _bigrams(section.heading) if b not in title}
                per_section.append({b: self._heading_weight.get(b, self._default_weight) for b in own})
            self._heading_bigrams[id(doc)] = per_section
        asked = {b for text in forms for b in _bigrams(text)}
        result = []
        for weights in per_section:
            total = sum(weights.values())
            result.append(sum(w for b, w in weights.items() if b in asked) / total if total else 0.0)
        return result

    def asked(self, *texts: str) -> tuple[str, ...]:
        """The facets a question asks, in the order it asks them (at most two). Each text is one form of
        the question (folded, with dialect words in Mandarin): a word found in any form counts."""
        if self._ask is None:
            return ()
        found: list[tuple[int, str]] = []
        for text in texts:
            found += [(m.start(), self._ask_facet[m.group(0)]) for m in self._ask.finditer(text)]
            found += [(m.start(), facet) for pattern, facet in self._ask_figures for m in pattern.finditer(text)]
        facets: list[str] = []
        for _, facet in sorted(found):
            if facet not in facets:
                facets.append(facet)
        if not facets:
            for facet, starts, ends in self._edges:
                for text in texts:
                    bare = text.strip().rstrip("?？!！。.~ 吗呢啊呀")
                    if (starts and bare.startswith(starts)) or (ends and bare.endswith(ends)):
                        return (facet,)
        return tuple(facets[:MAX_FACETS])

    def ask_words_in(self, *texts: str) -> list[str]:
        if self._ask is None:
            return []
        return [m.group(0) for text in texts for m in self._ask.finditer(text)]

    def heading_facets(self, heading: str) -> frozenset[str]:
        """The facets a section heading names (到哪里办、带什么材料: 地点 and 材料)."""
        found = self._heading_cache.get(heading)
        if found is None:
            words = self._heading_words.findall(fold(heading)) if self._heading_words is not None else []
            found = self._heading_cache[heading] = frozenset(f for w in words for f in self._heading_facets[w])
        return found

    def headed(self, doc: Document, facet: str) -> bool:
        """Whether a section heading of the document names the facet."""
        return any(facet in self.heading_facets(s.heading) for s in self.sections(doc))

    def without_ask_words(self, text: str) -> str:
        return self._ask.sub(" ", text) if self._ask is not None else text

    def sections(self, doc: Document) -> list[Section]:
        cached = self._sections.get(id(doc))
        if cached is None:
            groups: list[list[Passage]] = []
            for p in doc.passages:
                if groups and groups[-1][0].section == p.section:
                    groups[-1].append(p)
                else:
                    groups.append([p])
            cached = self._sections[id(doc)] = [Section(g[0].section, tuple(g)) for g in groups]
        return cached

    def scores(self, doc: Document, facet: str) -> list[float]:
        """How well each section of the document answers the facet, by its heading and its text."""
        key = (id(doc), facet)
        cached = self._scores.get(key)
        if cached is None:
            text = self._text.get(facet, [])
            cached = []
            for section in self.sections(doc):
                score = 0.0
                if facet in self.heading_facets(section.heading):
                    special = self._special.get(facet)
                    # 按家里情况补充的材料 answers 要带什么 after 基本材料 does.
                    score = HEADING_MATCH - (SPECIAL_CASE if special and special.search(section.heading) else 0.0)
                hints = sum(weight for pattern, weight in text if pattern.search(section.text))
                score += TEXT_MATCH * min(TEXT_MATCH_CAP, hints)
                cached.append(score)
            if max(cached, default=0.0) < HEADING_MATCH:
                for near in self._near.get(facet, ()):
                    if near == FIRST_SECTION and cached:
                        cached[0] += NEAR_MATCH
                        continue
                    for n, section in enumerate(self.sections(doc)):
                        # ...and only if its text hints at this facet too (a time limit, a place).
                        if near in self.heading_facets(section.heading) and (
                            cached[n] > 0 or not self._text.get(facet)
                        ):
                            cached[n] += NEAR_MATCH
            self._scores[key] = cached
        return cached
