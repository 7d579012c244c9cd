"""Follow-ups: the conversation's current topic (a document and what was asked about it) answers short,
elliptical questions (要几耐, 边度办, 咁深圳呢, 我系低保户呢) until a message names a new topic or half an hour
passes. Pure: the caller stores the topic (the bot keeps it in the user's dialog state) and passes the time."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from knowledge.answer import Answer, document_answer
from knowledge.engine.normalize import fold
from knowledge.facets import ANSWERS_FACET
from knowledge.ingest import Document
from knowledge.kb import Hit, KnowledgeBase

TOPIC_LIFETIME = timedelta(minutes=30)
# A message that is only one of these asks for the last answer in full (详细).
MORE_WORDS = frozenset({"详细", "更多", "详细点", "详细啲", "讲详细啲", "全文", "继续"})
OWN_WORDS_SCORE = 2.0  # a follow-up's own words matching a passage this well choose what to show
FOLLOW_UP_CHARS = 24  # longer messages carry their own topic
PARTLY_MATCHED = 0.5  # a document found alone with less of the message's words than this may be a chance match
SAME_TOPIC_CANDIDATES = 5  # documents on the topic looked at for a follow-up the topic's document cannot answer
# 咁/那/如果… at the start or 呢 at the end: the message leans on what was said before.
LEANS_BACK = re.compile(
    r"^(?:咁|噉|那|那么|那如果|如果|假如|要是|万一|还有|另外|仲有|再问|又|定系|还是|然后|跟住|之后)|[呢咧嘞][?？!！。.~…\s]*$"
)
HYPOTHETICAL = re.compile(r"如果|假如|要是|万一|若果|假设")
# "我系低保户" says who the asker is (a fact for the current topic), not what they ask about.
ABOUT_ME = re.compile(
    r"^(?:我|我们|我哋|我家|我屋企|我老豆|我老窦|我阿爸|我阿妈|我爸|我妈|我老公|我老婆|佢|他|她|屋企)"
    r"(?:系|是|属于|算|都系|都是|也是|亦系)"
)


@dataclass(frozen=True)
class Topic:
    question: str  # the question that opened the topic
    path: str  # the document answering it
    facets: tuple[str, ...]  # what the latest question asked about it
    city: str  # the city the latest answer was for ("" = none named)
    at: datetime  # when the topic was last answered

    def fresh(self, now: datetime) -> bool:
        return now - self.at <= TOPIC_LIFETIME

    def as_data(self) -> dict[str, Any]:
        return {
            "q": self.question,
            "path": self.path,
            "facets": list(self.facets),
            "city": self.city,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_data(cls, data: Any) -> Topic | None:
        """The topic saved in a dialog state, or None for anything else (old or damaged state)."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                str(data["q"]),
                str(data["path"]),
                tuple(str(f) for f in data.get("facets", [])),
                str(data.get("city", "")),
                datetime.fromisoformat(str(data["at"])),
            )
        except (KeyError, ValueError, TypeError):
            return None


def topic_of(answer: Answer, question: str, city: str, now: datetime) -> Topic | None:
    if not answer.confident or not answer.sources:
        return None
    return Topic(question, answer.sources[0].path, answer.facets, city, now)


def _own_topic_words(kb: KnowledgeBase, text: str) -> list[str]:
    """The question's words that can name a topic: not stopwords, question words, facet words or cities."""
    forms = kb.question_forms(text)
    facet_words = kb.facets.ask_words_in(*forms)
    words = []
    for w in kb.analyzer.question(text).words:
        if (
            w in kb.tables.soft_words
            or w in kb.tables.generic_words
            or kb.city_in(w)
            or len(w) < 2
            or any(w in f for f in facet_words)
        ):
            continue
        words.append(w)
    return words


def names_new_topic(kb: KnowledgeBase, text: str, answer: Answer, topic: Topic) -> bool:
    """A confident answer from another document, for a word the current topic's document is not about."""
    if not answer.confident or not answer.sources or answer.sources[0].path == topic.path:
        return False
    current = kb.document(topic.path)
    if current is None:
        return True
    new_about, old_about = kb.about(answer.sources[0].document), kb.about(current)
    terms = set(kb.policy_terms_in(text))
    return any(
        w in new_about and w not in old_about and (w in terms or not _covers(current, w))
        for w in _own_topic_words(kb, text)
    )


def _covers(doc: Document, word: str) -> bool:
    """Whether the document's text speaks of the word. 读大学呢 after 特困儿童满18岁 stays: the 特困 document says
    what happens at university, though 大学 is a heading word of the 教育救助 document. A policy term
    (咁临时救助呢) names a new topic all the same."""
    return any(word in fold(p.text) for p in doc.passages)


def is_follow_up(kb: KnowledgeBase, text: str, answer: Answer, topic: Topic) -> bool:
    folded = fold(text).strip()
    if len(folded) > FOLLOW_UP_CHARS or names_new_topic(kb, text, answer, topic):
        return False
    if ABOUT_ME.search(folded) or (HYPOTHETICAL.search(folded) and LEANS_BACK.search(folded)):
        return True  # 我系低保户; 那如果她户口迁过来呢 (a situation, even one other offices handle)
    current = kb.document(topic.path)
    if current is not None and kb.off_topic_words_for(text, current):
        return False  # 生育津贴呢: a topic other offices handle, not a question about this document
    if LEANS_BACK.search(folded) or kb.city_in(folded):
        return True
    own = _own_topic_words(kb, text)
    asks = bool(kb.facets.asked(*kb.question_forms(text)))
    mandarin = kb.question_forms(text)[2]
    foreign = [w for w in own if _foreign(kb, w, mandarin)]
    if foreign and (len(foreign) == len(own) or not asks):
        return False  # 今日恒指几多点, 明天会不会落雨: words no document uses are about something else
    if not own:
        # 有补贴吗, 怎么申请, 住家里谁照顾 ask about the topic; 好的, 知道了 (stopwords only) ask nothing.
        return asks or bool(kb.analyzer.question(text).words)
    if not answer.confident or answer.sources[0].path == topic.path:
        return True
    # 批咗之后可唔可以留喺屋企住 after 特困人员要咩条件: the document found alone (留守儿童, whose parents 留在家)
    # has only part of the message's words, no policy term and no heading word of it; read with the topic, a
    # document on the topic that has the message's words ranks above it.
    return (
        current is not None
        and answer.sources[0].coverage < PARTLY_MATCHED
        and not kb.policy_terms_in(text)
        and _topic_ranks_first(kb, text, topic, current, answer)
    )


def _names(kb: KnowledgeBase, text: str, new: Document, old: Document) -> bool:
    """Whether the message uses a word (facet words too: 投诉) that the new document's title and headings
    name and the old one's do not."""
    new_about, old_about = kb.about(new), kb.about(old)
    words = kb.analyzer.question(text).words
    return any(len(w) > 1 and w in new_about and w not in old_about for w in words)


def _foreign(kb: KnowledgeBase, word: str, text: str = "") -> bool:
    """No document uses the word or any two characters of it in a row, nor its first or last character with
    the one next to it in the message (留在家住 cut as 留在/家住 has 在家)."""
    if len(word) < 2:
        return False
    at = text.find(word) if text else -1
    span = text[max(0, at - 1) : at + len(word) + 1] if at >= 0 else word
    return not any(kb.used_anywhere(span[i : i + 2]) for i in range(len(span) - 1))


def _topic_ranks_first(kb: KnowledgeBase, text: str, topic: Topic, doc: Document, answer: Answer) -> bool:
    """Whether, searched together with the topic, another document on the topic that has the message's own
    words ranks above the document the message finds alone."""
    about = kb.facets.without_ask_words(topic.question)
    for hit in kb.search(f"{about} {text}", k=SAME_TOPIC_CANDIDATES, city=topic.city):
        if hit.path == answer.sources[0].path:
            return False
        if (
            hit.path != doc.path
            and kb.same_topic(doc, hit.document)
            and max(kb.passage_scores(text, hit.document), default=0.0) >= OWN_WORDS_SCORE
        ):
            return True
    return False


def _other_on_topic(
    kb: KnowledgeBase, text: str, topic: Topic, doc: Document, city: str
) -> tuple[Document | None, tuple[float, ...]]:
    """Another document on the topic that has the message's own words (at least OWN_WORDS_SCORE in a passage),
    the best of them, and its passage scores. Not the topic's first question's document again: 批下来要多久 is
    not about what that question was about."""
    about = kb.facets.without_ask_words(topic.question)
    best_other: Document | None = None
    best_scores: tuple[float, ...] = (OWN_WORDS_SCORE,)
    for hit in kb.search(f"{about} {text}", k=SAME_TOPIC_CANDIDATES, city=city):
        if hit.path != doc.path and kb.same_topic(doc, hit.document):
            other_scores = kb.passage_scores(text, hit.document)
            if max(other_scores, default=0.0) >= max(best_scores):
                best_other, best_scores = hit.document, other_scores
    return best_other, best_scores


def answer_in_topic(kb: KnowledgeBase, text: str, topic: Topic, city: str, now: datetime) -> tuple[Answer, Topic]:
    """Answer an elliptical question against the current topic: its document, the facet asked now (or the
    last one), and the city named now (or before)."""
    forms = kb.question_forms(text)
    # 咁如果好急呢 asks about a situation, not the last facet again.
    hypothetical = HYPOTHETICAL.search(fold(text)) is not None
    facets = kb.facets.asked(*forms) or (() if hypothetical else topic.facets)
    named_city = kb.city_in(text)
    doc = kb.document(topic.path)
    assert doc is not None
    if named_city and named_city != topic.city:
        # 咁深圳呢: the same question for another city may have a document of its own, if that document answers
        # the same facet (咁深圳呢 after 低保要几耐 is not about Shenzhen's amounts in a standards document).
        again = kb.answer(f"{topic.question} {text}", city=named_city)
        if again.confident and (
            again.sources[0].path == doc.path or all(kb.facets.headed(again.sources[0].document, f) for f in facets)
        ):
            return again, replace(
                topic, path=again.sources[0].path, facets=again.facets or facets, city=named_city, at=now
            )
    asked_now = kb.facets.asked(*forms)
    if asked_now and not all(kb.facets.headed(doc, f) for f in asked_now):
        # 要带咩 after 低保要多久: another document on the same topic may have a section for it. The topic's
        # question without its own facet words (多久) says what the topic is.
        about = kb.facets.without_ask_words(topic.question)
        where = named_city or topic.city or city
        again = kb.answer_for_facets(f"{about} {text}", asked_now, city=where)
        # Past the answer's three sources, the next documents on the topic too (收唔收钱 after 社工站喺边度: the
        # services document with 要不要交钱 ranks fourth).
        candidates = [*again.sources, *kb.search(f"{about} {text}", k=SAME_TOPIC_CANDIDATES, city=where)]
        for hit in candidates if again.confident else []:
            if (
                hit.path != doc.path
                and kb.same_topic(doc, hit.document)
                and all(kb.facets.headed(hit.document, f) for f in asked_now)
            ):
                moved = document_answer(
                    kb, hit, asked_now, where, False, kb.referrals.emergency(*forms), question=f"{about} {text}"
                )
                return moved, replace(topic, path=hit.path, facets=asked_now, at=now)
        alone = kb.answer(text, city=where)
        if (
            alone.confident
            and alone.sources[0].path != doc.path
            and not all(max(kb.facets.scores(doc, f), default=0.0) >= ANSWERS_FACET for f in asked_now)
            and all(kb.facets.headed(alone.sources[0].document, f) for f in asked_now)
            and _names(kb, text, alone.sources[0].document, doc)
        ):
            # 可以投诉吗 after 低保申请被拒: the topic's document says nothing about it, a document headed for
            # it answers the message on its own.
            return alone, replace(topic, path=alone.sources[0].path, facets=asked_now, at=now)
    own = _own_topic_words(kb, text)
    own_scores = kb.passage_scores(text, doc) if own else ()
    if own and max(own_scores, default=0.0) < OWN_WORDS_SCORE:
        # 批咗之后可唔可以留喺屋企住 after 特困人员要咩条件: words this document hardly has may be what a
        # document on the same topic is about.
        # The one of them that has the message's words best (not the topic's first question's document again:
        # 批下来要多久 is not about what that question was about).
        where = named_city or topic.city or city
        best_other, best_scores = _other_on_topic(kb, text, topic, doc, where)
        if best_other is not None:
            asked_now = kb.facets.asked(*forms)
            lead = max(range(len(best_scores)), key=lambda n: best_scores[n])
            passage = best_other.passages[lead]
            hit = Hit(best_other.path, best_other.title, 0.0, passage.text, passage, 1.0, True, best_scores)
            moved = document_answer(kb, hit, asked_now, where, False, kb.referrals.emergency(*forms), question=text)
            return moved, replace(topic, path=best_other.path, facets=asked_now, at=now)
    if hypothetical and not own:
        own_scores = kb.passage_scores(text, doc)
    if max(own_scores, default=0.0) >= OWN_WORDS_SCORE:
        # 咁如果我有车呢: the message's own words pick the part of the document.
        scores = own_scores
        facets = kb.facets.asked(*forms)
    else:
        scores = kb.passage_scores(f"{text} {topic.question}", doc)
    best = max(range(len(doc.passages)), key=lambda n: scores[n]) if doc.passages else 0
    hit = Hit(doc.path, doc.title, 0.0, doc.passages[best].text, doc.passages[best], 1.0, True, scores)
    emergency = kb.referrals.emergency(*forms)
    answer = document_answer(
        kb,
        hit,
        facets,
        named_city or topic.city or city,
        False,
        emergency,
        question=text if scores is own_scores else f"{text} {topic.question}",
    )
    return answer, replace(topic, facets=facets, city=named_city or topic.city, at=now)


def answer_turn(
    kb: KnowledgeBase, text: str, topic: Topic | None, city: str, now: datetime
) -> tuple[Answer, Topic | None]:
    """One message of a conversation: the answer, and the topic to keep for the next message. A refusal keeps
    the previous topic, so that 详细 and later follow-ups still work."""
    answer = kb.answer(text, city=city)
    live = topic if topic is not None and topic.fresh(now) and kb.document(topic.path) is not None else None
    # A message about immediate danger is never read against the last topic (老人话唔想活了 after 长者饭堂
    # is not a question about meal fees): it gets its own answer, safety lines first.
    in_danger = kb.referrals.emergency(*kb.question_forms(text)) is not None
    if live is not None and not in_danger and is_follow_up(kb, text, answer, live):
        return answer_in_topic(kb, text, live, city, now)
    if (
        live is not None
        and answer.confident
        and live.facets
        and not answer.facets
        and LEANS_BACK.search(fold(text).strip())
    ):
        # 高龄津贴呢 after 长者饭堂边度办: the same question about another topic.
        answer = kb.answer_for_facets(text, live.facets, city=city)
    return answer, topic_of(answer, text, kb.city_in(text), now) or topic


def detail_answer(kb: KnowledgeBase, topic: Topic, city: str) -> Answer | None:
    """详细: the topic's document from its beginning, longer."""
    doc = kb.document(topic.path)
    if doc is None or not doc.passages:
        return None
    first = doc.passages[0]
    hit = Hit(doc.path, doc.title, 0.0, first.text, first, 1.0, True, tuple(0.0 for _ in doc.passages))
    return document_answer(kb, hit, topic.facets, topic.city or city, True)
