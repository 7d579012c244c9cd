"""Dispatch on SQLite and PostgreSQL: one digest per worker per working morning, holidays and 调休 days, the
send window, snoozes, escalation once, routing (WeChat's 48 hours), exactly once across processes and
across a crash in the middle of a pass, and failures shown to the lead."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from fakes.channel import RecordingChannel
from sqlalchemy import select, update
from town import Town, local

from bot.channels.base import SendError
from bot.outbox import LEASE, OutboxSender
from bot.store import Store, create_engine
from bot.store.models import OutboxMessage, User
from handlers.casework.store import CaseworkStore
from handlers.common import calendar as calendar_module
from handlers.common.calendar import SendWindow, WorkCalendar
from handlers.reminders import dispatch as dispatch_module
from handlers.reminders.dispatch import ReminderDispatcher
from handlers.reminders.models import ReminderDigest, ReminderNotice
from handlers.reminders.rules import RuleBook, RuleSet
from handlers.reminders.store import ListEntry, ReminderStore
from handlers.workers.store import WorkersStore


@pytest.fixture(autouse=True)
def without_needs_assessment(town: Town) -> None:
    """These cases are registered on different days, so each would also have its first 需求评估 due: left
    out here to keep the digests short (test_due covers it)."""
    default = town.rules.default
    town.rules = RuleBook(RuleSet(default.categories, (), default.aliases), town.rules.stations)


def dispatcher(store: Store, town: Town, channels: tuple[str, ...] = ("telegram",), **kw: object) -> ReminderDispatcher:
    return ReminderDispatcher(store, town.rules, channels, **kw)  # type: ignore[arg-type]


async def outbox(store: Store) -> list[OutboxMessage]:
    async with store.session() as s:
        return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def three_cases(town: Town) -> None:
    """王芳: 张桂英 overdue, 陈伯 due today, 李婆 due in 2 days; 李敏: 黄叔 overdue long enough to escalate."""
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 12, 20)))
    await town.register("陈伯", ("独居老人",), at=local(date(2026, 1, 2)))
    await town.register("李婆", ("高龄老人",), at=local(date(2026, 1, 4)))
    await town.register("黄叔", ("独居老人",), worker="李敏", at=local(date(2025, 12, 1)))


async def test_one_digest_per_worker_numbered_with_buttons(town: Town) -> None:
    await three_cases(town)
    town.at(date(2026, 2, 2))  # Monday
    report = await dispatcher(town.store, town).run(town.clock.now())
    assert (report.skipped, report.digests, report.queued) == ("", 2, 2)
    rows = await outbox(town.store)
    digest = next(r for r in rows if r.chat_id == "1001")
    text = digest.payload["text"]
    assert "今天到期 1 项，逾期 1 项，即将到期 1 项" in text
    assert text.index("1. 张桂英") < text.index("2. 陈伯") < text.index("3. 李婆"), text
    assert "已逾期 13 天" in text and "回复“完成 2”" in text
    assert digest.dedup_key == f"digest:{town.workers['王芳']}:2026-02-02:telegram"
    assert all(len(payload.encode()) <= 64 for _, payload in digest.payload["buttons"])
    assert [label for label, _ in digest.payload["buttons"]][:2] == ["完成 1", "推迟 1 3天"]
    listed = await ReminderStore.of(town.store).reminder_list(town.workers["王芳"])
    assert [e.case_name for e in listed] == ["张桂英", "陈伯", "李婆"]
    # the same morning again, and the next pass of another process: nothing new
    again = await dispatcher(town.store, town).run(town.clock.now() + timedelta(hours=2))
    assert (again.digests, again.queued, again.escalated) == (0, 0, 0)
    assert len([r for r in await outbox(town.store) if r.dedup_key.startswith("digest:")]) == 2
    # the next working day: nothing new, so no digest repeating the same list
    town.at(date(2026, 2, 3))
    assert (await dispatcher(town.store, town).run(town.clock.now())).queued == 0
    # a new item: a digest listing it alone, and counting the rest
    await town.register("周婆", ("独居老人",), at=local(date(2026, 1, 5)))
    town.at(date(2026, 2, 4))
    assert (await dispatcher(town.store, town).run(town.clock.now())).queued == 1
    [fresh] = [r for r in await outbox(town.store) if r.dedup_key.endswith("2026-02-04:telegram")]
    text = fresh.payload["text"]
    assert "新增或有变化的 1 项：" in text and "1. 周婆" in text and "张桂英" not in text
    assert "另有 3 项待办（其中逾期 2 项），发送“待办”查看全部。" in text, text


async def test_escalation_goes_to_the_lead_once_with_a_list(town: Town) -> None:
    await three_cases(town)
    town.at(date(2026, 2, 2))
    report = await dispatcher(town.store, town).run(town.clock.now())
    assert report.escalated == 2  # 黄叔 (overdue 31 days) and 张桂英 (13 days, threshold 7)
    [sent] = [r for r in await outbox(town.store) if r.chat_id == "1002" and r.dedup_key.startswith("escalate:")]
    assert "逾期上报（石岗镇社工站）" in sent.payload["text"]
    assert "黄叔 入户探访" in sent.payload["text"] and "（李敏）" in sent.payload["text"]
    town.at(date(2026, 2, 3))
    assert (await dispatcher(town.store, town).run(town.clock.now())).escalated == 0
    await town.register("新逾期", ("独居老人",), at=local(date(2025, 12, 10)))
    town.at(date(2026, 2, 4))
    assert (await dispatcher(town.store, town).run(town.clock.now())).escalated == 1  # only the new one
    async with town.store.session() as s:
        kinds = (await s.execute(select(ReminderNotice.kind, ReminderNotice.status))).all()
    assert sorted(set(kinds)) == [("escalate", "queued"), ("remind", "queued")]


@pytest.mark.parametrize(
    ("day", "sends"),
    [
        (date(2026, 10, 1), False),  # 国庆节
        (date(2026, 10, 3), False),  # 国庆节 (a Saturday)
        (date(2026, 10, 10), True),  # 调休: a Saturday that is a working day
        (date(2026, 2, 14), True),  # 调休 before 春节
        (date(2026, 2, 17), False),  # 春节
        (date(2025, 10, 11), True),  # 2025's 调休 Saturday
        (date(2026, 3, 7), False),  # an ordinary Saturday
    ],
)
async def test_holidays_and_make_up_working_days(town: Town, day: date, sends: bool) -> None:
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 1, 1)))
    town.at(day)
    report = await dispatcher(town.store, town).run(town.clock.now())
    assert bool(report.queued) is sends, report.summary()
    if not sends:
        assert "非工作日" in report.skipped


def test_unknown_years_fall_back_to_weekdays_and_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger=calendar_module.__name__):
        assert cal.is_workday(date(2099, 3, 2)) is True
        assert cal.is_workday(date(2099, 3, 7)) is False
        assert cal.is_workday(date(2099, 3, 9)) is True
    assert len([r for r in caplog.records if "2099" in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("hour", "minute", "sends"), [(8, 29, False), (8, 30, True), (19, 59, True), (20, 0, False), (3, 0, False)]
)
async def test_send_window(town: Town, hour: int, minute: int, sends: bool) -> None:
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 1, 1)))
    town.at(date(2026, 3, 2), hour, minute)
    report = await dispatcher(town.store, town).run(town.clock.now())
    assert bool(report.queued) is sends
    if not sends:
        assert "不在发送时段（08:30–20:00）" in report.skipped


async def test_a_configured_window(town: Town) -> None:
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 1, 1)))
    town.at(date(2026, 3, 2), 8, 45)
    late = dispatcher(town.store, town, window=SendWindow.parse("09:00", "17:30"))
    assert "不在发送时段（09:00–17:30）" in (await late.run(town.clock.now())).skipped
    with pytest.raises(ValueError, match="HH:MM"):
        SendWindow.parse("9点", "17:30")


async def test_snoozed_items_stay_out_of_the_digest_until_the_day(town: Town) -> None:
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 12, 20)))
    await town.register("陈伯", ("独居老人",), at=local(date(2026, 1, 2)))
    town.at(date(2026, 2, 2))
    listed = [ListEntry(town.cases["张桂英"], "home_visit", date(2026, 1, 20), "张桂英", "入户探访")]
    await ReminderStore.of(town.store).snooze_items(town.workers["王芳"], listed, date(2026, 2, 5))
    await dispatcher(town.store, town).run(town.clock.now())
    [digest] = [r for r in await outbox(town.store) if r.chat_id == "1001"]
    assert "陈伯" in digest.payload["text"] and "张桂英" not in digest.payload["text"]
    await ReminderStore.of(town.store).snooze_items(
        town.workers["王芳"],
        [ListEntry(town.cases["陈伯"], "home_visit", date(2026, 2, 2), "陈伯", "入户探访")],
        date(2026, 2, 5),
    )
    town.at(date(2026, 2, 3))
    report = await dispatcher(town.store, town).run(town.clock.now())
    assert report.digests == 0  # everything of 王芳's is snoozed: no digest at all
    assert not [r for r in await outbox(town.store) if r.chat_id == "1001" and "2026-02-03" in r.dedup_key]
    town.at(date(2026, 2, 5))
    await dispatcher(town.store, town).run(town.clock.now())
    [back] = [r for r in await outbox(town.store) if r.chat_id == "1001" and "2026-02-05" in r.dedup_key]
    assert "张桂英" in back.payload["text"] and "陈伯" in back.payload["text"]


async def test_wechat_only_within_48_hours_then_wecom_then_nobody(town: Town) -> None:
    await town.add_worker("周姐", "wechat", "o-zhou")
    await town.register("张桂英", ("独居老人",), worker="周姐", at=local(date(2025, 12, 20)))
    town.at(date(2026, 2, 2))
    both = ("telegram", "wechat", "wecom")
    await dispatcher(town.store, town, both).run(town.clock.now())  # she wrote when binding: within 48 h? no
    async with town.store.session() as s:
        digest = (
            await s.execute(select(ReminderDigest).where(ReminderDigest.worker_id == town.workers["周姐"]))
        ).scalar_one()
    assert (digest.status, digest.channel) == ("unreachable", "")  # bound on 1月5日: long outside 48 hours
    problems = await ReminderStore.of(town.store).delivery_problems([town.workers["周姐"]])
    assert "需另行联系" in problems[town.workers["周姐"]]
    # she writes to the bot: WeChat is allowed again the next morning
    town.at(date(2026, 2, 2), 18)
    await town.store.user_for("wechat", "o-zhou")
    town.at(date(2026, 2, 3))
    await dispatcher(town.store, town, both).run(town.clock.now())
    assert [r.channel for r in await outbox(town.store) if r.chat_id == "o-zhou"] == ["wechat"]
    # three days later, WeChat is closed again, but she also bound WeCom
    code = "code-周姐-wecom"
    await WorkersStore.of(town.store).add_worker_with_invite(
        town.station_id, "周姐", "", code, town.clock.now() + timedelta(days=1)
    )
    user = await town.store.user_for("wecom", "zhoujie")
    await WorkersStore.of(town.store).redeem_invite(code, user.id)
    async with town.store.session.begin() as s:  # her WeCom identity was last used a while ago
        await s.execute(update(User).where(User.id == user.id).values(last_seen_at=local(date(2026, 1, 20))))
    town.at(date(2026, 2, 6))
    await dispatcher(town.store, town, both).run(town.clock.now())
    assert [
        r.channel
        for r in await outbox(town.store)
        if "2026-02-06" in (r.dedup_key or "") and r.chat_id in ("o-zhou", "zhoujie")
    ] == ["wecom"]


async def test_two_processes_at_once_queue_each_digest_once(database_url: str, town: Town) -> None:
    await three_cases(town)
    for n in range(12):
        await town.register(f"对象{n}", ("独居老人",), worker="李敏" if n % 2 else "王芳", at=local(date(2025, 12, 1)))
    town.at(date(2026, 2, 2))
    others = [Store(create_engine(database_url), town.clock) for _ in range(2)]
    try:
        reports = await asyncio.gather(*(dispatcher(s, town).run(town.clock.now()) for s in others))
    finally:
        for s in others:
            await s.close()
    assert sum(r.queued for r in reports) == 2 and sum(r.escalated for r in reports) == 14
    rows = await outbox(town.store)
    assert len([r for r in rows if r.dedup_key.startswith("digest:")]) == 2
    assert len([r for r in rows if r.dedup_key.startswith("escalate:")]) == 1


async def test_a_restart_in_the_middle_of_a_pass_sends_each_digest_once(
    database_url: str, town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        await town.add_worker(f"社工{n}", "telegram", f"20{n}")
        await town.register(f"对象{n}", ("独居老人",), worker=f"社工{n}", at=local(date(2025, 12, 1)))
    town.at(date(2026, 2, 2))
    monkeypatch.setattr(dispatch_module, "BATCH", 2)  # three transactions for five digests
    first = Store(create_engine(database_url), town.clock)
    reminders = ReminderStore.of(first)
    original = reminders.queue_digests
    calls = 0

    async def dies_on_the_second_batch(day: date, plans: list) -> list[int]:  # type: ignore[type-arg]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("process killed")  # the transaction never commits
        return await original(day, plans)

    reminders.queue_digests = dies_on_the_second_batch  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await dispatcher(first, town).run(town.clock.now())
    # the outbox sender of the old process had claimed one digest and died before sending it
    assert len(await first.claim_outbox(1, LEASE)) == 1
    await first.close()
    assert len([r for r in await outbox(town.store) if r.dedup_key.startswith("digest:")]) == 2
    # the new process: the pass again, then its outbox sender
    town.later(minutes=2)
    second = Store(create_engine(database_url), town.clock)
    try:
        report = await dispatcher(second, town).run(town.clock.now())
        phone = RecordingChannel("telegram")
        await OutboxSender(second, {"telegram": phone}).run_once()
    finally:
        await second.close()
    assert report.queued == 3
    chats = sorted(chat for chat, _ in phone.sent if chat.startswith("20"))
    assert chats == ["200", "201", "202", "203", "204"]  # every digest, each once (the lost claim expired)


async def test_a_permanent_failure_is_recorded_and_shown_to_the_lead(town: Town) -> None:
    await three_cases(town)
    town.at(date(2026, 2, 2))
    await dispatcher(town.store, town).run(town.clock.now())
    blocked = RecordingChannel("telegram", fail=SendError("Forbidden: bot was blocked by the user", permanent=True))
    await OutboxSender(town.store, {"telegram": blocked}).run_once()
    problems = await ReminderStore.of(town.store).delivery_problems([town.workers["王芳"], town.workers["李敏"]])
    assert problems[town.workers["王芳"]].startswith("无法送达（Forbidden")


def test_routes_prefer_the_identity_used_last() -> None:
    from handlers.reminders.store import Contact, Identity

    now = datetime(2026, 2, 2, 1, tzinfo=UTC)
    contact = Contact(
        1,
        "王芳",
        "worker",
        1,
        (
            Identity("telegram", "1", now - timedelta(days=9)),
            Identity("wechat", "o1", now - timedelta(hours=2)),
            Identity("web", "w1", now),
        ),
    )
    route = dispatch_module.choose_route(contact, now, ("telegram", "wechat", "web"), timedelta(hours=48))
    assert route is not None and route.channel == "wechat"
    route = dispatch_module.choose_route(contact, now, ("telegram",), timedelta(hours=48))
    assert route is not None and route.channel == "telegram"
    assert dispatch_module.choose_route(contact, now, ("wecom",), timedelta(hours=48)) is None


async def test_a_digest_lists_at_most_ten_new_items_and_counts_the_rest(town: Town) -> None:
    for i in range(14):
        await town.register(f"对象{chr(0x4E00 + i)}", ("独居老人",), at=local(date(2025, 12, 1)))
    town.at(date(2026, 2, 2))
    await dispatcher(town.store, town).run(town.clock.now())
    [digest] = [r for r in await outbox(town.store) if r.chat_id == "1001"]
    text = digest.payload["text"]
    assert "新增或有变化的 14 项（先列 10 项，其余明天列出）：" in text
    assert "10. " in text and "11. " not in text
    assert "另有 4 项待办（其中逾期 4 项），发送“待办”查看全部。" in text
    assert len(await ReminderStore.of(town.store).reminder_list(town.workers["王芳"])) == 10
    town.at(date(2026, 2, 3))  # the four left out are new the next working day
    await dispatcher(town.store, town).run(town.clock.now())
    [second] = [r for r in await outbox(town.store) if r.chat_id == "1001" and "2026-02-03" in r.dedup_key]
    assert "新增或有变化的 4 项：" in second.payload["text"] and "另有 10 项待办" in second.payload["text"]


async def test_an_item_comes_back_when_its_snooze_ends(town: Town) -> None:
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 12, 20)))
    town.at(date(2026, 2, 2))
    await dispatcher(town.store, town).run(town.clock.now())
    [entry] = await ReminderStore.of(town.store).reminder_list(town.workers["王芳"])
    await ReminderStore.of(town.store).snooze_items(town.workers["王芳"], [entry], date(2026, 2, 7))  # a Saturday
    town.at(date(2026, 2, 6))
    assert (await dispatcher(town.store, town).run(town.clock.now())).queued == 0
    town.at(date(2026, 2, 9))  # Monday: the snooze ended on Saturday
    assert (await dispatcher(town.store, town).run(town.clock.now())).queued == 1
    town.at(date(2026, 2, 10))
    assert (await dispatcher(town.store, town).run(town.clock.now())).queued == 0


async def test_a_reassigned_case_is_new_to_its_new_worker_and_a_disabled_worker_gets_nothing(town: Town) -> None:
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 12, 20)))
    town.at(date(2026, 2, 2))
    await dispatcher(town.store, town).run(town.clock.now())
    await CaseworkStore.of(town.store).reassign_case(town.station_id, town.cases["张桂英"], town.workers["李敏"])
    town.at(date(2026, 2, 3))
    assert (await dispatcher(town.store, town).run(town.clock.now())).queued == 1
    [moved] = [r for r in await outbox(town.store) if r.chat_id == "1003"]
    assert "1. 张桂英" in moved.payload["text"]
    await WorkersStore.of(town.store).disable_worker(town.station_id, "李敏", None)  # left: the case is unassigned
    await town.register("陈伯", ("独居老人",), worker="王芳", at=local(date(2025, 12, 20)))
    town.at(date(2026, 2, 4))
    report = await dispatcher(town.store, town).run(town.clock.now())
    assert report.queued == 1 and not [
        r for r in await outbox(town.store) if r.chat_id == "1003" and "2026-02-04" in r.dedup_key
    ]
