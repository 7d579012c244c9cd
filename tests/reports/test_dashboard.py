"""The dashboard in Debian's Chromium (Playwright): a lead logs in through the link `看板` sends, sees the
numbers `shegong report monthly --format json` gives, opens a case (masked, audited; full numbers only with a
reason), logs out; links and sessions cannot be replayed; a supervisor drills down into their area's station
and gets 403 outside it. Screenshots of the overview and case pages go to test-artifacts/."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from live_app import serve_services, sqlite_settings
from sqlalchemy import select
from town import Town

from bot.clock import FrozenClock
from bot.store.casework_models import AuditEntry
from handlers.common.area import Area
from handlers.reports.chat import pct

from .station_month import NOW, seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LINK = re.compile(r"(http://\S+/dashboard/login\?t=\S+)")


class Site:
    """The dashboard's base URL and the station month's town behind it."""

    def __init__(self, url: str, town: Town) -> None:
        self.url, self.town, self.services = url, town, town.services

    async def say(self, text: str, user: str) -> str:
        return (await self.town.say(text, user))[0].text

    async def link(self, user: str) -> str:
        found = LINK.search(await self.say("看板", user))
        assert found is not None
        return found.group(1)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = sqlite_settings(tmp_path)
    clock = FrozenClock(NOW)
    async with serve_services(settings, clock) as (url, services):
        services.settings.public_url = url
        town = await seed(Town(services.store, clock, services))
        site = Site(url, town)
        assert "绑定成功" in await site.say(f"绑定 {await town.invite(town.a, '陈站长', 'lead')}", "lead")
        assert "绑定成功" in await site.say(f"绑定 {await town.invite(town.a, '王芳')}", "wang")
        supervisor = await town.invite(None, "陈主任", area=Area("city", "东莞市"))
        assert "绑定成功" in await site.say(f"绑定 {supervisor}", "chen")
        yield site


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    executable = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if executable is None:
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - a browser that cannot start here is an environment problem
            pytest.skip(f"chromium did not start: {exc}")
        yield browser
        await browser.close()


def cli_report(tmp_path: Path, *args: str) -> dict[str, Any]:
    settings = sqlite_settings(tmp_path)  # the served app's data directory and database, so also its key
    env = {
        **os.environ,
        "SHEGONG_DATA_DIR": str(settings.data_dir),
        "SHEGONG_DATABASE_URL": settings.effective_database_url,
        "SHEGONG_SECRET_KEY": "",
    }
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "report", "monthly", *args, "--month", "2026-11"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


async def cjk_fonts(context: Any, page: Any, selector: str) -> list[str]:
    """The CJK fonts among those Chromium rendered the first `selector` element's own text with (DevTools'
    CSS.getPlatformFontsForNode). Without one, its Chinese is drawn as empty boxes."""
    cdp = await context.new_cdp_session(page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    root = await cdp.send("DOM.getDocument")
    node = await cdp.send("DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": selector})
    fonts = (await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]}))["fonts"]
    await cdp.detach()
    return [f["familyName"] for f in fonts if f["glyphCount"] and re.search(r"CJK|WenQuanYi|Han Sans", f["familyName"])]


async def figure(page: Any, key: str) -> str:
    return (await page.locator(f'[data-key="{key}"]').first.inner_text()).strip()


async def test_lead_logs_in_from_chat_and_sees_the_report_numbers(site: Site, browser: Any, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    expected = cli_report(tmp_path, "--station", "石龙镇社工站")
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    link = await site.link("lead")
    await page.goto(link)
    assert page.url == f"{site.url}/dashboard/"
    cookie = next(c for c in await context.cookies() if c["name"] == "shegong_dash")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/dashboard"
    await page.goto(f"{site.url}/dashboard/?month=2026-11")
    totals = expected["totals"]
    assert await figure(page, "served-rate") == pct(totals["served_rate"]) == "60.0%"
    assert await figure(page, "served") == f"{totals['served']}/{totals['active_cases']}"
    assert await figure(page, "home-rate") == pct(totals["home_rate"])
    assert await figure(page, "visits") == str(totals["visits"])
    assert await figure(page, "overdue") == str(expected["overdue"]["items"])
    assert await figure(page, "danger-open") == str(expected["danger"]["open"])
    text = await page.locator("main").inner_text()
    assert "黄伯" in text and "想不开" in text  # the open danger event
    assert await page.locator("svg.chart").count() >= 3
    # The Chinese is drawn with a CJK font (not boxes): the fonts Chromium used for the title's glyphs.
    assert await cjk_fonts(context, page, "header h1"), "no CJK font drew the title: apt-get install fonts-noto-cjk"
    assert await cjk_fonts(context, page, "svg.chart text")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

    # the link was for one use only
    again = await context.new_page()
    response = await again.goto(link)
    assert response is not None and response.status == 403 and "链接已失效" in await again.content()

    # case list with filters, then a case page: masked, audited, full numbers only with a reason
    await page.goto(f"{site.url}/dashboard/cases?worker={site.town.workers['王芳']}")
    names = await page.locator("main table a").all_inner_texts()
    assert names == ["张桂英", "李四"]
    await page.goto(f"{site.url}/dashboard/cases?overdue=1")
    assert "李四" in await page.locator("main").inner_text()
    await page.goto(f"{site.url}/dashboard/case/{site.town.cases['张桂英']}")
    assert "138****5678" in await page.locator('[data-key="phone"]').inner_text()
    assert "走访记录（4）" in await page.locator("main").inner_text()
    await page.screenshot(path=str(ARTIFACTS / "dashboard-case.png"), full_page=True)
    await page.fill("input[name=reason]", "核对低保续期材料")
    await page.click("form.reveal button")
    assert await page.locator('[data-key="phone"]').inner_text() == "13812345678"
    async with site.services.store.session() as s:
        audit = [(a.action, a.target, a.detail) for a in (await s.execute(select(AuditEntry))).scalars()]
    case_target = f"case:{site.town.cases['张桂英']}"
    assert ("case.reveal", case_target, {"reason": "核对低保续期材料", "via": "dashboard"}) in audit
    assert any(a[0] == "case.read" and a[1] == case_target for a in audit)
    assert not any("13812345678" in json.dumps(a, ensure_ascii=False) for a in audit)

    # another station's pages are refused
    other = await page.goto(f"{site.url}/dashboard/station/{site.town.b.id}")
    assert other is not None and other.status == 403
    other = await page.goto(f"{site.url}/dashboard/case/{site.town.cases['梁伯']}")
    assert other is not None and other.status == 403

    # downloads
    async with aiohttp.ClientSession(cookies={"shegong_dash": cookie["value"]}) as http:
        async with http.get(f"{site.url}/dashboard/download/report.csv?month=2026-11") as r:
            assert r.status == 200 and "王芳" in (await r.read()).decode("utf-8-sig")
        async with http.get(f"{site.url}/dashboard/download/report.xlsx?month=2026-11") as r:
            assert r.status == 200 and (await r.read())[:2] == b"PK"

    # logout: the session is gone on the server, so the old cookie opens nothing
    await page.goto(f"{site.url}/dashboard/")
    await page.click("nav form button")
    assert "已退出" in await page.content()
    async with (
        aiohttp.ClientSession(cookies={"shegong_dash": cookie["value"]}) as http,
        http.get(f"{site.url}/dashboard/") as r,
    ):
        assert r.status == 401
    await context.close()


async def test_supervisor_drills_down_inside_their_area_only(site: Site, browser: Any, tmp_path: Path) -> None:
    expected = cli_report(tmp_path, "--city", "东莞市")
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await page.goto(await site.link("chen"))
    await page.goto(f"{site.url}/dashboard/?month=2026-11")
    assert await figure(page, "served-rate") == pct(expected["totals"]["served_rate"])
    station = expected["stations"][0]
    assert station["name"] == "石龙镇社工站"
    await page.click(f"a[href^='/dashboard/station/{station['station_id']}']")
    assert await figure(page, "served-rate") == pct(station["served_rate"])
    assert "石龙镇社工站 看板" in await page.locator("header").inner_text()
    await page.goto(f"{site.url}/dashboard/cases?station={station['station_id']}")
    listed = await page.locator("main table").inner_text()
    assert "张*英" in listed and "张桂英" not in listed  # masked list, no links to case pages
    assert await page.locator("main table a").count() == 0
    for path in (
        f"/dashboard/station/{site.town.b.id}",  # 佛山: outside 东莞市
        f"/dashboard/cases?station={site.town.b.id}",
        f"/dashboard/case/{site.town.cases['张桂英']}",
    ):  # supervisors see no case page
        response = await page.goto(site.url + path)
        assert response is not None and response.status == 403, path
    await context.close()


async def test_links_and_sessions_expire_and_need_a_lead(site: Site) -> None:
    assert isinstance(site.services.clock, FrozenClock)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(await site.link("lead")) as r:
            assert r.status == 200 and "石龙镇社工站 看板" in await r.text()
        site.services.clock.advance(hours=7, minutes=59)
        async with http.get(f"{site.url}/dashboard/") as r:
            assert r.status == 200
        site.services.clock.advance(minutes=2)  # 8 hours after login
        async with http.get(f"{site.url}/dashboard/") as r:
            assert r.status == 401
    link = await site.link("lead")
    site.services.clock.advance(minutes=11)
    async with aiohttp.ClientSession() as http:
        async with http.get(link, allow_redirects=False) as r:
            assert r.status == 403
        async with http.get(f"{site.url}/dashboard/") as r:
            assert r.status == 401
        async with http.get(f"{site.url}/dashboard/", cookies={"shegong_dash": "forged.signature"}) as r:
            assert r.status == 401
    assert "只对站长和督导开放" in await site.say("看板", "wang")
    site.services.settings.public_url = ""
    assert "SHEGONG_PUBLIC_URL" in await site.say("看板", "lead")
