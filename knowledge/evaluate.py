"""Question-set evaluation (formats: tests/data/eval/README or /work/notes contract D, and the older
{"q", "expect"} lines of shared/eval): document hit@1/hit@3, MRR, section hit@1, refusals of covered
questions, confident answers and referrals on uncovered ones, follow-up accuracy in conversations; per style."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knowledge.answer import Answer
from knowledge.dialog import MORE_WORDS, Topic, answer_turn, detail_answer
from knowledge.engine.tables import FALLBACK_REFERRAL
from knowledge.kb import KnowledgeBase

ALL = "all"
# Conversations are replayed at one instant: the topic's lifetime is tested elsewhere.
REPLAY_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Question:
    q: str
    expect: list[str]
    section: str | None = None
    style: str = "standard"
    refer: str = ""
    where: str = ""  # file:line, for the list of misses


@dataclass(frozen=True)
class Conversation:
    id: str
    style: str
    turns: list[Question]
    where: str = ""


@dataclass
class Tally:
    answerable: int = 0
    no_answer: int = 0
    hit1: int = 0  # answered with confidence, and the first source is a right one
    hit3: int = 0  # a right document among the first three sources
    reciprocal_ranks: float = 0.0
    section_labelled: int = 0
    section_hit1: int = 0  # hit@1, and the section shown is the expected one (or any, when none is expected)
    false_refusals: int = 0  # answerable questions the bot declined
    refused: int = 0  # no-answer questions the bot declined
    referral_labelled: int = 0
    referral_right: int = 0
    follow_ups: int = 0
    follow_ups_right: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "questions": self.answerable + self.no_answer,
            "answerable": self.answerable,
            "no_answer": self.no_answer,
            "hit@1": _rate(self.hit1, self.answerable),
            "hit@3": _rate(self.hit3, self.answerable),
            "mrr": _rate(self.reciprocal_ranks, self.answerable),
            "section@1": _rate(self.section_hit1, self.answerable),
            # The section alone: how often the shown section is right when the document is.
            "section_given_document": _rate(self.section_hit1, self.hit1),
            "wrongly_refused": _rate(self.false_refusals, self.answerable),
            "false_refusals": self.false_refusals,
            "refused": _rate(self.refused, self.no_answer),
            "confident_uncovered": _rate(self.no_answer - self.refused, self.no_answer),
            "referral_right": _rate(self.referral_right, self.referral_labelled),
            "follow_ups": self.follow_ups,
            "follow_up_accuracy": _rate(self.follow_ups_right, self.follow_ups),
        }


def _rate(n: float, of: int) -> float:
    return round(n / of, 4) if of else 0.0


@dataclass
class EvalReport:
    styles: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    misses: list[str] = field(default_factory=list)

    @property
    def total(self) -> Tally:
        return self.styles[ALL]

    # The overall counts, under the names the older reports used.
    @property
    def answerable(self) -> int:
        return self.total.answerable

    @property
    def no_answer(self) -> int:
        return self.total.no_answer

    @property
    def hit1(self) -> int:
        return self.total.hit1

    @property
    def hit3(self) -> int:
        return self.total.hit3

    @property
    def refused(self) -> int:
        return self.total.refused

    @property
    def false_refusals(self) -> int:
        return self.total.false_refusals

    def as_json(self) -> dict[str, Any]:
        result = self.total.as_json()
        result["styles"] = {style: t.as_json() for style, t in sorted(self.styles.items()) if style != ALL}
        return result


def _question(obj: dict[str, Any], where: str, style: str = "standard") -> Question:
    section = obj.get("section")
    return Question(
        str(obj["q"]),
        [str(p) for p in obj.get("expect", [])],
        None if section is None else str(section),
        str(obj.get("style", style)),
        str(obj.get("refer", "") or ""),
        where,
    )


def question_files(*paths: Path) -> list[Path]:
    """The files named, with a directory standing for the .jsonl files in it."""
    files: list[Path] = []
    for path in map(Path, paths):
        files += sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return files


def load_items(*paths: Path) -> list[Question | Conversation]:
    items: list[Question | Conversation] = []
    for path in question_files(*paths):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"{path}: 无法读取（{exc.strerror}）") from exc
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
                if "turns" in obj:
                    style = str(obj.get("style", "standard"))
                    turns = [_question(t, where, style) for t in obj["turns"]]
                    if not turns:
                        raise ValueError("turns 是空的")
                    items.append(Conversation(str(obj.get("id", where)), style, turns, where))
                else:
                    items.append(_question(obj, where))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ValueError(
                    f'{where}: 每行应为 {{"q": 问题, "expect": [文档路径], "section": 小标题或 null}}'
                    f' 或 {{"id", "style", "turns": [...]}}（{exc}）'
                ) from exc
    return items


def load_questions(path: Path) -> list[tuple[str, list[str]]]:
    return [(i.q, i.expect) for i in load_items(path) if isinstance(i, Question)]


def _section_right(answer: Answer, item: Question) -> bool:
    return item.section is None or item.section in answer.sections


def _score_question(report: EvalReport, item: Question, answer: Answer) -> None:
    paths = [h.path for h in answer.sources]
    for tally in (report.styles[ALL], report.styles[item.style]):
        if not item.expect:
            tally.no_answer += 1
            tally.refused += not answer.confident
            if item.refer:
                tally.referral_labelled += 1
                tally.referral_right += (answer.referral or FALLBACK_REFERRAL) == item.refer
            continue
        tally.answerable += 1
        rank = next((n for n, p in enumerate(paths[:3], start=1) if p in item.expect), 0)
        if rank:
            tally.hit3 += 1
            tally.reciprocal_ranks += 1 / rank
        hit1 = answer.confident and rank == 1
        tally.hit1 += hit1
        tally.section_labelled += item.section is not None
        tally.section_hit1 += hit1 and _section_right(answer, item)
        tally.false_refusals += not answer.confident
    if not item.expect:
        if answer.confident:
            report.misses.append(f"应拒答却回答了：{item.q} → {paths[:1]}（{item.where}）")
        elif item.refer and (answer.referral or FALLBACK_REFERRAL) != item.refer:
            report.misses.append(f"转介不对：{item.q} → {answer.referral} 期望 {item.refer}（{item.where}）")
    elif not answer.confident:
        report.misses.append(f"拒答：{item.q} → {paths} 期望 {item.expect}（{item.style}，{item.where}）")
    elif paths[0] not in item.expect:
        report.misses.append(f"首条来源不对：{item.q} → {paths} 期望 {item.expect}（{item.style}，{item.where}）")
    elif not _section_right(answer, item):
        report.misses.append(
            f"小节不对：{item.q} → {list(answer.sections)} 期望 {item.section}（{item.style}，{item.where}）"
        )


def _score_conversation(kb: KnowledgeBase, report: EvalReport, conversation: Conversation) -> None:
    topic: Topic | None = None
    for n, turn in enumerate(conversation.turns):
        detail = detail_answer(kb, topic, "") if topic is not None and turn.q.strip() in MORE_WORDS else None
        if detail is not None:  # the bot answers 详细 with the last answer in full
            answer = detail
        else:
            answer, topic = answer_turn(kb, turn.q, topic, "", REPLAY_AT)
        if n == 0:
            continue
        right = answer.confident if turn.expect else not answer.confident
        if turn.expect:
            right = right and bool(answer.sources) and answer.sources[0].path in turn.expect
            right = right and _section_right(answer, turn)
        for tally in (report.styles[ALL], report.styles[conversation.style]):
            tally.follow_ups += 1
            tally.follow_ups_right += right
        if not right:
            got = f"{answer.sources[0].path} {list(answer.sections)}" if answer.confident else "拒答"
            report.misses.append(
                f"追问答错：{conversation.id} 第{n + 1}轮 {turn.q} → {got} 期望 {turn.expect} {turn.section}"
            )


HALVES = ("tune", "held")


def half_of(item: Question | Conversation) -> str:
    """A fixed split of the questions into two halves by a hash of their text (a conversation by its first
    question): knobs are tuned on one and checked on the other."""
    text = item.q if isinstance(item, Question) else item.turns[0].q
    return HALVES[hashlib.md5(text.encode("utf-8")).digest()[0] % 2]


def evaluate(kb: KnowledgeBase, *question_files: Path, half: str | None = None) -> EvalReport:
    """The report over the files' questions and conversations; only one half of them (HALVES) when named."""
    report = EvalReport()
    for item in load_items(*question_files):
        if half is not None and half_of(item) != half:
            continue
        if isinstance(item, Conversation):
            _score_conversation(kb, report, item)
        else:
            _score_question(report, item, kb.answer(item.q))
    return report


def format_report(report: EvalReport, verbose: bool = False) -> str:
    j = report.as_json()
    t = report.total
    lines = [
        f"questions: {j['questions']} (answerable {j['answerable']}, no-answer {j['no_answer']})",
        f"hit@1: {j['hit@1']:.3f}",
        f"hit@3: {j['hit@3']:.3f}",
        f"MRR: {j['mrr']:.3f}",
        f"section@1: {j['section@1']:.3f} (right section when the document is right: "
        f"{j['section_given_document']:.3f})",
        f"answerable but refused: {t.false_refusals} ({j['wrongly_refused']:.3f})",
        f"no-answer refused: {t.refused}/{t.no_answer} = {j['refused']:.3f}",
    ]
    if t.referral_labelled:
        lines.append(f"referred to the right office: {t.referral_right}/{t.referral_labelled}")
    if t.follow_ups:
        lines.append(f"follow-ups right: {t.follow_ups_right}/{t.follow_ups} = {j['follow_up_accuracy']:.3f}")
    if len(j["styles"]) > 1:
        lines += ["", f"{'style':<12} {'n':>4} {'hit@1':>6} {'sect@1':>6} {'refused':>7} {'uncov.ok':>8} {'follow':>6}"]
        for style, s in j["styles"].items():
            lines.append(
                f"{style:<12} {s['answerable']:>4} {s['hit@1']:>6.3f} {s['section@1']:>6.3f}"
                f" {s['wrongly_refused']:>7.3f} {s['refused']:>8.3f} {s['follow_up_accuracy']:>6.3f}"
            )
    if verbose and report.misses:
        lines += ["", "misses:", *("  " + m for m in report.misses)]
    return "\n".join(lines)
