"""Question-set evaluation: hit@1, hit@3, MRR and correct refusals (format: shared/eval/README.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.kb import KnowledgeBase


@dataclass
class EvalReport:
    answerable: int = 0
    no_answer: int = 0
    hit1: int = 0  # answered with confidence, and the first source is a right one
    hit3: int = 0  # a right document among the first three sources
    reciprocal_ranks: float = 0.0
    refused: int = 0  # no-answer questions the bot declined
    false_refusals: int = 0  # answerable questions the bot declined
    misses: list[str] = field(default_factory=list)

    def rate(self, n: int, of: int) -> float:
        return round(n / of, 4) if of else 0.0

    def as_json(self) -> dict:
        return {
            "questions": self.answerable + self.no_answer,
            "answerable": self.answerable,
            "no_answer": self.no_answer,
            "hit@1": self.rate(self.hit1, self.answerable),
            "hit@3": self.rate(self.hit3, self.answerable),
            "mrr": self.rate(self.reciprocal_ranks, self.answerable),
            "refused": self.rate(self.refused, self.no_answer),
            "false_refusals": self.false_refusals,
        }


def load_questions(path: Path) -> list[tuple[str, list[str]]]:
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            items.append((str(obj["q"]), [str(p) for p in obj.get("expect", [])]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: 每行应为 {{\"q\": 问题, \"expect\": [文档路径]}}（{exc}）") from exc
    return items


def evaluate(kb: KnowledgeBase, *question_files: Path) -> EvalReport:
    report = EvalReport()
    items = [item for path in question_files for item in load_questions(Path(path))]
    for question, expect in items:
        answer = kb.answer(question)
        paths = [h.path for h in answer.sources]
        if not expect:
            report.no_answer += 1
            if answer.confident:
                report.misses.append(f"应拒答却回答了：{question} → {paths[:1]}")
            else:
                report.refused += 1
            continue
        report.answerable += 1
        rank = next((n for n, p in enumerate(paths[:3], start=1) if p in expect), 0)
        if rank:
            report.hit3 += 1
            report.reciprocal_ranks += 1 / rank
        if answer.confident and rank == 1:
            report.hit1 += 1
        else:
            why = "拒答" if not answer.confident else "首条来源不对"
            if not answer.confident:
                report.false_refusals += 1
            report.misses.append(f"{why}：{question} → {paths} 期望 {expect}")
    return report


def format_report(report: EvalReport, verbose: bool = False) -> str:
    j = report.as_json()
    lines = [
        f"questions: {j['questions']} (answerable {j['answerable']}, no-answer {j['no_answer']})",
        f"hit@1: {j['hit@1']:.3f}",
        f"hit@3: {j['hit@3']:.3f}",
        f"MRR: {j['mrr']:.3f}",
        f"no-answer refused: {report.refused}/{report.no_answer} = {j['refused']:.3f}",
        f"answerable but refused: {report.false_refusals}",
    ]
    if verbose and report.misses:
        lines += ["", "misses:", *("  " + m for m in report.misses)]
    return "\n".join(lines)
