"""Chinese tokenisation: jieba with the domain dictionary, plus character bigrams.

Words carry meaning; bigrams rescue the cases where jieba splits a question and a document
differently (适老化 / 适老 化). Both are produced from the same normalised text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import jieba

from knowledge.engine.normalize import Normalizer, strip_punctuation
from knowledge.engine.tables import TermTables

jieba.setLogLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class Tokens:
    words: list[str]  # content words, in order, stopwords removed
    bigrams: list[str]


class Analyzer:
    """Turns text into index terms; one instance per knowledge base (jieba state is not shared)."""

    def __init__(self, tables: TermTables) -> None:
        self.tables = tables
        self.jieba = jieba.Tokenizer()
        self.jieba.initialize()
        for term in {*tables.domain_terms, *tables.synonyms.values()}:
            if term and " " not in term:
                self.jieba.add_word(term, freq=200000)
        # Listed typos become words of their own so they can be corrected as whole words; a low
        # frequency keeps real words around them (当地/保险) winning the segmentation.
        for typo in tables.typos:
            if typo not in self.jieba.FREQ:
                self.jieba.add_word(typo, freq=5)
        self.soft_words = tables.soft_words
        self.stopwords = tables.stopwords
        self.normalizer = Normalizer(tables, known_word=self._is_common_word)

    def _is_common_word(self, word: str) -> bool:
        return self.jieba.FREQ.get(word, 0) >= 50

    def analyze(self, normalized: str) -> Tokens:
        words: list[str] = []
        bigrams: list[str] = []
        for segment in strip_punctuation(normalized).split():
            run = ""  # adjacent content words, for bigrams across word borders
            for token in self.jieba.cut(segment, HMM=False):
                if token in self.stopwords or token.isspace():
                    bigrams.extend(_bigrams(run))
                    run = ""
                    continue
                words.append(token)
                run += token
            bigrams.extend(_bigrams(run))
        return Tokens(words, bigrams)

    def document(self, text: str) -> Tokens:
        return self.analyze(self.normalizer.document(text))

    def question(self, text: str) -> Tokens:
        return self.analyze(self.normalize_question(text))

    def normalize_question(self, text: str) -> str:
        spoken = self.normalizer.spoken(text)
        return self.normalizer.aliases(self.normalizer.correct(self.jieba.cut(spoken, HMM=False)))


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]
