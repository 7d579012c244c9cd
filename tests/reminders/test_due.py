"""Due dates computed from each case's history, on SQLite and PostgreSQL: registration, a visit of the right
kind (live and once harvested), a "完成" reply, a category change, a closed case, the first roster import."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import update
from town import Town, local

from bot.store.casework_models import Case
from handlers.casework.store import CaseworkStore
from handlers.reminders import compute_due
from handlers.reminders.due import DueItem
from handlers.reminders.store import HARVEST_LAG, ListEntry, ReminderStore


async def due(town: Town, day: date | None = None) -> dict[tuple[str, str], DueItem]:
    today = day or town.clock.now().astimezone(town.store.tz).date()
    names = {v: k for k, v in town.cases.items()}
    return {(names[d.case_id], d.item.key): d for d in await compute_due(town.store, town.rules, today)}


async def test_a_monthly_visit_is_due_a_month_after_registration_then_overdue(town: Town) -> None:
    await town.register("张桂英", ("独居老人",))
    town.at(date(2026, 2, 1))
    assert ("张桂英", "home_visit") not in await due(town)  # due 2月5日, lead time 3 days
    town.at(date(2026, 2, 2))
    item = (await due(town))[("张桂英", "home_visit")]
    assert (item.due_date, item.status, item.days_overdue) == (date(2026, 2, 5), "upcoming", -3)
    town.at(date(2026, 2, 16))
    item = (await due(town))[("张桂英", "home_visit")]
    assert (item.status, item.days_overdue, item.escalates) == ("overdue", 11, True)


async def test_a_matching_visit_resets_the_clock_and_others_do_not(town: Town) -> None:
    await town.register("张桂英", ("独居老人",))
    town.at(date(2026, 2, 10))
    await town.visit("张桂英", local(date(2026, 2, 9), 15), mode="电话")  # a call is not a home visit
    assert (await due(town))[("张桂英", "home_visit")].due_date == date(2026, 2, 5)
    await town.visit("张桂英", local(date(2026, 2, 10), 10), mode="入户")
    assert ("张桂英", "home_visit") not in await due(town)
    assert (await due(town, date(2026, 3, 9)))[("张桂英", "home_visit")].due_date == date(2026, 3, 10)


async def test_keywords_in_the_report_reset_an_assessment(town: Town) -> None:
    await town.register("陈伯", ("特困分散供养",), at=local(date(2025, 1, 5)))
    town.at(date(2026, 1, 5))
    assert (await due(town))[("陈伯", "selfcare_assessment")].due_date == date(2026, 1, 5)
    await town.visit("陈伯", local(date(2026, 1, 5), 10), findings="完成年度自理能力评估，六项均可自理")
    found = await due(town)
    assert ("陈伯", "selfcare_assessment") not in found and ("陈伯", "home_visit") not in found


async def test_keywords_in_encrypted_reports_count_once_harvested(town: Town) -> None:
    await town.register("陈伯", ("特困分散供养",), at=local(date(2025, 1, 5)))
    town.at(date(2026, 1, 5))
    await town.visit("陈伯", local(date(2026, 1, 5), 10), findings="完成年度自理能力评估，六项均可自理")
    town.later(seconds=HARVEST_LAG.total_seconds() + 60)
    assert ("陈伯", "selfcare_assessment") not in await due(town)  # from the marks, matched on decrypted notes
    town.later(days=2)
    await town.visit("陈伯", local(date(2026, 1, 7), 10), findings="送米送油", mode="电话")  # no keyword
    town.later(seconds=HARVEST_LAG.total_seconds() + 60)
    assert ("陈伯", "selfcare_assessment") not in await due(town)
    assert (await due(town, date(2026, 12, 25)))[("陈伯", "selfcare_assessment")].due_date == date(2027, 1, 5)


async def test_a_visit_reported_late_counts_at_once_even_from_before_registration(town: Town) -> None:
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 1, 5)))  # the station's first import
    town.at(date(2026, 2, 10))
    await town.register("李伯", ("独居老人",))  # registered today: nothing due for a month
    assert ("李伯", "home_visit") not in await due(town)
    await town.visit("李伯", local(date(2025, 12, 1), 10))  # a home visit made before registration, reported now
    item = (await due(town))[("李伯", "home_visit")]  # not harvested yet: read live
    assert item.due_date == date(2026, 1, 1) and item.status == "overdue"
    town.later(seconds=HARVEST_LAG.total_seconds() + 60)
    assert (await due(town))[("李伯", "home_visit")].due_date == date(2026, 1, 1)


async def test_harvested_visits_still_count_and_new_visits_count_before_harvest(town: Town) -> None:
    await town.register("张桂英", ("独居老人",))
    town.at(date(2026, 2, 10))
    await town.visit("张桂英", local(date(2026, 2, 10), 8))
    assert ("张桂英", "home_visit") not in await due(town)  # read live: younger than the harvest lag
    town.later(seconds=HARVEST_LAG.total_seconds() + 60)
    assert ("张桂英", "home_visit") not in await due(town)  # now from the harvested marks
    town.at(date(2026, 3, 9))
    await town.visit("张桂英", local(date(2026, 3, 9), 8))  # the next one: newer than the mark
    assert ("张桂英", "home_visit") not in await due(town)
    town.later(days=2)
    assert ("张桂英", "home_visit") not in await due(town)


async def test_an_undone_visit_never_resets(town: Town) -> None:
    await town.register("张桂英", ("独居老人",))
    town.at(date(2026, 2, 10))
    await town.visit("张桂英", local(date(2026, 2, 10), 8))
    last = await CaseworkStore.of(town.store).last_visit_of_worker(town.workers["王芳"])
    assert last is not None and await CaseworkStore.of(town.store).delete_visit(last.id, town.workers["王芳"])  # 撤销
    town.later(seconds=HARVEST_LAG.total_seconds() + 60)
    assert (await due(town))[("张桂英", "home_visit")].due_date == date(2026, 2, 5)


async def test_completion_by_reply_resets_the_clock(town: Town) -> None:
    await town.register("张桂英", ("独居老人",))
    town.at(date(2026, 2, 6))
    item = (await due(town))[("张桂英", "home_visit")]
    await ReminderStore.of(town.store).complete_items(
        town.workers["王芳"], [ListEntry(item.case_id, "home_visit", item.due_date, "张桂英", "入户探访")]
    )
    assert ("张桂英", "home_visit") not in await due(town)
    assert (await due(town, date(2026, 3, 5)))[("张桂英", "home_visit")].due_date == date(2026, 3, 6)


async def test_a_category_change_brings_the_new_schedule(town: Town) -> None:
    case_id = await town.register("刘伯", ("低保",))
    town.at(date(2026, 2, 20))
    await town.visit("刘伯", local(date(2026, 1, 10), 10), findings="走访了解情况")  # 入户, no income check
    found = await due(town)
    assert ("刘伯", "home_visit") not in found and ("刘伯", "econ_check") not in found
    async with town.store.session.begin() as s:  # re-imported as 特困 + 独居 (a re-import updates categories)
        await s.execute(update(Case).where(Case.id == case_id).values(categories=["特困分散供养", "独居老人"]))
    found = await due(town)
    assert found[("刘伯", "home_visit")].due_date == date(2026, 2, 10)  # a month after the last 入户 visit
    assert ("刘伯", "econ_check") not in found  # no longer 低保
    assert ("刘伯", "selfcare_assessment") not in found  # never done: a year from registration


async def test_a_closed_case_stops(town: Town) -> None:
    case_id = await town.register("张桂英", ("独居老人",))
    town.at(date(2026, 2, 20))
    assert ("张桂英", "home_visit") in await due(town)
    async with town.store.session.begin() as s:
        await s.execute(update(Case).where(Case.id == case_id).values(status="closed"))
    assert await due(town) == {}


async def test_needs_assessment_only_for_cases_registered_after_the_first_import(town: Town) -> None:
    await town.register("老名单", ("残疾人",))  # the roster, imported on the first day
    town.at(date(2026, 3, 2))
    await town.register("新登记", ("残疾人",))
    town.at(date(2026, 3, 13))
    found = await due(town)
    assert ("老名单", "needs_assessment") not in found
    item = found[("新登记", "needs_assessment")]
    assert (item.due_date, item.item.name) == (date(2026, 3, 17), "需求评估")
    await town.visit("新登记", local(date(2026, 3, 13), 10), findings="完成需求评估，需要助餐")
    assert ("新登记", "needs_assessment") not in await due(town)
    assert ("新登记", "needs_assessment") not in await due(town, date(2027, 3, 13))  # once only


async def test_station_and_worker_filters(town: Town) -> None:
    await town.register("张桂英", ("独居老人",))
    await town.register("陈伯", ("独居老人",), worker="李敏")
    await town.register("无人管", ("独居老人",), worker=None)
    town.at(date(2026, 2, 20))
    today = date(2026, 2, 20)
    mine = await compute_due(town.store, town.rules, today, worker_id=town.workers["李敏"])
    assert [d.case_name for d in mine] == ["陈伯"]
    station = await compute_due(town.store, town.rules, today, station_id=town.station_id)
    assert sorted(d.case_name for d in station) == ["张桂英", "无人管", "陈伯"]
    assert [d.worker_id for d in station if d.case_name == "无人管"] == [None]
    assert await compute_due(town.store, town.rules, today, station_id=town.station_id + 99) == []


async def test_snoozed_items_carry_the_snooze(town: Town) -> None:
    await town.register("张桂英", ("独居老人",))
    town.at(date(2026, 2, 6))
    item = (await due(town))[("张桂英", "home_visit")]
    until = date(2026, 2, 9)
    await ReminderStore.of(town.store).snooze_items(
        town.workers["王芳"], [ListEntry(item.case_id, "home_visit", item.due_date, "张桂英", "入户探访")], until
    )
    assert (await due(town))[("张桂英", "home_visit")].snoozed_until == until
    assert (await due(town, until))[("张桂英", "home_visit")].snoozed_until is None
    assert (await due(town, until - timedelta(days=1)))[("张桂英", "home_visit")].snoozed_until == until
