"""Retrieval benchmark: our KnowledgeBase against bm25s and rank_bm25 on a synthetic Chinese corpus.

    python bench/retrieval.py                      # 10,000 passages, 500 queries, seed 7
    python bench/retrieval.py --passages 2000 --queries 200 --seed 1 --json out.json

The corpus is generated deterministically from the project's own knowledge base (knowledge/docs):
sentences and clauses from every built-in document are recombined across documents, policy terms
and numbers are swapped, and the result is written as ``knowledge.ingest.Document`` objects of about
ten ``##`` sections each (one passage of 80-300 characters per section). Queries are 4-15 character
phrases cut from random passages, most of them wrapped in colloquial fillers (怎么申请, 有没有, 几多钱).

All three systems answer the same queries in the same process; each is warmed up with 20 extra
queries first, then every query is timed on its own with time.perf_counter, over --rounds passes
(default 3) whose system order rotates; median and p99 are taken over each query's median across
rounds, so one scheduler hiccup on a shared machine does not count as a slow query. bm25s is
timed two ways: ``get_scores_from_ids`` + ``bm25s.selection.topk`` (the least work its API allows)
and the documented ``BM25.retrieve``; the faster of the two is the reference. Our resident memory is
measured in a fresh subprocess (``--only-ours-memory``) so the other libraries cannot pollute it.
``--profile`` prints cProfile tables of our build and search instead of benchmarking.
Requires the ``bench`` extra: ``pip install -e '.[bench]'``. Always exits 0: it reports, it does not test.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from random import Random

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("DISABLE_TQDM", "1")  # bm25s progress bars off

from knowledge.answer import compose
from knowledge.dialog import answer_turn
from knowledge.ingest import (
    Document,
    parse_front_matter,
    parse_sources,
    read_front_matter,
    split_passages,
)
from knowledge.kb import KnowledgeBase

DOCS_DIR = ROOT / "knowledge" / "docs"
DATA_DIR = ROOT / "knowledge" / "data"
WARMUP = 20
K = 3

# Targets for our engine (see docs/benchmarks.md).
TARGET_BUILD_SECONDS = 5.0
TARGET_RSS_MB = 300.0

SENTENCE_SPLIT = re.compile(r"(?<=[。！？；])")
CLAUSE_SPLIT = re.compile(r"[，、：]")
QUERY_CLAUSE_SPLIT = re.compile(r"[，。；：、！？\n（）()“”\"《》\s*#\-]+")
LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.、)]|[（(]\d+[)）])\s*")
PREFIXES = ["请问", "我想问下", "想了解一下", "问下", "麻烦问一下", "阿姨想问", "我妈想知道"]
SUFFIXES = ["怎么申请", "有没有", "几多钱", "要什么材料", "在哪里办", "可以申请吗", "点样申请", "咩条件",
            "多久能批下来", "找谁办", "是什么意思", "每个月有多少", "怎么办理", "有什么要求"]
YEARS = [str(y) for y in range(2010, 2025)]


# --------------------------------------------------------------------------------------------
# Synthetic corpus
# --------------------------------------------------------------------------------------------
class Material:
    """Sentences, clauses, headings, titles and terms harvested from the built-in knowledge base."""

    def __init__(self) -> None:
        self.sentences: list[str] = []
        self.clauses: list[str] = []
        self.headings: list[str] = []
        self.titles: list[str] = []
        self.sources: list[str] = []
        for path in sorted(DOCS_DIR.rglob("*.md")):
            meta, body = parse_front_matter(path.read_text(encoding="utf-8"))
            if meta.get("title"):
                self.titles.append(meta["title"])
            # Old documents name their source in `source:`, reviewed ones list `sources:` (contract A).
            listed = parse_sources(read_front_matter(path.read_text(encoding="utf-8")).fields.get("sources"))
            if source := meta.get("source") or "；".join(f"《{x.title}》" for x in listed):
                self.sources.append(source)
            for line in body.splitlines():
                line = line.strip().replace("**", "")
                if not line:
                    continue
                if line.startswith("#"):
                    heading = line.lstrip("#").strip()
                    if line.startswith("##") and heading:
                        self.headings.append(heading)
                    continue
                line = LIST_MARK.sub("", line)
                for sentence in SENTENCE_SPLIT.split(line):
                    sentence = sentence.strip()
                    if 6 <= len(sentence) <= 200:
                        self.sentences.append(sentence)
                    for clause in CLAUSE_SPLIT.split(sentence.rstrip("。！？；")):
                        if 4 <= len(clause.strip()) <= 60:
                            self.clauses.append(clause.strip())
        self.terms = sorted({ln.split()[0] for ln in _data_lines("domain_dict.txt")}
                            | {ln.split("\t")[1] for ln in _data_lines("synonyms.tsv") if "\t" in ln})
        self.cities = [ln.split("\t")[0] for ln in _data_lines("cities.tsv")]
        self.term_pattern = re.compile("|".join(map(re.escape, sorted(self.terms, key=len, reverse=True))))


def _data_lines(name: str) -> list[str]:
    lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def _vary(text: str, mat: Material, rng: Random) -> str:
    """Swap one policy term for another and re-roll the numbers, so recombined text is not repeated."""
    for _ in range(2):
        if rng.random() < 0.5:
            found = list(mat.term_pattern.finditer(text))
            if found:
                m = rng.choice(found)
                text = text[: m.start()] + rng.choice(mat.terms) + text[m.end():]
    if rng.random() < 0.5:
        text = re.sub(r"\d+", lambda m: _renumber(m.group(), rng), text)
    return text


def _renumber(digits: str, rng: Random) -> str:
    if len(digits) == 4 and digits[:2] in ("19", "20"):
        return str(rng.randint(2000, 2024))  # a year stays a year
    return str(rng.randint(10 ** (len(digits) - 1) if len(digits) > 1 else 1, 10 ** len(digits) - 1))


def _sentence(mat: Material, rng: Random) -> str:
    if rng.random() < 0.6:  # a new sentence made of clauses from different documents
        return _vary("，".join(rng.sample(mat.clauses, rng.randint(2, 4))) + "。", mat, rng)
    return _vary(rng.choice(mat.sentences), mat, rng)


def _paragraph(mat: Material, rng: Random) -> str:
    target = rng.randint(80, 300)
    as_list = rng.random() < 0.12
    parts: list[str] = []
    length = 0
    for _ in range(200):
        s = _sentence(mat, rng)
        extra = len(s) + (4 if as_list else 0)
        if length + extra > 300:
            if length >= 80:
                break
            continue
        parts.append(s)
        length += extra
        if length >= target:
            break
    if as_list:
        return "\n".join(f"{n}. {s}" for n, s in enumerate(parts, start=1))
    return "".join(parts)


def build_corpus(n_passages: int, seed: int) -> list[Document]:
    mat = Material()
    rng = Random(seed)
    docs: list[Document] = []
    remaining = n_passages
    while remaining > 0:
        sections = min(remaining, rng.randint(6, 14))
        region = rng.choice(mat.cities) if rng.random() < 0.3 else "广东省"
        title = _vary(rng.choice(mat.titles), mat, rng)
        if region != "广东省" and rng.random() < 0.7:
            title = region.removesuffix("市") + title
        if rng.random() < 0.3:
            title += f"（{rng.choice(YEARS)}年版）"
        lines = [f"# {title}", ""]
        used: set[str] = set()
        for _ in range(sections):
            heading = _vary(rng.choice(mat.headings), mat, rng)
            while heading in used:  # distinct headings, so each section is its own passage
                heading = f"{heading}（{len(used)}）"
            used.add(heading)
            lines += [f"## {heading}", _paragraph(mat, rng), ""]
        topic = rng.choice(["dibao", "tekun", "linshi", "canji", "ertong", "yanglao", "shegongzhan"])
        doc = Document(f"synthetic/{topic}/{len(docs):05d}.md", title, "\n".join(lines).strip(),
                       rng.choice(mat.sources), rng.choice(YEARS), region)
        doc.passages = list(split_passages(doc))
        docs.append(doc)
        remaining -= len(doc.passages)
    return docs


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------
def make_queries(passages: list, n: int, seed: int) -> list[str]:
    """Phrases of 4-15 characters from random passages, most with colloquial fillers."""
    rng = Random(seed * 1000 + 1)
    queries = []
    while len(queries) < n:
        text = rng.choice(passages).text
        clauses = [c for c in QUERY_CLAUSE_SPLIT.split(text) if len(c) >= 4]
        if not clauses:
            continue
        clause = rng.choice(clauses)
        length = rng.randint(4, 15)
        start = rng.randint(0, max(0, len(clause) - length))
        phrase = clause[start : start + length]
        style = rng.random()
        if style < 0.35:
            q = phrase
        elif style < 0.75:
            q = phrase + rng.choice(SUFFIXES)
        elif style < 0.9:
            q = rng.choice(PREFIXES) + phrase + rng.choice(SUFFIXES)
        else:
            q = rng.choice(PREFIXES) + phrase
        if rng.random() < 0.1:
            q = rng.choice(["广州", "佛山", "深圳", "东莞", "清远"]) + q
        queries.append(q)
    return queries


def make_copy_queries(passages: list, n: int, seed: int) -> list[str]:
    """For the correctness check: 20-30 characters copied verbatim from one line of a passage."""
    rng = Random(seed * 1000 + 2)
    queries = []
    while len(queries) < n:
        lines = [ln for ln in rng.choice(passages).text.split("\n") if len(ln) >= 20]
        if not lines:
            continue
        line = rng.choice(lines)
        length = min(len(line), rng.randint(20, 30))
        start = rng.randint(0, len(line) - length)
        queries.append(line[start : start + length])
    return queries


# --------------------------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------------------------
def time_queries(systems: dict, queries: list[str], rounds: int) -> dict[str, list[list[float]]]:
    """Wall time in milliseconds of every timed query, for each system: out[name][round][query].
    In each round every system answers the WARMUP queries untimed, then each timed query once, timed
    on its own; the order of the systems rotates from round to round so that background load and
    the cache effects of whoever ran before fall on all systems alike."""
    names = list(systems)
    out: dict[str, list[list[float]]] = {name: [] for name in names}
    perf = time.perf_counter
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            fn = systems[name]
            for q in queries[:WARMUP]:
                fn(q)
            gc.collect()
            times = []
            for q in queries[WARMUP:]:
                t = perf()
                fn(q)
                times.append((perf() - t) * 1000)
            out[name].append(times)
    return out


FOLLOW_UPS = ["要几耐", "边度办", "几多钱", "要带咩", "咁深圳呢", "我系低保户呢"]


def time_answer_layers(kb: KnowledgeBase, queries: list[str], rounds: int) -> dict[str, float]:
    """What answering adds on top of search, per question (median over queries of the median over rounds):
    facet recognition, section choice, referral and danger words (compose minus search), and a follow-up
    turn answered against the topic the question opened (answer_turn minus the plain search it starts with)."""
    now = datetime.now(UTC)
    extra: list[float] = []
    follow: list[float] = []
    for n, q in enumerate(queries):
        search_ms, compose_ms, turn_ms, plain_ms = [], [], [], []
        follow_up = FOLLOW_UPS[n % len(FOLLOW_UPS)]
        topic = answer_turn(kb, q, None, "", now)[1]
        for _ in range(rounds):
            t = time.perf_counter()
            kb.search(q, k=K)
            t1 = time.perf_counter()
            compose(kb, q)
            t2 = time.perf_counter()
            search_ms.append((t1 - t) * 1000)
            compose_ms.append((t2 - t1) * 1000)
            if topic is not None:
                t = time.perf_counter()
                compose(kb, follow_up)
                t1 = time.perf_counter()
                answer_turn(kb, follow_up, topic, "", now)
                t2 = time.perf_counter()
                plain_ms.append((t1 - t) * 1000)
                turn_ms.append((t2 - t1) * 1000)
        extra.append(statistics.median(compose_ms) - statistics.median(search_ms))
        if turn_ms:
            follow.append(statistics.median(turn_ms) - statistics.median(plain_ms))
    return {"answer_extra_median_ms": statistics.median(extra), "answer_extra_p99_ms": _percentile(sorted(extra), 99),
            "follow_up_extra_median_ms": statistics.median(follow) if follow else 0.0,
            "follow_up_extra_p99_ms": _percentile(sorted(follow), 99) if follow else 0.0,
            "follow_ups_timed": len(follow)}


def _percentile(ordered: list[float], pct: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def summary(rounds: list[list[float]]) -> dict:
    """Median and p99 over queries of each query's median across rounds (a scheduler hiccup in one
    round does not make a query slow), plus the raw mean, p99 and max over every sample."""
    per_query = sorted(statistics.median(samples) for samples in zip(*rounds, strict=False))
    raw = sorted(t for times in rounds for t in times)
    return {"median_ms": statistics.median(per_query), "p99_ms": _percentile(per_query, 99),
            "mean_ms": statistics.fmean(raw), "raw_p99_ms": _percentile(raw, 99), "max_ms": raw[-1]}


def copy_hit_rate(retrieve, queries: list[str]) -> float:
    """Share of copied-text queries for which a top-3 passage contains the copied text."""
    good = sum(any(q in text for text in retrieve(q)) for q in queries)
    return good / len(queries)


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def only_ours_memory(n_passages: int, seed: int) -> None:
    """Internal mode: build our index in this fresh process and print RSS figures as JSON."""
    from knowledge import KnowledgeBase

    docs = build_corpus(n_passages, seed)
    gc.collect()
    before = _rss_mb()
    t = time.perf_counter()
    kb = KnowledgeBase(docs)
    build = time.perf_counter() - t
    gc.collect()
    after = _rss_mb()
    kb.search("低保怎么申请", k=K)
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"rss_before_mb": before, "rss_after_mb": after, "rss_delta_mb": after - before,
                      "rss_peak_mb": peak, "build_s": build, "passages": len(kb.passages)}))


def profile_ours(n_passages: int, n_queries: int, seed: int, top: int = 25) -> None:
    """cProfile of KnowledgeBase(documents) and of kb.search over the benchmark queries."""
    import cProfile
    import pstats

    from knowledge import KnowledgeBase

    docs = build_corpus(n_passages, seed)
    queries = make_queries([p for d in docs for p in d.passages], n_queries + WARMUP, seed)
    prof = cProfile.Profile()
    prof.enable()
    kb = KnowledgeBase(docs)
    prof.disable()
    print(f"=== KnowledgeBase(documents), {len(kb.passages)} passages ===")
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    for q in queries[:WARMUP]:
        kb.search(q, k=K)
    prof = cProfile.Profile()
    prof.enable()
    for q in queries[WARMUP:]:
        kb.search(q, k=K)
    prof.disable()
    print(f"=== kb.search(q, k={K}) x {n_queries} ===")
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


_WORDY = re.compile(r"\w")


def tokens_of(text: str, lcut) -> list[str]:
    """jieba tokens without whitespace and pure punctuation."""
    return [t for t in lcut(text) if not t.isspace() and _WORDY.search(t)]


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3, help="timed passes over the queries per system")
    ap.add_argument("--no-gc-freeze", action="store_true",
                    help="leave the indexes in the cyclic garbage collector's view while timing")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--profile", action="store_true", help="only cProfile our build and search, then exit")
    ap.add_argument("--only-ours-memory", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.only_ours_memory:
        only_ours_memory(args.passages, args.seed)
        return 0
    if args.profile:
        profile_ours(args.passages, args.queries, args.seed)
        return 0

    try:
        import bm25s
        import bm25s.selection
        import jieba
        import numpy as np
        import psutil  # noqa: F401
        from rank_bm25 import BM25Okapi
    except ImportError as exc:
        print(f"missing benchmark dependency ({exc.name}); run: pip install -e '.[bench]'", file=sys.stderr)
        return 0
    jieba.setLogLevel(logging.WARNING)
    from knowledge import KnowledgeBase

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
          f"bm25s {bm25s.__version__}, numpy {np.__version__}")
    t = time.perf_counter()
    docs = build_corpus(args.passages, args.seed)
    passages = [p for d in docs for p in d.passages]
    lengths = [len(p.text) for p in passages]
    gen_s = time.perf_counter() - t
    distinct = len({p.text for p in passages})
    print(f"corpus: {len(docs)} documents, {len(passages)} passages ({distinct} distinct), "
          f"{min(lengths)}-{max(lengths)} chars (median {statistics.median(lengths):.0f}), "
          f"{sum(lengths):,} chars; generated in {gen_s:.1f} s")
    queries = make_queries(passages, args.queries + WARMUP, args.seed)
    copies = make_copy_queries(passages, 200, args.seed)
    print(f"queries: {args.queries} timed (+{WARMUP} warm-up) x {args.rounds} rounds, "
          f"e.g. {' / '.join(queries[WARMUP:WARMUP + 4])}")

    # -- ours: build --------------------------------------------------------------------------
    gc.collect()
    t = time.perf_counter()
    kb = KnowledgeBase(docs)
    ours_build_s = time.perf_counter() - t

    def ours_search(q: str):
        return kb.search(q, k=K)

    # -- baselines: shared jieba tokenisation (jieba initialised first, outside the timing) ----
    jieba.initialize()
    lcut = jieba.lcut
    t = time.perf_counter()
    corpus_tokens = [tokens_of(p.text, lcut) for p in passages]
    tokenise_s = time.perf_counter() - t

    # -- bm25s: our own vocabulary, token ids in, numpy backend (numba/scipy are not installed) -
    t = time.perf_counter()
    vocab: dict[str, int] = {}
    corpus_ids = [[vocab.setdefault(tok, len(vocab)) for tok in toks] for toks in corpus_tokens]
    retriever = bm25s.BM25()
    retriever.index((corpus_ids, vocab), create_empty_token=False, show_progress=False)
    bm25s_index_s = time.perf_counter() - t
    retriever_vocab = retriever.vocab_dict
    empty = np.empty(0, dtype=np.int64)

    def bm25s_fast(q: str):
        """get_scores_from_ids + bm25s.selection.topk: the least work bm25s's API allows."""
        ids = [retriever_vocab[tok] for tok in tokens_of(q, lcut) if tok in retriever_vocab]
        if not ids:
            return empty
        scores = retriever.get_scores_from_ids(ids)
        return bm25s.selection.topk(scores, K, backend="numpy", sorted=True)[1]

    def bm25s_retrieve(q: str):
        """The documented entry point, BM25.retrieve, with token ids."""
        ids = [retriever_vocab[tok] for tok in tokens_of(q, lcut) if tok in retriever_vocab]
        if not ids:
            return empty
        return retriever.retrieve([ids], k=K, show_progress=False, return_as="documents")[0]

    # -- rank_bm25 --------------------------------------------------------------------------
    t = time.perf_counter()
    okapi = BM25Okapi(corpus_tokens)
    okapi_index_s = time.perf_counter() - t

    def okapi_search(q: str):
        scores = okapi.get_scores(tokens_of(q, lcut))
        top = np.argpartition(-scores, K)[:K]
        return top[np.argsort(-scores[top])]

    # -- correctness ------------------------------------------------------------------------
    agree = sum(set(bm25s_fast(q).tolist()) == set(bm25s_retrieve(q).tolist()) for q in queries[WARMUP:])
    if agree != args.queries:
        print(f"warning: bm25s get_scores_from_ids and retrieve disagree on {args.queries - agree} queries")
    copy_hits = {
        "ours": copy_hit_rate(lambda q: [h.text for h in ours_search(q)], copies),
        "bm25s": copy_hit_rate(lambda q: [passages[i].text for i in bm25s_fast(q)], copies),
        "bm25s.retrieve": copy_hit_rate(lambda q: [passages[i].text for i in bm25s_retrieve(q)], copies),
        "rank_bm25": copy_hit_rate(lambda q: [passages[i].text for i in okapi_search(q)], copies),
    }

    # -- latency ----------------------------------------------------------------------------
    # Everything built so far lives as long as the process (as a bot's index does): move it out of
    # the cyclic collector's view, or a full collection triggered by whichever system happens to
    # allocate at the time would scan all four indexes and bill several milliseconds to that query.
    gc.collect()
    if not args.no_gc_freeze:
        gc.freeze()
    load_before = os.getloadavg()[0]
    timings = time_queries({"ours": ours_search, "bm25s": bm25s_fast, "bm25s.retrieve": bm25s_retrieve,
                            "rank_bm25": okapi_search}, queries, args.rounds)
    builds = {"ours": (ours_build_s, None), "bm25s": (tokenise_s + bm25s_index_s, bm25s_index_s),
              "bm25s.retrieve": (tokenise_s + bm25s_index_s, bm25s_index_s),
              "rank_bm25": (tokenise_s + okapi_index_s, okapi_index_s)}
    results: dict[str, dict] = {}
    for name, ms in timings.items():
        results[name] = {**summary(ms), "build_s": builds[name][0], "index_s": builds[name][1],
                         "copy_hit@3": copy_hits[name]}
    ours = results["ours"]
    layers = time_answer_layers(kb, queries[WARMUP : WARMUP + min(args.queries, 200)], args.rounds)

    # -- our memory, in a clean process -----------------------------------------------------
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--only-ours-memory",
                           "--passages", str(args.passages), "--seed", str(args.seed)],
                          capture_output=True, text=True, cwd=ROOT)
    memory = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    if memory is None:
        print(f"memory subprocess failed:\n{proc.stderr}", file=sys.stderr)

    # -- report -----------------------------------------------------------------------------
    print(f"\nload average during timing: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
          f"({os.cpu_count()} CPUs)")
    print(f"jieba.lcut over all {len(passages)} passages (baselines' tokenisation): {tokenise_s:.2f} s")
    print(f"\n{'system':<16}{'build s':>9}{'median ms':>11}{'p99 ms':>9}{'mean ms':>9}{'raw p99':>9}"
          f"{'max ms':>9}{'copy@3':>8}")
    for name, r in results.items():
        print(f"{name:<16}{r['build_s']:>9.2f}{r['median_ms']:>11.3f}{r['p99_ms']:>9.3f}{r['mean_ms']:>9.3f}"
              f"{r['raw_p99_ms']:>9.3f}{r['max_ms']:>9.2f}{r['copy_hit@3']:>8.0%}")
    print(f"(median and p99: over the {args.queries} queries, of each query's median over {args.rounds} rounds;"
          f" mean, raw p99 and max: over all {args.queries * args.rounds} samples.\n"
          " build s for the baselines = jieba tokenisation + index; ours = KnowledgeBase(documents), which "
          "includes its own normalisation and tokenisation.\n copy@3 = share of 200 copied 20-30 character "
          "snippets whose passage text is in the top 3.)")
    if memory:
        print(f"\nours RSS (fresh process, {memory['passages']} passages): {memory['rss_after_mb']:.0f} MB "
              f"after build, +{memory['rss_delta_mb']:.0f} MB for the build "
              f"(corpus already in memory: {memory['rss_before_mb']:.0f} MB); peak {memory['rss_peak_mb']:.0f} MB; "
              f"build there {memory['build_s']:.2f} s")

    print(f"\nanswer layers on top of search (our engine, {min(args.queries, 200)} questions): facets, sections, "
          f"referral and danger words {layers['answer_extra_median_ms']:.3f} ms median "
          f"(p99 {layers['answer_extra_p99_ms']:.3f}); a follow-up turn against its topic "
          f"{layers['follow_up_extra_median_ms']:.3f} ms median (p99 {layers['follow_up_extra_p99_ms']:.3f}, "
          f"{layers['follow_ups_timed']} turns)")

    b_name = min(("bm25s", "bm25s.retrieve"), key=lambda n: results[n]["median_ms"])
    b = results[b_name]
    rb = results["rank_bm25"]
    ratios = {
        "bm25s_variant": b_name,
        "median_vs_bm25s": ours["median_ms"] / b["median_ms"],
        "median_vs_rank_bm25": ours["median_ms"] / rb["median_ms"],
        "p99_vs_bm25s": ours["p99_ms"] / b["p99_ms"],
        "p99_vs_rank_bm25": ours["p99_ms"] / rb["p99_ms"],
    }
    print(f"\nratios (ours / baseline; below 1 means ours is faster; bm25s = the faster variant, {b_name})")
    print(f"  median: ours/bm25s {ratios['median_vs_bm25s']:.2f}   ours/rank_bm25 {ratios['median_vs_rank_bm25']:.3f}")
    print(f"  p99:    ours/bm25s {ratios['p99_vs_bm25s']:.2f}   ours/rank_bm25 {ratios['p99_vs_rank_bm25']:.3f}")

    checks = [
        (f"our median ≤ bm25s median ({ours['median_ms']:.3f} vs {b['median_ms']:.3f} ms)",
         ours["median_ms"] <= b["median_ms"]),
        (f"our build < {TARGET_BUILD_SECONDS:.0f} s ({ours['build_s']:.2f} s)", ours["build_s"] < TARGET_BUILD_SECONDS),
        ((f"answer layers < 1 ms per question ({layers['answer_extra_median_ms']:.3f} ms; follow-up "
          f"{layers['follow_up_extra_median_ms']:.3f} ms)"),
         layers["answer_extra_median_ms"] < 1.0 and layers["follow_up_extra_median_ms"] < 1.0),
    ]
    if memory:
        checks.append((f"our RSS < {TARGET_RSS_MB:.0f} MB ({memory['rss_after_mb']:.0f} MB)",
                       memory["rss_after_mb"] < TARGET_RSS_MB))
    else:
        checks.append(("our RSS < 300 MB (not measured)", False))
    print("\ntargets")
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")

    if args.json:
        args.json.write_text(json.dumps({
            "args": {"passages": args.passages, "queries": args.queries, "seed": args.seed, "rounds": args.rounds,
                     "gc_freeze": not args.no_gc_freeze},
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
            "corpus": {"documents": len(docs), "passages": len(passages), "distinct": distinct},
            "tokenise_s": tokenise_s, "results": results, "memory": memory, "ratios": ratios, "answer_layers": layers,
            "targets": {text: ok for text, ok in checks},
        }, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
