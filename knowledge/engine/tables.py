"""Term tables that administrators maintain as data files, validated on load."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class TableError(ValueError):
    """A data file has a bad line; the message names the file and the line number."""


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TableError(f"{path}: 不是 UTF-8 编码的文本文件 ({exc.reason})") from exc
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def _read_pairs(path: Path, allow_empty_value: bool = False) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or (not parts[1].strip() and not allow_empty_value):
            raise TableError(f"{path}:{number}: 每行应为“原词<TAB>替换词”，实际为 {line!r}")
        key, value = parts[0].strip(), parts[1].strip()
        if key in pairs and pairs[key] != value:
            raise TableError(f"{path}:{number}: {key!r} 已在前面映射为 {pairs[key]!r}，不能再映射为 {value!r}")
        pairs[key] = value
    return pairs


def _read_words(path: Path) -> list[str]:
    words: list[str] = []
    for number, line in _lines(path):
        for word in line.split():
            if len(word) > 20:
                raise TableError(f"{path}:{number}: 词条过长 {word!r}")
            words.append(word)
    return words


def _read_cities(path: Path) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for number, line in _lines(path):
        parts = line.split("\t")
        if not parts[0].strip():
            raise TableError(f"{path}:{number}: 第一列应为城市全称")
        for alias in parts:
            aliases[alias.strip()] = parts[0].strip()
    return aliases


FACET_KINDS = ("label", "ask", "ask_start", "ask_end", "heading", "special", "text", "near")
FALLBACK_REFERRAL = "12345"
FIRST_SECTION = "开头"  # in facets.tsv "near": the document's first section


@dataclass(frozen=True)
class Referral:
    """Where a question outside the knowledge base is sent: `office` is the sentence shown."""

    key: str
    office: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Emergency:
    """A kind of immediate danger and what to call; `advice` is the sentence shown, `office` the referral key a
    refusal points to ("" for none)."""

    kind: str
    advice: str
    words: tuple[str, ...]
    office: str = ""


def _split_words(path: Path, number: int, field_text: str) -> tuple[str, ...]:
    words = tuple(field_text.split())
    for word in words:
        if len(word) > 20:
            raise TableError(f"{path}:{number}: 词条过长 {word!r}")
    return words


def _read_facets(path: Path, facets: dict[str, dict[str, list[str]]]) -> None:
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 3 or not parts[0].strip() or not parts[2].strip():
            raise TableError(f"{path}:{number}: 每行应为“方面<TAB>类别<TAB>词语”，实际为 {line!r}")
        facet, kind = parts[0].strip(), parts[1].strip()
        if kind not in FACET_KINDS:
            raise TableError(f"{path}:{number}: 类别应为 {'、'.join(FACET_KINDS)} 之一，实际为 {kind!r}")
        words = _split_words(path, number, parts[2])
        if kind == "label":
            if len(words) != 1:
                raise TableError(f"{path}:{number}: label 只能写一个短语，实际为 {parts[2]!r}")
            facets.setdefault(facet, {}).pop("label", None)
        facets.setdefault(facet, {}).setdefault(kind, []).extend(words)
    for facet, kinds in facets.items():
        missing = [k for k in ("label", "ask", "heading") if not kinds.get(k)]
        if missing:
            raise TableError(f"{path}: 方面 {facet!r} 缺少 {'、'.join(missing)} 行")
        unknown = [f for f in kinds.get("near", []) if f not in facets and f != FIRST_SECTION]
        if unknown:
            raise TableError(f"{path}: 方面 {facet!r} 的 near 行写了不存在的方面 {'、'.join(unknown)}")


def _read_keyed_rows(path: Path, what: str, allow_empty: set[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    rows: list[tuple[str, str, tuple[str, ...]]] = []
    for number, line in _lines(path):
        parts = [x.strip() for x in line.split("\t")]
        if len(parts) == 2 and parts[0] in allow_empty:
            parts.append("")
        if len(parts) != 3 or not parts[0] or not parts[1] or (not parts[2] and parts[0] not in allow_empty):
            raise TableError(f"{path}:{number}: 每行应为“{what}<TAB>提示<TAB>词语”，实际为 {line!r}")
        rows.append((parts[0], parts[1], _split_words(path, number, parts[2])))
    return rows


@dataclass
class TermTables:
    domain_terms: list[str] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    dialect: dict[str, str] = field(default_factory=dict)
    typos: dict[str, str] = field(default_factory=dict)
    stopwords: set[str] = field(default_factory=set)
    cities: dict[str, str] = field(default_factory=dict)
    # Question words that help pick the passage (哪里, 多久) but say nothing about the topic.
    soft_words: set[str] = field(default_factory=set)
    # Words that say what kind of help (申请, 补贴), never which policy: see generic_words.txt.
    generic_words: set[str] = field(default_factory=set)
    # facet → kind (label, ask, heading, text) → words; see facets.tsv
    facets: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    referrals: dict[str, Referral] = field(default_factory=dict)
    emergencies: dict[str, Emergency] = field(default_factory=dict)

    @classmethod
    def load(cls, *dirs: Path) -> TermTables:
        """Built-in tables, then each extra folder's files of the same names (later lines win)."""
        tables = cls()
        for folder in (DATA_DIR, *dirs):
            folder = Path(folder)
            if (p := folder / "domain_dict.txt").exists():
                tables.domain_terms += _read_words(p)
            if (p := folder / "synonyms.tsv").exists():
                tables.synonyms.update(_read_pairs(p))
            if (p := folder / "dialect.tsv").exists():
                tables.dialect.update(_read_pairs(p, allow_empty_value=True))
            if (p := folder / "typos.tsv").exists():
                tables.typos.update(_read_pairs(p))
            if (p := folder / "stopwords.txt").exists():
                tables.stopwords.update(_read_words(p))
            if (p := folder / "soft_words.txt").exists():
                tables.soft_words.update(_read_words(p))
            if (p := folder / "generic_words.txt").exists():
                tables.generic_words.update(_read_words(p))
            if (p := folder / "cities.tsv").exists():
                tables.cities.update(_read_cities(p))
            if (p := folder / "facets.tsv").exists():
                _read_facets(p, tables.facets)
            if (p := folder / "referrals.tsv").exists():
                for key, office, words in _read_keyed_rows(p, "去处", {FALLBACK_REFERRAL}):
                    tables.referrals[key] = Referral(key, office, words)
                if FALLBACK_REFERRAL not in tables.referrals:
                    raise TableError(f"{p}: 缺少“{FALLBACK_REFERRAL}”一行（其他问题的去处）")
            if (p := folder / "emergencies.tsv").exists():
                for number, line in _lines(p):
                    parts = [x.strip() for x in line.split("\t")]
                    if len(parts) != 4 or not all(parts):
                        raise TableError(f"{p}:{number}: 每行应为“情况<TAB>去处<TAB>提示<TAB>词语”，实际为 {line!r}")
                    kind, office, advice, word_text = parts
                    if office != "-" and office not in tables.referrals:
                        raise TableError(f"{p}:{number}: 去处 {office!r} 不在 referrals.tsv 里（不转介写 -）")
                    tables.emergencies[kind] = Emergency(kind, advice, _split_words(p, number, word_text),
                                                         "" if office == "-" else office)
        return tables
