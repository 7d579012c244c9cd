"""Casework in chat, through the real dispatcher on SQLite and PostgreSQL: binding, visit reports (one
message, guided, voice), confirmation and edits, 撤销, attachments, safety escalation, queries, and the rules
(only bound workers, only their own station, idempotent saving, audit, nothing personal in the logs)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from town import PHONE, REPORT, ZHANG_ID, Town

from bot.app import build_services
from bot.messages import Attachment
from bot.store.casework_models import AuditEntry, Visit, VisitAttachment
from bot.store.models import OutboxMessage
from handlers.common.roles import NOT_A_WORKER
from handlers.workers.router import REFUSED


# -- binding --------------------------------------------------------------------------------------
async def test_bind_reply_says_name_role_and_station(world: Town) -> None:
    code = await world.invite(world.a, "林晓", "lead")
    reply = await world.one(f"/bind {code[:4].lower()}-{code[4:].lower()}", "linxiao", channel="telegram")
    assert "林晓" in reply.text and "站长" in reply.text and "石湾镇社工站" in reply.text
    assert "本站统计" in reply.text
    reply = await world.one(f"绑定 {await world.invite(world.a, '何丽')}", "heli")
    assert "何丽，社工，石湾镇社工站" in reply.text


async def test_bind_refuses_unknown_expired_and_reused_codes(world: Town) -> None:
    # One answer for unknown, used and expired codes (issue 13: a guesser learns nothing from it).
    assert (await world.one("绑定 ABCDEFGH", "x1")).text.startswith(REFUSED)
    assert "绑定 绑定码" in (await world.one("绑定", "x1")).text
    code = await world.invite(world.a, "林晓")
    assert "绑定成功" in (await world.one(f"绑定 {code}", "x1")).text
    assert (await world.one(f"绑定 {code}", "x2")).text.startswith(REFUSED)
    late = await world.invite(world.a, "何丽")
    world.clock.advance(days=7, minutes=1)
    assert (await world.one(f"绑定 {late}", "x3")).text.startswith(REFUSED)
    assert NOT_A_WORKER in (await world.one("我的对象", "x3")).text


# -- one-message report ---------------------------------------------------------------------------
async def test_one_message_report_is_shown_then_saved_only_after_confirm(world: Town) -> None:
    shown = await world.one(REPORT)
    for line in (
        "对象：李四（东村）",
        "方式：入户",
        "情况：身体还可以，腿脚不便",
        "需求：需要助餐",
        "风险：低",
        "跟进：下周电话回访",
        "时间：11月28日（周六）17:00",
    ):
        assert line in shown.text, line
    assert [b.label for b in shown.buttons] == ["确认", "修改", "取消"]
    assert await world.rows(Visit) == []
    saved = await world.one("确认")
    assert "已保存" in saved.text and "李四" in saved.text
    [visit] = await world.rows(Visit)
    assert (
        visit.case_id,
        visit.mode,
        visit.findings,
        visit.needs,
        visit.risk_after,
        visit.follow_up,
        visit.danger,
    ) == (world.cases["李四@东村"], "入户", "身体还可以，腿脚不便", "需要助餐", "低", "下周电话回访", "")
    assert "没有待保存" in (await world.one("确认")).text


async def test_redelivered_messages_and_repeated_confirm_save_one_visit(world: Town) -> None:
    first = await world.say(REPORT, message_id="r1")
    assert len(first) == 1 and await world.say(REPORT, message_id="r1") == []  # the platform redelivers
    state = await world.services.store.get_state((await world.services.store.user_for("console", "limin")).id)
    assert await world.say("确认", message_id="c1") and await world.say("确认", message_id="c1") == []
    assert len(await world.rows(Visit)) == 1
    # The visit was committed but the state was not cleared (a crash in between): confirming again saves nothing.
    user = await world.services.store.user_for("console", "limin")
    assert state is not None
    await world.services.store.set_state(user.id, state[0], state[1])
    again = await world.one("确认", message_id="c2")
    assert "已经保存过" in again.text
    [visit] = await world.rows(Visit)
    # The message that started the report, tied to its worker.
    assert visit.source_key == f"worker:{visit.worker_id}:console:r1"


async def test_voice_recognition_text_is_a_one_message_report(world: Town) -> None:
    # WeChat's speech recognition arrives as plain text, without spaces, with its own punctuation.
    assert "李敏" in (await world.bind(world.a, "李敏", "limin", channel="wechat")).text  # her second chat
    shown = await world.one("走访李四入户身体还可以，需要助餐，低风险。", channel="wechat")
    assert "对象：李四（东村）" in shown.text and "需求：需要助餐" in shown.text
    assert NOT_A_WORKER in (await world.one("走访李四入户身体还可以", channel="wechat", user="stranger")).text


async def test_traditional_report_keeps_the_workers_wording(world: Town) -> None:
    await world.report("走訪 李四 電訪 身體還可以，需要助餐，低風險")
    [visit] = await world.rows(Visit)
    assert (visit.mode, visit.findings, visit.needs, visit.risk_after) == ("电话", "身體還可以", "需要助餐", "低")


async def test_edit_fields_before_saving(world: Town) -> None:
    await world.one(REPORT)
    edited = await world.one("修改 需求 需要助浴和助餐")
    assert "已修改" in edited.text and "需求：需要助浴和助餐" in edited.text
    assert "时间：11月27日（周五）15:00" in (await world.one("修改 时间 昨天下午3点")).text
    assert "方式：电话" in (await world.one("修改 方式 电话")).text
    assert "可以改" in (await world.one("修改")).text
    assert "风险只能是" in (await world.one("修改 风险 不知道")).text
    await world.one("确认")
    [visit] = await world.rows(Visit)
    assert (visit.needs, visit.mode) == ("需要助浴和助餐", "电话")
    assert visit.visited_at.replace(tzinfo=None) == datetime(2026, 11, 27, 7, 0)  # 15:00 in Guangdong


async def test_cancel_discards_the_report(world: Town) -> None:
    await world.one(REPORT)
    assert "没有保存" in (await world.one("取消")).text
    assert "没有待保存" in (await world.one("确认")).text
    assert await world.rows(Visit) == []


async def test_ambiguous_name_asks_which_one_with_buttons(world: Town) -> None:
    ask = await world.one("走访 张桂英 入户 精神不错，低风险")
    assert "2 位" in ask.text
    labels = [b.label for b in ask.buttons]
    assert labels == ["张桂英（东村）", "张桂英（南村）"]
    south = world.cases["张桂英@南村"]
    assert ask.buttons[1].payload == f"#{south}"
    shown = await world.one(f"#{south}", is_button=True)
    assert "对象：张桂英（南村）" in shown.text and "情况：精神不错" in shown.text
    await world.one("确认")
    [visit] = await world.rows(Visit)
    assert visit.case_id == south
    # Answering with the number works too.
    await world.one("走访 张桂英 电话 还好，低风险")
    assert "对象：张桂英（东村）" in (await world.one("1")).text


async def test_unknown_name_says_so_and_offers_close_names(world: Town) -> None:
    near = await world.one("走访 张贵英 入户 精神不错，低风险")
    assert "名单上没有“张贵英”，是不是 张桂英？" in near.text and {b.label for b in near.buttons} == {
        "张桂英（东村）",
        "张桂英（南村）",
    }
    assert "取消" in (await world.one("取消")).text
    unknown = await world.one("走访 王小明 入户 精神不错，低风险")
    assert "本站没有找到“王小明”" in unknown.text and not unknown.buttons
    question = await world.one("低保怎么申请？")  # not a name: answered as usual, the report waits
    assert "来源" in question.text
    shown = await world.one("李四")  # the right name, typed in reply
    assert "对象：李四（东村）" in shown.text and "情况：精神不错" in shown.text


async def test_a_colleagues_case_in_the_same_station_is_found_and_labelled(world: Town) -> None:
    ask = await world.one("走访 张桂英 入户 精神不错，低风险", "wangfang")  # 王芳 has no 张桂英 of her own
    assert [b.label for b in ask.buttons] == ["张桂英（东村·李敏负责）", "张桂英（南村·李敏负责）"]
    assert "对象：陈大文（西村）" in (await world.one("走访 陈大文 电话 还好，低风险", "wangfang")).text


async def test_worker_of_another_station_cannot_report_on_or_read_its_cases(world: Town) -> None:
    reply = await world.one("走访 张桂英 入户 精神不错，低风险", "zhao")
    assert "本站没有找到" in reply.text and "东村" not in reply.text and not reply.buttons
    east = world.cases["张桂英@东村"]
    assert "请从列出的对象中选择" in (await world.one(f"#{east}", "zhao")).text
    assert "已取消" in (await world.one("取消", "zhao")).text
    looked = await world.one("查 张桂英", "zhao")
    assert "没有找到" in looked.text and "138" not in looked.text and "东村" not in looked.text
    assert "没有找到" in (await world.one(f"查 #{east}", "zhao")).text
    await world.one("走访", "zhao")
    assert "本站没有这位" in (await world.one(f"#{east}", "zhao")).text
    assert await world.rows(Visit) == []


async def test_resident_or_unknown_user_gets_no_case_data(world: Town) -> None:
    for text in ("走访 张桂英 入户 精神不错，低风险", "走访", "我的对象", "本月走访", "本站统计", "撤销"):
        reply = await world.one(text, "resident", channel="wechat")
        assert reply.text.startswith(NOT_A_WORKER), text  # the first one carries the privacy notice
        assert "12345" in reply.text
    for text in ("查 张桂英", "张桂英今天摔倒了", "确认"):
        reply = await world.one(text, "resident", channel="wechat")
        assert "东村" not in reply.text and "138" not in reply.text and "张桂英（" not in reply.text
    photo = await world.one(user="resident", channel="wechat", attachments=(Attachment("image", url="p1"),))
    assert "文字" in photo.text
    assert await world.rows(OutboxMessage) == [] and await world.rows(AuditEntry) == []


# -- the guided dialog ------------------------------------------------------------------------------
async def test_guided_dialog_in_the_terminal_with_numbered_buttons(world: Town) -> None:
    from io import StringIO

    from bot.channels.console import run_console

    await world.bind(world.a, "王芳", "console-wf")  # her terminal, a second chat for the same worker
    lines = ["走访", "1", "1", "身体还好，家里整洁", "无", "1", "3", "1", "本月走访"]
    out = StringIO()
    assert world.services.dispatcher is not None
    await run_console(world.services, stdin=StringIO("\n".join(lines) + "\n"), stdout=out, user_id="console-wf")
    text = out.getvalue()
    assert "[1] 陈大文" in text and "[1] 入户" in text
    assert "对象：陈大文（西村）" in text and "情况：身体还好，家里整洁" in text and "跟进：（无）" in text
    assert "已保存" in text and "共走访 1 次" in text
    [visit] = await world.rows(Visit)
    assert (visit.mode, visit.needs, visit.risk_after, visit.follow_up) == ("入户", "无", "低", "")


async def test_guided_dialog_survives_a_restart(world: Town, database_url: str, tmp_path: Path) -> None:
    start = await world.one("走访", message_id="g1")
    assert "（1/6）" in start.text and "取消" in start.text
    assert {b.label for b in start.buttons} >= {"李四", "周一平"}
    assert "（2/6）" in (await world.one("李四")).text
    await world.services.close()
    # A new process on the same database carries on where the worker left off.
    world.services = await build_services(world.services.settings, clock=world.clock, migrate=True)
    world.store = world.services.store
    mode = await world.one("电话")
    assert "（3/6）" in mode.text
    assert "（4/6）" in (await world.one("身体还好，送了米和油")).text
    risk = await world.one("无")
    assert "（5/6）" in risk.text and [b.label for b in risk.buttons] == ["低", "中", "高"]
    follow = await world.one("中")
    assert "（6/6）" in follow.text
    shown = await world.one("下周回访")
    for line in (
        "对象：李四（东村）",
        "方式：电话",
        "情况：身体还好",
        "服务：送了米和油",
        "需求：无",
        "风险：中",
        "跟进：下周回访",
    ):
        assert line in shown.text, line
    assert "已保存" in (await world.one("确认")).text
    [visit] = await world.rows(Visit)
    assert (visit.source_key, visit.services, visit.risk_after) == (
        f"worker:{visit.worker_id}:console:g1",
        "送了米和油",
        "中",
    )


async def test_guided_dialog_skips_what_the_situation_already_said_and_cancels_anywhere(world: Town) -> None:
    await world.one("走访")
    await world.one("李四")
    await world.one("入户")
    shown = await world.one("腿脚不便，需要助餐，低风险，下周回访")
    assert "请核对" in shown.text and "需求：需要助餐" in shown.text and "风险：低" in shown.text
    await world.one("取消")
    await world.one("走访")
    assert "您正在填写" in (await world.one("我的对象")).text
    await world.one("李四")
    await world.one("入户")
    for slip in ("待办", "完成 2", "推迟 1 3天", "工单 5", "值班"):  # other features' commands, not answers
        assert "您正在填写" in (await world.one(slip)).text, slip
    assert "（4/6）" in (await world.one("走访时老人在睡觉，家里整洁")).text  # an answer, not a new report
    assert "（5/6）" in (await world.one("无")).text
    assert "（1/6）" in (await world.one("走访")).text  # at a choice step, 走访 starts over
    await world.one("李四")
    assert "请选择走访方式" in (await world.one("走路")).text
    assert "没有保存" in (await world.one("取消")).text
    assert await world.rows(Visit) == []


# -- undo, attachments --------------------------------------------------------------------------------
async def test_undo_within_30_minutes_only(world: Town) -> None:
    await world.report(REPORT)
    world.clock.advance(minutes=29)
    assert "已撤销" in (await world.one("撤销")).text
    assert await world.rows(Visit) == []
    assert "没有可以撤销" in (await world.one("撤销")).text
    await world.report(REPORT)
    world.clock.advance(minutes=31)
    refused = await world.one("撤销")
    assert "超过 30 分钟" in refused.text and "不能撤销" in refused.text
    assert len(await world.rows(Visit)) == 1


async def test_photo_or_location_within_10_minutes_attaches(world: Town) -> None:
    await world.report(REPORT)
    world.clock.advance(minutes=5)
    photo = await world.one(attachments=(Attachment("image", url="photo-file-1"),))
    assert "已把照片附到 李四" in photo.text and "共 1 个附件" in photo.text
    place = await world.one(attachments=(Attachment("location", latitude=23.0, longitude=113.1, label="东村"),))
    assert "位置" in place.text and "共 2 个附件" in place.text
    world.clock.advance(minutes=6)
    late = await world.one(attachments=(Attachment("image", url="photo-file-2"),))
    assert "10 分钟内" in late.text
    attachments = await world.rows(VisitAttachment)
    assert [(a.kind, a.url) for a in attachments] == [("image", "photo-file-1"), ("location", "")]
    await world.one(REPORT)  # while a report waits for confirmation, a photo does not go to the previous one
    assert "请先完成" in (await world.one(attachments=(Attachment("image", url="p3"),))).text


# -- safety escalation --------------------------------------------------------------------------------
async def test_danger_in_a_report_notifies_every_lead_chat_in_the_same_commit(world: Town) -> None:
    shown = await world.one("走访 李四 入户 老人昨天在家摔倒了，左腿擦伤，已陪同就医，低风险")
    assert "危险提示：摔倒" in shown.text
    store = world.services.store
    real = store.enqueue

    async def broken(*args: Any, **kwargs: Any) -> bool:
        await real(*args, **kwargs)
        raise RuntimeError("outbox write failed")

    store.enqueue = broken  # type: ignore[method-assign]
    try:
        assert "出了点问题" in (await world.one("确认")).text
    finally:
        del store.enqueue
    assert await world.rows(Visit) == [] and await world.rows(OutboxMessage) == []  # nothing half-saved
    saved = await world.one("确认")
    assert "已通知站长（2 条提醒）" in saved.text
    [visit] = await world.rows(Visit)
    assert visit.danger == "摔倒"
    notices = await world.rows(OutboxMessage)
    assert sorted((n.channel, n.chat_id) for n in notices) == [("telegram", "tg-lead"), ("wecom", "wc-lead")]
    for n in notices:
        assert all(part in n.payload["text"] for part in ("李四（东村）", "摔倒", "李敏", "11月28日"))
        assert n.created_at == visit.created_at or abs((n.created_at - visit.created_at).total_seconds()) < 1
    # The lead opens the case from the notice with one tap.
    [button] = notices[0].payload["buttons"]
    detail = await world.one(button[1], "tg-lead", channel="telegram", is_button=True)
    assert "李四｜东村" in detail.text and "⚠️摔倒" in detail.text


async def test_high_risk_alone_notifies_and_the_reporting_lead_is_not_told_about_himself(world: Town) -> None:
    await world.report("走访 李四 入户 情况变差，风险高")
    assert len(await world.rows(OutboxMessage)) == 2
    # The lead reports; no one else to tell.
    await world.report("走访 陈大文 入户 家中断粮，低风险", user="tg-lead", channel="telegram")
    assert len(await world.rows(OutboxMessage)) == 2


async def test_free_message_with_danger_about_own_case_notifies_leads(world: Town) -> None:
    reply = await world.one("李四 昨晚在家跌倒了", message_id="d1")
    assert "已通知站长" in reply.text and "120" in reply.text
    assert await world.say("李四 昨晚在家跌倒了", message_id="d1") == []
    notices = await world.rows(OutboxMessage)
    assert len(notices) == 2 and "跌倒" in notices[0].payload["text"] and "李敏" in notices[0].payload["text"]
    other = await world.one("路上看到有人摔倒了怎么办")  # no case of theirs named: a question like any other
    assert "已通知" not in other.text
    assert len(await world.rows(OutboxMessage)) == 2
    [audit] = [a for a in await world.rows(AuditEntry) if a.action == "danger.notice"]
    assert audit.target == f"case:{world.cases['李四@东村']}"


# -- queries ------------------------------------------------------------------------------------------
async def test_my_cases_lists_own_open_cases_masked_with_last_visit(world: Town) -> None:
    await world.report(REPORT)
    reply = await world.one("我的对象")
    assert "4 位" in reply.text and "陈大文" not in reply.text
    assert "138****5678" in reply.text and PHONE not in reply.text
    assert "李四｜东村｜低保、独居老人｜风险低｜138****5678｜上次走访 11月28日" in reply.text
    assert "周一平" in reply.text and "未走访" in reply.text
    audits = [(a.actor, a.action, a.target) for a in await world.rows(AuditEntry)]
    assert audits[-1][1:] == ("case.read", "cases:mine") and audits[-1][0].startswith("worker:")


async def test_visits_this_month_in_local_time(world: Town) -> None:
    await world.report(REPORT)
    await world.one("走访 周一平 电话 还好，低风险")
    await world.one("修改 时间 10月31日")
    await world.one("确认")
    reply = await world.one("本月走访")
    assert "11月共走访 1 次" in reply.text and "李四" in reply.text and "周一平" not in reply.text
    assert "还没有走访记录" in (await world.one("本月走访", "wangfang")).text


async def test_look_up_one_case_within_own_station(world: Town) -> None:
    await world.report("走访 陈大文 入户 精神不错，需要助餐，低风险", user="wangfang")
    reply = await world.one("查 陈大文")  # 李敏 may read a colleague's case in the same station
    assert "陈大文｜西村" in reply.text and "负责社工：王芳" in reply.text and "138****5678" in reply.text
    assert "入户" in reply.text and "精神不错" in reply.text and PHONE not in reply.text
    several = await world.one("查 张桂英")
    assert len(several.buttons) == 2 and several.buttons[0].payload.startswith("查 #")
    detail = await world.one(several.buttons[0].payload, is_button=True)
    assert "张桂英｜东村" in detail.text and "还没有走访记录" in detail.text
    assert ZHANG_ID not in detail.text and ZHANG_ID[:4] + "*" in detail.text
    targets = [a.target for a in await world.rows(AuditEntry) if a.action == "case.read"]
    assert f"case:{world.cases['陈大文@西村']}" in targets and f"case:{world.cases['张桂英@东村']}" in targets


async def test_station_statistics_for_leads_only(world: Town) -> None:
    await world.report(REPORT)
    assert "只对站长和督导开放" in (await world.one("本站统计")).text
    world.clock.advance(days=40)
    await world.report("走访 陈大文 电话 还好，低风险", user="wangfang")
    stats = await world.one("本站统计", "tg-lead", channel="telegram")  # the monthly report (tests/reports)
    assert "石湾镇社工站 2027年1月统计" in stats.text
    assert "在册 6 人，已服务 1 人，覆盖率 16.7%" in stats.text
    assert "王芳 1/1 100.0% 走访1" in stats.text and "李敏 0/4 0.0% 走访0" in stats.text
    assert "何秀珍" not in stats.text
    assert any(a.target == "station:石湾镇社工站" and a.action == "report.read" for a in await world.rows(AuditEntry))


# -- logs ---------------------------------------------------------------------------------------------
async def test_logs_hold_no_numbers_and_no_report_text(
    world: Town, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the redaction safety net, so that this checks what the handlers themselves log.
    monkeypatch.setattr(logging, "_logRecordFactory", logging.LogRecord)
    with caplog.at_level(logging.DEBUG, logger="handlers"), caplog.at_level(logging.DEBUG, logger="bot"):
        await world.report("走访 李四 入户 老人摔倒了，腿脚不便，需要助餐，高风险")
        await world.one("李四 今天又跌倒了")
        await world.one("我的对象")
        await world.one("查 张桂英")
        await world.one("绑定 WRONGCODE")
    assert caplog.records, "expected some log records"
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for secret in (PHONE, ZHANG_ID, "腿脚不便", "需要助餐", "WRONGCODE"):
        assert secret not in text, secret
