"""Outside the knowledge base: which office a question belongs to (referrals.tsv), and messages about immediate
danger (emergencies.tsv). Both tables are data that administrators edit."""

from __future__ import annotations

import re

from knowledge.engine.tables import FALLBACK_REFERRAL, Emergency, Referral, TermTables

SAFETY_LINE = "⚠️ 如果现在有危险，请马上拨打 110（报警）或 120（急救）。"
SOCIAL_WORKER_OFFER = "需要社工帮忙，请回复“找社工”，社工会尽快联系您。"


def _keyed_pattern(rows: dict[str, tuple[str, ...]]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    owner: dict[str, str] = {}
    for key, words in rows.items():
        for word in words:
            owner.setdefault(word, key)
    longest_first = sorted(owner, key=len, reverse=True)
    return (re.compile("|".join(map(re.escape, longest_first))) if longest_first else None), owner


class Referrals:
    def __init__(self, tables: TermTables) -> None:
        self.table = tables.referrals
        self.fallback = tables.referrals.get(FALLBACK_REFERRAL, Referral(FALLBACK_REFERRAL, "12345 政务服务热线", ()))
        self._topic, self._topic_owner = _keyed_pattern({k: r.words for k, r in self.table.items()})
        self.emergencies = tables.emergencies
        self._danger, self._danger_owner = _keyed_pattern({k: e.words for k, e in self.emergencies.items()})

    def topic_words(self, *texts: str) -> list[str]:
        """Words of the question that name a topic some office other than ours handles (生育津贴, 工伤...)."""
        if self._topic is None:
            return []
        return list(dict.fromkeys(m.group(0) for text in texts for m in self._topic.finditer(text)))

    def refer(self, *texts: str) -> Referral:
        """The office for the question: the one for the danger it mentions (家暴 → 妇联), else the row of its
        longest topic word, else the fallback (12345)."""
        danger = self.emergency(*texts)
        if danger is not None and danger.office in self.table:
            return self.table[danger.office]
        words = self.topic_words(*texts)
        if not words:
            return self.fallback
        return self.table[self._topic_owner[max(words, key=len)]]

    def emergency(self, *texts: str) -> Emergency | None:
        if self._danger is None:
            return None
        for text in texts:
            if m := self._danger.search(text):
                return self.emergencies[self._danger_owner[m.group(0)]]
        return None


def safety_text(emergency: Emergency) -> str:
    return f"{SAFETY_LINE}{emergency.advice}。\n{SOCIAL_WORKER_OFFER}"
