"""Casework vocabulary that administrators edit as data files, validated on load (errors name file and line).

handlers/casework/data/categories.tsv  case categories and their other spellings: ONE table, used by the roster
                                    import and by the reminder rules, so a spelling one accepts the other does too
handlers/casework/data/roster_headers.tsv column names seen in stations' roster sheets, and footer words
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CATEGORIES_FILE = DATA_DIR / "categories.tsv"
HEADERS_FILE = DATA_DIR / "roster_headers.tsv"
# The fields the import understands, in the order the store keeps them; then optional history columns.
FIELDS = ("姓名", "类别", "村居", "住址", "电话", "身份证号", "风险等级", "负责社工")
HISTORY_FIELDS = ("上次走访日期", "上次入户日期", "上次评估日期")
REQUIRED = ("姓名", "类别", "身份证号")
FOOTER_KEY = "(表尾)"
_SPACES = re.compile(r"\s+")


class TableError(ValueError):
    """A casework data file has a bad line; the message names the file and the line number."""


def spelling_key(text: str) -> str:
    """How spellings are compared: full-width folded to half-width, no spaces anywhere."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TableError(f"{path}: 不是 UTF-8 编码的文本文件（{exc.reason}）") from None
    except OSError as exc:
        raise TableError(f"读不到数据文件 {path}：{exc.strerror}") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip() and not raw.lstrip().startswith("#"):
            yield number, [cell.strip() for cell in raw.split("\t")]


# -- categories -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CategoryTable:
    names: tuple[str, ...]  # the categories, in the file's order
    spellings: dict[str, str]  # spelling_key(any accepted spelling, the name itself too) → category
    path: Path

    def canonical(self, text: str) -> str | None:
        return self.spellings.get(spelling_key(text))

    def aliases(self) -> dict[str, str]:
        """Other spelling → category (keys compared with spelling_key)."""
        return {k: v for k, v in self.spellings.items() if k != v}


def load_categories(path: Path = CATEGORIES_FILE) -> CategoryTable:
    names: list[str] = []
    spellings: dict[str, str] = {}
    for number, cells in _rows(path):
        if not cells[0]:
            raise TableError(f"{path}:{number}: 第一列应为类别名")
        if any(not c for c in cells[1:]):
            raise TableError(f"{path}:{number}: 有空的写法（两个 TAB 连在一起，或行尾多了 TAB）")
        name = cells[0]
        if spelling_key(name) != name:
            raise TableError(f"{path}:{number}: 类别名“{name}”不要含空格或全角字母数字")
        if len(name) > 16:
            raise TableError(f"{path}:{number}: 类别名“{name}”过长（最多 16 个字）")
        for spelling in cells:
            key = spelling_key(spelling)
            if key in spellings and (spellings[key] != name or spelling == name):
                raise TableError(
                    f"{path}:{number}: “{spelling}”已在前面归入“{spellings[key]}”，一个写法只能属于一个类别"
                )
            spellings[key] = name
        names.append(name)
    if not names:
        raise TableError(f"{path}: 没有任何类别")
    return CategoryTable(tuple(names), spellings, path)


@lru_cache(maxsize=4)
def _cached_categories(path: str, _mtime: float) -> CategoryTable:
    return load_categories(Path(path))


def current_categories(path: Path = CATEGORIES_FILE) -> CategoryTable:
    """The table, read again when the file changed."""
    try:
        stamp = path.stat().st_mtime
    except OSError as exc:
        raise TableError(f"读不到数据文件 {path}：{exc.strerror}") from None
    return _cached_categories(str(path), stamp)


# -- roster headers ---------------------------------------------------------------------------
def header_key(text: str) -> str:
    """A header cell compared: spelling_key without the asterisks that mark required columns, or a colon."""
    return spelling_key(text).strip("*:").replace("*", "")


@dataclass(frozen=True)
class HeaderTable:
    fields: dict[str, str]  # header_key(column name) → field
    footer_words: tuple[str, ...]
    path: Path

    def field_of(self, header: str) -> str | None:
        return self.fields.get(header_key(header))

    def is_footer(self, first_cell: str) -> str:
        """The footer word the text starts with, or ""."""
        text = spelling_key(first_cell)
        return next((w for w in self.footer_words if text.startswith(w)), "")

    def synonyms(self, field: str) -> list[str]:
        return [k for k, v in self.fields.items() if v == field and k != field]


def load_headers(path: Path = HEADERS_FILE) -> HeaderTable:
    known = (*FIELDS, *HISTORY_FIELDS)
    fields: dict[str, str] = {}
    footer: list[str] = []
    for number, cells in _rows(path):
        head, rest = cells[0], cells[1:]
        if any(not c for c in rest):
            raise TableError(f"{path}:{number}: 有空的列名（两个 TAB 连在一起，或行尾多了 TAB）")
        if head == FOOTER_KEY:
            footer += [spelling_key(c) for c in rest]
            continue
        if head not in known:
            raise TableError(f"{path}:{number}: 第一列应为字段名（{'、'.join(known)}）或 {FOOTER_KEY}，现在是“{head}”")
        for name in cells:
            key = header_key(name)
            if key in fields and fields[key] != head:
                raise TableError(f"{path}:{number}: 列名“{name}”已在前面对应“{fields[key]}”，一个列名只能对应一个字段")
            fields[key] = head
    missing = [f for f in known if f not in fields]
    if missing:
        raise TableError(f"{path}: 缺少字段 {'、'.join(missing)} 的行")
    return HeaderTable(fields, tuple(footer), path)


@lru_cache(maxsize=4)
def _cached_headers(path: str, _mtime: float) -> HeaderTable:
    return load_headers(Path(path))


def current_headers(path: Path = HEADERS_FILE) -> HeaderTable:
    try:
        stamp = path.stat().st_mtime
    except OSError as exc:
        raise TableError(f"读不到数据文件 {path}：{exc.strerror}") from None
    return _cached_headers(str(path), stamp)
