"""An inverted index with precomputed BM25 impacts, scored with numpy.

Each term's postings are two arrays (passage numbers, BM25 weight of the term in that passage), so a
query costs one vectorised add per distinct query term instead of a Python loop over passages.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

K1 = 1.2
B = 0.75


class BM25Index:
    def __init__(self, docs: Sequence[Counter[str]]) -> None:
        self.size = len(docs)
        lengths = np.array([sum(d.values()) for d in docs], dtype=np.float32)
        avg = float(lengths.mean()) if self.size else 1.0
        norm = K1 * (1 - B + B * lengths / max(avg, 1e-9))
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for number, counts in enumerate(docs):
            for term, tf in counts.items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(number)
                tfs.append(tf)
        self.idf: dict[str, float] = {}
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (ids, tfs) in postings.items():
            idx = np.array(ids, dtype=np.int32)
            tf = np.array(tfs, dtype=np.float32)
            idf = math.log(1 + (self.size - len(ids) + 0.5) / (len(ids) + 0.5))
            self.idf[term] = idf
            self.postings[term] = (idx, (idf * tf * (K1 + 1) / (tf + norm[idx])).astype(np.float32))
        # A term never seen is as informative as the rarest possible one.
        self.unseen_idf = math.log(1 + (self.size + 0.5) / 0.5)

    def idf_of(self, term: str) -> float:
        return self.idf.get(term, self.unseen_idf)

    def accumulate(self, scores: np.ndarray, terms: Iterable[str], weight: float = 1.0) -> None:
        for term, qtf in Counter(terms).items():
            hit = self.postings.get(term)
            if hit is not None:
                ids, impacts = hit
                # Repeating a word in the question counts a little, not linearly.
                scores[ids] += impacts * (weight * (1.0 + 0.3 * (qtf - 1)))
