"""KnowledgeBase: documents → passage index → ranked hits → cited answers."""

from __future__ import annotations

import re
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.answer import Answer, compose  # answer.py needs kb only for type hints
from knowledge.engine.index import PostingsBuilder, score
from knowledge.engine.normalize import fold
from knowledge.engine.tables import TermTables
from knowledge.engine.tokenize import Analyzer, Tokens
from knowledge.facets import FacetTable
from knowledge.ingest import Document, Passage, load_tree
from knowledge.referral import Referrals

BUILTIN_DOCS = Path(__file__).resolve().parent / "docs"
MAX_QUESTION_CHARS = 500

# Ranking knobs, chosen by `shegong kb eval` on the development and project question sets.
HEADING_WEIGHT = 2.0  # a word in the title or section heading counts this many times
BIGRAM_WEIGHT = 0.5  # character bigrams back up the word match
TOPIC_IN_TITLE = 0.3  # a document whose title names all the question's policy terms scores this much more
# Documents are ordered by score × (1 − COVERAGE_RANK + COVERAGE_RANK × coverage): of close candidates, the one
# containing more of the question's information (危房改造 and 补贴, not only 多少钱) comes first. The one after the
# k-th is looked at too, so that it can move up.
COVERAGE_RANK = 0.6
SECOND_PASSAGE = 0.5  # a document whose other passages also match ranks a little higher
LEAD_PASSAGE_SHARE = 0.85  # show an earlier passage of the document if it scores this close to the best
SAME_CITY, OTHER_CITY, CITY_UNKNOWN = 1.2, 0.75, 0.95
MIN_COVERAGE = 0.5  # share of the question's information the best document must contain...
MIN_COVERAGE_WITH_TERM = 0.1  # ...or less, when it matched a policy term from the domain dictionary
MIN_SCORE = 1.0
# (coverage, score, lead over the second document): a document this far ahead answers with less coverage. The
# margins were halved (1.3 → 1.15…) once coverage re-ranks close documents: docs/benchmarks.md has the curve.
CLEAR_LEADS = ((0.2, 20.0, 1.15), (0.25, 5.0, 1.5), (0.08, 20.0, 1.45))
# Spoken questions: where the asking starts, and how long a question must be to be treated as one.
NEED_MARKER = re.compile(r"想问一下|想问下|想问问|想问|问一下|问下|请问|想知道|想了解|就是想|我想|想请教|唔知")
LONG_QUESTION = 24
MIN_NEED_CHARS = 4
ANSWER_CACHE_SIZE = 4096  # composed answers kept per index (a few MB at most)


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: it holds a numpy view
class Hit:
    """One document's best passage for a question."""

    path: str
    title: str
    score: float
    text: str
    passage: Passage
    coverage: float
    matched_term: bool = False  # the document contains a policy term the question used
    # The question's score for each passage of the document (a view into the search's scores: no copy).
    passage_scores: Sequence[float] | np.ndarray = ()

    @property
    def document(self) -> Document:
        return self.passage.doc


class KnowledgeBase:
    def __init__(self, documents: Sequence[Document], tables: TermTables | None = None) -> None:
        started = time.perf_counter()
        self.tables = tables or TermTables.load()
        self.analyzer = Analyzer(self.tables)
        self._policy_terms = {*self.tables.domain_terms, *self.tables.synonyms.values()}
        # The terms that name a policy (低保, 高龄津贴), not everyday words the synonym table folds (老人, 儿童).
        self._topic_terms = self._policy_terms - self.tables.soft_words - self.tables.generic_words
        self.documents = list(documents)
        self.passages: list[Passage] = [p for d in self.documents for p in d.passages]
        words, bigrams = PostingsBuilder(), PostingsBuilder()
        heading_cache: dict[str, Tokens] = {}
        for p in self.passages:
            body = self.analyzer.document(p.text)
            w: dict[str, float] = dict(Counter(body.words))
            b: dict[str, float] = dict(Counter(body.bigrams))
            for heading in (p.doc.title, *p.headings):
                head = heading_cache.get(heading)
                if head is None:
                    head = heading_cache[heading] = self.analyzer.document(heading)
                for term in head.words:
                    w[term] = w.get(term, 0) + HEADING_WEIGHT
                for term in head.bigrams:
                    b[term] = b.get(term, 0) + HEADING_WEIGHT
            words.add(w)
            bigrams.add(b)
        self.words = words.build()
        self.bigrams = bigrams.build(BIGRAM_WEIGHT)
        vocab = self.words.vocab
        self.analyzer.normalizer.unknown = lambda w: w not in vocab
        doc_numbers = {id(d): n for n, d in enumerate(self.documents)}
        self._title_words = [set(self.analyzer.document(d.title).words) for d in self.documents]
        self._doc_number = {id(d): n for n, d in enumerate(self.documents)}
        self._normalized_titles = [self.analyzer.normalizer.document(d.title) for d in self.documents]
        self._doc_of = np.array([doc_numbers[id(p.doc)] for p in self.passages], dtype=np.int32)
        cities = set(self.tables.cities.values())
        self._region = [p.doc.region if p.doc.region in cities else "" for p in self.passages]
        self._has_city_documents = any(self._region)
        self._region_factor_cache: dict[str, np.ndarray] = {}
        city_aliases = sorted((a for a in self.tables.cities if len(a) >= 2), key=len, reverse=True)
        self._city_pattern = re.compile("|".join(map(re.escape, city_aliases))) if city_aliases else None
        self.facets = FacetTable(self.tables)
        self.facets.index_headings(self.documents)
        self.referrals = Referrals(self.tables)
        self._about: dict[int, str] = {}
        self._forms: dict[str, tuple[str, str, str]] = {}
        self._heading_terms: dict[str, tuple[set[str], set[str]]] = {}
        self._by_path: dict[str, Document] = {}
        for d in self.documents:  # a renamed document still answers to its old paths (front matter `aliases:`)
            for alias in d.aliases:
                self._by_path.setdefault(alias, d)
        self._by_path.update({d.path: d for d in self.documents})  # a real path always wins
        self._first_passage: dict[int, int] = {}
        for n, p in enumerate(self.passages):
            self._first_passage.setdefault(id(p.doc), n)
        self._answers: OrderedDict[tuple[str, str, bool | None], Answer] = OrderedDict()
        self.build_seconds = time.perf_counter() - started

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
        if self._city_pattern is None:
            return ""
        m = self._city_pattern.search(fold(text))
        return self.tables.cities[m.group(0)] if m else ""

    def _region_factors(self, city: str) -> np.ndarray:
        if city not in self._region_factor_cache:
            factors = np.ones(len(self.passages), dtype=np.float32)
            for n, region in enumerate(self._region):
                if region:
                    factors[n] = CITY_UNKNOWN if not city else SAME_CITY if region == city else OTHER_CITY
            self._region_factor_cache[city] = factors
        return self._region_factor_cache[city]

    def search(self, question: str, k: int = 3, city: str = "") -> list[Hit]:
        """The k best documents for a question, each with its best passage, best first (by score, and among close
        ones by how much of the question each contains: `Hit.score` alone need not decrease)."""
        if not self.passages:
            return []
        tokens = self.analyzer.question(with_need_repeated(question[:MAX_QUESTION_CHARS]))
        if not tokens.words and not tokens.bigrams:
            return []
        scores = score(len(self.passages), (self.words.slices(tokens.words), self.bigrams.slices(tokens.bigrams)))
        n = max(8 * k, 24)
        if self._has_city_documents:
            # Region factors are within [0.75, 1.2]: re-weighing a wider candidate set is enough.
            top = _top_indices(scores, 2 * n)
            scores[top] *= self._region_factors(city or self.city_in(question))[top]
            top = top[np.argsort(-scores[top], kind="stable")][:n]
        else:
            top = _top_indices(scores, n)
        best: dict[int, tuple[float, int]] = {}  # doc number → (best passage score, passage)
        seconds: dict[int, float] = {}
        for idx, s, doc in zip(top.tolist(), scores[top].tolist(), self._doc_of[top].tolist(), strict=False):
            if s <= 0:
                break
            if doc not in best:
                best[doc] = (s, idx)
            elif doc not in seconds:
                seconds[doc] = s
        totals = {d: s + SECOND_PASSAGE * seconds.get(d, 0.0) for d, (s, _) in best.items()}
        topics = [w for w in dict.fromkeys(tokens.words) if w in self._topic_terms]
        if topics and totals:
            # Only documents the title factor could lift into the first k are worth looking at.
            ordered = sorted(totals.values(), reverse=True)
            floor = ordered[min(k, len(ordered)) - 1] / (1 + TOPIC_IN_TITLE)
            for d, total in totals.items():
                if total >= floor:
                    totals[d] = total * self._title_factor(topics, d)
        ranked = sorted(((total, best[d][1]) for d, total in totals.items()), reverse=True)[: k + 1]
        firsts = [idx - self.passages[idx].number for _, idx in ranked]
        ends = [first + len(self.passages[idx].doc.passages) for first, (_, idx) in zip(firsts, ranked, strict=False)]
        coverage = self._coverage(tokens, np.array(firsts + ends, dtype=np.int32))
        order = sorted(range(len(ranked)), key=lambda i: -ranked[i][0] * (1 - COVERAGE_RANK * (1 - coverage[i][0])))
        hits = []
        for i in order[:k]:
            (total, idx), (share, term), first, end = ranked[i], coverage[i], firsts[i], ends[i]
            p = self.passages[self._lead_passage(scores, idx)]
            hits.append(Hit(p.path, p.doc.title, round(total, 4), p.text, p, share, term, scores[first:end]))
        return hits

    def policy_terms_in(self, text: str) -> list[str]:
        """The policy terms (domain dictionary, canonical synonyms) a text uses: 低保户 → 低保家庭."""
        return [w for w in self.analyzer.question(text[:MAX_QUESTION_CHARS]).words if w in self._policy_terms]

    def heading_overlap(self, tokens: Tokens, heading: str) -> float:
        """The share of the question's information (idf-weighted words) that a section heading names."""
        head = self._heading_terms.get(heading)
        if head is None:
            analysed = self.analyzer.document(heading)
            head = self._heading_terms[heading] = ({*analysed.words, *analysed.bigrams, *fold(heading)},
                                                   set(analysed.words))
        words = set(tokens.words) - self.tables.soft_words
        total = found = 0.0
        for w in words:
            weight = self.words.idf_of(w)
            total += weight
            if w in head[1] or (len(w) > 1 and all(w[i : i + 2] in head[0] for i in range(len(w) - 1))) or (
                    len(w) == 1 and w in head[0]):
                found += weight
        return found / total if total else 0.0

    def same_topic(self, one: Document, other: Document) -> bool:
        """Whether two documents' titles name a policy term in common (低保 in 低保怎么申请 and 低保申请材料)."""
        numbers = self._doc_number.get(id(one)), self._doc_number.get(id(other))
        if numbers[0] is None or numbers[1] is None:
            return False
        shared = self._title_words[numbers[0]] & self._title_words[numbers[1]]
        return any(w in self._topic_terms for w in shared)

    def document(self, path: str) -> Document | None:
        """The document at this path, or the one renamed from it (its `.path` is then the new one)."""
        return self._by_path.get(path)

    def passage_scores(self, question: str, doc: Document) -> tuple[float, ...]:
        """The question's score for each passage of one document (for follow-ups asked about a known topic)."""
        tokens = self.analyzer.question(question[:MAX_QUESTION_CHARS])
        if not doc.passages or (not tokens.words and not tokens.bigrams):
            return tuple(0.0 for _ in doc.passages)
        scores = score(len(self.passages), (self.words.slices(tokens.words), self.bigrams.slices(tokens.bigrams)))
        first = self._first_passage.get(id(doc))
        if first is None:
            return tuple(0.0 for _ in doc.passages)
        return tuple(scores[first : first + len(doc.passages)].tolist())

    def question_forms(self, question: str) -> tuple[str, str, str]:
        """The question folded (traditional → simplified, lower case), with dialect words in Mandarin, and with
        typos corrected too (家爆 → 家暴): facet, referral and danger words are looked for in all three."""
        forms = self._forms.get(question)
        if forms is None:
            folded = fold(question[:MAX_QUESTION_CHARS])
            spoken = self.analyzer.normalizer.spoken(folded)
            forms = (folded, spoken, self.analyzer.normalize_question(spoken))
            if len(self._forms) >= ANSWER_CACHE_SIZE:
                self._forms.clear()
            self._forms[question] = forms
        return forms

    def about(self, doc: Document) -> str:
        """What a document is about: its title and headings, folded, as written and normalised."""
        text = self._about.get(id(doc))
        if text is None:
            raw = fold(" ".join([doc.title, *dict.fromkeys(h for p in doc.passages for h in p.headings)]))
            text = self._about[id(doc)] = raw + " " + self.analyzer.normalizer.document(raw)
        return text

    def off_topic_words(self, question: str, hit: Hit) -> list[str]:
        return self.off_topic_words_for(question, hit.document)

    def off_topic_words_for(self, question: str, doc: Document) -> list[str]:
        """Words of the question naming a topic the document is not about: a topic other offices handle
        (生育津贴, 医保报销: referrals.tsv) when neither the document's title and headings name it nor its title
        names another topic of the question (低保 in 养老金算不算低保收入); or a policy term no document uses
        (适老化改造 answered by the 残补 document because both say 申请)."""
        about = self.about(doc)
        words = self.analyzer.question(question[:MAX_QUESTION_CHARS]).words
        title_words = self._title_words[self._doc_number[id(doc)]] if id(doc) in self._doc_number else set()
        off = [w for w in self.referrals.topic_words(*self.question_forms(question)) if w not in about]
        # Another topic of the question named in the title, and not a part of the referral word (失业 of
        # 失业保险金), makes the referral word context: 养老金算不算低保收入 is about 低保.
        if any(w in title_words and w in self._topic_terms and not any(w in o for o in off) for w in words):
            off = []
        for w in dict.fromkeys(words):
            if w in self._topic_terms and not self.used_anywhere(w):
                off.append(w)
        return off

    def used_anywhere(self, word: str) -> bool:
        """Whether any document has the word, as a word or as the run of its bigrams (核对授权书 has 授权书)."""
        if word in self.words.vocab:
            return True
        return len(word) > 1 and all(word[i : i + 2] in self.bigrams.vocab for i in range(len(word) - 1))

    def _title_factor(self, topics: list[str], doc: int) -> float:
        """A document whose title names the question's policy terms (低保 in 低保怎么申请) is about them; an
        overview that mentions every policy in passing is not. The terms are frequent, so BM25 alone gives
        them little weight."""
        if not topics:
            return 1.0
        title = self._normalized_titles[doc]
        return 1.0 + TOPIC_IN_TITLE * sum(t in title for t in topics) / len(topics)

    def _lead_passage(self, scores: np.ndarray, best: int) -> int:
        """Among a document's passages scoring close to its best, the earliest: it usually
        introduces the topic the question is about."""
        start = best - self.passages[best].number
        for idx in range(start, best):
            if scores[idx] >= LEAD_PASSAGE_SHARE * scores[best]:
                return idx
        return best

    def _coverage(self, tokens: Tokens, bounds: np.ndarray) -> list[tuple[float, bool]]:
        """For each document (bounds = its first passages, then the ends of their ranges): the share
        of the question's information (idf-weighted words) it contains, and whether one of the words
        found is a policy term."""
        total = 0.0
        count = len(bounds) // 2
        found = np.zeros(count)
        term = np.zeros(count, dtype=bool)
        for w in set(tokens.words) - self.tables.soft_words:
            weight = self.words.idf_of(w)
            total += weight
            present = self.words.contains_each(w, bounds)
            if len(w) > 1 and not present.all():
                # A word the segmenter split differently still counts if all its bigrams are there.
                split = np.ones(count, dtype=bool)
                for i in range(len(w) - 1):
                    split &= self.bigrams.contains_each(w[i : i + 2], bounds)
                present |= split
            found += weight * present
            if w in self._topic_terms:
                term |= present
        shares = found / total if total else found
        return list(zip(shares.tolist(), term.tolist(), strict=False))

    def is_confident(self, hit: Hit, runner_up: float = 0.0) -> bool:
        """Enough of the question is in the document; or, for long spoken questions whose narrative words no
        document has, the document clearly leads the next one (runner_up = the second document's score)."""
        if hit.score < MIN_SCORE:
            return False
        if hit.coverage >= MIN_COVERAGE or (hit.matched_term and hit.coverage >= MIN_COVERAGE_WITH_TERM):
            return True
        if runner_up <= 0:
            return False  # one document matched a word or two: no lead to speak of
        lead = hit.score / runner_up
        return any(hit.coverage >= coverage and hit.score >= score and lead >= ratio
                   for coverage, score, ratio in CLEAR_LEADS)

    def answer(self, question: str, city: str = "", detailed: bool | None = None) -> Answer:
        """The composed answer. Residents ask the same few questions again and again, and an index never
        changes once built (a reload builds a new one), so answers are kept in a small LRU cache."""
        key = (question, city, detailed)
        if (cached := self._answers.get(key)) is not None:
            self._answers.move_to_end(key)
            return cached
        answer = compose(self, question, city=city, detailed=detailed)
        self._remember(key, answer)
        return answer

    def asked_facets(self, question: str) -> tuple[str, ...]:
        """What a question asks (facets.tsv). A long spoken question's story (前几天来过, 住咗几年) can use facet
        words too: what its asking part asks, when that names a facet, is what it asks."""
        need = need_of(question[:MAX_QUESTION_CHARS])
        return (need and self.facets.asked(*self.question_forms(need))) or self.facets.asked(
            *self.question_forms(question))

    def answer_for_facets(self, question: str, facets: tuple[str, ...], city: str = "") -> Answer:
        """The answer as if the question asked these facets (a follow-up carrying over what was asked)."""
        return compose(self, question, city=city, facets=facets)

    def _remember(self, key: tuple[str, str, bool | None], answer: Answer) -> None:
        self._answers[key] = answer
        if len(self._answers) > ANSWER_CACHE_SIZE:
            self._answers.popitem(last=False)


def need_of(question: str) -> str:
    """The asking part of a long spoken question: the words after the last 想问/请问/想知道 ("" if none)."""
    if len(question) < LONG_QUESTION:
        return ""
    parts = NEED_MARKER.split(question)
    need = parts[-1].strip() if len(parts) > 1 else ""
    return need if len(need) >= MIN_NEED_CHARS else ""


def with_need_repeated(question: str) -> str:
    """A long spoken question tells a story first (我阿妈今年八十几岁……) and asks at the end (……想问下有冇钱拎):
    the words after the last 想问/请问/想知道 count twice."""
    need = need_of(question)
    return f"{question} {need}" if need else question


def _top_indices(scores: np.ndarray, n: int) -> np.ndarray:
    # Only passages near the top can make the cut: filtering first keeps argpartition small.
    candidates = np.flatnonzero(scores >= 0.5 * scores.max())
    if len(candidates) < n:
        candidates = np.flatnonzero(scores > 0)
    if len(candidates) > n:
        candidates = candidates[np.argpartition(-scores[candidates], n)[:n]]
    return candidates[np.argsort(-scores[candidates], kind="stable")]
