"""Term tables that administrators maintain as data files, validated on load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class TableError(ValueError):
    """A data file has a bad line; the message names the file and the line number."""


def _lines(path: Path):  # noqa: ANN202
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
            if (p := folder / "cities.tsv").exists():
                tables.cities.update(_read_cities(p))
        return tables
