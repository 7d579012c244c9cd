"""Reminders in chat, through the real dispatcher on SQLite and PostgreSQL: 待办, 完成 and 推迟 by number and by
button, 逾期 for leads (with whom reminders missed), and nothing for anyone who is not a bound worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from town import Town, local

from bot.app import build_services
from bot.clock import FrozenClock
from bot.config import Settings
from bot.crypto import generate_key
from bot.services import Services
from bot.store.casework_models import AuditEntry, Visit
from handlers.common.roles import NOT_A_WORKER
from handlers.reminders.dispatch import ReminderDispatcher
from handlers.reminders.models import ReminderCompletion, ReminderNotice
from handlers.reminders.store import ReminderStore

from .conftest import reminder_station


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, secret_key=generate_key(), _env_file=None
    )
    clock = FrozenClock(local(date(2026, 1, 5)))
    services = await build_services(settings, clock, migrate=True)
    yield services
    await services.close()


@pytest.fixture
async def chat_town(services: Services) -> Town:
    # The chat speaks as 王芳 on Telegram unless a test names another sender.
    town = Town(services.store, services.clock, services, user="1001", channel="telegram")  # type: ignore[arg-type]
    await reminder_station(town)
    for name, category in (("张桂英", "独居老人"), ("陈伯", "独居老人"), ("李婆", "高龄老人")):
        await town.register(name, (category,), at=local(date(2025, 12, 1)))  # the roster, imported at once
    await town.visit("张桂英", local(date(2025, 12, 20)))  # next visit due 1月20日: overdue
    await town.visit("陈伯", local(date(2026, 1, 2)))  # due today, 2月2日
    await town.visit("李婆", local(date(2026, 1, 4)), mode="电话")  # due 2月4日
    town.at(date(2026, 2, 2))
    return town


async def test_todo_lists_my_items_numbered(services: Services, chat_town: Town) -> None:
    reply = await chat_town.one("待办")
    assert "今天到期 1 项，逾期 1 项，即将到期 1 项" in reply.text
    assert reply.text.index("1. 张桂英") < reply.text.index("2. 陈伯") < reply.text.index("3. 李婆")
    assert reply.buttons[0].label == "完成 1" and reply.buttons[0].payload.startswith("rmd:done:")
    assert "没有到期" in (await chat_town.one("待办", "1003")).text  # 李敏 has nothing
    async with services.store.session() as s:
        audited = (await s.execute(select(AuditEntry.action, AuditEntry.target))).all()
    assert ("case.read", "reminders:todo:3") in audited


async def test_done_for_a_visit_item_records_the_visit_asking_its_mode(services: Services, chat_town: Town) -> None:
    """Counts and reminders agree: an item a visit resets is done by saving that visit, not by a mark."""
    await chat_town.one("待办")
    reply = await chat_town.one("完成 2")
    assert "“陈伯 入户探访”要有一条走访记录（入户）才算完成" in reply.text and "对象：陈伯" in reply.text
    assert "这次是哪种走访方式？（入户才算完成“入户探访”）" in reply.text and "时间：2月2日（周一）" in reply.text
    assert "走访后的风险等级" in (await chat_town.one("入户")).text
    assert "已保存" not in (await chat_town.one("低")).text
    assert "已保存 ✅ 陈伯 2月2日 入户走访" in (await chat_town.one("确认")).text
    after = await chat_town.one("待办")
    assert "陈伯" not in after.text and "1. 张桂英" in after.text and "2. 李婆" in after.text
    # A phone call is recorded as a visit but does not do a home visit: the reminder stays.
    both = await chat_town.one("完成 1、2")
    assert "张桂英 入户探访" in both.text and "保存后再回复“完成”记录：李婆 探访关爱" in both.text
    await chat_town.one("电话")
    await chat_town.one("未评估")
    await chat_town.one("确认")
    assert "1. 张桂英" in (await chat_town.one("待办")).text
    async with services.store.session() as s:
        assert len((await s.execute(select(ReminderCompletion))).all()) == 0
        visits = (await s.execute(select(Visit.mode, Visit.time_known).order_by(Visit.id))).all()
    assert visits[-2:] == [("入户", False), ("电话", False)]


async def test_wrong_numbers_and_no_list_yet(services: Services, chat_town: Town) -> None:
    assert "请先发送“待办”" in (await chat_town.one("完成 1")).text
    await chat_town.one("待办")
    assert "没有第 7 项（共 3 项）" in (await chat_town.one("完成 7")).text
    assert "最多推迟 30 天" in (await chat_town.one("推迟 1 45天")).text


async def test_snooze_keeps_it_out_of_the_digest(services: Services, chat_town: Town) -> None:
    await chat_town.one("待办")
    reply = await chat_town.one("推迟 1 3天")
    assert "张桂英 入户探访 3 天后（2月5日）再提醒" in reply.text
    assert "已推迟到2月5日" in (await chat_town.one("待办")).text  # still listed on request, marked
    await ReminderDispatcher(services.store, chat_town.rules, ["telegram"]).run(services.clock.now())
    digest = await ReminderStore.of(services.store).reminder_list(chat_town.workers["王芳"])
    assert [e.case_name for e in digest] == ["陈伯", "李婆"]


async def test_buttons_name_the_item_itself(services: Services, chat_town: Town) -> None:
    first = await chat_town.one("待办")
    done_chen = next(b for b in first.buttons if b.label == "完成 2").payload  # 陈伯
    await chat_town.one("推迟 1 3天")
    await chat_town.one("待办")  # the list changes: 陈伯 is now number 1
    reply = await chat_town.one(done_chen, is_button=True)
    assert "陈伯 入户探访" in reply.text
    assert (
        "请先回答"
        in (await chat_town.one(next(b for b in first.buttons if b.label == "推迟 3 3天").payload, is_button=True)).text
    )  # the visit report being written comes first
    await chat_town.one("取消")
    snooze = next(b for b in first.buttons if b.label == "推迟 3 3天").payload
    assert "李婆 探访关爱 3 天后" in (await chat_town.one(snooze, is_button=True)).text
    assert "已失效" in (await chat_town.one("rmd:done:999999:home_visit:20260202", is_button=True)).text


async def test_overdue_is_for_leads_and_shows_who_was_not_reached(services: Services, chat_town: Town) -> None:
    chat_town.at(date(2026, 1, 5))
    await chat_town.add_worker("周姐", "wechat", "o-zhou")  # bound a month ago: WeChat's 48 hours are long over
    chat_town.at(date(2026, 2, 2))
    await chat_town.register("黄叔", ("独居老人",), worker="周姐", at=local(date(2025, 12, 1)))
    await ReminderDispatcher(services.store, chat_town.rules, ["telegram", "wechat"]).run(services.clock.now())
    assert "站长查看全站" in (await chat_town.one("逾期")).text
    reply = await chat_town.one("逾期", "1002")
    assert "石岗镇社工站 逾期事项" in reply.text
    assert "【周姐】" in reply.text and "需另行联系" in reply.text and "黄叔 入户探访" in reply.text
    assert "【王芳】" in reply.text and "张桂英" in reply.text and "陈伯" not in reply.text  # due today: not overdue


async def test_not_for_residents(services: Services, chat_town: Town) -> None:
    for text in ("待办", "逾期", "完成 1", "推迟 1 3天"):
        assert NOT_A_WORKER.splitlines()[0] in (await chat_town.one(text, "777")).text


async def test_an_escalation_to_a_lead_no_channel_reaches_is_held_for_their_next_message(
    services: Services, chat_town: Town
) -> None:
    await chat_town.add_worker("林站长", "console", "lin", role="lead")  # bound on the console only
    report = await ReminderDispatcher(services.store, chat_town.rules, ["telegram"]).run(services.clock.now())
    # 张桂英's visit is 13 days overdue: 陈站长 is told on Telegram, 林站长 is not said to be.
    assert (report.escalated, report.held) == (1, ["林站长"])
    assert "逾期上报未能推送给站长：林站长" in report.summary() and report.as_json()["escalation_held"] == ["林站长"]
    async with services.store.session() as s:
        ledger = dict(
            (
                await s.execute(
                    select(ReminderNotice.recipient_id, ReminderNotice.status).where(ReminderNotice.kind == "escalate")
                )
            ).all()
        )
    assert ledger == {chat_town.workers["陈站长"]: "queued", chat_town.workers["林站长"]: "held"}
    again = await ReminderDispatcher(services.store, chat_town.rules, ["telegram"]).run(services.clock.now())
    assert (again.escalated, again.held) == (0, [])  # once per item and due date, held or not
    first, *rest = await chat_town.say("逾期", "lin", channel="console")
    assert "您还没看到的提示" in first.text and "逾期上报（石岗镇社工站）" in first.text and "张桂英" in first.text
    assert [r.text for r in rest][-1].startswith("⏰")  # then the answer to what the lead asked
    later = await chat_town.say("逾期", "lin", channel="console")
    assert len(later) == 1 and "您还没看到" not in later[0].text  # shown once
