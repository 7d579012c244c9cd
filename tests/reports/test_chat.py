"""The leads' and supervisors' chat commands through the real dispatcher (SQLite and PostgreSQL): the numbers
are the monthly report's; workers, residents and other stations get none of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from live_app import settings_for
from town import Town, running_town

from bot.clock import FrozenClock
from handlers.common.area import Area
from handlers.reminders import compute_due
from handlers.reports.chat import pct
from handlers.reports.monthly import Month
from handlers.reports.service import build_report, reminder_rules

from .station_month import NOW, seed


@pytest.fixture
async def chat(database_url: str, tmp_path: Path) -> AsyncIterator[Town]:
    """The station month, its lead 陈站长 and worker 王芳 bound on the console, and 陈主任 supervising 东莞市."""
    async with running_town(settings_for(database_url, tmp_path), FrozenClock(NOW)) as town:
        c = await seed(town)
        assert "绑定成功" in (await c.bind(c.a, "陈站长", "lead", "lead")).text
        assert "绑定成功" in (await c.bind(c.a, "王芳", "wang")).text
        assert "督导（东莞市）" in (await c.bind(None, "陈主任", "chen", area=Area("city", "东莞市"))).text
        yield c


async def test_station_statistics_last_month_match_the_report(chat: Town) -> None:
    report = await build_report(chat.services.store, Area("station", "石龙镇社工站"), Month(2026, 11), NOW)
    for asked in ("本站统计 上月", "本站统计 2026-11", "上月统计", "本站統計 2026年11月"):
        text = await chat.answer(asked, "lead")
        assert text.startswith("📊 石龙镇社工站 2026年11月统计"), text
        assert "在册 5 人，已服务 3 人，覆盖率 60.0%；入户 2 人（40.0%）；走访 4 次" in text
        assert "王芳 2/2 100.0% 走访3" in text and "李敏 1/2 50.0% 走访1" in text
        assert f"逾期 {report['overdue']['items']} 项（截至11月30日）" in text  # type: ignore[index]
        assert "危险事件 2 起，未跟进 1 起" in text and "转人工 3 次，首次回复中位 60 分钟" in text
        assert "上月覆盖率 40.0% → 本月 60.0%" in text
    this_month = await chat.answer("本站统计", "lead")
    assert "2026年12月统计" in this_month and "走访 1 次" in this_month  # 张桂英 on December 1st
    assert "还没有开始" in await chat.answer("本站统计 2027-03", "lead")


async def test_coverage_danger_and_overdue_are_the_same_numbers(chat: Town) -> None:
    coverage = await chat.answer("覆盖率 上月", "lead")
    assert "石龙镇社工站 2026年11月覆盖率 60.0%（3/5），入户 40.0%" in coverage
    assert "低保 66.7%（2/3）" in coverage and "残疾人 0.0%（0/2）" in coverage
    assert coverage.index("李敏 50.0%") < coverage.index("王芳 100.0%")  # who is behind first
    danger = await chat.answer("危险事件 上月", "lead")
    assert "危险事件 2 起，已跟进 1 起，未跟进 1 起" in danger and "11月12日 黄伯：想不开" in danger
    assert "张桂英" not in danger  # followed up on December 1st
    # 逾期 (reminders) counts what the current month's report counts
    report = await build_report(chat.services.store, Area("station", "石龙镇社工站"), Month(2026, 12), NOW)
    due = await compute_due(chat.services.store, reminder_rules(), NOW.date(), station_id=chat.station_id)
    overdue = sum(1 for d in due if d.days_overdue > 0)
    assert report["overdue"]["items"] == overdue  # type: ignore[index]
    assert f"共 {overdue} 项" in await chat.answer("逾期", "lead")


async def test_supervisor_sees_their_area_and_workers_see_nothing(chat: Town) -> None:
    area = await chat.answer("本站统计 上月", "chen")
    assert area.startswith("📊 东莞市 2026年11月统计") and "各站覆盖率（1 个站，由高到低）：石龙镇社工站 60.0%" in area
    assert "石湾镇社工站" not in area  # 佛山市
    assert "石龙镇社工站" in await chat.answer("危险事件 上月", "chen")
    for text in ("本站统计", "覆盖率", "危险事件 上月"):
        assert "只对站长和督导开放" in await chat.answer(text, "wang")
        resident = await chat.answer(text, "resident")
        assert "60.0%" not in resident and "黄伯" not in resident
    assert pct(None) == "—"
