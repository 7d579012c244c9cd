"""Documents in, passages out: Markdown with front matter, plain text and web HTML."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.html import extract_article

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
PASSAGE_CHARS = 320  # about one phone screen
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.、)]|[（(]\d+[)）])\s*")
SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")
EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
CLAUSE_END = re.compile(r"(?<=[，,、：:])")


class IngestError(ValueError):
    """This file cannot become a document; the message says why, in Chinese, for the report."""


@dataclass(frozen=True, slots=True)
class Passage:
    doc: Document
    number: int
    headings: tuple[str, ...]
    text: str

    @property
    def path(self) -> str:
        return self.doc.path


@dataclass(eq=False)
class Document:
    path: str  # relative to the knowledge-base root, "/" separated
    title: str
    body: str  # Markdown-like text without front matter
    source: str = ""
    year: str = ""
    region: str = ""
    passages: list[Passage] = field(default_factory=list)

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


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    if not text.startswith("---"):
        return {}, text
    end = re.search(r"^---\s*$", text[3:], re.M)
    if not end:
        return {}, text
    meta: dict[str, str] = {}
    for line in text[3 : 3 + end.start()].splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            meta[key.strip().lower()] = value.strip().strip("'\"")
    return meta, text[3 + end.end() :].lstrip("\n")


def parse_document(path: str, raw: bytes) -> Document:
    """One file's bytes to a Document; raises IngestError with the reason it cannot be used."""
    kind = SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        raise IngestError(f"不支持的文件类型（支持 {'、'.join(sorted(SUFFIXES))}）")
    text = decode(raw, path).replace("\r\n", "\n")
    stem = Path(path).stem
    if kind == "markdown":
        meta, body = parse_front_matter(text)
        first_heading = next((m.group(2) for ln in body.splitlines() if (m := HEADING.match(ln))), "")
        # Chat apps show Markdown emphasis as literal asterisks: keep the words, drop the marks.
        body = EMPHASIS.sub(r"\2", body)
        doc = Document(path, meta.get("title") or first_heading or stem, body.strip(),
                       meta.get("source", ""), str(meta.get("year", "")), meta.get("region", ""))
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


def _blocks(body: str) -> Iterator[tuple[tuple[str, ...], str]]:
    """(heading path, paragraph) pairs; list items stay together with their paragraph."""
    headings: list[tuple[int, str]] = []
    para: list[str] = []

    def path() -> tuple[str, ...]:
        return tuple(h for _, h in headings)

    for line in body.splitlines():
        if m := HEADING.match(line):
            if para:
                yield path(), "\n".join(para)
                para = []
            level = len(m.group(1))
            headings = [(lv, h) for lv, h in headings if lv < level] + [(level, m.group(2))]
        elif not line.strip():
            if para and not LIST_ITEM.match(para[-1]):
                yield path(), "\n".join(para)
                para = []
        else:
            if para and LIST_ITEM.match(para[-1]) and not LIST_ITEM.match(line) and not line.startswith(" "):
                yield path(), "\n".join(para)
                para = []
            para.append(line.strip())
    if para:
        yield path(), "\n".join(para)


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
    pending: tuple[tuple[str, ...], str] | None = None
    for headings, paragraph in _blocks(doc.body):
        for chunk in _chunks(paragraph):
            if pending and pending[0] == headings and len(pending[1]) + len(chunk) <= PASSAGE_CHARS:
                pending = (headings, pending[1] + "\n" + chunk)
                continue
            if pending:
                yield Passage(doc, number, *pending)
                number += 1
            pending = (headings, chunk)
    if pending:
        yield Passage(doc, number, *pending)


def iter_files(root: Path) -> Iterator[Path]:
    """Every file under root (or root itself), hidden files and folders skipped, in a stable order."""
    if root.is_file():
        yield root
        return
    for p in sorted(root.rglob("*")):
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts):
            yield p


@dataclass
class LoadReport:
    documents: list[Document] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def load_tree(root: Path, progress=None) -> LoadReport:  # noqa: ANN001
    """Parse every supported file under root; paths are relative to root."""
    root = Path(root)
    report = LoadReport()
    seen: dict[str, str] = {}
    files = list(iter_files(root))
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
