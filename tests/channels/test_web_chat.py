"""The web chat page in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright), plus the
document pages it links to.

Playwright's own browser downloads are never used; without the system Chromium or the `playwright` package
the browser tests are skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from live_app import serve_app, sqlite_settings
from yarl import URL

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "zh-CN"}
HOSTILE_DOC = """---
title: <script>alert("标题")</script>测试文档
source: 测试来源 <b>粗</b>
year: 2024
---
# 小节 <img src=x onerror=alert(1)>
正文 **重点** & <script>alert(2)</script>
- 第一条
"""


@pytest.fixture
async def base_url(tmp_path: Path, clock) -> AsyncIterator[str]:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "hostile.md").write_text(HOSTILE_DOC, encoding="utf-8")
    async with serve_app(sqlite_settings(tmp_path, kb_extra_dirs=str(extra)), clock) as url:
        yield url


@pytest.fixture
async def page(base_url: str):
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    executable = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if executable is None:
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium); Playwright's browser download is not used")
    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - a browser that cannot start here is an environment problem
            pytest.skip(f"chromium did not start: {exc}")
        context = await browser.new_context(**PHONE)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        await page.goto(f"{base_url}/chat")
        yield page
        if shot := os.environ.get("SHEGONG_CHAT_SCREENSHOT"):  # e.g. /tmp/chat.png, to look at the layout
            await page.screenshot(path=shot)
        await browser.close()


async def ask(page, text: str):
    bots = page.locator(".msg.bot:not(.typing)")
    before = await bots.count()
    await page.get_by_label("输入您的问题").fill(text)
    await page.get_by_role("button", name="发送").click()
    # A locator wait, not wait_for_function: the page's Content-Security-Policy forbids eval.
    answer = bots.nth(before)
    await answer.wait_for(state="visible")
    return answer


async def test_question_answer_citation_and_document_page(page) -> None:
    from playwright.async_api import expect

    await expect(page.get_by_role("heading", name="社工助手")).to_be_visible()
    answer = await ask(page, "低保怎么申请")
    await expect(answer.locator(".bubble")).to_contain_text("来源")
    await expect(page.locator(".msg.me .bubble").last).to_have_text("低保怎么申请")
    link = answer.locator("a.cite").first
    label = await link.inner_text()
    assert label.startswith("📄 《") and "》" in label
    title = label.split("《", 1)[1].split("》", 1)[0]
    assert (await link.get_attribute("href") or "").startswith("/docs/")

    await link.click()
    await expect(page.locator("h1")).to_have_text(title)
    await expect(page.locator(".doc-meta")).to_be_visible()

    await page.go_back()  # the conversation is still there when coming back from the document
    await expect(page.locator(".msg.bot .bubble").filter(has_text="来源")).to_have_count(1)


async def test_unanswerable_question_offers_contact_button(page) -> None:
    from playwright.async_api import expect

    answer = await ask(page, "火星上的房价多少")
    chip = answer.get_by_role("button", name="找社工")
    await expect(chip).to_be_visible()
    box = await chip.bounding_box()
    assert box and box["height"] >= 44, "tap targets are at least 44 px high"

    await chip.click()
    await expect(page.locator(".msg.me .bubble").last).to_have_text("找社工")
    contact = page.locator(".msg.bot:not(.typing) .bubble").last
    await expect(contact).to_contain_text("12345")
    await expect(contact).to_contain_text("110")


async def test_typing_indicator_then_friendly_error(page) -> None:
    from playwright.async_api import expect

    release = asyncio.Event()

    async def stall_then_fail(route) -> None:
        await release.wait()
        await route.abort("connectionreset")

    await page.route("**/api/chat", stall_then_fail)
    await page.get_by_label("输入您的问题").fill("高龄津贴怎么领")
    await page.get_by_role("button", name="发送").click()
    await expect(page.locator(".msg.typing")).to_be_visible()
    await expect(page.get_by_role("button", name="发送")).to_be_disabled()
    release.set()
    await expect(page.locator(".msg.error .bubble")).to_contain_text("网络")
    await expect(page.locator(".msg.typing")).to_have_count(0)
    # The question is put back, so sending again is one tap.
    await expect(page.get_by_label("输入您的问题")).to_have_value("高龄津贴怎么领")


async def test_document_pages_escape_and_refuse_unknown_paths(base_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/docs/hostile.md") as r:
            assert r.status == 200
            body = await r.text()
            assert "<script>" not in body and "<img" not in body and "<b>" not in body
            assert "&lt;script&gt;alert(&quot;标题&quot;)&lt;/script&gt;测试文档" in body
            assert "<h2>小节 &lt;img" in body and "<li>第一条</li>" in body
            assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        async with http.get(f"{base_url}/docs/nope.md") as r:
            assert r.status == 404 and "找不到这份文档" in await r.text()
        for path in ("../../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "..%2F..%2Fpyproject.toml",
                     "dibao/../../../pyproject.toml"):
            # Sent as written (not normalised by the client); refused by aiohttp's router or by our lookup.
            async with http.get(URL(f"{base_url}/docs/{path}", encoded=True)) as r:
                assert r.status == 404, path
                text = await r.text()
                assert "root:" not in text and "[project]" not in text
        async with http.get(f"{base_url}/chat") as r:
            assert r.status == 200 and "社工助手" in await r.text()
        async with http.get(f"{base_url}/chat/static/chat.js") as r:
            assert r.status == 200


async def test_the_page_names_nobody_the_cookie_does(page) -> None:
    """Issue 13, point 2: the identity is a server-issued HttpOnly cookie; no request carries an identifier."""
    sent: list[tuple[str, str]] = []
    page.on("request", lambda r: sent.append((r.url, r.post_data or "")) if "/api/chat" in r.url else None)
    await ask(page, "低保怎么申请")
    [cookie] = [c for c in await page.context.cookies() if c["name"] == "shegong_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert await page.evaluate("document.cookie") == ""  # out of the script's reach
    async with page.expect_request("**/api/chat/updates") as polled:
        pass
    assert (await polled.value).url.endswith("/api/chat/updates")  # no query string
    assert sent and all("visitor" not in url + body and cookie["value"] not in url + body for url, body in sent)
