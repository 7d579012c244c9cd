"""Documents in, passages out: Markdown with front matter, plain text and web HTML."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from knowledge.html import extract_article

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
PASSAGE_CHARS = 320  # about one phone screen
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.、)]|[（(]\d+[)）])\s*")
SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")
EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
CLAUSE_END = re.compile(r"(?<=[，,、：:])")
FRONT_MATTER_END = re.compile(r"^---\s*$", re.MULTILINE)
CITED_SOURCES = 2  # source titles named in an answer's citation line
SOURCE_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


class IngestError(ValueError):
    """This file cannot become a document; the message says why, in Chinese, for the report."""


@dataclass(frozen=True, slots=True)
class Passage:
    doc: Document
    number: int
    headings: tuple[str, ...]
    text: str
    # The `## ` heading the passage sits under ("" before the first one): the unit an answer shows, named by
    # its facet (怎么申请, 要等多久...).
    section: str = ""

    @property
    def path(self) -> str:
        return self.doc.path


@dataclass(frozen=True, slots=True)
class Source:
    """One text a document relies on (front matter `sources:`, contract A)."""

    title: str
    issuer: str = ""
    number: str = ""  # 文号, e.g. 民发〔2021〕57号
    date: str = ""  # YYYY-MM-DD, YYYY-MM or YYYY
    url: str = ""  # official page; http(s) only
    unconfirmed: str = ""  # what could not be verified against an official text (e.g. 文号未核实)

    @property
    def year(self) -> str:
        return self.date[:4] if SOURCE_DATE.match(self.date) else ""

    def cited_title(self) -> str:
        return self.title if self.title.startswith("《") else f"《{self.title}》"


@dataclass(eq=False)
class Document:
    path: str  # relative to the knowledge-base root, "/" separated
    title: str
    body: str  # Markdown-like text without front matter
    source: str = ""  # free text: the old `source:` key, or the titles of `sources:`
    year: str = ""
    region: str = ""
    passages: list[Passage] = field(default_factory=list)
    sources: tuple[Source, ...] = ()
    reviewed: date | None = None  # when the text was last checked against its sources
    aliases: tuple[str, ...] = ()  # earlier paths of this document, still served
    # The file's front matter as written, up to the first body line: stored with an ingested document so that
    # `shegong kb check --ingested` reads it as the file was, with the same line numbers.
    front_matter: str = ""

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(re.sub(r"\s+", "", self.body).encode()).hexdigest()

    def citation(self) -> str:
        parts = [f"《{self.title}》"]
        if self.source:
            parts.append(self.source)
        if self.year:
            parts.append(f"{self.year}年")
        return "，".join(parts)


def decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw[:8192]:
        raise IngestError("是二进制文件，不是文本")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    else:
        # Valid UTF-8 that reads as gibberish (e.g. saved twice through Latin-1) is broken, not GBK.
        if _looks_like_text(text):
            return text
        raise IngestError("文字内容像是乱码（编码可能被转换过两次），请检查原文件")
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise IngestError("文字编码无法识别（请另存为 UTF-8）") from None
    if _looks_like_text(text):
        return text
    raise IngestError("文字编码无法识别（请另存为 UTF-8）")


def _looks_like_text(text: str) -> bool:
    sample = text[:4000]
    if not sample.strip():
        return True
    readable = sum(1 for c in sample if c.isprintable() or c in "\r\n\t")
    common = sum(1 for c in sample if c.isascii() or "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f"
                 or "\uff00" <= c <= "\uffef" or c in "“”‘’…—·")
    return readable / len(sample) > 0.97 and common / len(sample) > 0.85


class _Mapping(dict):
    """A YAML mapping that remembers its own line and the line of each key (1-based, in the file)."""

    line: int = 0
    key_lines: dict[str, int]


class _FrontMatterLoader(yaml.SafeLoader):
    """Safe YAML where every scalar stays the text written: `year: 2021`, `date: 2026-04-30` and
    `number: 649` are strings, as the older line-based parser read them."""


def _construct_mapping(loader: _FrontMatterLoader, node: yaml.MappingNode) -> _Mapping:
    result = _Mapping()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = str(loader.construct_object(key_node, deep=True)).strip().lower()
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_text(loader: _FrontMatterLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_FrontMatterLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
for _tag in ("bool", "int", "float", "timestamp"):
    _FrontMatterLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _construct_text)


@dataclass
class FrontMatter:
    """The YAML block between the opening and closing `---` lines, and where things are in the file."""

    fields: dict[str, Any]
    body: str
    body_line: int  # line number (1-based) in the file of the body's first line
    present: bool = False  # the file starts with a closed `---` block
    key_lines: dict[str, int] = field(default_factory=dict)
    error: str = ""  # why the block is not a YAML mapping (then `fields` comes from the older line parser)

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, 1)


def read_front_matter(text: str) -> FrontMatter:
    if not text.startswith("---") or not (end := FRONT_MATTER_END.search(text, 3)):
        return FrontMatter({}, text, 1)
    block = text[3 : end.start()]
    rest = text[end.end() :]
    body = rest.lstrip("\n")
    body_line = text.count("\n", 0, end.end()) + 1 + (len(rest) - len(body))
    try:
        # The block begins with the rest of the opening `---` line: YAML's line numbers are the file's, minus one.
        data = yaml.load(block, Loader=_FrontMatterLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第{mark.line + 1}行：" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return FrontMatter(_line_fields(block), body, body_line, True, _line_numbers(block),
                           f"{where}开头信息不是有效的 YAML（{problem}）")
    if data is None:
        return FrontMatter({}, body, body_line, True)
    if not isinstance(data, _Mapping):
        return FrontMatter(_line_fields(block), body, body_line, True, _line_numbers(block),
                           "开头信息应为“键: 值”的形式")
    return FrontMatter(dict(data), body, body_line, True, data.key_lines)


def _line_fields(block: str) -> dict[str, Any]:
    """The older parser: one `key: value` a line; keeps documents readable when their YAML is broken."""
    meta: dict[str, Any] = {}
    for line in block.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            meta[key.strip().lower()] = value.strip().strip("'\"")
    return meta


def _line_numbers(block: str) -> dict[str, int]:
    return {ln.partition(":")[0].strip().lower(): n for n, ln in enumerate(block.splitlines(), start=1)
            if ":" in ln and not ln.startswith((" ", "\t", "-"))}


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """The front matter's plain text values (lists and mappings left out) and the body."""
    front = read_front_matter(text)
    return {k: _text(v) for k, v in front.fields.items() if not isinstance(v, dict | list)}, front.body


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def parse_sources(value: object) -> tuple[Source, ...]:
    """The usable entries of `sources:`: mappings with a title. `shegong kb check` reports the rest."""
    if not isinstance(value, list):
        return ()
    sources = []
    for item in value:
        if isinstance(item, dict) and (title := _text(item.get("title"))):
            url = _text(item.get("url"))
            sources.append(Source(title, _text(item.get("issuer")), _text(item.get("number")),
                                  _text(item.get("date")), url if re.match(r"https?://", url) else "",
                                  _text(item.get("unconfirmed"))))
    return tuple(sources)


def parse_date(value: object) -> date | None:
    try:
        return date.fromisoformat(_text(value)) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", _text(value)) else None
    except ValueError:
        return None


def parse_aliases(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return tuple(alias for item in items if (alias := _text(item).strip("/")))


def sources_summary(sources: tuple[Source, ...]) -> tuple[str, str]:
    """The free-text source and year a citation line shows: the first titles (a phone line is short) and the
    latest year among all of them."""
    years = [s.year for s in sources if s.year]
    titles = "；".join(s.cited_title() for s in sources[:CITED_SOURCES])
    return titles + ("等" if len(sources) > CITED_SOURCES else ""), max(years, default="")


def parse_document(path: str, raw: bytes) -> Document:
    """One file's bytes to a Document; raises IngestError with the reason it cannot be used."""
    kind = SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        raise IngestError(f"不支持的文件类型（支持 {'、'.join(sorted(SUFFIXES))}）")
    text = decode(raw, path).replace("\r\n", "\n")
    stem = Path(path).stem
    if kind == "markdown":
        front = read_front_matter(text)
        meta = front.fields
        body = front.body
        head = text[: len(text) - len(body)] if front.present else ""
        first_heading = next((m.group(2) for ln in body.splitlines() if (m := HEADING.match(ln))), "")
        # Chat apps show Markdown emphasis as literal asterisks: keep the words, drop the marks.
        body = EMPHASIS.sub(r"\2", body)
        sources = parse_sources(meta.get("sources"))
        source, year = _text(meta.get("source")), _text(meta.get("year"))
        if sources:
            listed, latest = sources_summary(sources)
            source, year = source or listed, year or latest
        doc = Document(path, _text(meta.get("title")) or first_heading or stem, body.strip(), source, year,
                       _text(meta.get("region")), sources=sources, reviewed=parse_date(meta.get("reviewed")),
                       aliases=parse_aliases(meta.get("aliases")), front_matter=head)
    elif kind == "text":
        lines = [ln.strip() for ln in text.splitlines()]
        first = next((ln for ln in lines if ln), "")
        has_title = 0 < len(first) <= 40 and not first.endswith(("。", "；"))
        body = text.strip()
        if has_title:
            body = body[len(first):].strip() if body.startswith(first) else body
        doc = Document(path, first if has_title else stem, body)
    else:
        article = extract_article(text)
        doc = Document(path, article.title or stem, article.text, article.source, article.year)
    if len(re.sub(r"\s|#", "", doc.body)) < 10:
        raise IngestError("没有找到正文内容" if kind == "html" else "文件是空的或正文太短")
    doc.passages = list(split_passages(doc))
    return doc


def _blocks(body: str) -> Iterator[tuple[tuple[str, ...], str, str]]:
    """(heading path, section, paragraph) triples; list items stay together with their paragraph. The section
    is the paragraph's shallowest heading below the title (`## ` in a normal document), "" under the title."""
    headings: list[tuple[int, str]] = []
    para: list[str] = []

    def path() -> tuple[tuple[str, ...], str]:
        below_title = [h for lv, h in headings if lv > 1]
        return tuple(h for _, h in headings), below_title[0] if below_title else ""

    for line in body.splitlines():
        if m := HEADING.match(line):
            if para:
                yield *path(), "\n".join(para)
                para = []
            level = len(m.group(1))
            headings = [(lv, h) for lv, h in headings if lv < level] + [(level, m.group(2))]
        elif not line.strip():
            if para and not LIST_ITEM.match(para[-1]):
                yield *path(), "\n".join(para)
                para = []
        else:
            if para and LIST_ITEM.match(para[-1]) and not LIST_ITEM.match(line) and not line.startswith(" "):
                yield *path(), "\n".join(para)
                para = []
            para.append(line.strip())
    if para:
        yield *path(), "\n".join(para)


def _sentences(text: str) -> Iterator[str]:
    """Sentences, with run-on ones (commas only) cut at commas and, failing that, by length."""
    for sentence in SENTENCE_END.split(text):
        if len(sentence) <= PASSAGE_CHARS:
            yield sentence
            continue
        piece = ""
        for clause in CLAUSE_END.split(sentence):
            while len(clause) > PASSAGE_CHARS:
                yield clause[:PASSAGE_CHARS]
                clause = clause[PASSAGE_CHARS:]
            if piece and len(piece) + len(clause) > PASSAGE_CHARS:
                yield piece
                piece = ""
            piece += clause
        if piece:
            yield piece


def _chunks(text: str) -> Iterator[str]:
    if len(text) <= PASSAGE_CHARS * 1.4:
        yield text
        return
    current = ""
    for sentence in _sentences(text):
        if current and len(current) + len(sentence) > PASSAGE_CHARS:
            yield current
            current = ""
        current += sentence
    if current:
        yield current


def split_passages(doc: Document) -> Iterator[Passage]:
    """Paragraphs grouped under their heading into phone-sized passages."""
    number = 0
    pending: tuple[tuple[str, ...], str, str] | None = None
    for headings, section, paragraph in _blocks(doc.body):
        for chunk in _chunks(paragraph):
            if pending and pending[0] == headings and len(pending[2]) + len(chunk) <= PASSAGE_CHARS:
                pending = (headings, section, pending[2] + "\n" + chunk)
                continue
            if pending:
                yield Passage(doc, number, pending[0], pending[2], pending[1])
                number += 1
            pending = (headings, section, chunk)
    if pending:
        yield Passage(doc, number, pending[0], pending[2], pending[1])


# Why a path under an ingested folder is not read. Only regular files that really are in the folder are:
# a link could point anywhere (the data directory's secret.key, /etc/passwd), and ingested text is published.
SYMLINK = "是符号链接，未导入（请放入文件本身）"
HIDDEN = "是隐藏文件或文件夹，未导入"
OUTSIDE = "指向导入目录之外，未导入"
IN_DATA_DIR = "在数据目录中（存放数据库和密钥），未导入"
NOT_REGULAR = "不是普通文件，未导入"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _refusal(path: Path, root: Path, excluded: tuple[Path, ...], excluded_files: set[tuple[int, int]]) -> str:
    """Why `path` (not a directory) may not be read, or "" when it may."""
    if path.is_symlink():
        return SYMLINK
    if path.name.startswith("."):
        return HIDDEN
    if not path.is_file():
        return NOT_REGULAR  # a FIFO or device would block or never end
    resolved = path.resolve()
    if not _inside(resolved, root):
        return OUTSIDE
    info = path.stat()
    if any(_inside(resolved, folder) for folder in excluded) or (info.st_dev, info.st_ino) in excluded_files:
        return IN_DATA_DIR  # the second test catches a hard link to the key
    return ""


def _files_in(folders: tuple[Path, ...]) -> set[tuple[int, int]]:
    found: set[tuple[int, int]] = set()
    for folder in folders:
        for directory, _, names in os.walk(folder):
            for name in names:
                with contextlib.suppress(OSError):
                    info = os.lstat(os.path.join(directory, name))
                    found.add((info.st_dev, info.st_ino))
    return found


def walk_files(root: Path, exclude: Sequence[Path] = ()) -> Iterator[tuple[Path, str]]:
    """Every file under root (or root itself) in a stable order, each with "" when it may be read or the
    reason it may not: a symbolic link (never followed), anything resolving outside root, or anything inside
    an `exclude` folder (the data directory). Hidden files and folders under root are left out silently
    (version-control folders, editor files); a hidden file named as root itself is refused."""
    root = Path(root)
    excluded = tuple(Path(folder).resolve() for folder in exclude)
    excluded_files = _files_in(excluded)
    if not root.is_dir():
        yield root, _refusal(root, root.resolve().parent, excluded, excluded_files)
        return
    top = root.resolve()
    found: list[tuple[Path, str]] = []
    for directory, folders, names in os.walk(root):  # does not descend into linked folders
        here = Path(directory)
        for name in list(folders):
            if name.startswith("."):
                folders.remove(name)
            elif (here / name).is_symlink():
                folders.remove(name)
                found.append((here / name, SYMLINK))
            elif any(_inside((here / name).resolve(), folder) for folder in excluded):
                folders.remove(name)
                found.append((here / name, IN_DATA_DIR))
        found += [(here / name, _refusal(here / name, top, excluded, excluded_files))
                  for name in names if not name.startswith(".")]
    yield from sorted(found)


def iter_files(root: Path, exclude: Sequence[Path] = ()) -> Iterator[Path]:
    """The files under root (or root itself) that may be read (see walk_files), in a stable order."""
    return (path for path, refused in walk_files(root, exclude) if not refused)


@dataclass
class LoadReport:
    documents: list[Document] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def load_tree(root: Path, progress=None, exclude: Sequence[Path] = ()) -> LoadReport:
    """Parse every supported file under root; paths are relative to root. Files walk_files refuses (links,
    hidden files, anything outside root or inside an `exclude` folder) are reported as skipped, unread."""
    root = Path(root)
    report = LoadReport()
    seen: dict[str, str] = {}
    files = []
    for file, refused in walk_files(root, exclude):
        rel = file.name if root.is_file() or file == root else file.relative_to(root).as_posix()
        if refused:
            report.skipped.append((rel, refused))
        else:
            files.append(file)
    for file in files:
        rel = file.name if root.is_file() else file.relative_to(root).as_posix()
        try:
            doc = parse_document(rel, file.read_bytes())
        except IngestError as exc:
            if file.suffix.lower() in SUFFIXES or root.is_file():
                report.skipped.append((rel, str(exc)))
            else:
                report.skipped.append((rel, "不支持的文件类型"))
        except OSError as exc:
            report.skipped.append((rel, f"无法读取：{exc.strerror}"))
        else:
            if (first := seen.get(doc.content_hash)) is not None:
                report.skipped.append((rel, f"与 {first} 内容相同，未重复收录"))
            else:
                seen[doc.content_hash] = rel
                report.documents.append(doc)
        if progress:
            progress(rel)
    return report
