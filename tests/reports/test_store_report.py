"""The monthly report from the database (SQLite and PostgreSQL): the SQL that buckets visits into months in
Asia/Shanghai and flags served cases gives the hand-computed numbers of test_monthly."""

from __future__ import annotations

import pytest
from town import Town

from bot.store import Store
from handlers.common.area import Area
from handlers.reminders import compute_due
from handlers.reports.monthly import Month
from handlers.reports.service import ReportError, build_report, reminder_rules

from .station_month import NOW, seed


async def test_station_month_from_the_database(store: Store) -> None:
    seeded = await seed(Town(store, store.clock))
    report = await build_report(store, Area("station", "石龙镇社工站"), Month(2026, 11), NOW)
    assert report["totals"] == {
        "active_cases": 5,
        "served": 3,
        "served_rate": 0.6,
        "home_visited": 2,
        "home_rate": 0.4,
        "visits": 4,
    }
    workers = {w["name"]: w for w in report["workers"]}  # type: ignore[union-attr]
    assert (workers["王芳"]["cases"], workers["王芳"]["served"], workers["王芳"]["visits"]) == (2, 2, 3)
    assert (workers["李敏"]["cases"], workers["李敏"]["served"], workers["李敏"]["visits"]) == (2, 1, 1)
    assert workers["陈站长"]["cases"] == 0 and workers["未分配"]["cases"] == 1
    danger = report["danger"]
    assert isinstance(danger, dict) and (danger["events"], danger["followed_up"], danger["open"]) == (2, 1, 1)
    assert report["handoff"] == {"tickets": 3, "answered": 2, "median_first_response_minutes": 60.0}
    trend = report["trend"]
    assert isinstance(trend, list)
    assert trend[5] == {
        "month": "2026-10",
        "active_cases": 5,
        "served": 2,
        "served_rate": 0.4,
        "home_visited": 1,
        "home_rate": 0.2,
        "visits": 3,
    }
    # overdue at the month's end is the reminders' own computation, per worker
    due = [
        d
        for d in await compute_due(store, reminder_rules(), Month(2026, 11).last_day(), station_id=seeded.station_id)
        if d.days_overdue > 0
    ]
    overdue = report["overdue"]
    assert isinstance(overdue, dict) and overdue["items"] == len(due) > 0
    assert workers["王芳"]["overdue"] == sum(1 for d in due if d.worker_id == seeded.workers["王芳"]) > 0
    assert ("李四", "入户探访") in {(o["case_name"], o["item"]) for o in overdue["list"]}


async def test_city_and_province_areas(store: Store) -> None:
    await seed(Town(store, store.clock))
    city = await build_report(store, Area("city", "佛山市"), Month(2026, 11), NOW)
    assert city["area"] == {"level": "city", "name": "佛山市", "stations": 1}
    assert city["totals"] == {
        "active_cases": 1,
        "served": 1,
        "served_rate": 1.0,
        "home_visited": 1,
        "home_rate": 1.0,
        "visits": 1,
    }
    province = await build_report(store, Area("province"), Month(2026, 11), NOW)
    stations = province["stations"]
    assert isinstance(stations, list) and [s["name"] for s in stations] == [
        "石湾镇社工站",
        "石龙镇社工站",
    ]  # by coverage
    assert province["totals"]["active_cases"] == 6  # type: ignore[index]
    with pytest.raises(ReportError, match="还没有登记社工站"):
        await build_report(store, Area("city", "中山市"), Month(2026, 11), NOW)
    with pytest.raises(ReportError, match="还没有开始"):
        await build_report(store, Area("province"), Month(2027, 1), NOW)
