"""The needs and services categories of the monthly report (data/service_categories.tsv), validated on load:
an error names the file and line."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.engine.normalize import to_simplified

CATEGORIES_FILE = Path(__file__).parent / "data" / "service_categories.tsv"
OTHER = "其他"  # a note that matches no category


class CategoriesError(ValueError):
    """A problem in the categories file; the message says where (file:line) and what, in Chinese."""


@dataclass(frozen=True)
class ServiceCategories:
    names: tuple[str, ...]
    keywords: tuple[tuple[str, tuple[str, ...]], ...]
    # One pattern per category, and the answers for notes seen before (notes repeat: "需要助餐").
    _patterns: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, repr=False, compare=False)
    _seen: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        patterns = tuple((name, re.compile("|".join(map(re.escape, words)))) for name, words in self.keywords)
        object.__setattr__(self, "_patterns", patterns)

    def of(self, text: str) -> tuple[str, ...]:
        """The categories a note falls into (() for an empty note, (其他,) when none matches)."""
        found = self._seen.get(text)
        if found is None:
            simple = to_simplified(text.strip())
            found = ()
            if simple:
                found = tuple(name for name, pattern in self._patterns if pattern.search(simple)) or (OTHER,)
            if len(self._seen) < 100_000:
                self._seen[text] = found
        return found


def parse_categories(text: str, source: str) -> ServiceCategories:
    entries: list[tuple[str, tuple[str, ...]]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{source}:{number}"
        fields = line.split("\t")
        if len(fields) != 2:
            raise CategoriesError(f"{where}：每行应为“类别<Tab>关键词、关键词…”两列，这一行有 {len(fields)} 列")
        name, words_text = fields[0].strip(), fields[1].strip()
        if not name:
            raise CategoriesError(f"{where}：类别名称是空的")
        if name == OTHER:
            raise CategoriesError(f"{where}：“{OTHER}”是保留的类别（没有匹配任何类别的记录），不需要写在文件里")
        if name in seen:
            raise CategoriesError(f"{where}：类别“{name}”重复（第 {seen[name]} 行已有）")
        words = tuple(w.strip() for w in words_text.split("、"))
        if not words_text or any(not w for w in words):
            raise CategoriesError(f"{where}：类别“{name}”的关键词有空项（用 、 分隔，不要连续或结尾写 、）")
        seen[name] = number
        entries.append((name, tuple(to_simplified(w) for w in words)))
    if not entries:
        raise CategoriesError(f"{source}：文件里没有任何类别")
    return ServiceCategories(tuple(n for n, _ in entries) + (OTHER,), tuple(entries))


def load_categories(path: Path = CATEGORIES_FILE) -> ServiceCategories:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CategoriesError(f"{path}：无法读取（{exc}）") from exc
    return parse_categories(text, str(path))


@functools.lru_cache(maxsize=1)
def default_categories() -> ServiceCategories:
    return load_categories()
