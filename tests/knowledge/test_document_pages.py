"""A document's web page shows its sources and review date; a renamed document keeps its old address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from knowledge_test_helpers import write
from live_app import serve_app, sqlite_settings

from bot.clock import FrozenClock
from knowledge import KnowledgeBase

RENAMED = """---
title: 孤寡老人的特困供养<script>alert(1)</script>
region: 广东省
reviewed: 2026-12-02
sources:
  - title: 中华人民共和国社会救助法
    issuer: 全国人民代表大会常务委员会
    number: ""
    date: 2026-04-30
    url: https://flk.npc.gov.cn/?a=1&b="2"
  - title: 特困人员认定办法 <b>粗</b>
    issuer: 民政部
    number: 民发〔2021〕43号
    date: 2021-04
  - title: 没有网址就不是链接
    issuer: 某市民政局
    date: 2024
    url: javascript:alert(2)
aliases: [tekun/old-name.md, elders/older-name.md, other/existing.md]
---
# 特困供养

## 谁可以申请
无劳动能力、无生活来源、无法定赡养抚养扶养义务人的孤寡老人，可以向镇街申请特困供养。
相关条件见 [低保条件](../dibao/tiaojian.md)，也可看 [政府网站](https://www.gov.cn/) 和 [坏链接](javascript:alert(3))。
"""
EXISTING = """---
title: 另一篇已有的文档
source: 示例来源
year: 2020
---
# 另一篇

这篇文档的路径恰好被别人写成了别名，访问时仍然打开这篇。
"""


@pytest.fixture
async def base_url(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[str]:
    extra = tmp_path / "extra"
    write(extra, "tekun/gugua-laoren.md", RENAMED)
    write(extra, "other/existing.md", EXISTING)
    async with serve_app(sqlite_settings(tmp_path, kb_extra_dirs=str(extra), kb_builtin="false"), clock) as url:
        yield url


async def test_the_page_lists_sources_with_links_and_the_review_date_escaped(base_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/docs/tekun/gugua-laoren.md") as r:
        assert r.status == 200
        page = await r.text()
    assert "<script>" not in page and "<b>" not in page
    assert "<h2>来源</h2>" in page
    assert (
        '<a href="https://flk.npc.gov.cn/?a=1&amp;b=&quot;2&quot;" rel="noopener noreferrer">'
        "《中华人民共和国社会救助法》</a>（全国人民代表大会常务委员会，2026年4月30日）"
    ) in page
    assert "<li>《特困人员认定办法 &lt;b&gt;粗&lt;/b&gt;》（民政部，民发〔2021〕43号，2021年4月）</li>" in page
    assert (
        "<li>《没有网址就不是链接》（某市民政局，2024年）</li>" in page
        and "javascript:" not in page.split("<h2>来源")[1]
    )
    assert "最近核对：2026年12月2日" in page
    # With a full source list the one-line summary under the title would only repeat it.
    assert '<p class="doc-meta">广东省</p>' in page


async def test_links_in_the_text_lead_to_documents_or_web_pages_and_nothing_else(base_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/docs/tekun/gugua-laoren.md") as r:
        page = await r.text()
    assert '<a href="/docs/dibao/tiaojian.md">低保条件</a>' in page
    assert '<a href="https://www.gov.cn/">政府网站</a>' in page
    assert "[坏链接](javascript:alert(3))" in page and 'href="javascript' not in page


async def test_old_paths_redirect_permanently_to_the_renamed_document(base_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for old in ("tekun/old-name.md", "elders/older-name.md"):
            async with http.get(f"{base_url}/docs/{old}", allow_redirects=False) as r:
                assert r.status == 301
                assert r.headers["Location"] == "/docs/tekun/gugua-laoren.md"
            async with http.get(f"{base_url}/docs/{old}") as r:
                assert r.status == 200 and "孤寡老人的特困供养" in await r.text()
        # A path that is a real document stays that document, whoever lists it as an alias.
        async with http.get(f"{base_url}/docs/other/existing.md", allow_redirects=False) as r:
            assert r.status == 200 and "另一篇已有的文档" in await r.text()
        async with http.get(f"{base_url}/docs/tekun/never-existed.md", allow_redirects=False) as r:
            assert r.status == 404


async def test_an_answer_cites_the_current_path_and_the_sources(base_url: str) -> None:
    payload = {"text": "孤寡老人特困供养谁可以申请", "message_id": "m1"}
    async with aiohttp.ClientSession() as http, http.post(f"{base_url}/api/chat", json=payload) as r:
        [reply] = (await r.json())["replies"]
    citation = reply["citations"][0]
    assert citation["path"] == "tekun/gugua-laoren.md"
    assert citation["source"] == "《中华人民共和国社会救助法》；《特困人员认定办法 <b>粗</b>》等"
    assert citation["year"] == "2026"
    assert "来源：《孤寡老人的特困供养" in reply["text"]


def test_the_knowledge_base_finds_a_renamed_document_by_its_old_path(tmp_path: Path) -> None:
    write(tmp_path, "tekun/gugua-laoren.md", RENAMED)
    write(tmp_path, "other/existing.md", EXISTING)
    kb = KnowledgeBase.from_path(tmp_path)
    renamed = kb.document("tekun/old-name.md")
    assert renamed is not None and renamed.path == "tekun/gugua-laoren.md"
    existing = kb.document("other/existing.md")
    assert existing is not None and existing.path == "other/existing.md"
    assert kb.document("tekun/never-existed.md") is None
