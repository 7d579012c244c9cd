"""The handoff through the real dispatcher on SQLite and PostgreSQL: privacy notice and consent, 镇街, ticket,
notices to the on-duty workers, relaying both ways, the bot's silence, the end (by the worker, the resident,
or 24 hours without activity), unsure answers, duty, and station isolation."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.store.casework_models import AuditEntry
from bot.store.handoff_models import ResidentProfile, Ticket, TicketMessage
from handlers.directory.store import DirectoryStore
from handlers.workers.store import WorkersStore


async def test_first_message_gets_the_notice_once_and_workers_none(desk) -> None:
    first = await desk.one("低保怎么申请")
    assert first.citations and "【隐私说明】" in first.text and "180 天" in first.text and "删除我的信息" in first.text
    assert first.text.index("【隐私说明】") > first.text.index("低保")  # the answer first, the notice after it
    again = await desk.one("低保怎么申请")
    assert "隐私说明" not in again.text
    assert "隐私说明" not in (await desk.worker("李敏", "低保怎么申请")).text
    assert "180 天" in (await desk.one("隐私")).text


async def test_nothing_beyond_the_conversation_is_stored_before_consent(desk) -> None:
    await desk.say("你好")
    ask = await desk.one("我在石湾镇")
    assert "同意" in ask.text and [b.label for b in ask.buttons] == ["同意", "不同意"]
    async with desk.store.session() as s:
        [profile] = (await s.execute(select(ResidentProfile))).scalars()
    assert profile.station_id is None and profile.consented_at is None  # only "notice shown"
    assert "已记住您在石湾镇（石湾镇社工站）" in (await desk.one("同意")).text
    status = await desk.store.resident_status((await desk.store.user_for("wechat", desk.user)).id)
    assert status.consented and status.station_id == desk.a.id and status.town == "石湾镇"


async def test_handoff_round_trip(desk) -> None:
    consent = await desk.one("找社工")
    assert "同意" in consent.text and all(n in consent.text for n in ("12345", "110", "120"))
    town = await desk.one("同意")
    assert "哪个镇（街）" in town.text and {b.label for b in town.buttons} == {"石湾镇", "龙江镇"}
    described = await desk.one("石湾")
    assert "将转给石湾镇社工站" in described.text
    opened = await desk.one("我想给妈妈申请残疾人两项补贴，不知道要什么材料")
    # Saturday 17:00 in Guangdong: someone answers on the next working day (Monday 30 November).
    assert "工单 #1" in opened.text and "11月30日（周一）" in opened.text
    assert all(n in opened.text for n in ("12345", "110", "120")) and "结束人工" in opened.text
    for name in ("李敏", "王芳", "陈站长"):  # nobody marked on duty: every bound worker of the station
        [notice] = await desk.to_worker(name)
        assert "工单 #1" in notice and "残疾人两项补贴" in notice and "回复 1" in notice
    assert await desk.to_worker("赵强") == [] and await desk.to_worker("龙站长") == []

    assert await desk.say("还想问下要不要本人去") == []  # the bot is silent while a person talks
    assert [len(await desk.to_worker(n)) for n in ("李敏", "王芳", "陈站长")] == [2, 2, 2]
    assert "要不要本人去" in (await desk.to_worker("王芳"))[-1]

    done = await desk.worker("李敏", "回复 1 您好，带上户口本和残疾证到镇便民服务中心办理，不用本人去。")
    assert "已发给居民" in done.text and "收录 1" in done.text
    [answer] = await desk.pushed(desk.user)
    assert answer.startswith("【石湾镇社工站 社工李敏】您好，带上户口本") and "结束人工" in answer

    assert await desk.say("好的谢谢") == []
    assert "好的谢谢" in (await desk.to_worker("李敏"))[-1]  # only to the worker who replied
    assert len(await desk.to_worker("王芳")) == 2

    assert "已结束工单 #1" in (await desk.worker("李敏", "结束 1")).text
    assert "社工已结束本次对话" in (await desk.pushed(desk.user))[-1]
    back = await desk.one("低保怎么申请")
    assert back.citations  # the bot answers again
    assert "已经结束" in (await desk.worker("李敏", "结束 1")).text
    assert "已结束，消息没有发出" in (await desk.worker("李敏", "回复 1 还在吗")).text

    again = await desk.one("找社工")  # consent and the town are remembered
    assert "将转给石湾镇社工站" in again.text and "同意" not in again.text


async def test_another_station_cannot_reply_read_close_or_save_a_ticket(desk) -> None:
    await desk.ready_resident()
    number = await desk.open_ticket("家里老人没人照顾，想找社工")
    before = await desk.outbox()
    for text in (f"回复 {number} 我是龙江的", f"工单 {number}", f"结束 {number}", f"收录 {number}"):
        reply = await desk.worker("赵强", text)
        assert f"本站没有工单 #{number}" in reply.text and "老人" not in reply.text, text
    assert "老人" not in (await desk.worker("龙站长", "工单")).text
    assert len(await desk.outbox()) == len(before)  # nothing reached the resident
    async with desk.store.session() as s:
        [ticket] = (await s.execute(select(Ticket))).scalars()
        assert ticket.status == "open" and ticket.first_reply_at is None
        assert (await s.execute(select(AuditEntry).where(AuditEntry.action == "ticket.read"))).first() is None
    view = await desk.worker("王芳", f"工单 {number}")
    assert "家里老人没人照顾" in view.text
    async with desk.store.session() as s:
        [read] = (await s.execute(select(AuditEntry).where(AuditEntry.action == "ticket.read"))).scalars()
    assert read.target == f"ticket:{number}" and "老人" not in str(read.detail)


async def test_a_resident_is_not_a_worker(desk) -> None:
    await desk.ready_resident()
    number = await desk.open_ticket("想问临时救助")
    await desk.worker("李敏", f"结束 {number}")
    reply = await desk.one(f"回复 {number} 你好")  # a resident typing a worker command gets no ticket power
    assert "已发给居民" not in reply.text


async def test_handoff_lapses_after_24_hours_and_a_late_reply_resumes_it(desk) -> None:
    await desk.ready_resident()
    number = await desk.open_ticket("周末想咨询一下特困供养")
    desk.clock.advance(hours=24, minutes=1)
    assert (await desk.one("低保怎么申请")).citations  # nobody wrote for a day: the bot is back
    await desk.worker("李敏", f"回复 {number} 不好意思周末没看到，您想了解特困哪方面？")
    assert "直接回复就能和社工对话" in (await desk.pushed(desk.user))[-1]
    assert await desk.say("认定条件") == []  # the reply made it a conversation again
    assert "认定条件" in (await desk.to_worker("李敏"))[-1]


async def test_resident_can_leave_the_handoff(desk) -> None:
    await desk.ready_resident()
    number = await desk.open_ticket("想问高龄津贴")
    assert f"已结束与社工的对话（工单 #{number}）" in (await desk.one("结束人工")).text
    assert "居民已结束" in (await desk.to_worker("李敏"))[-1]
    assert "现在没有进行中的人工对话" in (await desk.one("结束人工")).text
    async with desk.store.session() as s:
        [ticket] = (await s.execute(select(Ticket))).scalars()
    assert ticket.status == "closed" and ticket.closed_by == "resident"


async def test_two_unsure_answers_in_a_row_offer_a_social_worker(desk) -> None:
    await desk.ready_resident()
    first = await desk.one("今日恒指收市几多点")
    assert "不太确定" in first.text and "连续两次" not in first.text
    assert (await desk.one("低保怎么申请")).citations  # a good answer in between resets the count
    await desk.one("今日恒指收市几多点")
    second = await desk.one("明天会不会落雨")
    assert "连续两次" in second.text and [b.label for b in second.buttons] == ["提交", "取消"]
    opened = await desk.one("提交")
    assert "工单 #1" in opened.text
    async with desk.store.session() as s:
        [ticket] = (await s.execute(select(Ticket))).scalars()
    question = desk.store.secrets.open_text(ticket.question)  # ticket texts are encrypted at rest
    assert "恒指" in question and "落雨" in question


async def test_after_an_unsure_offer_another_question_is_just_answered(desk) -> None:
    await desk.ready_resident()
    await desk.one("今日恒指收市几多点")
    assert "连续两次" in (await desk.one("明天会不会落雨")).text
    assert (await desk.one("高龄津贴怎么领")).citations
    async with desk.store.session() as s:
        assert (await s.execute(select(Ticket))).first() is None


async def test_on_duty_workers_get_the_notices(desk) -> None:
    assert "已开始值班" in (await desk.worker("王芳", "值班")).text
    await desk.ready_resident()
    number = await desk.open_ticket("想了解困境儿童政策")
    assert len(await desk.to_worker("王芳")) == 1
    assert await desk.to_worker("李敏") == [] and await desk.to_worker("陈站长") == []
    assert "现在没有人值班" in (await desk.worker("王芳", "下班")).text
    await desk.worker("王芳", f"结束 {number}")
    await desk.open_ticket("还有个问题")
    assert len(await desk.to_worker("李敏")) == 1  # nobody on duty: everyone again


async def test_lead_sees_ticket_statistics(desk) -> None:
    await desk.ready_resident()
    number = await desk.open_ticket("想申请临时救助")
    desk.clock.advance(minutes=30)
    await desk.worker("李敏", f"回复 {number} 请带身份证来站里")
    await desk.ready_resident("o_resident_2")
    await desk.open_ticket("低保复核", "o_resident_2")
    lead = await desk.worker("陈站长", "工单")
    assert "本站未结束的工单（2 个）" in lead.text and "待回复" in lead.text and "已回复" in lead.text
    assert "石湾镇社工站：未结束 2 个（待首次回复 1 个）" in lead.text and "中位数 30 分钟" in lead.text
    worker = await desk.worker("李敏", "工单")
    assert "本站未结束的工单（2 个）" in worker.text and "中位数" not in worker.text


async def test_station_without_bound_workers_refers_to_its_phone(desk) -> None:
    other = await WorkersStore.of(desk.store).add_station("张槎街道社工站", city="佛山市")
    await DirectoryStore.of(desk.store).set_station_details(other.id, phone="0757-88888888")
    await desk.say("你好")
    await desk.say("同意")
    await desk.say("我在张槎街道")
    await desk.say("找社工")
    reply = await desk.one("想咨询")
    assert "暂时还没有开通线上回复" in reply.text and "0757-88888888" in reply.text and "110" in reply.text
    async with desk.store.session() as s:
        assert (await s.execute(select(Ticket))).first() is None


async def test_working_hours_reply_expects_an_answer_today(desk) -> None:
    desk.clock._at = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 10:00 in Guangdong
    await desk.ready_resident()
    await desk.say("找社工")
    assert "现在是工作时间" in (await desk.one("想问低保")).text


async def test_relayed_messages_are_logged_on_the_ticket(desk) -> None:
    await desk.ready_resident()
    number = await desk.open_ticket("想问长者饭堂")
    await desk.say("在哪里吃")
    await desk.worker("李敏", f"回复 {number} 社区党群服务中心一楼")
    async with desk.store.session() as s:
        stored = (await s.execute(select(TicketMessage).order_by(TicketMessage.id))).scalars()
        lines = [(m.sender, desk.store.secrets.open_text(m.text)) for m in stored]
    assert lines == [("resident", "在哪里吃"), ("worker", "社区党群服务中心一楼")]
    view = await desk.worker("陈站长", f"工单 {number}")
    assert "居民：在哪里吃" in view.text and "社工李敏：社区党群服务中心一楼" in view.text


async def test_pictures_and_places_are_relayed_as_notes(desk) -> None:
    from bot.messages import Attachment

    await desk.ready_resident()
    await desk.open_ticket("想问残疾证")
    assert await desk.say(attachments=(Attachment("image", url="media-1"),)) == []
    assert "[图片" in (await desk.to_worker("李敏"))[-1]
    place = Attachment("location", latitude=23.0031, longitude=113.0862, label="太平街")
    assert await desk.say("我在这里", attachments=(place,)) == []
    assert "我在这里 [位置：太平街 23.00310,113.08620]" in (await desk.to_worker("李敏"))[-1]
    assert await desk.say("残疾证怎么办", attachments=(Attachment("voice", url="v1"),)) == []  # recognised speech
    assert (await desk.to_worker("李敏"))[-1].startswith("💬 工单 #1 居民：残疾证怎么办\n")


async def test_asking_again_in_the_middle_starts_over(desk) -> None:
    await desk.say("你好")
    await desk.say("找社工")
    await desk.say("同意")
    assert "哪个镇（街）" in (await desk.one("找社工")).text
    assert "没有找到“大沥”" in (await desk.one("大沥")).text
    assert "不转人工了" in (await desk.one("取消")).text
