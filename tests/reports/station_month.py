"""A station month written to the database, the same as test_monthly's hand-computed fixture (plus a second
station in another city, and visits outside the window), for the storage, chat, CLI and web tests. The records
are written as they stand (tests/town.py's `case_row`, `visit_row`, `ticket_row`): the numbers are computed by
hand from exactly these rows, with the case history the writers keep (registrations, closes, the handover of
黄伯)."""

from __future__ import annotations

from datetime import UTC, datetime

from town import Town
from town import local_at as at

JAN = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 2026-12-02 09:00 in Shanghai


async def seed(town: Town) -> Town:
    """石龙镇社工站 (东莞市, `town.a`): 王芳, 李敏, 陈站长 (lead); 石湾镇社工站 (佛山市禅城区, `town.b`): 赵强. None of
    them bound to a chat yet."""
    station = await town.station("石龙镇社工站", city="东莞市", town="石龙镇")
    other = await town.station("石湾镇社工站", county="禅城区", city="佛山市", town="石湾镇")
    for name, st in (("王芳", station), ("李敏", station), ("陈站长", station), ("赵强", other)):
        await town.add_worker(name, channel="", role="lead" if name == "陈站长" else "worker", station=st)
    specs = [  # name, station, worker, categories, status, created, updated
        ("张桂英", station, "王芳", ["低保", "独居老人"], "open", JAN, JAN),
        ("李四", station, "王芳", ["低保", "独居老人"], "open", JAN, JAN),  # never home-visited: overdue
        ("陈婆", station, "李敏", ["特困分散供养"], "closed", JAN, at("2026-10-15 09:00")),
        ("黄伯", station, "李敏", ["独居老人"], "open", JAN, at("2026-11-05 10:00")),  # 王芳's until 5 November
        ("何秀珍", station, None, ["残疾人"], "open", at("2026-11-20 08:00"), at("2026-11-20 08:00")),
        ("周一平", station, "李敏", ["低保", "残疾人"], "closed", JAN, at("2026-11-10 09:00")),
        ("梁伯", other, "赵强", ["低保"], "open", JAN, JAN),
    ]
    for i, (name, st, worker, categories, status, created, updated) in enumerate(specs):
        first = "王芳" if name == "黄伯" else None  # handed to 李敏: November counts it for 李敏
        await town.case_row(st, name, worker, categories, status, created, updated, serial=i, first_worker=first)
    visits = [  # case, worker, local time, mode, needs, services, danger, risk
        ("张桂英", "王芳", "2026-10-08 10:00", "电话", "", "", "", ""),
        ("陈婆", "王芳", "2026-10-09 10:00", "入户", "", "", "", ""),
        ("陈婆", "王芳", "2026-10-31 23:59", "入户", "", "", "", ""),  # the last minute of October
        ("张桂英", "王芳", "2026-11-01 00:05", "入户", "需要助餐，想办轮椅", "联系长者饭堂送餐", "", "低"),
        ("黄伯", "王芳", "2026-11-12 10:00", "入户", "", "陪诊去医院", "想不开", "高"),
        ("张桂英", "李敏", "2026-11-20 11:00", "电话", "咨询低保续期", "", "", "高"),
        ("李四", "王芳", "2026-11-30 23:50", "电话", "很好", "", "", "低"),
        ("张桂英", "王芳", "2026-12-01 10:00", "电话", "", "", "", ""),  # after the month: a follow-up
        ("梁伯", "赵强", "2026-11-15 10:00", "入户", "", "", "", ""),
        ("梁伯", "赵强", "2026-04-15 10:00", "入户", "", "", "", ""),  # before the trend window
    ]
    for i, (case_name, worker, when, mode, needs, services, danger, risk) in enumerate(visits):
        await town.visit_row(case_name, worker, at(when), mode, needs, services, danger, risk, key=f"seed:{i}")
    tickets = [  # opened, first reply
        ("2026-11-03 09:00", "2026-11-03 09:30"),
        ("2026-11-05 09:00", "2026-11-05 10:30"),
        ("2026-11-06 09:00", None),
        ("2026-10-06 09:00", None),
    ]
    for i, (opened, first) in enumerate(tickets):
        await town.ticket_row(station, f"r{i}", at(opened), at(first) if first else None)
    return town
