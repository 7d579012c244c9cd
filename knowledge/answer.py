"""From ranked hits to a phone-sized answer with its citation, or an honest "not sure"."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from knowledge.engine.tables import FALLBACK_REFERRAL, Emergency, Referral
from knowledge.facets import ANSWERS_FACET, HEADING_MATCH
from knowledge.referral import safety_text

if TYPE_CHECKING:
    from knowledge.kb import Hit, KnowledgeBase

SHORT_CHARS = 300
LONG_CHARS = 1200
# "多啲" alone means "more money" as often as "more text", so only unambiguous words count.
WANTS_MORE = re.compile(r"详细|詳細|完整|全文|讲多啲|講多啲|讲详细|講詳細")
SENTENCE_END = "。！？；!?;\n"
NOT_SURE = "这个问题我不太确定"  # opens every refusal (channels that report `confident` look for it)
NOT_WRITTEN = "这份资料没有写到"  # starts the line saying the document has no section for the asked facet
# Choosing the section to show: the facet's score (facets.py) times FACET_WEIGHT, plus the question's best passage
# score in the section relative to the document's best, plus the share of the question's words in its heading.
FACET_WEIGHT = 0.5
SECTION_RELEVANCE = 3.0
HEADING_OVERLAP = 1.0
HEADING_ECHO = 1.0  # the share of the heading the question repeats, character bigrams weighted by rarity
FIRST_HEADED = 0.3  # the first section headed for the facet (general case before special ones)
FIRST_SECTION = 0.3  # the opening section, when nothing else decides, says what the topic is
# Among confident documents scoring at least FACET_SWITCH of the first, one with a section for the asked facet
# counts SECTION_FACET more.
FACET_SWITCH = 0.7
SECTION_FACET = 0.1


@dataclass(frozen=True)
class Answer:
    text: str  # the whole reply: answer, region note and citation
    confident: bool
    sources: list[Hit] = field(default_factory=list)  # best first, at most 3
    suggestions: list[str] = field(default_factory=list)  # document titles to offer as quick replies
    body: str = ""  # the passage text shown, without the citation
    sections: tuple[str, ...] = ()  # headings of the document's sections shown ("" = text under the title)
    facets: tuple[str, ...] = ()  # what the question asks (申请流程, 时限...), see knowledge/data/facets.tsv
    referral: str = ""  # a refusal: the key of the office it points to (referrals.tsv)
    urgent: str = ""  # the kind of immediate danger the question mentions (emergencies.tsv)

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


def compose(kb: KnowledgeBase, question: str, city: str = "", detailed: bool | None = None,
            facets: tuple[str, ...] | None = None) -> Answer:
    forms = kb.question_forms(question)
    emergency = kb.referrals.emergency(*forms)
    asked_city = kb.city_in(question) or city
    hits = kb.search(question, k=3, city=asked_city)
    runner_up = hits[1].score if len(hits) > 1 else 0.0
    if not hits or not kb.is_confident(hits[0], runner_up) or kb.off_topic_words(question, hits[0]):
        return not_sure(hits, kb.referrals.refer(*forms), emergency)
    wants_more = bool(WANTS_MORE.search(question)) if detailed is None else detailed
    facets = kb.asked_facets(question) if facets is None else facets
    confident_hits = [hits[0], *(h for h in hits[1:] if kb.is_confident(h) and not kb.off_topic_words(question, h))]
    best = _facet_choice(kb, confident_hits, facets)
    return document_answer(kb, best, facets, asked_city, wants_more, emergency,
                           sources=[best, *(h for h in confident_hits if h is not best)],
                           suggestions=[h.title for h in hits if h is not best], question=question)


def _answers_facets(kb: KnowledgeBase, hit: Hit, facets: tuple[str, ...]) -> bool:
    return all(max(kb.facets.scores(hit.document, f), default=0.0) >= ANSWERS_FACET for f in facets)


def _facet_choice(kb: KnowledgeBase, hits: list[Hit], facets: tuple[str, ...]) -> Hit:
    """Among close documents, a little preference for one that has a section for the asked facet."""
    best = hits[0]
    if not facets:
        return best

    def weight(hit: Hit) -> float:
        return hit.score * (1 + SECTION_FACET * _answers_facets(kb, hit, facets))

    close = [h for h in hits if h.score >= FACET_SWITCH * best.score]
    return max(close, key=weight)


def _chosen_sections(kb: KnowledgeBase, hit: Hit, facets: tuple[str, ...],
                     question: str) -> tuple[list[int], list[str]]:
    """Indexes of the sections to show (one per asked facet, in the order asked; the most relevant one when no
    facet is asked), and the facets no section answers. A section is chosen by its heading naming the facet
    (facets.tsv), its heading sharing the question's words, and its text matching the question."""
    sections = kb.facets.sections(hit.document)
    scores = hit.passage_scores
    top = max(scores, default=0.0) or 1.0
    tokens = kb.analyzer.question(question) if question else None
    echo = kb.facets.echo(hit.document, kb.question_forms(question)[:2]) if question else [0.0] * len(sections)
    base = []
    for n, section in enumerate(sections):
        relevance = max((scores[p.number] for p in section.passages if p.number < len(scores)), default=0.0) / top
        overlap = kb.heading_overlap(tokens, section.heading) if tokens is not None else 0.0
        base.append(SECTION_RELEVANCE * relevance + HEADING_OVERLAP * overlap + HEADING_ECHO * echo[n]
                    + (FIRST_SECTION if n == 0 else 0.0))
    if not facets:
        return [max(range(len(sections)), key=lambda i: base[i])], []
    chosen: list[int] = []
    missing: list[str] = []
    for facet in facets:
        facet_scores = kb.facets.scores(hit.document, facet)
        if max(facet_scores, default=0.0) < ANSWERS_FACET:
            missing.append(facet)
            continue
        # The first section headed for the facet usually gives the general answer, later ones special cases.
        first_headed = next((i for i, x in enumerate(facet_scores) if x >= HEADING_MATCH), -1)
        n = max(range(len(sections)), key=lambda i: FACET_WEIGHT * facet_scores[i] + base[i]
                + (FIRST_HEADED if i == first_headed else 0.0))
        if n not in chosen:
            chosen.append(n)
    if not chosen:
        # No section answers what was asked: the most relevant one shows what the document has.
        chosen.append(max(range(len(sections)), key=lambda i: base[i]))
    return chosen, missing


def _sections_block(kb: KnowledgeBase, hit: Hit, chosen: list[int], limit: int) -> tuple[str, bool]:
    sections = kb.facets.sections(hit.document)
    budget = limit // len(chosen)
    parts = []
    cut = False
    for n in chosen:
        section = sections[n]
        label = f"【{section.heading}】" if section.heading and section.heading != hit.document.title else ""
        part = trim(label + section.text, budget)
        cut = cut or part.endswith("…")
        parts.append(part if n == chosen[-1] else part.removesuffix("…"))
    return "\n".join(parts), cut or len(sections) > len(chosen)


def document_answer(kb: KnowledgeBase, best: Hit, facets: tuple[str, ...], city: str, wants_more: bool,
                    emergency: Emergency | None = None, sources: list[Hit] | None = None,
                    suggestions: list[str] | None = None, question: str = "") -> Answer:
    """The answer from one document: the sections for the asked facets, or its most relevant passage."""
    missing: list[str] = []
    note = ""
    if wants_more:
        body, has_more = _passage_block(best, LONG_CHARS)
        shown: tuple[str, ...] = tuple(dict.fromkeys(p.section for p in best.document.passages))
    else:
        chosen, missing = _chosen_sections(kb, best, facets, question)
        if missing:
            asked = "、".join(kb.facets.labels[f] for f in missing)
            note = f"{NOT_WRITTEN}“{asked}”，下面是它写的内容，具体可以问社工站：\n"
        if chosen:
            body, has_more = _sections_block(kb, best, chosen, SHORT_CHARS - len(note))
            shown = tuple(kb.facets.sections(best.document)[n].heading for n in chosen)
        else:
            body, has_more = _passage_block(best, SHORT_CHARS - len(note))
            shown = (best.passage.section,)
    body = note + body
    more = "\n（回复“详细”看更多内容）" if has_more and not wants_more else ""
    warning = safety_text(emergency) + "\n\n" if emergency else ""
    text = f"{warning}{region_note(best, city)}{body}{more}\n\n📄 来源：{best.document.citation()}"
    return Answer(text, True, (sources or [best])[:3], suggestions or [], body, shown, facets,
                  urgent=emergency.kind if emergency else "")


def not_sure(hits: list[Hit], referral: Referral | None = None, emergency: Emergency | None = None) -> Answer:
    lines = [f"{NOT_SURE}，知识库里没有找到可靠的答案，怕说错误导您。"]
    if referral is not None and referral.key != FALLBACK_REFERRAL:
        lines.append(f"这类问题可以找：{referral.office}。")
    lines += ["您可以：", "· 点下面的相关主题看看；", "· 联系所在镇（街）社工站，社工会当面帮您；",
              "· 拨打 12345 政务服务热线咨询。"]
    related = [h.title for h in hits if h.coverage > 0.2][:3]
    if not related:
        lines.remove("· 点下面的相关主题看看；")
    text = "\n".join(lines)
    if emergency is not None:
        text = safety_text(emergency) + "\n\n" + text
    return Answer(text, False, hits, related, referral=referral.key if referral else "",
                  urgent=emergency.kind if emergency else "")
