"""`shegong kb check`: the provenance rules of the policy documents (contracts A and B), checked file by file.

Every finding names the file and line. The date is passed in, so a document that is fine today and stale in a
year is tested with two dates rather than by waiting.
"""

from __future__ import annotations

import json
import posixpath
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from knowledge.ingest import (
    HEADING,
    LIST_ITEM,
    SUFFIXES,
    FrontMatter,
    IngestError,
    decode,
    iter_files,
    parse_date,
    read_front_matter,
)
from knowledge.kb import BUILTIN_DOCS

REGULATIONS = Path(__file__).resolve().parent / "data" / "regulations.tsv"
MARKDOWN = {suffix for suffix, kind in SUFFIXES.items() if kind == "markdown"}
INGESTED_PREFIX = "（已导入）"  # how a finding names a document read from the database rather than a file

# What each kind of finding is called in the summary.
KINDS = {
    "file": "无法读取",
    "front-matter": "开头信息",
    "title": "缺少标题",
    "sources": "来源信息",
    "reviewed": "核对日期",
    "superseded": "引用已被取代的法规",
    "new-law": "未对照新法核对",
    "figure": "数字没有来源或说明",
    "link": "内部链接失效",
    "alias": "别名重复或冲突",
}
KNOWN_KEYS = {"title", "region", "reviewed", "sources", "aliases", "supersedes_checked", "source", "year"}
SOURCE_KEYS = {"title", "issuer", "number", "date", "url", "unconfirmed"}
SOURCE_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-\d{2})?)?$")

# Contract B: an inline citation with a year, or a hedge deferring to local rules.
CITATION = re.compile(r"[（(](?:依据|来源)[：:][^）)]*\d{4}年?[^）)]*[）)]")
HEDGE = re.compile(r"以当地[^。！？\n]{0,40}?为准|各地标准不同")
REPLACED_WORDS = re.compile(r"取代|替代|代替|废止|失效|不再适用")
URL = re.compile(r"https?://\S+")
_NUM = r"\d+(?:[.,，]\d+)*"
_CN = r"[零〇一二两三四五六七八九十百千万]+"
# Amounts, percentages, time limits and ages. Calendar dates (7月1日, 2026年) are not figures.
FIGURE = re.compile(
    rf"(?:{_NUM}|(?<![下上这那每同当第统单]){_CN})\s*[万千百]?元(?![旦素宵])"
    rf"|{_NUM}\s*[%％]|百分之{_CN}"
    rf"|(?:{_NUM}|{_CN})\s*个?(?:工作日|自然日)"
    rf"|(?<![\d月]){_NUM}\s*(?:天|日)(?![期常])"
    rf"|(?:{_NUM}|(?<![下上这那每同当第]){_CN})\s*个月"
    rf"|(?:{_NUM}|{_CN})\s*周?岁"
    r"|(?<![\d.])\d{1,2}\s*年(?![级代])"
)
MARKDOWN_LINK = re.compile(r"\]\(\s*([^)\s]+)\s*\)")
DOCS_LINK = re.compile(r"(?<![\w/])/docs/([^\s)）\]\"'<>，。；]+)")


class RegulationsError(ValueError):
    """The regulations file cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Regulation:
    name: str
    also: tuple[str, ...] = ()
    issued: date | None = None
    effective: date | None = None
    replaced_by: str = ""
    subjects: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.also)

    def named_in(self, text: str) -> bool:
        return any(name in text for name in self.names)


def load_regulations(path: Path = REGULATIONS) -> list[Regulation]:
    """The regulations file, validated: every error names the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RegulationsError(f"{path}: 无法读取（{exc}）") from exc
    regulations: dict[str, tuple[int, Regulation]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) != 6:
            raise RegulationsError(
                f"{where}: 每行应有 6 列（名称、别称、公布日期、施行日期、被谁取代、主题词），"
                f"用 TAB 分隔，实际为 {len(cells)} 列"
            )
        name, also, issued, effective, replaced_by, subjects = cells
        if not name or "《" in name or "》" in name:
            raise RegulationsError(f"{where}: 第一列应为法规名称（不带书名号）")
        if name in regulations:
            raise RegulationsError(f"{where}: “{name}”在第{regulations[name][0]}行已经出现过")
        dates = []
        for label, text in (("公布日期", issued), ("施行日期", effective)):
            value = parse_date(text)
            if text and value is None:
                raise RegulationsError(f"{where}: {label}“{text}”应为 YYYY-MM-DD")
            dates.append(value)
        if subjects and dates[0] is None:
            raise RegulationsError(f"{where}: 列了主题词的法律要写公布日期（用来判断文档是否对照它核对过）")
        regulation = Regulation(name, _split(also), dates[0], dates[1], replaced_by, _split(subjects))
        regulations[name] = (number, regulation)
    for number, regulation in regulations.values():
        if regulation.replaced_by:
            replacement = regulations.get(regulation.replaced_by)
            if replacement is None:
                raise RegulationsError(f"{path}:{number}: 取代它的“{regulation.replaced_by}”没有在本文件中列出")
            if replacement[1].effective is None:
                raise RegulationsError(
                    f"{path}:{replacement[0]}: “{regulation.replaced_by}”取代了其他法规，要写施行日期"
                )
    return [regulation for _, regulation in regulations.values()]


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split("|") if part.strip())


@dataclass(frozen=True, slots=True)
class Finding:
    path: str  # the document's path relative to the checked folder, "/" separated
    line: int
    kind: str  # a key of KINDS
    message: str  # Chinese, for the person editing the document

    def as_json(self, file: str) -> dict[str, str | int]:
        return {"path": self.path, "file": file, "line": self.line, "kind": self.kind, "message": self.message}


@dataclass
class CheckReport:
    root: Path | None  # None: the documents came from the database (`shegong kb check --ingested`)
    documents: int = 0
    findings: list[Finding] = field(default_factory=list)

    def file_of(self, finding: Finding) -> str:
        if self.root is None:
            return f"{INGESTED_PREFIX}{finding.path}"
        return display_path(self.root / finding.path) if self.root.is_dir() else display_path(self.root)

    def counts(self) -> dict[str, int]:
        counted = Counter(f.kind for f in self.findings)
        return {kind: counted[kind] for kind in KINDS if counted[kind]}

    def as_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "findings": [f.as_json(self.file_of(f)) for f in self.findings],
            "counts": self.counts(),
        }

    def format(self) -> str:
        lines = [f"{self.file_of(f)}:{f.line}: {f.message}" for f in self.findings]
        if not self.findings:
            lines.append(f"共检查 {self.documents} 篇文档，没有发现问题。")
        else:
            kinds = "，".join(f"{KINDS[kind]} {n}" for kind, n in self.counts().items())
            lines.append(f"共检查 {self.documents} 篇文档，发现 {len(self.findings)} 个问题（{kinds}）。")
        return "\n".join(lines)


def display_path(path: Path) -> str:
    """Relative to the working directory when the file is under it (as an editor wants it), else absolute."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def one_year_before(today: date) -> date:
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year - 1, day=28)


# -- the document body in paragraphs -------------------------------------------------------------
@dataclass
class Unit:
    """A paragraph (list and table included) or a heading, with its lines' numbers in the file."""

    lines: list[tuple[int, str]]
    heading: bool = False

    @property
    def text(self) -> str:
        return "\n".join(text for _, text in self.lines)

    def line_of(self, needle: str) -> int:
        return next((n for n, text in self.lines if needle in text), self.lines[0][0])


def units(body: str, first_line: int) -> Iterator[Unit]:
    """Contract B's paragraphs: runs of lines between blank lines and headings. A list written without blank
    lines, with its citation on the line after it, is one paragraph, as writers use it; headings stand alone."""
    current: list[tuple[int, str]] = []
    for number, line in enumerate(body.splitlines(), start=first_line):
        stripped = line.strip()
        if not stripped or HEADING.match(line):
            if current:
                yield Unit(current)
            current = []
            if stripped:
                yield Unit([(number, stripped)], heading=True)
        elif not re.fullmatch(r"\|?[\s:|-]+\|?", stripped):  # a table's separator row
            current.append((number, stripped))
    if current:
        yield Unit(current)


# -- one document -------------------------------------------------------------------------------------
@dataclass
class _Context:
    path: str
    front: FrontMatter
    today: date
    regulations: Sequence[Regulation]
    documents: set[str]  # every document path in the folder, for links
    served: set[str]  # document paths and aliases: what /docs/<path> answers
    findings: list[Finding] = field(default_factory=list)

    def add(self, line: int, kind: str, message: str) -> None:
        self.findings.append(Finding(self.path, line, kind, f"第{line}行：{message}"))


def check_text(
    path: str,
    text: str,
    today: date,
    regulations: Sequence[Regulation],
    documents: set[str] | None = None,
    served: set[str] | None = None,
) -> list[Finding]:
    """The findings for one Markdown document. `documents`/`served` are the folder's document paths and
    the paths served through aliases; links are checked only when they are given."""
    front = read_front_matter(text.replace("\r\n", "\n"))
    ctx = _Context(path, front, today, regulations, documents or set(), served or set())
    body_units = list(units(front.body, front.body_line))
    _check_front_matter(ctx)
    _check_figures(ctx, body_units)
    _check_superseded(ctx, body_units)
    _check_new_laws(ctx, body_units)
    if documents is not None:
        _check_links(ctx, body_units)
    return sorted(ctx.findings, key=lambda f: f.line)


def _check_front_matter(ctx: _Context) -> None:
    front = ctx.front
    if not front.present:
        ctx.add(
            1, "front-matter", "缺少开头信息：文件应以 --- 开始，写明 title、region、reviewed、sources，再以 --- 结束"
        )
        return
    if front.error:
        line = int(m.group(1)) if (m := re.match(r"第(\d+)行", front.error)) else 1
        ctx.add(line, "front-matter", front.error.split("：", 1)[-1] if m else front.error)
    fields = front.fields
    for key in fields:
        if key not in KNOWN_KEYS:
            ctx.add(
                front.line_of(key),
                "front-matter",
                f"不认识的字段“{key}”（可用：{'、'.join(sorted(KNOWN_KEYS - {'source', 'year'}))}）",
            )
    if not str(fields.get("title") or "").strip():
        ctx.add(front.line_of("title"), "title", "缺少 title（文档标题）")
    _check_sources(ctx)
    _check_reviewed(ctx)
    for key in ("aliases", "supersedes_checked"):
        value = fields.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            ctx.add(front.line_of(key), "front-matter", f"{key} 应为列表，如 {key}: [甲, 乙]")


def _check_sources(ctx: _Context) -> None:
    front = ctx.front
    sources = front.fields.get("sources")
    if sources is None:
        if front.fields.get("source"):
            ctx.add(
                front.line_of("source"),
                "sources",
                "只有旧的 source 字段：请改为 sources 列表，每项写 title、issuer、number、date、url",
            )
        else:
            ctx.add(1, "sources", "缺少 sources（本文依据的文件：title、issuer、number、date、url）")
        return
    if not isinstance(sources, list) or not sources:
        ctx.add(front.line_of("sources"), "sources", "sources 应为列表，每项写 title、issuer、number、date、url")
        return
    for n, entry in enumerate(sources, start=1):
        line = getattr(entry, "line", front.line_of("sources"))
        if not isinstance(entry, dict):
            ctx.add(line, "sources", f"sources 第{n}项应包含 title、issuer、number、date、url 等字段")
            continue
        key_lines: dict[str, int] = getattr(entry, "key_lines", {})
        for key in entry:
            if key not in SOURCE_KEYS:
                ctx.add(key_lines.get(key, line), "sources", f"sources 第{n}项有不认识的字段“{key}”")
        for key, label in (("title", "title（文件名称）"), ("issuer", "issuer（发布机关）"), ("date", "date（日期）")):
            if not str(entry.get(key) or "").strip():
                ctx.add(line, "sources", f"sources 第{n}项缺少 {label}")
        when = str(entry.get("date") or "").strip()
        if when and not SOURCE_DATE.match(when):
            ctx.add(
                key_lines.get("date", line), "sources", f"sources 第{n}项的日期“{when}”应为 YYYY-MM-DD、YYYY-MM 或 YYYY"
            )
        if not any(str(entry.get(key) or "").strip() for key in ("number", "url", "unconfirmed")):
            ctx.add(
                line,
                "sources",
                f"sources 第{n}项既没有 number（文号）也没有 url（官方网址），读者无法找到原文："
                "核实后补上；核实不了的，写 unconfirmed 说明哪一项未能核实（如 unconfirmed: 文号未核实）",
            )
        unconfirmed = entry.get("unconfirmed")
        if unconfirmed is not None and (isinstance(unconfirmed, dict | list) or not str(unconfirmed).strip()):
            ctx.add(
                key_lines.get("unconfirmed", line),
                "sources",
                f"sources 第{n}项的 unconfirmed 应写明哪一项未能核实，如 unconfirmed: 文号未核实",
            )
        url = entry.get("url")
        if url is not None and not re.match(r"https?://\S+$", str(url).strip()):
            ctx.add(
                key_lines.get("url", line),
                "sources",
                f"sources 第{n}项的 url 应以 http:// 或 https:// 开头；没有网址时删去 url 这一项",
            )


def _check_reviewed(ctx: _Context) -> None:
    front = ctx.front
    value = front.fields.get("reviewed")
    line = front.line_of("reviewed")
    if value is None or not str(value).strip():
        ctx.add(line, "reviewed", "缺少 reviewed（最近一次对照来源核对的日期，YYYY-MM-DD）")
        return
    reviewed = parse_date(value)
    if reviewed is None:
        ctx.add(line, "reviewed", f"reviewed“{value}”应为 YYYY-MM-DD 格式的日期")
    elif reviewed > ctx.today:
        ctx.add(line, "reviewed", f"最近核对日期 {reviewed} 晚于今天（{ctx.today}），请检查是否写错")
    elif reviewed < one_year_before(ctx.today):
        ctx.add(line, "reviewed", f"最近核对日期 {reviewed} 已超过一年，请对照来源重新核对后更新")


def _check_figures(ctx: _Context, body_units: list[Unit]) -> None:
    for unit in body_units:
        if unit.heading:
            continue
        text = unit.text
        if CITATION.search(text) or HEDGE.search(text):
            continue
        plain = URL.sub(" ", MARKDOWN_LINK.sub(" ", "\n".join(LIST_ITEM.sub("", ln) for ln in text.splitlines())))
        figures = list(dict.fromkeys(m.group(0).strip() for m in FIGURE.finditer(plain)))
        if figures:
            shown = "、".join(f"“{f}”" for f in figures[:3]) + ("等" if len(figures) > 3 else "")
            ctx.add(
                unit.line_of(figures[0]),
                "figure",
                f"数字{shown}所在段落没有来源（如“（依据：《某法》第几条，2026年）”）或“以当地…为准”说明",
            )


def _checked(ctx: _Context, regulation: Regulation) -> bool:
    listed = ctx.front.fields.get("supersedes_checked")
    return isinstance(listed, list) and any(str(item).strip("《》 ") in regulation.names for item in listed)


def _check_superseded(ctx: _Context, body_units: list[Unit]) -> None:
    by_name = {r.name: r for r in ctx.regulations}
    for old in ctx.regulations:
        new = by_name.get(old.replaced_by)
        if new is None or (new.effective and ctx.today < new.effective) or _checked(ctx, old):
            continue
        since = f"，{new.effective} 起施行" if new.effective else ""
        message = f"引用了《{old.name}》，它已被《{new.name}》取代{since}；请改引新法，或在同一段说明旧法规已被取代"
        sources = ctx.front.fields.get("sources")
        entries = [e for e in sources if isinstance(e, dict)] if isinstance(sources, list) else []
        lists_new = any(new.named_in(f"{e.get('title', '')}") for e in entries)
        for entry in entries:
            if old.named_in(f"{entry.get('title', '')} {entry.get('number', '')}") and not lists_new:
                ctx.add(
                    getattr(entry, "line", ctx.front.line_of("sources")),
                    "superseded",
                    f"来源{message.removeprefix('引用了')}",
                )
        legacy = str(ctx.front.fields.get("source") or "")
        if old.named_in(legacy) and not new.named_in(legacy) and not REPLACED_WORDS.search(legacy):
            ctx.add(ctx.front.line_of("source"), "superseded", f"source 字段{message}")
        for unit in body_units:
            text = unit.text
            if old.named_in(text) and not new.named_in(text) and not REPLACED_WORDS.search(text):
                ctx.add(unit.line_of(next(n for n in old.names if n in text)), "superseded", message)


def _check_new_laws(ctx: _Context, body_units: list[Unit]) -> None:
    front = ctx.front
    # The title says what a document is about; a heading may only mention a neighbouring topic.
    title = str(front.fields.get("title") or "")
    headings = (
        [(front.line_of("title"), title)] if title else [(u.lines[0][0], u.text) for u in body_units[:1] if u.heading]
    )
    everything = "\n".join([front.body, str(front.fields.get("source") or ""), _source_titles(front)])
    reviewed = parse_date(front.fields.get("reviewed"))
    for law in ctx.regulations:
        if not law.subjects or law.issued is None or ctx.today < law.issued:
            continue
        hit = next(((line, word) for line, text in headings for word in law.subjects if word in text), None)
        if hit is None:
            continue
        line, word = hit
        when = f"{law.issued} 公布" + (f"、{law.effective} 起施行" if law.effective else "")
        if reviewed is not None and reviewed < law.issued:
            ctx.add(
                front.line_of("reviewed"),
                "new-law",
                f"本文涉及“{word}”，最近核对日期 {reviewed} 早于《{law.name}》（{when}），请对照新法核对",
            )
        elif not law.named_in(everything) and not _checked(ctx, law):
            ctx.add(
                line,
                "new-law",
                f"本文涉及“{word}”，但没有提到《{law.name}》（{when}）；请对照新法核对，"
                f"在正文写明变化，或核对后在 supersedes_checked 中列出“{law.name}”",
            )


def _source_titles(front: FrontMatter) -> str:
    sources = front.fields.get("sources")
    if not isinstance(sources, list):
        return ""
    return "\n".join(str(e.get("title", "")) for e in sources if isinstance(e, dict))


def _check_links(ctx: _Context, body_units: list[Unit]) -> None:
    folder = posixpath.dirname(ctx.path)
    for unit in body_units:
        for number, text in unit.lines:
            targets: dict[str, str] = {}  # resolved document path -> the link as written
            for m in MARKDOWN_LINK.finditer(text):
                written = m.group(1)
                target = written.split("#", 1)[0].split("?", 1)[0]
                if target.startswith("/docs/"):
                    targets.setdefault(unquote(target.removeprefix("/docs/")), written)
                elif target.lower().endswith(".md") and "://" not in target and not target.startswith("/"):
                    resolved = posixpath.normpath(posixpath.join(folder, unquote(target)))
                    targets.setdefault(resolved, written)
            for m in DOCS_LINK.finditer(text):
                targets.setdefault(unquote(m.group(1).split("#", 1)[0]), f"/docs/{m.group(1)}")
            for target, written in targets.items():
                if target.startswith("../") or target not in ctx.served:
                    ctx.add(number, "link", f"链接“{written}”指向的文档不存在")


# -- a folder -------------------------------------------------------------------------------------
def check_tree(root: Path, today: date, regulations: Sequence[Regulation] | None = None) -> CheckReport:
    """Every Markdown document under root (or root itself), with links and aliases checked across them."""
    root = Path(root)
    report = CheckReport(root)
    files = [(file.name if root.is_file() else file.relative_to(root).as_posix(), file) for file in iter_files(root)]
    documents = {rel for rel, file in files if file.suffix.lower() in SUFFIXES}
    texts: dict[str, str] = {}
    for rel, file in files:
        if file.suffix.lower() not in MARKDOWN:
            continue
        report.documents += 1
        try:
            texts[rel] = decode(file.read_bytes(), rel)
        except (IngestError, OSError) as exc:
            report.findings.append(Finding(rel, 1, "file", f"第1行：无法读取（{exc}）"))
    return _check_texts(report, texts, documents, today, regulations)


def check_texts(
    texts: dict[str, str],
    today: date,
    regulations: Sequence[Regulation] | None = None,
    also_served: set[str] | frozenset[str] = frozenset(),
) -> CheckReport:
    """Documents that are not files (ingested ones, from the database: path -> front matter and body), with
    links and aliases checked across them; `also_served` are the other paths /docs/ answers (built-in ones)."""
    report = CheckReport(None, documents=len(texts))
    return _check_texts(report, texts, set(texts), today, regulations, also_served)


def _check_texts(
    report: CheckReport,
    texts: dict[str, str],
    documents: set[str],
    today: date,
    regulations: Sequence[Regulation] | None,
    also_served: set[str] | frozenset[str] = frozenset(),
) -> CheckReport:
    regulations = load_regulations() if regulations is None else regulations
    aliases: dict[str, list[tuple[str, int]]] = {}  # alias -> [(document, line)]
    for rel, text in texts.items():
        front = read_front_matter(text.replace("\r\n", "\n"))
        value = front.fields.get("aliases")
        for alias in value if isinstance(value, list) else []:
            aliases.setdefault(str(alias).strip().strip("/"), []).append((rel, front.line_of("aliases")))
    served = documents | set(aliases) | set(also_served)
    for rel, text in texts.items():
        report.findings.extend(check_text(rel, text, today, regulations, documents, served))
    report.findings.extend(_alias_findings(aliases, documents | set(also_served)))
    report.findings.sort(key=lambda f: (f.path, f.line))
    return report


def _alias_findings(aliases: dict[str, list[tuple[str, int]]], documents: set[str]) -> Iterator[Finding]:
    for alias, owners in aliases.items():
        for rel, line in dict.fromkeys(owners):

            def finding(message: str, rel: str = rel, line: int = line) -> Finding:
                return Finding(rel, line, "alias", f"第{line}行：{message}")

            others = sorted({r for r, _ in owners if r != rel})
            if not alias or ".." in alias.split("/") or "\\" in alias or Path(alias).suffix.lower() not in SUFFIXES:
                yield finding(f"别名“{alias}”应为知识库内的文档路径，如 dibao/old-name.md")
            elif alias == rel:
                yield finding(f"别名“{alias}”就是本文自己的路径")
            elif alias in documents:
                yield finding(f"别名“{alias}”是另一篇现有文档的路径，访问时会打开那篇文档而不是本文")
            elif others:
                yield finding(f"别名“{alias}”重复：{'、'.join(others)} 也用了这个别名，旧链接只能打开其中一篇")
            elif len(owners) > 1:
                yield finding(f"别名“{alias}”在本文中写了不止一次")


def check_command(root: Path | None, today: date, as_json: bool) -> int:
    """`shegong kb check`: prints the findings and a summary. Exit code 1 when there is any finding, 2 when
    the check itself cannot run."""
    root = root or BUILTIN_DOCS
    if not root.exists():
        print(f"找不到知识库目录：{root}", file=sys.stderr)
        return 2
    try:
        report = check_tree(root, today)
    except RegulationsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return print_report(report, as_json)


def print_report(report: CheckReport, as_json: bool) -> int:
    """Prints the findings and the summary; the exit code: 1 when there is any finding."""
    print(json.dumps(report.as_json(), ensure_ascii=False, indent=1) if as_json else report.format())
    return 1 if report.findings else 0
