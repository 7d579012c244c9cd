"""An inverted index with precomputed BM25 impacts, stored as flat numpy arrays.

Each term's postings are a slice of two big arrays (passage numbers, BM25 weight of the term in that
passage), so a query is one `bincount` over the slices of its terms, and the index costs a few bytes
per posting instead of Python objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

K1 = 1.2
B = 0.75


class PostingsBuilder:
    """Collects (term, passage, tf) as passages are analysed; nothing per passage is kept."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.term_ids: list[int] = []
        self.passage_ids: list[int] = []
        self.tfs: list[float] = []
        self.lengths: list[float] = []

    def add(self, counts: dict[str, float]) -> None:
        passage = len(self.lengths)
        vocab = self.vocab
        for term, tf in counts.items():
            tid = vocab.get(term)
            if tid is None:
                tid = vocab[term] = len(vocab)
            self.term_ids.append(tid)
            self.passage_ids.append(passage)
            self.tfs.append(tf)
        self.lengths.append(sum(counts.values()))

    def build(self, field_weight: float = 1.0) -> BM25Index:
        return BM25Index(self.vocab, np.array(self.term_ids, dtype=np.int32),
                         np.array(self.passage_ids, dtype=np.int32), np.array(self.tfs, dtype=np.float32),
                         np.array(self.lengths, dtype=np.float32), field_weight)


class BM25Index:
    def __init__(self, vocab: dict[str, int], term_ids: np.ndarray, passage_ids: np.ndarray, tfs: np.ndarray,
                 lengths: np.ndarray, field_weight: float = 1.0) -> None:
        self.size = len(lengths)
        self.vocab = vocab
        order = np.argsort(term_ids, kind="stable")  # stable: passages stay ascending within a term
        term_ids, self.passage_ids, tfs = term_ids[order], passage_ids[order], tfs[order]
        counts = np.bincount(term_ids, minlength=len(vocab))
        self.offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        df = counts.astype(np.float64)
        self.idf = np.log(1 + (self.size - df + 0.5) / (df + 0.5)).astype(np.float32)
        avg = float(lengths.mean()) if self.size else 1.0
        norm = K1 * (1 - B + B * lengths / max(avg, 1e-9))
        # The field's weight is folded into the impacts now so that queries multiply nothing.
        impacts = self.idf[term_ids] * tfs * (K1 + 1) / (tfs + norm[self.passage_ids])
        self.impacts = (field_weight * impacts).astype(np.float32)
        # A term never seen is as informative as the rarest possible one.
        self.unseen_idf = math.log(1 + (self.size + 0.5) / 0.5)

    def idf_of(self, term: str) -> float:
        tid = self.vocab.get(term)
        return self.unseen_idf if tid is None else float(self.idf[tid])

    def slices(self, terms: Iterable[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Passage ids and impacts for the query terms (a repeated term counts a little more)."""
        counts: dict[str, int] = {}
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
        ids, impacts = [], []
        for term, qtf in counts.items():
            tid = self.vocab.get(term)
            if tid is None:
                continue
            lo, hi = self.offsets[tid], self.offsets[tid + 1]
            ids.append(self.passage_ids[lo:hi])
            part = self.impacts[lo:hi]
            impacts.append(part if qtf == 1 else part * (1.0 + 0.3 * (qtf - 1)))
        return ids, impacts

    def contains_each(self, term: str, bounds: np.ndarray) -> np.ndarray:
        """For several passage ranges at once (bounds = their firsts, then their ends): which contain
        the term. One binary search over the term's sorted postings answers all of them."""
        half = len(bounds) // 2
        tid = self.vocab.get(term)
        if tid is None:
            return np.zeros(half, dtype=bool)
        at = self.passage_ids[self.offsets[tid] : self.offsets[tid + 1]].searchsorted(bounds)
        return at[half:] > at[:half]


def score(size: int, parts: Iterable[tuple[list[np.ndarray], list[np.ndarray]]]) -> np.ndarray:
    ids: list[np.ndarray] = []
    impacts: list[np.ndarray] = []
    for i, w in parts:
        ids += i
        impacts += w
    if not ids:
        return np.zeros(size, dtype=np.float64)
    return np.bincount(np.concatenate(ids), weights=np.concatenate(impacts), minlength=size)
