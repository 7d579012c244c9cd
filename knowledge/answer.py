"""From ranked hits to a phone-sized answer with its citation, or an honest "not sure"."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.kb import Hit, KnowledgeBase

SHORT_CHARS = 300
LONG_CHARS = 1200
# "多啲" alone means "more money" as often as "more text", so only unambiguous words count.
WANTS_MORE = re.compile(r"详细|詳細|完整|全文|讲多啲|講多啲|讲详细|講詳細")
SENTENCE_END = "。！？；!?;\n"


@dataclass(frozen=True)
class Answer:
    text: str  # the whole reply: answer, region note and citation
    confident: bool
    sources: list[Hit] = field(default_factory=list)  # best first, at most 3
    suggestions: list[str] = field(default_factory=list)  # document titles to offer as quick replies
    body: str = ""  # the passage text shown, without the citation

    def as_json(self) -> dict:
        return {
            "answer": self.text,
            "confident": self.confident,
            "sources": [{"path": h.path, "title": h.title, "score": h.score} for h in self.sources],
        }


def trim(text: str, limit: int) -> str:
    """Cut at the last sentence end that fits; mark the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    end = max(cut.rfind(ch) for ch in SENTENCE_END)
    if end >= limit // 2:
        cut = cut[: end + 1]
    return cut.rstrip() + "…"


def _passage_block(hit: Hit, limit: int) -> tuple[str, bool]:
    """The best passage, then the passages after it while they fit: the rest of its section for a
    short answer, the rest of the document for a detailed one. Returns the text and whether the
    document has more than was shown."""
    p = hit.passage
    doc_passages = p.doc.passages
    if limit > SHORT_CHARS:
        p = doc_passages[0]  # asked for detail: the document from its beginning
    shown = [p]
    for nxt in doc_passages[p.number + 1 :]:
        same_section = nxt.headings[: len(p.headings)] == p.headings
        size = sum(len(x.text) for x in shown)
        if limit <= SHORT_CHARS and (not same_section or size >= 120):
            break
        if size + len(nxt.text) > limit:
            break
        shown.append(nxt)
    parts: list[str] = []
    heading: tuple[str, ...] = ()
    for passage in shown:
        if passage.headings != heading:
            heading = passage.headings
            title = heading[-1] if heading and heading[-1] != p.doc.title else ""
            parts.append(f"【{title}】{passage.text}" if title else passage.text)
        else:
            parts.append(passage.text)
    text = trim("\n".join(parts), limit)
    has_more = text.endswith("…") or shown[-1].number + 1 < len(doc_passages) or p.number > 0
    return text, has_more


def region_note(hit: Hit, city: str) -> str:
    region = hit.document.region
    if not region or region.endswith("省") or region in {"全国", "国家"}:
        return ""
    if city and city == region:
        return ""
    where = f"{city}的做法" if city else "其他地方的做法"
    return f"（注：以下是{region}的规定，{where}可能不同，请以当地民政部门公布为准。）\n"


def compose(kb: KnowledgeBase, question: str, city: str = "", detailed: bool | None = None) -> Answer:
    asked_city = kb.city_in(question) or city
    hits = kb.search(question, k=3, city=asked_city)
    if not hits or not kb.is_confident(hits[0]):
        return not_sure(hits)
    best = hits[0]
    wants_more = bool(WANTS_MORE.search(question)) if detailed is None else detailed
    body, has_more = _passage_block(best, LONG_CHARS if wants_more else SHORT_CHARS)
    more = "\n（回复“详细”看更多内容）" if has_more and not wants_more else ""
    text = f"{region_note(best, asked_city)}{body}{more}\n\n📄 来源：{best.document.citation()}"
    confident_hits = [h for h in hits if kb.is_confident(h)] or hits[:1]
    return Answer(text, True, confident_hits, [h.title for h in hits[1:]], body)


def not_sure(hits: list[Hit]) -> Answer:
    text = ("这个问题我不太确定，知识库里没有找到可靠的答案，怕说错误导您。\n"
            "您可以：\n· 点下面的相关主题看看；\n· 联系所在镇（街）社工站，社工会当面帮您；\n"
            "· 拨打 12345 政务服务热线咨询。")
    related = [h.title for h in hits if h.coverage > 0.2][:3]
    if not related:
        text = text.replace("· 点下面的相关主题看看；\n", "")
    return Answer(text, False, hits, related)
