"""One-message visit report: field accuracy over the report corpus, and parse + confirmation render time.

    python bench/visit_parse.py                 # accuracy over the corpus, then 2,000 timed reports, seed 7
    python bench/visit_parse.py --reports 500 --seed 1 --json out.json
    python bench/visit_parse.py --misses        # also list every field the parser got wrong

Accuracy: every report of `tests/casework/data/visit_reports.jsonl` (Mandarin, Cantonese, dictated text,
typos, traditional characters; see `tests/casework/visit_corpus.py` for the format) is parsed with its
roster's names, and each field is compared with what the report says: the person (roster names, near misses
offered as suggestions, guesses marked), mode, date (with the flags that make the confirmation ask),
risk, findings, needs, services, follow-up (compared without punctuation) and whether danger is raised.
Targets (issue 14): every field at least 0.95, the person at least 0.98, no wrong date without a flag.
Results are given for the whole corpus and for each set: the reports written while the parser was
developed, and two batches written afterwards whose first measurement was taken before any change.

Time:
Reports are generated deterministically from realistic pieces (names, modes and their synonyms, times,
findings, needs, services, risk and follow-up phrasings, danger words, traditional characters, full-width
punctuation, voice-style text without spaces). Each report is timed on its own with time.perf_counter over
--rounds passes (default 3); the median and p99 are taken over each report's best round, so a scheduler
hiccup on a shared machine does not count as a slow report. What is timed is what the bot does between
receiving `走访 …` and replying, minus the database: `parse_visit` with the worker's case names, building the
draft, the dialog-state round trip (JSON) and `render_confirmation`. Always exits 0: it reports, it does not test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from random import Random

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "tests" / "casework"))

from visit_corpus import FIELDS, Score, load_reports, load_rosters, score

from handlers.casework.visit_form import Draft, render_confirmation
from handlers.casework.visit_parser import default_danger_words, parse_visit
from knowledge.engine.normalize import to_simplified

TARGET_MEDIAN_MS = 5.0
WARMUP = 50

NAMES = ["张桂英", "李四", "陈大文", "黄美玲", "周一平", "欧阳春花", "梁秀珍", "何伯", "林阿婆", "吴志强"]
MODES = ["入户", "上门", "家访", "电话", "电访", "打电话", "视频", "视频通话", "到站", "来站", ""]
TIMES = [
    "",
    "",
    "今天",
    "昨天",
    "前天",
    "上午",
    "下午3点",
    "昨天下午三点半",
    "晚上8点",
    "3月5日",
    "周一",
    "上周三",
    "礼拜五上午",
    "10:30",
]
FINDINGS = [
    "身体还可以",
    "腿脚不便",
    "精神不错",
    "家里比较乱",
    "独居，子女在外地打工",
    "血压偏高，按时服药",
    "老人说最近睡眠不好",
    "家中卫生一般",
    "屋顶有漏水",
    "老人昨天在家摔倒了",
    "家中断粮",
    "情绪低落，说不想活了",
]
NEEDS = ["需要助餐", "希望有人陪聊", "想申请轮椅", "有助浴需求", "需要维修屋顶", ""]
SERVICES = ["提供政策咨询", "送了米和油", "协助办理高龄津贴", "帮她预约了体检", "陪同就医", ""]
RISKS = ["低风险", "中风险", "高风险", "风险较高", "风险评估为低", ""]
FOLLOW = ["下周电话回访", "下月再访", "持续跟进", "转介民政办", "明天再上门", ""]


def make_reports(n: int, seed: int) -> list[str]:
    rng = Random(seed)
    out: list[str] = []
    for i in range(n):
        head = [rng.choice(NAMES), rng.choice(TIMES), rng.choice(MODES)]
        rng.shuffle(head[1:])
        clauses = rng.sample(FINDINGS, rng.randint(1, 3)) + [rng.choice(x) for x in (NEEDS, SERVICES, RISKS, FOLLOW)]
        sep = rng.choice(["，", ",", "；", "。"])
        body = " ".join(p for p in head if p) + " " + sep.join(c for c in clauses if c)
        if i % 7 == 0:  # dictated: no spaces, recognition punctuation
            body = body.replace(" ", "") + "。"
        text = "走访 " + body
        if i % 5 == 0:
            text = text.replace("，", ", ").replace("；", ";")  # typed on a half-width keyboard
        if i % 6 == 0:
            text = traditional(text)
        out.append(text)
    return out


_T = str.maketrans("访户话视风险体还脚难需维护协办转龄张陈黄梁吴强", "訪戶話視風險體還腳難需維護協辦轉齡張陳黃梁吳強")


def traditional(text: str) -> str:
    return text.translate(_T)


def run_one(text: str, now: datetime, names: list[str]) -> str:
    body = text[2:].strip()
    parsed = parse_visit(body, now, known_names=names)
    draft = Draft.from_parsed(parsed, "console:bench")
    draft = Draft.from_state(json.loads(json.dumps(draft.to_state())))  # the dialog state round trip
    draft = Draft.from_state({**draft.to_state(), "case_id": 1, "case_name": parsed.name, "case_village": "东村"})
    return render_confirmation(draft, now).text


TARGET_FIELD, TARGET_PERSON = 0.95, 0.98


def accuracy(show_misses: bool) -> dict[str, object]:
    rosters = load_rosters()
    reports = load_reports(rosters=rosters)
    sets = {"all": reports}
    for report in reports:
        sets.setdefault(report.get("set", "developed"), []).append(report)
    styles: dict[str, list[dict[str, object]]] = {}
    for report in reports:
        styles.setdefault(str(report["style"]), []).append(report)
    results = {name: score(chosen, rosters) for name, chosen in sets.items()}
    by_style = {name: score(chosen, rosters) for name, chosen in sorted(styles.items())}
    print(f"visit report field accuracy: {len(reports)} reports in tests/casework/data/visit_reports.jsonl")
    print(_table(results))
    print("\nby style:")
    print(_table(by_style))
    overall = results["all"]
    met = all(overall.accuracy(f) >= (TARGET_PERSON if f == "person" else TARGET_FIELD) for f in FIELDS)
    print(
        f"\ntargets: every field >= {TARGET_FIELD}, person >= {TARGET_PERSON}, no unflagged wrong date: "
        f"{'met' if met and not overall.silent_wrong_dates else 'NOT MET'}"
        f" (unflagged wrong dates: {len(overall.silent_wrong_dates)})"
    )
    if show_misses:
        for report_id, name, said in overall.misses:
            print(f"  {report_id} {name}: {said}")
    return {
        name: {
            "reports": r.reports,
            **{f: round(r.accuracy(f), 4) for f in FIELDS},
            "unflagged_wrong_dates": len(r.silent_wrong_dates),
        }
        for name, r in results.items()
    }


def _table(results: dict[str, Score]) -> str:
    head = f"  {'set':<12}{'n':>5}" + "".join(f"{f[:9]:>10}" for f in FIELDS) + f"{'bad date':>10}"
    rows = [
        f"  {name:<12}{r.reports:>5}"
        + "".join(f"{r.accuracy(f):>10.3f}" for f in FIELDS)
        + f"{len(r.silent_wrong_dates):>10}"
        for name, r in results.items()
    ]
    return "\n".join([head, *rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--misses", action="store_true", help="list every field the parser got wrong")
    args = ap.parse_args(argv)

    fields = accuracy(args.misses)
    print()

    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    names = [to_simplified(n) for n in NAMES]
    reports = make_reports(args.reports, args.seed)
    default_danger_words()  # loaded once per process, as in the bot
    for text in reports[:WARMUP]:
        run_one(text, now, names)
    best = [float("inf")] * len(reports)
    for _ in range(args.rounds):
        for i, text in enumerate(reports):
            started = time.perf_counter()
            run_one(text, now, names)
            best[i] = min(best[i], (time.perf_counter() - started) * 1000)
    ordered = sorted(best)
    median = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    ratio = median / TARGET_MEDIAN_MS
    print(f"visit report parse + confirmation render: {len(reports)} reports × {args.rounds} rounds")
    print(f"  median {median:.3f} ms   p99 {p99:.3f} ms   max {ordered[-1]:.3f} ms")
    verdict = "OK" if ratio < 1 else "SLOWER THAN TARGET"
    print(f"  target: median < {TARGET_MEDIAN_MS:.1f} ms; median / target = {ratio:.4f} ({verdict})")
    sample = reports[1]
    print(f"\nexample: {sample}\n{run_one(sample, now, names)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "reports": len(reports),
                    "rounds": args.rounds,
                    "median_ms": median,
                    "p99_ms": p99,
                    "target_median_ms": TARGET_MEDIAN_MS,
                    "ratio": ratio,
                    "accuracy": fields,
                },
                ensure_ascii=False,
                indent=2,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
