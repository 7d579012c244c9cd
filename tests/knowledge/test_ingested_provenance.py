"""A document added with `shegong kb ingest` keeps its provenance in the database, on SQLite and PostgreSQL: its
page lists the sources and the review date like a built-in one, its old paths redirect, and
`shegong kb check --ingested` checks it as it was written."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import aiohttp
import pytest
from knowledge_test_helpers import write
from live_app import serve_app, settings_for

from bot.clock import FrozenClock
from bot.kb_admin import check_ingested, ingest_paths
from bot.store import Store

DOC = """---
title: 某市低保标准（导入）
region: 广州市
reviewed: 2026-11-20
sources:
  - title: 某市民政局关于调整低保标准的通知
    issuer: 某市民政局
    number: 某民〔2026〕1号
    date: 2026-03-01
    url: https://example.gov.cn/notice.html
  - title: 某省低保最低标准
    issuer: 某省民政厅
    date: 2026
    unconfirmed: 文号未核实
aliases: [old/dibao-biaozhun.md]
supersedes_checked: [中华人民共和国社会救助法]
---
# 某市低保标准

## 多少钱
2026年某市低保标准为每人每月1000元（依据：某市民政局通知，2026年）。
"""
# Line 11 has a source nobody can find, line 16 links to a document that exists nowhere.
BROKEN = """---
title: 没核对过的导入文档
reviewed: 2026-11-20
sources:
  - title: 某市民政局关于调整低保标准的通知
    issuer: 某市民政局
    number: 某民〔2026〕1号
    date: 2026-03-01
  - title: 来历不明的文件
    issuer: 某局
    date: 2025
---
# 导入文档

见 [低保条件](/docs/dibao/shenqing-tiaojian.md) 和 [不存在的文档](/docs/nowhere/missing.md)。
"""


@pytest.fixture
async def ingested(tmp_path: Path, store: Store, database_url: str) -> Path:
    """The documents ingested into the migrated test database (`store` migrates it); returns the folder."""
    folder = tmp_path / "cities"
    write(folder, "gz/dibao-biaozhun.md", DOC)
    write(folder, "gz/broken.md", BROKEN)
    assert await ingest_paths(settings_for(database_url, tmp_path), [folder]) == 0
    return folder


async def test_the_database_keeps_sources_review_date_aliases_and_front_matter(ingested: Path, store: Store) -> None:
    stored = {d.path: d for d in await store.list_documents()}
    doc = stored["cities/gz/dibao-biaozhun.md"]
    assert doc.reviewed == date(2026, 11, 20)
    assert doc.aliases == ("old/dibao-biaozhun.md",)
    assert doc.sources == (
        {
            "title": "某市民政局关于调整低保标准的通知",
            "issuer": "某市民政局",
            "number": "某民〔2026〕1号",
            "date": "2026-03-01",
            "url": "https://example.gov.cn/notice.html",
        },
        {"title": "某省低保最低标准", "issuer": "某省民政厅", "date": "2026", "unconfirmed": "文号未核实"},
    )
    assert doc.front_matter.startswith("---\ntitle: 某市低保标准（导入）") and doc.front_matter.endswith("---\n")


async def test_a_new_review_date_alone_updates_the_stored_document(
    ingested: Path, store: Store, database_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = settings_for(database_url, tmp_path)
    write(ingested, "gz/dibao-biaozhun.md", DOC.replace("reviewed: 2026-11-20", "reviewed: 2026-12-01"))
    revision = await store.documents_revision()
    assert await ingest_paths(settings, [ingested]) == 0
    stored = {d.path: d for d in await store.list_documents()}
    assert stored["cities/gz/dibao-biaozhun.md"].reviewed == date(2026, 12, 1)
    assert await store.documents_revision() != revision  # other processes reload and show the new date


async def test_the_page_of_an_ingested_document_shows_its_provenance_and_old_paths_redirect(
    ingested: Path, database_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = settings_for(database_url, tmp_path, kb_builtin="false")
    async with serve_app(settings, clock) as url, aiohttp.ClientSession() as http:
        async with http.get(f"{url}/docs/cities/gz/dibao-biaozhun.md") as r:
            assert r.status == 200
            page = await r.text()
        async with http.get(f"{url}/docs/old/dibao-biaozhun.md", allow_redirects=False) as r:
            assert r.status == 301
            assert r.headers["Location"] == "/docs/cities/gz/dibao-biaozhun.md"
    assert (
        '<li><a href="https://example.gov.cn/notice.html" rel="noopener noreferrer">'
        "《某市民政局关于调整低保标准的通知》</a>（某市民政局，某民〔2026〕1号，2026年3月1日）</li>"
    ) in page
    unconfirmed = '<span class="doc-unconfirmed">文号未核实</span>'
    assert f"<li>《某省低保最低标准》（某省民政厅，2026年；{unconfirmed}）</li>" in page
    assert "最近核对：2026年11月20日" in page


async def test_kb_check_reads_ingested_documents_from_the_database(
    ingested: Path, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(database_url, tmp_path)
    assert await check_ingested(settings, date(2026, 12, 2)) == 1
    out = capsys.readouterr().out.splitlines()
    # Lines are those of the file as it was ingested; a link to a built-in document is not broken.
    assert [line.split("：", 1)[0] for line in out[:-1]] == [
        "（已导入）cities/gz/broken.md:9: 第9行",
        "（已导入）cities/gz/broken.md:15: 第15行",
    ]
    assert "既没有 number（文号）也没有 url" in out[0] and "/docs/nowhere/missing.md" in out[1]
    assert out[-1] == "共检查 2 篇文档，发现 2 个问题（来源信息 1，内部链接失效 1）。"
    # A year later the review dates are stale too.
    assert await check_ingested(settings, date(2027, 12, 2), as_json=True) == 1
    assert '"kind": "reviewed"' in capsys.readouterr().out
