"""Article extraction from messy web HTML (editor markup, forum pages, page chrome).

The output is Markdown-like text: one paragraph per line group, headings as "#" lines. Scripts,
styles, navigation, share bars, footers and standalone image URLs are dropped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside",
             "form", "iframe", "button", "select", "textarea", "object", "canvas", "head"}
VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "source", "wbr", "area", "base", "col", "embed"}
BLOCK_TAGS = {"p", "div", "section", "article", "main", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
              "tr", "table", "blockquote", "dd", "dt", "dl", "pre", "figure", "figcaption", "center", "td"}
BOLD_TAGS = {"strong", "b"}
CHROME_ATTR = re.compile(
    r"(^|[\s_-])(nav|navbar|menu|share|sharing|footer|header|breadcrumbs?|sidebar|comments?|toolbar|"
    r"copyright|related|login|banner|advert|ads?|qrcode|subscribe|pager|pagination)([\s_-]|$)",
    re.I,
)
URL_ONLY = re.compile(r"^\s*(https?://|www\.)\S+\s*$", re.I)
URL_ANYWHERE = re.compile(r"https?://\S+\.(?:png|jpe?g|gif|webp|bmp|svg)\S*", re.I)
# Lines that belong to a page's frame or credits rather than to the article.
CHROME_LINE = re.compile(
    r"^(.{0,30}发表于\s*\d{4}[-./]\d{1,2}[-./]\d{1,2}.*|页\s*[:：]\s*\[?\d+\]?.*|查看完整版本\s*[:：].*|"
    r"(责编|编辑|责任编辑|制作|排版|校对|审核|美编|图片|摄影|文字|文案|设计)\s*[:：|丨].{0,20}|"
    r".{0,10}(分享到|扫码关注|扫描二维码|长按识别|阅读原文|点击阅读|点击上方|返回顶部|上一篇|下一篇|"
    r"版权所有|关注我们|点个在看|点赞|在看|转发).{0,20}|copyright.*|©.*|-*\s*(end|完)\s*-*)$",
    re.I,
)
SOURCE_LINE = re.compile(r"^(?:来源|来自|信息来源|文章来源)\s*[:：]\s*(.{1,60})$")
TITLE_LINE = re.compile(r"^查看完整版本\s*[:：]\s*(.+)$")
DATE = re.compile(r"((?:19|20)\d{2})\s*[-年./]\s*\d{1,2}\s*[-月./]")


@dataclass
class Article:
    title: str = ""
    source: str = ""
    year: str = ""
    text: str = ""  # Markdown-like body
    page_title: str = ""


@dataclass
class _Block:
    tag: str = "p"
    parts: list[str] = field(default_factory=list)
    bold_chars: int = 0


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []  # (kind, text): kind is "p" or "h1".."h6"
        self.block = _Block()
        self.skip: list[str] = []  # tags whose subtree we are inside and ignore
        self.bold = 0
        self.title_parts: list[str] | None = None
        self.page_title = ""
        self.meta: dict[str, str] = {}

    # -- structure --------------------------------------------------------------------------
    def _flush(self, next_tag: str = "p") -> None:
        text = re.sub(r"\s+", " ", "".join(self.block.parts)).strip()
        if text:
            kind = self.block.tag if self.block.tag in {"h1", "h2", "h3", "h4", "h5", "h6"} else "p"
            if kind == "p" and self.block.bold_chars >= 0.9 * len(text.replace(" ", "")) and len(text) <= 40 \
                    and not text.endswith(("。", "；", ";", "？", "?", "：", ":")):
                kind = "h2"  # editor pages mark section titles with bold text, not heading tags
            self.blocks.append((kind, text))
        self.block = _Block(tag=next_tag)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self.skip:
            self.title_parts = []
            return
        if tag == "meta":
            d = {k: (v or "") for k, v in attrs}
            name = (d.get("name") or d.get("property") or "").lower()
            if name and d.get("content"):
                self.meta[name] = d["content"]
            return
        if self.skip:
            if tag not in VOID_TAGS:
                self.skip.append(tag)
            return
        attr_text = " ".join(v or "" for k, v in attrs if k in {"class", "id", "role"})
        if tag in SKIP_TAGS or (attr_text and CHROME_ATTR.search(attr_text)):
            if tag not in VOID_TAGS:
                self._flush()
                self.skip.append(tag)
            return
        if tag in BLOCK_TAGS or tag in {"br", "hr"}:
            self._flush(tag if tag not in {"br", "hr"} else self.block.tag)
        if tag in BOLD_TAGS:
            self.bold += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.title_parts is not None:
            self.page_title = re.sub(r"\s+", " ", "".join(self.title_parts)).strip()
            self.title_parts = None
            return
        if self.skip:
            # Close up to the matching open tag; unmatched closers in broken markup are ignored.
            if tag in self.skip:
                while self.skip and self.skip.pop() != tag:
                    pass
            return
        if tag in BOLD_TAGS:
            self.bold = max(0, self.bold - 1)
        if tag in BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.title_parts is not None:
            self.title_parts.append(data)
            return
        if self.skip:
            return
        # Text outside any markup (forum pages) separates paragraphs with blank lines.
        pieces = re.split(r"\n\s*\n", data)
        for n, piece in enumerate(pieces):
            if n:
                self._flush(self.block.tag)
            self.block.parts.append(piece)
            if self.bold:
                self.block.bold_chars += len(piece.strip().replace(" ", ""))

    def close(self) -> None:
        super().close()
        self._flush()


def extract_article(markup: str) -> Article:
    parser = _Extractor()
    parser.feed(markup)
    parser.close()
    article = Article(page_title=parser.page_title)
    lines: list[str] = []
    for kind, text in parser.blocks:
        text = html.unescape(text).strip()
        text = URL_ANYWHERE.sub("", text).strip()
        if not text or URL_ONLY.match(text):
            continue
        if m := TITLE_LINE.match(text):
            article.title = article.title or m.group(1).strip()
            continue
        if not article.year and (d := DATE.search(text)) and len(text) < 60:
            article.year = d.group(1)
        if m := SOURCE_LINE.match(text):
            article.source = article.source or m.group(1).strip(" ()（）")
            continue
        if CHROME_LINE.match(text):
            continue
        if kind != "p" and lines and lines[-1].startswith("#" * int(kind[1]) + " "):
            lines[-1] += " " + text  # a two-line title is one heading
            continue
        lines.append(("#" * int(kind[1]) + " " + text) if kind != "p" else text)
    # Drop a leading short, unpunctuated line repeated as the title (forum headers), keep structure.
    article.title = article.title or _clean_page_title(parser.page_title) or parser.meta.get("og:title", "")
    if not article.title:
        article.title = next((ln.lstrip("# ") for ln in lines if ln.startswith("#")), "")
    if article.title and lines and lines[0].lstrip("# ").strip() == article.title:
        lines = lines[1:]
    article.source = article.source or parser.meta.get("author", "") or parser.meta.get("source", "")
    if not article.year:
        for key in ("publishdate", "pubdate", "article:published_time", "date"):
            if (d := re.search(r"(?:19|20)\d{2}", parser.meta.get(key, ""))):
                article.year = d.group(0)
                break
    article.text = "\n\n".join(lines)
    return article


def _clean_page_title(title: str) -> str:
    # "文章标题 - 网站名" / "文章标题_网站名": keep the article part.
    return re.split(r"\s+[-|_–—]\s+|_", title)[0].strip() if title else ""
