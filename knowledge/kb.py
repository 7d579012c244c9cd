"""KnowledgeBase: documents → passage index → ranked hits → cited answers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.engine.index import BM25Index
from knowledge.engine.tables import TermTables
from knowledge.engine.tokenize import Analyzer, Tokens
from knowledge.ingest import Document, Passage, load_tree

BUILTIN_DOCS = Path(__file__).resolve().parent / "docs"
MAX_QUESTION_CHARS = 500

# Ranking knobs, chosen by `shegong kb eval` on the development and project question sets.
HEADING_WEIGHT = 2.0  # a word in the title or section heading counts this many times
BIGRAM_WEIGHT = 0.5  # character bigrams back up the word match
SECOND_PASSAGE = 0.5  # a document whose other passages also match ranks a little higher
LEAD_PASSAGE_SHARE = 0.85  # show an earlier passage of the document if it scores this close to the best
SAME_CITY, OTHER_CITY, CITY_UNKNOWN = 1.2, 0.75, 0.95
MIN_COVERAGE = 0.5  # share of the question's information the best document must contain...
MIN_COVERAGE_WITH_TERM = 0.1  # ...or less, when it matched a policy term from the domain dictionary
MIN_SCORE = 1.0


@dataclass(frozen=True, slots=True)
class Hit:
    """One document's best passage for a question."""

    path: str
    title: str
    score: float
    text: str
    passage: Passage
    coverage: float
    matched_term: bool = False  # the document contains a policy term the question used

    @property
    def document(self) -> Document:
        return self.passage.doc


class KnowledgeBase:
    def __init__(self, documents: Sequence[Document], tables: TermTables | None = None) -> None:
        started = time.perf_counter()
        self.tables = tables or TermTables.load()
        self.analyzer = Analyzer(self.tables)
        self._policy_terms = {*self.tables.domain_terms, *self.tables.synonyms.values()}
        self.documents = list(documents)
        self.passages: list[Passage] = [p for d in self.documents for p in d.passages]
        word_docs: list[Counter[str]] = []
        bigram_docs: list[Counter[str]] = []
        self._doc_words: dict[str, set[str]] = {}
        self._doc_bigrams: dict[str, set[str]] = {}
        heading_cache: dict[tuple[str, ...], Tokens] = {}
        for p in self.passages:
            head_key = (p.doc.title, *p.headings)
            head = heading_cache.get(head_key)
            if head is None:
                head = heading_cache[head_key] = self.analyzer.document(" ".join(head_key))
            body = self.analyzer.document(p.text)
            words = Counter(body.words)
            bigrams = Counter(body.bigrams)
            for w in head.words:
                words[w] += HEADING_WEIGHT
            for b in head.bigrams:
                bigrams[b] += HEADING_WEIGHT
            word_docs.append(words)
            bigram_docs.append(bigrams)
            self._doc_words.setdefault(p.path, set()).update(words)
            self._doc_bigrams.setdefault(p.path, set()).update(bigrams)
        self.words = BM25Index(word_docs)
        self.bigrams = BM25Index(bigram_docs)
        self._doc_of = np.array([self._doc_number(p.doc) for p in self.passages], dtype=np.int32)
        cities = set(self.tables.cities.values())
        self._region = [p.doc.region if p.doc.region in cities else "" for p in self.passages]
        self._region_factor_cache: dict[str, np.ndarray] = {}
        self.build_seconds = time.perf_counter() - started

    def _doc_number(self, doc: Document) -> int:
        if not hasattr(self, "_doc_index"):
            self._doc_index = {id(d): n for n, d in enumerate(self.documents)}
        return self._doc_index[id(doc)]

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_path(cls, *roots: str | Path, tables: TermTables | None = None) -> KnowledgeBase:
        docs: list[Document] = []
        for root in roots:
            docs.extend(load_tree(Path(root)).documents)
        return cls(docs, tables)

    @classmethod
    def builtin(cls, extra: Iterable[Document] = ()) -> KnowledgeBase:
        return cls([*load_tree(BUILTIN_DOCS).documents, *extra])

    # -- retrieval --------------------------------------------------------------------------
    def city_in(self, text: str) -> str:
        """The Guangdong city a question names, if any (canonical form, e.g. 广州市)."""
        folded = self.analyzer.normalizer.document(text)
        for alias in sorted(self.tables.cities, key=len, reverse=True):
            if len(alias) >= 2 and alias in folded:
                return self.tables.cities[alias]
        return ""

    def _region_factors(self, city: str) -> np.ndarray:
        if city not in self._region_factor_cache:
            factors = np.ones(len(self.passages), dtype=np.float32)
            for n, region in enumerate(self._region):
                if region:
                    factors[n] = CITY_UNKNOWN if not city else SAME_CITY if region == city else OTHER_CITY
            self._region_factor_cache[city] = factors
        return self._region_factor_cache[city]

    def search(self, question: str, k: int = 3, city: str = "") -> list[Hit]:
        """The k best documents for a question, each with its best passage, best first."""
        if not self.passages:
            return []
        tokens = self.analyzer.question(question[:MAX_QUESTION_CHARS])
        if not tokens.words and not tokens.bigrams:
            return []
        scores = np.zeros(len(self.passages), dtype=np.float32)
        self.words.accumulate(scores, tokens.words)
        self.bigrams.accumulate(scores, tokens.bigrams, BIGRAM_WEIGHT)
        if any(self._region):
            scores *= self._region_factors(city or self.city_in(question))
        top = _top_indices(scores, max(8 * k, 24))
        best: dict[int, tuple[float, int]] = {}  # doc number → (aggregated score, best passage)
        seconds: dict[int, float] = {}
        for idx in top:
            score = float(scores[idx])
            if score <= 0:
                break
            doc = int(self._doc_of[idx])
            if doc not in best:
                best[doc] = (score, int(idx))
            elif doc not in seconds:
                seconds[doc] = score
        ranked = sorted(((s + SECOND_PASSAGE * seconds.get(d, 0.0), self._lead_passage(scores, p))
                         for d, (s, p) in best.items()), reverse=True)
        hits = []
        for score, idx in ranked[:k]:
            p = self.passages[idx]
            coverage, term = self._coverage(tokens, p.path)
            hits.append(Hit(p.path, p.doc.title, round(score, 4), p.text, p, coverage, term))
        return hits

    def _lead_passage(self, scores: np.ndarray, best: int) -> int:
        """Among a document's passages scoring close to its best, the earliest: it usually
        introduces the topic the question is about."""
        doc = self.passages[best].doc
        start = best - self.passages[best].number
        for idx in range(start, start + len(doc.passages)):
            if scores[idx] >= LEAD_PASSAGE_SHARE * scores[best]:
                return idx
        return best

    def _coverage(self, tokens: Tokens, path: str) -> tuple[float, bool]:
        """Share of the question's information (idf-weighted words) found in the document, and
        whether one of the words found is a policy term."""
        words, bigrams = self._doc_words[path], self._doc_bigrams[path]
        total = found = 0.0
        term = False
        for w in set(tokens.words) - self.tables.soft_words:
            weight = self.words.idf_of(w)
            total += weight
            if w in words or (len(w) > 1 and all(w[i : i + 2] in bigrams for i in range(len(w) - 1))):
                found += weight
                term = term or w in self._policy_terms
        return (found / total if total else 0.0), term

    def is_confident(self, hit: Hit) -> bool:
        if hit.score < MIN_SCORE:
            return False
        return hit.coverage >= MIN_COVERAGE or (hit.matched_term and hit.coverage >= MIN_COVERAGE_WITH_TERM)

    def answer(self, question: str, city: str = "", detailed: bool | None = None):  # noqa: ANN201
        from knowledge.answer import compose

        return compose(self, question, city=city, detailed=detailed)


def _top_indices(scores: np.ndarray, n: int) -> np.ndarray:
    if len(scores) <= n:
        return np.argsort(-scores)
    part = np.argpartition(-scores, n)[:n]
    return part[np.argsort(-scores[part])]
