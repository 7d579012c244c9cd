"""A station month written to the database, the same as test_monthly's hand-computed fixture (plus a second
station in another city, and visits outside the window), for the storage, chat, CLI and web tests. The case
history (case_assignments) is written as the writers would: registrations, closes, the handover of 黄伯."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.store import Store
from bot.store.case_periods import sync_assignments
from bot.store.casework_models import Case, Station, Visit, Worker
from bot.store.handoff_models import Ticket

SH = ZoneInfo("Asia/Shanghai")
JAN = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 2026-12-02 09:00 in Shanghai


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH).astimezone(UTC)


@dataclass
class Seeded:
    station_id: int = 0
    other_station_id: int = 0
    workers: dict[str, int] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)


async def seed(store: Store) -> Seeded:
    out = Seeded()
    async with store.session.begin() as s:
        station = Station(name="石龙镇社工站", city="东莞市", district="", town="石龙镇", created_at=JAN)
        other = Station(name="石湾镇社工站", city="佛山市", district="禅城区", town="石湾镇", created_at=JAN)
        s.add_all([station, other])
        await s.flush()
        out.station_id, out.other_station_id = station.id, other.id
        for name, st in (("王芳", station), ("李敏", station), ("陈站长", station), ("赵强", other)):
            worker = Worker(station_id=st.id, name=name, role="lead" if name == "陈站长" else "worker", created_at=JAN)
            s.add(worker)
            await s.flush()
            out.workers[name] = worker.id
        w = out.workers
        specs = [  # name, station, worker, categories, status, created, updated
            ("张桂英", station, w["王芳"], ["低保", "独居老人"], "open", JAN, JAN),
            ("李四", station, w["王芳"], ["低保", "独居老人"], "open", JAN, JAN),  # never home-visited: overdue
            ("陈婆", station, w["李敏"], ["特困分散供养"], "closed", JAN, at("2026-10-15 09:00")),
            ("黄伯", station, w["李敏"], ["独居老人"], "open", JAN, JAN),
            ("何秀珍", station, None, ["残疾人"], "open", at("2026-11-20 08:00"), at("2026-11-20 08:00")),
            ("周一平", station, w["李敏"], ["低保", "残疾人"], "closed", JAN, at("2026-11-10 09:00")),
            ("梁伯", other, w["赵强"], ["低保"], "open", JAN, JAN),
        ]
        for i, (name, st, worker_id, categories, status, created, updated) in enumerate(specs):
            # registered open (黄伯 with 王芳 first), then changed below, with the history the writers keep
            row = Case(station_id=st.id, name=name, categories=categories, id_hash=f"h{i}",
                       worker_id=w["王芳"] if name == "黄伯" else worker_id, status="open", created_at=created,
                       updated_at=created, village="东村", phone_enc=store.secrets.encrypt("13812345678"),
                       id_number_enc=store.secrets.encrypt(f"44190019450312{i:03d}5"))
            s.add(row)
            await s.flush()
            await sync_assignments(s, created, Case.id == row.id)
            if status == "closed":
                row.status, row.closed_reason, row.closed_at, row.updated_at = "closed", "迁出", updated, updated
                await s.flush()
                await sync_assignments(s, updated, Case.id == row.id)
            out.cases[name] = row.id
        # 黄伯 handed from 王芳 to 李敏 on 5 November: November counts it for 李敏
        huang = await s.get(Case, out.cases["黄伯"])
        assert huang is not None
        huang.worker_id = w["李敏"]
        await s.flush()
        await sync_assignments(s, at("2026-11-05 10:00"), Case.id == huang.id)
        c = out.cases
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
        for i, (case_name, worker_name, when, mode, needs, services, danger, risk) in enumerate(visits):
            s.add(Visit(case_id=c[case_name], worker_id=w[worker_name], visited_at=at(when), mode=mode, needs=needs,
                        services=services, danger=danger, risk_after=risk, source_key=f"seed:{i}",
                        created_at=at(when)))
        for i, (opened, first) in enumerate([("2026-11-03 09:00", "2026-11-03 09:30"),
                                             ("2026-11-05 09:00", "2026-11-05 10:30"), ("2026-11-06 09:00", None),
                                             ("2026-10-06 09:00", None)]):
            s.add(Ticket(station_id=station.id, channel="console", chat_id=f"r{i}", question="问", status="closed",
                         created_at=at(opened), last_activity_at=at(opened),
                         first_reply_at=at(first) if first else None, closed_by="worker"))
    return out
