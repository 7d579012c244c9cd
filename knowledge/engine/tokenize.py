"""Chinese tokenisation: jieba (the jieba-rs implementation, same dictionary and algorithm as Python
jieba, several times faster) with the domain dictionary, plus character bigrams.

Words carry meaning; bigrams rescue the cases where a question and a document are segmented
differently (适老化 / 适老 化). Both are produced from the same normalised text.
"""

from __future__ import annotations

from dataclasses import dataclass

import rjieba

from knowledge.engine.normalize import Normalizer, strip_punctuation
from knowledge.engine.tables import TermTables


@dataclass(frozen=True, slots=True)
class Tokens:
    words: list[str]  # content words, in order, stopwords removed
    bigrams: list[str]


class Analyzer:
    """Turns text into index terms; one instance per knowledge base (dictionary state is not shared)."""

    def __init__(self, tables: TermTables) -> None:
        self.tables = tables
        self.jieba = rjieba.Jieba()
        for term in {*tables.domain_terms, *tables.synonyms.values()}:
            if term and " " not in term:
                self.jieba.add_word(term, 200000, None)
        # Listed typos become words of their own so they can be corrected as whole words; a low
        # frequency keeps real words around them (当地/保险) winning the segmentation.
        for typo in tables.typos:
            if not self.jieba.has_word(typo):
                self.jieba.add_word(typo, 5, None)
        self.stopwords = tables.stopwords
        self.normalizer = Normalizer(tables, known_word=self._is_word)

    def _is_word(self, text: str) -> bool:
        return self.jieba.has_word(text)

    def cut(self, text: str) -> list[str]:
        return self.jieba.cut(text, False)

    def features(self, tokens: list[str]) -> Tokens:
        words: list[str] = []
        bigrams: list[str] = []
        run = ""  # adjacent content words, for bigrams across word borders
        stop = self.stopwords
        for token in tokens:
            if token in stop or token.isspace():
                if len(run) > 1:
                    bigrams.extend(run[i : i + 2] for i in range(len(run) - 1))
                run = ""
                continue
            words.append(token)
            run += token
        if len(run) > 1:
            bigrams.extend(run[i : i + 2] for i in range(len(run) - 1))
        return Tokens(words, bigrams)

    def analyze(self, normalized: str) -> Tokens:
        return self.features(self.cut(strip_punctuation(normalized)))

    def document(self, text: str) -> Tokens:
        return self.analyze(self.normalizer.document(text))

    def question(self, text: str) -> Tokens:
        canonical = self.normalizer.aliases(self.normalizer.join_particles(self.normalizer.spoken(text)))
        tokens = self.cut(strip_punctuation(canonical))
        corrected = self.normalizer.correct(tokens)
        if corrected != "".join(tokens):
            # A typo was fixed: the fixed term may be an alias, and segmentation changes around it.
            tokens = self.cut(self.normalizer.aliases(corrected))
        return self.features(tokens)

    def normalize_question(self, text: str) -> str:
        canonical = self.normalizer.aliases(self.normalizer.join_particles(self.normalizer.spoken(text)))
        return self.normalizer.aliases(self.normalizer.correct(self.cut(canonical)))
