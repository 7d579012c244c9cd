"""A past month is reported as it was: the November report of a station whose roster changed in and after
November, through the real writers (roster import, close, 转交, a worker disabled with their cases handed
over) on both databases, against numbers computed by hand.

The station imports its roster on 1 September 2026 (local time), with each 独居老人's 上次入户日期, so the
monthly 入户探访 (handlers/reminders/data/default.yaml) is due one month after it:

  case  categories        worker            上次入户  in and after November
  甲    独居老人          王芳              09-20     电话 11-05 (王芳); closed 11-10
  乙    独居老人          王芳              10-25     电话 11-03 (王芳); handed to 李敏 11-15, to 陈站长 12-01
  丙    低保, 独居老人    李敏              10-01     电话 10-31 23:59, 入户 11-01 00:00, 电话 11-30 23:59,
                                                      电话 12-01 00:00 (all 李敏)
  丁    独居老人          李敏              10-20     入户 11-28 (李敏), recorded only on 12-01
  戊    独居老人          王芳              10-10     closed 12-01
  己    低保              王芳              —         re-imported 12-01 as 低保, 独居老人; handed to 李敏
                                                      12-01 when 王芳 is disabled
  辛    独居老人          王芳              09-20     closed 10-15; re-imported 12-01 with a new address

November, by hand:
  active: 甲 乙 丙 丁 戊 己 = 6 (甲 closed in it, 戊 after it; 辛 closed in October)
  served: 甲 乙 丙 丁 = 4 (丁's late entry is service in November); home-visited: 丙 丁 = 2
  独居老人: active 甲 乙 丙 丁 戊 = 5 (己 was only 低保 then), served 4, home 2; 低保: 丙 己, served 1, home 1
  王芳: 甲 戊 己 = 3 cases, served 1 (甲), visits recorded 2; 李敏: 乙 丙 丁 = 3, served 3, home 2, visits 3
  overdue at the end of 30 November: 戊 (due 11-10, 20 days, 王芳), 丁 (due 11-20, 10 days: the late entry
  does not undo it), 乙 (due 11-25, 5 days, 李敏 then); 甲 was closed, 丙 was home-visited on 11-01 (due 12-01)
October: active 甲 乙 丙 丁 戊 己 辛 = 7, served 丙 = 1 (its 10-31 23:59 call), visits 1.
"""

from __future__ import annotations

from datetime import date

from town import Town
from town import local_at as at

from bot.clock import FrozenClock
from bot.store import CaseRow, Store
from handlers.casework.store import CaseworkStore
from handlers.common.area import Area
from handlers.reports.monthly import Month
from handlers.reports.service import build_report
from handlers.workers.store import WorkersStore

NOV = Month(2026, 11)
ROSTER = {  # name: categories, worker, 上次入户日期
    "甲": (("独居老人",), "王芳", date(2026, 9, 20)),
    "乙": (("独居老人",), "王芳", date(2026, 10, 25)),
    "丙": (("低保", "独居老人"), "李敏", date(2026, 10, 1)),
    "丁": (("独居老人",), "李敏", date(2026, 10, 20)),
    "戊": (("独居老人",), "王芳", date(2026, 10, 10)),
    "己": (("低保",), "王芳", None),
    "辛": (("独居老人",), "王芳", date(2026, 9, 20)),
}


def row(name: str, categories: tuple[str, ...] | None = None, address: str = "") -> CaseRow:
    cats, worker, home = ROSTER[name]
    number = f"44190019450312{list(ROSTER).index(name):03d}5"
    return CaseRow(
        name,
        categories or cats,
        "东村",
        address,
        "13812345678",
        number,
        "低",
        worker,
        (("home_visit", home),) if home else (),
    )


def move_to(clock: FrozenClock, local: str) -> None:
    clock.advance(seconds=(at(local) - clock.now()).total_seconds())


async def station_history(town: Town) -> None:
    """The station above (`town.a`), written in time order: its workers bound on Telegram on 1 August, the
    roster imported, visits, closes and 转交 up to 15 November; the case ids in `town.cases` by name."""
    store, clock = town.store, town.clock
    casework = CaseworkStore.of(store)
    move_to(clock, "2026-08-01 09:00")
    station = await town.station("石龙镇社工站", city="东莞市", town="石龙镇")
    for name, role in (("王芳", "worker"), ("李敏", "worker"), ("陈站长", "lead")):
        await town.add_worker(name, chat=f"tg-{name}", role=role)
    move_to(clock, "2026-09-01 10:00")
    assert (await casework.import_cases(station.id, [row(name) for name in ROSTER]))["added"] == 7
    town.cases.update({c.name: c.id for c in await casework.station_cases(station.id, status=None)})
    visits = [  # case, worker, local time, mode
        ("丙", "李敏", "2026-10-31 23:59", "电话"),
        ("丙", "李敏", "2026-11-01 00:00", "入户"),
        ("乙", "王芳", "2026-11-03 10:00", "电话"),
        ("甲", "王芳", "2026-11-05 10:00", "电话"),
        ("丙", "李敏", "2026-11-30 23:59", "电话"),
        ("丙", "李敏", "2026-12-01 00:00", "电话"),
    ]
    for name, worker, when, mode in visits:
        await town.visit_row(name, worker, at(when), mode, key=f"history:{name}:{when}")
    move_to(clock, "2026-10-15 10:00")
    assert await casework.close_cases(station.id, [town.cases["辛"]], "迁出") == [town.cases["辛"]]
    move_to(clock, "2026-11-10 10:00")
    assert await casework.close_cases(station.id, [town.cases["甲"]], "死亡") == [town.cases["甲"]]
    move_to(clock, "2026-11-15 10:00")
    assert await casework.reassign_case(station.id, town.cases["乙"], town.workers["李敏"]) == town.workers["王芳"]


async def after_november(town: Town) -> None:
    """What happens on 1 December: a late entry, a close, 转交, a re-import, 王芳 leaves."""
    station_id, cases, casework = town.station_id, town.cases, CaseworkStore.of(town.store)
    move_to(town.clock, "2026-12-01 10:00")
    await town.visit_row("丁", "李敏", at("2026-11-28 10:00"), "入户", key="history:丁:late", recorded=town.clock.now())
    assert await casework.close_cases(station_id, [cases["戊"]], "迁出") == [cases["戊"]]
    await casework.reassign_case(station_id, cases["乙"], town.workers["陈站长"])
    counts = await casework.import_cases(station_id, [row("己", ("低保", "独居老人")), row("辛", address="新地址")])
    assert counts["updated"] == 2
    moved = await WorkersStore.of(town.store).disable_worker(station_id, "王芳", transfer_to="李敏")
    assert moved["cases"] == 1  # 己: 甲 and 戊 are closed


def overdue_of(report: dict[str, object]) -> list[tuple[str, str, str, int]]:
    found = report["overdue"]
    assert isinstance(found, dict)
    return [(o["case_name"], o["worker"], o["due_date"], o["days_overdue"]) for o in found["list"]]


def by_worker(report: dict[str, object]) -> dict[str, tuple[int, int, int, int, int]]:
    return {
        w["name"]: (w["cases"], w["served"], w["home_visited"], w["visits"], w["overdue"]) for w in report["workers"]
    }  # type: ignore[attr-defined]


async def test_a_past_month_is_reported_as_it_was(store: Store, clock: FrozenClock) -> None:
    town = Town(store, clock)
    await station_history(town)
    area = Area("station", "石龙镇社工站")
    # On the month's last evening the report is the current month's, overdue as of today.
    move_to(clock, "2026-11-30 23:59")
    evening = await build_report(store, area, NOV, clock.now())
    move_to(clock, "2026-12-01 00:00")
    midnight = await build_report(store, area, NOV, clock.now())
    await after_november(town)
    move_to(clock, "2026-12-02 09:00")
    report = await build_report(store, area, NOV, clock.now())

    assert report["totals"] == {
        "active_cases": 6,
        "served": 4,
        "served_rate": 0.6667,
        "home_visited": 2,
        "home_rate": 0.3333,
        "visits": 5,
    }
    assert report["categories"] == [
        {
            "category": "独居老人",
            "active_cases": 5,
            "served": 4,
            "served_rate": 0.8,
            "home_visited": 2,
            "home_rate": 0.4,
        },
        {"category": "低保", "active_cases": 2, "served": 1, "served_rate": 0.5, "home_visited": 1, "home_rate": 0.5},
    ]
    assert by_worker(report) == {"王芳": (3, 1, 0, 2, 1), "李敏": (3, 3, 2, 3, 2), "陈站长": (0, 0, 0, 0, 0)}
    expected = [("戊", "王芳", "2026-11-10", 20), ("丁", "李敏", "2026-11-20", 10), ("乙", "李敏", "2026-11-25", 5)]
    assert overdue_of(report) == expected
    assert report["overdue"]["as_of"] == "2026-11-30"  # type: ignore[index]
    october = report["trend"][-2]  # type: ignore[index]
    assert (october["month"], october["active_cases"], october["served"], october["visits"]) == ("2026-10", 7, 1, 1)

    # Reproducible: what was known at the month's end gives the same overdue items and the same
    # responsibilities; only the late entry adds service (丁 served and home-visited, one more visit).
    for earlier in (evening, midnight):
        assert overdue_of(earlier) == expected
        assert earlier["overdue"]["as_of"] == "2026-11-30"  # type: ignore[index]
        assert by_worker(earlier) == {"王芳": (3, 1, 0, 2, 1), "李敏": (3, 2, 1, 2, 2), "陈站长": (0, 0, 0, 0, 0)}
        assert earlier["totals"]["served"] == 3  # type: ignore[index]

    # December, the current month, as things are now: 己 with 李敏 and both categories, 乙 with 陈站长.
    december = await build_report(store, area, Month(2026, 12), clock.now())
    assert by_worker(december)["陈站长"][0] == 1 and by_worker(december)["李敏"][0] == 3  # 乙; 丙 丁 己
    dujv = {c["category"]: c["active_cases"] for c in december["categories"]}  # type: ignore[attr-defined]
    assert dujv == {"独居老人": 5, "低保": 2}  # 丙 丁 乙 戊 (closed in it) 己; 丙 己
