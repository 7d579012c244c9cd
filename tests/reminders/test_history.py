"""Schedules from real history, on SQLite and PostgreSQL: the roster's 上次走访/入户/评估日期 seed the history,
a visit counts whatever its date relative to registration, and the first import's never-done items are spread
over their first interval instead of all falling due on one day."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy import select, update
from town import Town, local

from bot.store.casework_models import Case
from handlers.casework.files import parse_case_file
from handlers.casework.models import CaseHistory
from handlers.casework.store import CaseworkStore
from handlers.reminders import compute_due
from handlers.reminders.due import DueItem
from handlers.reminders.rules import load_rulebook

HEADER = "序号,姓名,类别,身份证号,责任社工,上次走访日期,上次入户日期,上次评估日期\n"


def _id(body: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


IDS = tuple(_id(body) for body in ("11010119400101001", "11010119450202001", "11010119500303001"))


async def import_csv(town: Town, tmp_path: Path, body: str, name: str = "名单.csv") -> dict[str, int]:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    parsed = parse_case_file(path, ["王芳", "李敏"], town.clock.now().date())
    assert not parsed.errors, parsed.errors
    counts = await CaseworkStore.of(town.store).import_cases(town.station_id, parsed.rows)
    for row in parsed.rows:
        town.cases[row.name] = (await CaseworkStore.of(town.store).find_cases(town.station_id, row.name))[0].id
    return counts


async def due(town: Town, day: date) -> dict[tuple[str, str], DueItem]:
    names = {v: k for k, v in town.cases.items()}
    return {(names[d.case_id], d.item.key): d for d in await compute_due(town.store, town.rules, day)}


async def test_history_columns_seed_the_schedule(town: Town, tmp_path: Path) -> None:
    town.at(date(2026, 1, 5))
    await import_csv(town, tmp_path,
                     f"1,张桂英,独居老人,{IDS[0]},王芳,,2025-12-20,\n"          # home visit on 12月20日
                     f"2,陈伯,特困,{IDS[1]},王芳,2025/12/28,,2025年6月1日\n"  # a visit of unknown mode, an assessment
                     f"3,李婆,高龄老人,{IDS[2]},王芳,2025-12-15,,\n")         # a visit counts for 探访关爱
    found = await due(town, date(2026, 1, 17))
    assert found[("张桂英", "home_visit")].due_date == date(2026, 1, 20)  # a month after the history, not the import
    assert found[("李婆", "care_visit")].due_date == date(2026, 1, 15)
    assert ("陈伯", "home_visit") not in found  # 上次走访日期 counts as a visit: due 1月28日
    assert (await due(town, date(2026, 1, 25)))[("陈伯", "home_visit")].due_date == date(2026, 1, 28)
    # 上次评估日期 is the 自理能力评估: due a year after it, six months after the import
    assessment = (await due(town, date(2026, 5, 20)))[("陈伯", "selfcare_assessment")]
    assert assessment.due_date == date(2026, 6, 1)


async def test_reimport_updates_history_and_a_blank_keeps_it(town: Town, tmp_path: Path) -> None:
    town.at(date(2026, 1, 5))
    await import_csv(town, tmp_path, f"1,张桂英,独居老人,{IDS[0]},王芳,,2025-12-20,\n")
    same = await import_csv(town, tmp_path, f"1,张桂英,独居老人,{IDS[0]},王芳,,2025-12-20,\n")
    assert same == {"added": 0, "updated": 0, "unchanged": 1}
    assert await import_csv(town, tmp_path, f"1,张桂英,独居老人,{IDS[0]},王芳,,2026-01-03,\n") == \
        {"added": 0, "updated": 1, "unchanged": 0}
    assert (await due(town, date(2026, 2, 1)))[("张桂英", "home_visit")].due_date == date(2026, 2, 3)
    await import_csv(town, tmp_path, f"1,张桂英,独居老人,{IDS[0]},王芳,,,\n")  # the column left blank
    async with town.store.session() as s:
        kinds = (await s.execute(select(CaseHistory.kind, CaseHistory.source))).all()
    assert kinds == [("home_visit", "import")]
    assert (await due(town, date(2026, 2, 1)))[("张桂英", "home_visit")].due_date == date(2026, 2, 3)


async def test_a_visit_dated_before_registration_counts(town: Town) -> None:
    town.at(date(2026, 1, 5))
    await town.register("先登记", ("独居老人",))  # the station's first import
    town.at(date(2026, 3, 2))
    await town.register("张桂英", ("独居老人",))  # registered on 3月2日
    await town.visit("张桂英", local(date(2026, 2, 20), 10))  # a visit made before she was registered
    found = await due(town, date(2026, 3, 18))
    assert found[("张桂英", "home_visit")].due_date == date(2026, 3, 20)  # not 4月2日


async def test_a_120_case_roster_is_spread_over_the_first_month(town: Town) -> None:
    town.at(date(2026, 1, 5))
    categories = ("独居老人", "特困分散供养", "高龄老人", "低保")
    for i in range(120):
        await town.register(f"对象{i:03d}", (categories[i % 4],))
    # A year and more later, nothing was done: every item is listed with its first due date.
    everything = await compute_due(town.store, town.rules, date(2027, 1, 20))
    per_item = Counter(d.item.key for d in everything)
    assert per_item == {"home_visit": 60, "care_visit": 30, "selfcare_assessment": 30, "econ_check": 30}
    for key, n in per_item.items():
        first_interval = 31 if key in ("home_visit", "care_visit") else 365
        per_day = Counter(d.due_date for d in everything if d.item.key == key)
        assert max(per_day.values()) <= math.ceil(n / first_interval) + 1, (key, per_day)
        assert min(per_day) > date(2026, 1, 5), (key, per_day)
        assert max(per_day) == date.fromordinal(date(2026, 1, 5).toordinal() + first_interval)
    monthly = Counter(d.due_date for d in everything if d.item.key in ("home_visit", "care_visit"))
    assert max(monthly.values()) <= math.ceil(90 / 31) + 1  # all monthly items together, any day
    # deterministic: closing a case moves nobody else's date
    before = {(d.case_id, d.item.key): d.due_date for d in everything}
    async with town.store.session.begin() as s:
        await s.execute(update(Case).where(Case.id == town.cases["对象000"]).values(status="closed"))
    after = await compute_due(town.store, town.rules, date(2027, 1, 20))
    assert all(before[(d.case_id, d.item.key)] == d.due_date for d in after if (d.case_id, d.item.key) in before)
    assert town.cases["对象000"] not in {d.case_id for d in after}


async def test_cases_registered_later_are_not_spread(town: Town) -> None:
    town.at(date(2026, 1, 5))
    for i in range(10):
        await town.register(f"首批{i}", ("独居老人",))
    town.at(date(2026, 1, 20))
    await town.register("新登记", ("独居老人",))
    assert (await due(town, date(2026, 2, 20)))[("新登记", "home_visit")].due_date == date(2026, 2, 20)


def test_rules_for_disabled_people_and_left_behind_children() -> None:
    rules = load_rulebook().default
    disabled = {i.key: i for i in rules.items_for(["残疾"])}  # a roster spelling
    assert disabled["disability_visit"].every is not None and disabled["disability_visit"].every.months == 3
    assert disabled["subsidy_check"].every is not None and disabled["subsidy_check"].every.months == 12
    for spelling in ("留守", "困境儿童"):
        [child] = [i for i in rules.items_for([spelling]) if i.key == "child_visit"]
        assert child.every is not None and child.every.months == 3 and child.reset_by.modes == ("入户",)
