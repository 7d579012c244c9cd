"""Ticket metrics in /metrics, the maintenance loop's life in the server, and the working-hours wording."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from bot import metrics
from bot.server import app_runner, create_app
from handlers.handoff.maintenance import MaintenanceLoop, refresh_gauges
from handlers.handoff.working_hours import WeekdayCalendar, in_working_hours, next_opening, response_note

TZ = ZoneInfo("Asia/Shanghai")


class Holidays(WeekdayCalendar):
    def __init__(self, *days: date) -> None:
        self.days = set(days)

    def is_workday(self, day: date) -> bool:
        return day not in self.days and super().is_workday(day)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_working_hours_and_next_opening() -> None:
    weekdays = WeekdayCalendar()
    assert in_working_hours(local(2026, 11, 30, 8, 30), TZ, weekdays)  # Monday
    assert not in_working_hours(local(2026, 11, 30, 17, 30), TZ, weekdays)
    assert not in_working_hours(local(2026, 11, 28, 10, 0), TZ, weekdays)  # Saturday
    assert next_opening(local(2026, 11, 27, 18, 0), TZ, weekdays) == local(2026, 11, 30, 8, 30)
    assert next_opening(local(2026, 11, 30, 7, 0), TZ, weekdays) == local(2026, 11, 30, 8, 30)
    national_day = Holidays(*(date(2026, 10, d) for d in range(1, 8)))
    assert next_opening(local(2026, 9, 30, 20, 0), TZ, national_day) == local(2026, 10, 8, 8, 30)
    assert "今天上班后" in response_note(local(2026, 11, 30, 7, 0), TZ, weekdays)
    assert "10月8日（周四）" in response_note(local(2026, 10, 2, 9, 0), TZ, national_day)
    assert "2 小时内" in response_note(local(2026, 11, 30, 9, 0), TZ, weekdays)


async def test_first_reply_time_and_open_tickets_in_metrics(desk) -> None:
    before = metrics.TICKET_FIRST_REPLY_SECONDS.count(station="石湾镇社工站")
    opened = metrics.TICKETS_OPENED.value(station="石湾镇社工站")
    await desk.ready_resident()
    number = await desk.open_ticket("想问低保")
    await desk.ready_resident("o_resident_2")
    await desk.open_ticket("想问特困", "o_resident_2")
    desk.clock.advance(minutes=42)
    await desk.worker("李敏", f"回复 {number} 您好")
    await desk.worker("李敏", f"回复 {number} 还有什么要问的吗")  # only the first reply is timed
    assert metrics.TICKET_FIRST_REPLY_SECONDS.count(station="石湾镇社工站") == before + 1
    assert metrics.TICKETS_OPENED.value(station="石湾镇社工站") == opened + 2
    await refresh_gauges(desk.store)
    assert metrics.TICKETS_OPEN.value(station="石湾镇社工站") == 2
    assert metrics.TICKETS_OPEN.value(station="龙江镇社工站") == 0
    text = metrics.REGISTRY.render()
    assert 'shegong_tickets_open{station="石湾镇社工站"} 2' in text
    assert 'shegong_ticket_first_reply_seconds_bucket{station="石湾镇社工站",le="3600"}' in text
    await desk.worker("李敏", f"结束 {number}")
    await refresh_gauges(desk.store)
    assert metrics.TICKETS_OPEN.value(station="石湾镇社工站") == 1


async def test_maintenance_loop_runs_with_the_server_and_stops_promptly(desk) -> None:
    await desk.ready_resident()
    await desk.open_ticket("想问低保")
    metrics.TICKETS_OPEN.replace({})
    runner = app_runner(create_app(desk.services, {}))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30  # the loop reads the gauge as soon as it starts
            while time.monotonic() < deadline:
                async with http.get(f"http://127.0.0.1:{runner.addresses[0][1]}/metrics") as r:
                    if 'shegong_tickets_open{station="石湾镇社工站"} 1' in await r.text():
                        break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("open tickets never reached /metrics")
    finally:
        started = time.monotonic()
        await runner.cleanup()
        assert time.monotonic() - started < 15


async def test_maintenance_tick_purges_once_an_hour(desk) -> None:
    loop = MaintenanceLoop(desk.store, retention_days=180, tick_seconds=0.01)
    assert await loop.tick() is not None
    assert await loop.tick() is None  # within the hour
    desk.clock.advance(hours=1)
    assert await loop.tick() is not None
    task = asyncio.create_task(loop.run_forever())
    await asyncio.sleep(0.05)
    await loop.stop(task, timeout=2)
    assert task.done()
    assert desk.clock.now().tzinfo is UTC
