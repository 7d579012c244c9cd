"""What a report leaves open is asked in the confirmation, never assumed (issue 14, point 4), through the real
dispatcher on SQLite and PostgreSQL: a missing mode or risk, a date that does not exist or lies ahead, several
people in one report, a near-miss name, a colleague's case, two people of the same name and village, and
date-only visits that stay date-only in storage and the export. The clock stands at Saturday 28 November 2026,
17:00 in Guangdong."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from town import Town, case

from bot.messages import Attachment
from bot.store import EXPORT_COLUMNS
from bot.store.casework_models import Case, Visit
from handlers.casework.store import CaseworkStore
from handlers.common.help_texts import asks_about_the_bot, is_how_to


@pytest.fixture
async def world(world: Town) -> Town:
    """The casework township with more people: namesakes in one village, near-miss names, a colleague's case."""
    await world.import_cases(
        world.a,
        [
            case("黎秀珍", "李敏", "东村", 11),
            case("罗嘉豪", "李敏", "北村", 12),
            case("罗嘉欣", "李敏", "北村", 13),
            case("陈桂英", "王芳", "西村", 14),
            case("梁秀英", "李敏", "北村", 15, address="北村3巷2号"),
            case("梁秀英", "李敏", "北村", 16, address="北村8巷1号"),
            case("吴少芬", "李敏", "南村", 17, address="南村1号"),
            case("吴少芬", "李敏", "南村", 18, address="南村1号"),
        ],
    )
    async with world.store.session() as s:
        for row in (await s.execute(select(Case).where(Case.name == "梁秀英"))).scalars():
            world.cases[f"{row.name}@{row.address}"] = row.id
    return world


async def visits(world: Town) -> list[Visit]:
    return await world.rows(Visit)


# -- mode and risk ------------------------------------------------------------------------------------
async def test_missing_mode_and_risk_are_asked_not_assumed(world: Town) -> None:
    shown = await world.one("走访 李四 身体还可以，需要助餐")
    assert "方式：❓待回答" in shown.text and "风险：❓待回答" in shown.text and "按入户" not in shown.text
    assert "❓ 这次是哪种走访方式？（还有 1 个问题）" in shown.text
    assert [b.label for b in shown.buttons] == ["入户", "电话", "视频", "到站", "取消"]
    refused = await world.one("确认")  # nothing is saved while a question is open
    assert "请选择走访方式" in refused.text and await visits(world) == []
    assert "请选择走访方式" in (await world.one("不知道")).text
    risk = await world.one("电访")
    assert "方式：电话" in risk.text and "走访后的风险等级？" in risk.text
    assert [b.label for b in risk.buttons] == ["低", "中", "高", "未评估", "取消"]
    done = await world.one("中")
    assert "风险：中" in done.text and [b.label for b in done.buttons] == ["确认", "修改", "取消"]
    assert "已保存" in (await world.one("确认")).text
    [visit] = await visits(world)
    assert (visit.mode, visit.risk_after, visit.needs) == ("电话", "中", "需要助餐")


async def test_risk_may_be_answered_as_not_assessed_and_an_edit_answers_a_question(world: Town) -> None:
    await world.one("走访 李四 入户 精神不错")
    shown = await world.one("未评估")
    assert "风险：未评估" in shown.text and "确认" in [b.label for b in shown.buttons]
    await world.one("确认")
    [visit] = await visits(world)
    assert visit.risk_after == ""
    await world.one("走访 周一平 精神不错，低风险")
    assert "方式：电话" in (await world.one("修改 方式 电话")).text  # 修改 answers the open question too
    assert "已保存" in (await world.one("确认")).text


async def test_other_commands_while_a_question_is_open_are_not_taken_as_answers(world: Town) -> None:
    await world.one("走访 李四 身体还可以")
    assert "请先回答" in (await world.one("待办")).text
    assert "已取消" in (await world.one("取消")).text


# -- dates ---------------------------------------------------------------------------------------------
async def test_a_date_that_does_not_exist_is_asked_and_the_answer_stays_date_only(world: Town) -> None:
    shown = await world.one("走访 李四 11月31日 入户 身体还可以，低风险")
    assert "时间：❓待回答" in shown.text and "“11月31日”不是有效的日期" in shown.text
    assert [b.label for b in shown.buttons] == ["今天", "昨天", "前天", "取消"]
    assert "不是有效的日期" in (await world.one("11月31日")).text
    assert "还没到" in (await world.one("12月3日")).text
    answered = await world.one("11月20日")
    assert "时间：11月20日（周五）" in answered.text and "11月20日（周五）12:00" not in answered.text
    assert "已保存" in (await world.one("确认")).text
    [visit] = await visits(world)
    assert visit.time_known is False
    [row] = await CaseworkStore.of(world.services.store).export_visits(world.a.id, None, None)
    assert row["走访时间"] == "2026-11-20"


async def test_a_date_ahead_is_asked(world: Town) -> None:
    shown = await world.one("走访 李四 12月5日 入户 身体还可以，低风险")
    assert "走访时间 12月5日 还没到" in shown.text
    assert "时间：11月27日（周五）" in (await world.one("昨天")).text
    await world.one("确认")
    [visit] = await visits(world)
    assert visit.visited_at.replace(tzinfo=None).date().isoformat() == "2026-11-27"


async def test_cantonese_day_and_afternoon(world: Town) -> None:
    shown = await world.one("走访 3号 李四 入户 精神几好，低风险")
    assert "时间：11月3日（周二）" in shown.text and "12:00" not in shown.text
    await world.one("确认")
    shown = await world.one("走访 琴日下晝三點 周一平 电话 冇乜事，低风险")
    assert "时间：11月27日（周五）15:00" in shown.text
    await world.one("确认")
    first, second = await visits(world)
    assert (first.time_known, second.time_known) == (False, True)
    rows = await CaseworkStore.of(world.services.store).export_visits(world.a.id, None, None)
    assert [r["走访时间"] for r in rows] == ["2026-11-03", "2026-11-27 15:00"]


async def test_today_without_a_time_is_stored_date_only(world: Town) -> None:
    shown = await world.one("走访 李四 今天 入户 身体还可以，低风险")
    assert "时间：11月28日（周六）" in shown.text and "11月28日（周六）1" not in shown.text
    assert "已保存" in (await world.one("确认")).text
    await world.report("走访 今日去咗黎秀珍屋企，佢话腰痛，低风险")  # Cantonese 今日, the name inside
    first, second = await visits(world)
    assert (first.time_known, second.time_known) == (False, False)
    rows = await CaseworkStore.of(world.services.store).export_visits(world.a.id, None, None)
    assert [r["走访时间"] for r in rows] == ["2026-11-28", "2026-11-28"]
    looked = await world.one("查 黎秀珍")
    assert "11月28日" in looked.text and "12:00" not in looked.text and "17:00" not in looked.text


async def test_a_time_given_is_stored_with_its_time(world: Town) -> None:
    await world.report("走访 今天上午去咗黎秀珍屋企，佢话腰痛，低风险")
    [visit] = await visits(world)
    assert (visit.mode, visit.time_known, visit.findings) == ("入户", True, "佢话腰痛")
    assert visit.case_id == world.cases["黎秀珍@东村"]


# -- people ---------------------------------------------------------------------------------------------
async def test_several_people_named_are_each_recorded_when_the_worker_says_so(world: Town) -> None:
    shown = await world.one("走访 罗嘉豪 罗嘉欣 入户 两兄妹精神好，低风险")
    assert "这条记录还提到 罗嘉欣。要为每一位分别保存" in shown.text
    assert [b.label for b in shown.buttons] == ["分别保存", "只记罗嘉豪", "取消"]
    both = await world.one("分别保存")
    assert "对象：罗嘉豪（北村）、罗嘉欣（北村）（每位各保存一条，共 2 条）" in both.text
    saved = await world.one("确认")
    assert "已保存 ✅ 罗嘉豪、罗嘉欣" in saved.text and "2 条记录" in saved.text
    rows = await visits(world)
    assert sorted(v.case_id for v in rows) == sorted([world.cases["罗嘉豪@北村"], world.cases["罗嘉欣@北村"]])
    assert {v.findings for v in rows} == {"两兄妹精神好"}
    undone = await world.one("撤销")  # one report: undone together
    assert "已撤销：罗嘉豪、罗嘉欣 11月28日 的 2 条走访记录已删除" in undone.text
    assert await visits(world) == []


async def test_only_the_first_person_when_the_worker_says_so(world: Town) -> None:
    await world.one("走访 罗嘉豪 罗嘉欣 入户 两兄妹精神好，低风险")
    only = await world.one("只记罗嘉豪")
    assert "只记录 罗嘉豪" in only.text and "罗嘉欣" not in only.text.split("对象：")[1].split("\n")[0]
    await world.one("确认")
    [visit] = await visits(world)
    assert visit.case_id == world.cases["罗嘉豪@北村"]


async def test_another_person_with_two_cases_of_the_name_is_chosen(world: Town) -> None:
    await world.one("走访 李四 梁秀英 入户 一齐探望，低风险")
    choose = await world.one("分别保存")
    assert [b.label for b in choose.buttons] == ["梁秀英（北村·北村3巷2号）", "梁秀英（北村·北村8巷1号）"]
    both = await world.one("2")
    assert "对象：李四（东村）、梁秀英（北村）" in both.text
    await world.one("确认")
    assert sorted(v.case_id for v in await visits(world)) == sorted(
        [world.cases["李四@东村"], world.cases["梁秀英@北村8巷1号"]]
    )


async def test_a_near_miss_name_is_a_question_with_the_roster_name(world: Town) -> None:
    ask = await world.one("走访 陈贵英 入户 精神不错，低风险")
    assert "名单上没有“陈贵英”，是不是 陈桂英？" in ask.text
    assert [b.label for b in ask.buttons] == ["陈桂英（西村·王芳负责）"]
    shown = await world.one("1")
    assert "对象：陈桂英（西村）" in shown.text and "这是 王芳 负责的对象，确认由你记录？" in shown.text
    await world.one("确认")
    [visit] = await visits(world)
    assert visit.case_id == world.cases["陈桂英@西村"]


async def test_a_colleagues_case_is_recognised_and_confirmed(world: Town) -> None:
    shown = await world.one("走访 电话联系了陈大文，佢话一切都好，低风险")
    assert "对象：陈大文（西村）" in shown.text and "方式：电话" in shown.text
    assert "❓ 这是 王芳 负责的对象，确认由你记录？" in shown.text
    assert "这是" not in (await world.one("走访 李四 入户 精神好，低风险")).text  # own case: no question
    unassigned = await world.one("走访 黄美玲 入户 精神好，低风险")
    assert "这位对象还没有负责社工，确认由你记录？" in unassigned.text


async def test_two_people_of_the_same_name_and_village_are_told_apart(world: Town) -> None:
    ask = await world.one("走访 吴少芬 入户 精神好，低风险")
    labels = [b.label for b in ask.buttons]
    assert len(set(labels)) == 2 and all("身份证尾号" in label for label in labels), labels
    assert "0017" not in "".join(labels) or "0018" not in "".join(labels)  # the check digit differs, not shown


# -- photos and locations (point 7) ------------------------------------------------------------------------
async def test_photos_with_captions_and_locations_are_listed_in_look_up_and_counted_in_the_export(world: Town) -> None:
    await world.report("走访 李四 入户 精神不错，低风险")
    await world.one("门口台阶破损", attachments=(Attachment("image", url="photo-1"),))  # a captioned photo
    await world.one(attachments=(Attachment("image", url="photo-2"),))
    await world.one(attachments=(Attachment("location", latitude=23.0123, longitude=113.1, label="东村"),))
    looked = await world.one("查 李四")
    assert "📷 照片 2 张：门口台阶破损" in looked.text and "📍 位置：东村（23.01230,113.10000）" in looked.text
    [row] = await CaseworkStore.of(world.services.store).export_visits(world.a.id, None, None)
    assert (row["照片"], row["照片说明"], row["位置"]) == ("2", "门口台阶破损", "东村（23.01230,113.10000）")
    assert list(row) == list(EXPORT_COLUMNS)
    await world.report("走访 周一平 电话 还好，低风险")
    rows = await CaseworkStore.of(world.services.store).export_visits(world.a.id, None, None)
    assert (rows[1]["照片"], rows[1]["位置"]) == ("", "")


# -- a lead no channel reaches (point 7) --------------------------------------------------------------------
async def test_a_lead_bound_only_on_the_console_is_not_said_to_be_notified_and_sees_it_next_time(world: Town) -> None:
    await world.bind(world.b, "龙站长", "console-lead", role="lead")  # 龙江's lead: the console only
    shown = await world.one("走访 何秀珍 入户 老人昨天在家摔倒了，低风险", "zhao")
    assert "危险提示：摔倒" in shown.text
    saved = await world.one("确认", "zhao")
    assert "已通知站长" not in saved.text
    assert "龙站长 没有绑定能接收推送的账号" in saved.text and "直接打电话" in saved.text
    assert "已通知站长" not in (await world.one("何秀珍 今天又跌倒了", "zhao")).text
    [first, second, answer] = await world.say("我的对象", "console-lead")
    assert "您还没看到的提示" in first.text and "何秀珍（龙江村）" in first.text and "摔倒" in first.text
    assert "跌倒" in second.text and "名下还没有服务对象" in answer.text
    assert len(await world.say("我的对象", "console-lead")) == 1  # shown once
    # 石湾's lead is on Telegram and WeCom, both configured: notified as before, nothing held.
    assert "已通知站长（2 条提醒）" in (await world.report("走访 李四 入户 情况变差，风险高")).text


async def test_a_held_notice_waits_for_a_private_message(world: Town) -> None:
    await world.bind(world.b, "龙站长", "console-lead", role="lead")
    await world.one("何秀珍 今天跌倒了", "zhao")
    assert "您还没看到" not in "".join(r.text for r in await world.say("你好", "console-lead", group_chat=True))
    assert "您还没看到" in (await world.say("待办", "console-lead"))[0].text


# -- worker-first conversation (point 5) --------------------------------------------------------------------
async def test_a_bound_worker_naming_a_roster_person_with_visit_words_starts_a_report(world: Town) -> None:
    shown = await world.one("今天上午去咗黎秀珍屋企，佢话腰痛，低风险")
    assert "按走访记录处理" in shown.text and "对象：黎秀珍（东村）" in shown.text and "方式：入户" in shown.text
    assert "已保存" in (await world.one("确认")).text
    colleague = await world.one("啱啱电话联系了陈大文，一切都好，低风险")
    assert "对象：陈大文（西村）" in colleague.text and "这是 王芳 负责的对象" in colleague.text
    await world.one("取消")
    for text in (
        "今天去了王小明家里，老人精神好",  # not on the roster
        "黎秀珍家里漏水怎么办",  # a question
        "黎秀珍想申请低保",
    ):  # no visit words
        assert "请核对" not in "".join(r.text for r in await world.say(text)), text
    resident = await world.say("今天上午去咗黎秀珍屋企，佢话腰痛", "resident", channel="wechat")
    assert "请核对" not in "".join(r.text for r in resident) and "黎秀珍（" not in "".join(r.text for r in resident)
    assert len(await visits(world)) == 1


async def test_help_shows_the_commands_of_the_senders_role(world: Town) -> None:
    worker = await world.one("帮助")
    assert "李敏（石湾镇社工站·社工）" in worker.text and "走访 张桂英 入户" in worker.text
    assert "待办" in worker.text and "完成 编号" in worker.text and "工单" in worker.text
    assert "本站统计" not in worker.text and "逾期" not in worker.text
    lead = await world.one("帮助", "tg-lead", channel="telegram")
    assert "陈站长（石湾镇社工站·站长）" in lead.text and "本站统计" in lead.text and "逾期" in lead.text
    resident = await world.say("帮助", "resident", channel="wechat")
    assert "查政策" in resident[-1].text and "走访" not in resident[-1].text


async def test_how_to_questions_get_help_not_a_report(world: Town) -> None:
    for text in ("走访记录怎么写", "走访怎么用？", "怎么记录走访", "照片怎么附上去", "你有什么功能"):
        reply = await world.one(text)
        assert "您可以这样用" in reply.text and "请核对" not in reply.text, text
    assert "没有待保存" in (await world.one("确认")).text  # no report was started
    policy = await world.one("低保怎么申请")
    assert "您可以这样用" not in policy.text
    resident = await world.say("这个机器人怎么用", "resident", channel="wechat")
    assert "查政策" in resident[-1].text


def test_how_to_is_told_from_policy_questions() -> None:
    for text in ("走访记录怎么写", "怎么记录走访", "照片怎么附上去", "你有什么功能", "这个机器人怎么用", "待办怎么用"):
        assert is_how_to(text), text
    for text in ("低保怎么申请", "低保申请表怎么填", "请问你知道低保怎么申请吗", "病历记录怎么写", "残疾证怎么办"):
        assert not is_how_to(text), text
    assert not asks_about_the_bot("证件照片怎么上传") and asks_about_the_bot("你可以做什么")


async def test_look_up_tells_two_people_of_the_same_name_and_village_apart(world: Town) -> None:
    several = await world.one("查 梁秀英")
    assert [b.label for b in several.buttons] == ["梁秀英（北村·北村3巷2号）", "梁秀英（北村·北村8巷1号）"]
