"""转人工 for residents: 找社工 / 转人工 / 人工, the "找社工" button, or two unsure answers in a row → consent
(once) → 镇街 (once, remembered) → a short description → a ticket for that station, whose on-duty workers are
told through the outbox. While the ticket is active the bot stays silent (bot/handoff_mode.py)."""

from __future__ import annotations

import logging

from bot import metrics
from bot.messages import Button, Reply, reply_to_payload
from bot.pii import mask_id_numbers
from bot.routing import Command, Context, HandlerResult, Router, SkipHandler, State, StatesGroup, has_text
from bot.store.handoff_records import StationInfo
from bot.trust import SAFE_MODE_ONLY
from handlers.common.localtime import local_tz
from handlers.common.texts import URGENT
from handlers.directory.router import choices, describe, match_stations, save_town, town_of
from handlers.directory.store import DirectoryStore
from handlers.handoff.mode import END_WORDS
from handlers.handoff.store import HandoffStore
from handlers.handoff.working_hours import response_note
from handlers.help import CONTACT_TEXT
from handlers.privacy import consent

log = logging.getLogger(__name__)
router = Router("handoff")

TRIGGERS = {
    "找社工",
    "联系社工",
    "人工",
    "转人工",
    "人工服务",
    "人工客服",
    "找人",
    "找真人",
    "真人",
    "转社工",
    "我要找社工",
    "我想找社工",
    "揾社工",
    "搵社工",
}


class HandoffRequest(StatesGroup):
    """A resident asking for a person: which 镇街, then what to tell the worker."""

    prefix = "handoff"
    town = State()
    describe = State()


TOWN, DESCRIBE = HandoffRequest.town(), HandoffRequest.describe()
CANCEL_WORDS = {"取消", "算了", "不用了", "不用", "退出", "不转了", "/cancel"}
SUBMIT_WORDS = {"提交", "就这样", "是", "好", "好的", "确定", "确认", "可以"}
CHANNEL_NAMES = {"wechat": "微信公众号", "wecom": "企业微信", "telegram": "Telegram", "web": "网页", "console": "终端"}
CANCELLED = "好的，不转人工了。有问题可以继续问我；需要时再发送“找社工”。"


def _word(ctx: Context) -> str:
    return ctx.text.rstrip("!！。.~ ")


# -- start ------------------------------------------------------------------------------------------------
@router.message(Command("contact", "human", keywords=TRIGGERS))
async def request(ctx: Context) -> HandlerResult:
    return await start(ctx)


async def start(ctx: Context, question: str = "", origin: str = "asked") -> Reply:
    """Begin (or, after 同意, resume) the handoff: ask consent, then the 镇街 unless known, then a description."""
    if ctx.user is None:
        return Reply(CONTACT_TEXT)
    if not ctx.incoming.sender_verified:  # a forged sender could read or feed someone else's handoff
        return Reply(SAFE_MODE_ONLY)
    status = await consent.status_of(ctx)
    if status.is_worker:
        return Reply(
            "您是已绑定的社工。居民的求助会以“工单”的形式发给值班社工；发送“工单”查看本站的工单。\n\n" + CONTACT_TEXT
        )
    data = {"q": question, "origin": origin}
    if not status.consented:
        return await consent.ask_consent(ctx, "handoff", data)
    station = await DirectoryStore.of(ctx.services.store).station_info(status.station_id) if status.station_id else None
    if station is None:
        return await _ask_town(ctx, data)
    return await _ask_description(ctx, station, data)


@consent.continuation("handoff")
async def after_consent(ctx: Context, data: dict) -> Reply:
    return await start(ctx, str(data.get("q", "")), str(data.get("origin", "asked")))


async def after_unsure(ctx: Context, unsure: Reply, questions: str) -> Reply | None:
    """Called by policy_qa on the second unsure answer in a row: offer a person right away."""
    if ctx.user is None or not ctx.incoming.sender_verified or (await consent.status_of(ctx)).is_worker:
        return None
    offer = await start(ctx, questions, origin="unsure")
    return Reply(
        f"{unsure.text}\n\n我连续两次没能答好您的问题，可以帮您转给社工。\n{offer.text}", buttons=offer.buttons
    )


async def _ask_town(ctx: Context, data: dict) -> Reply:
    await ctx.set_state(TOWN, data)
    stations = await DirectoryStore.of(ctx.services.store).station_directory()
    if not stations:
        await ctx.clear_state()
        return Reply("暂时还没有社工站开通线上转人工。\n\n" + CONTACT_TEXT)
    return Reply(
        "请问您在哪个镇（街）？例如“石湾镇”。我会把您的问题转给当地社工站（只需告诉一次）。回复“取消”则不转。",
        buttons=choices(stations) if len(stations) <= 6 else [],
    )


async def _ask_description(ctx: Context, station: StationInfo, data: dict) -> Reply:
    await ctx.set_state(DESCRIBE, {**data, "station": station.id})
    town = town_of(station.name)
    if data.get("q"):
        return Reply(
            f"将转给{station.name}。回复“提交”，就把您刚才的问题“{data['q']}”发给社工；"
            f"也可以补充说明。回复“取消”则不转。\n（不在{town}？发送“我在 某某镇”更改。）",
            buttons=[Button("提交"), Button("取消")],
        )
    return Reply(
        f"将转给{station.name}。请用一两句话说明您遇到的情况或想问的事，社工会看到这段话。"
        f"回复“取消”则不转。\n（不在{town}？发送“我在 某某镇”更改。）"
    )


# -- the dialog ---------------------------------------------------------------------------------------------
@router.message(has_text, state=HandoffRequest.town)
async def town_answer(ctx: Context) -> HandlerResult:
    data = dict(ctx.state_data)
    if _word(ctx) in CANCEL_WORDS:
        await ctx.clear_state()
        return Reply(CANCELLED)
    if _word(ctx) in TRIGGERS:  # asked again: start over
        return await start(ctx, str(data.get("q", "")), str(data.get("origin", "asked")))
    text = ctx.text.removeprefix("我在").strip()
    found = match_stations(await DirectoryStore.of(ctx.services.store).station_directory(), text)
    if len(found) == 1:
        await save_town(ctx, found[0])
        return await _ask_description(ctx, found[0], data)
    if len(found) > 1:
        return Reply("找到几个社工站，您在哪一个？", buttons=choices(found))
    if data.get("origin") == "unsure":  # they moved on to another question: answer it
        return await _answer_instead(ctx)
    return Reply(f"没有找到“{text}”的社工站。请输入镇（街）的名称，例如“石湾镇”；回复“取消”则不转人工。")


@router.message(state=HandoffRequest.describe)
async def description(ctx: Context) -> HandlerResult:
    data = dict(ctx.state_data)
    if _word(ctx) in CANCEL_WORDS:
        await ctx.clear_state()
        return Reply(CANCELLED)
    if not ctx.text:
        return Reply("请用文字简单说明您的情况（暂时看不了图片和语音）。回复“取消”则不转。")
    if _word(ctx) in TRIGGERS:
        return await start(ctx, str(data.get("q", "")), str(data.get("origin", "asked")))
    earlier = str(data.get("q") or "")
    if earlier and _word(ctx) in SUBMIT_WORDS:
        question = earlier
    elif earlier and data.get("origin") == "unsure":
        return await _answer_instead(ctx)
    else:
        typed = ctx.incoming.text.strip()
        question = f"{typed}（此前问机器人：{earlier}）" if earlier else typed
    return await open_ticket(ctx, int(data["station"]), question)


async def _answer_instead(ctx: Context) -> HandlerResult:
    """A new question instead of 提交: leave the request and let the policy answers take the message."""
    await ctx.clear_state()
    raise SkipHandler


@router.message(Command(keywords=END_WORDS))
async def nothing_to_end(ctx: Context) -> Reply:
    return Reply("现在没有进行中的人工对话，我是社工助手（机器人），可以继续问我。需要社工时发送“找社工”。")


# -- the ticket ---------------------------------------------------------------------------------------------
def worker_notice(ticket_id: int, station: StationInfo, channel: str, town: str, question: str) -> dict:
    where = f"（{town}）" if town else ""
    return reply_to_payload(
        Reply(
            f"🔔 新的求助：工单 #{ticket_id}（{station.name}）\n"
            f"来自：{CHANNEL_NAMES.get(channel, channel)}居民{where}\n"
            f"问题：{question}\n\n回复居民请发：回复 {ticket_id} 您要说的话\n"
            f"查看：工单 {ticket_id}　结束：结束 {ticket_id}"
        )
    )


async def open_ticket(ctx: Context, station_id: int, question: str) -> Reply:
    assert ctx.user is not None
    await ctx.clear_state()
    question = mask_id_numbers(question)  # the workers' notice and the stored ticket alike
    services, inc = ctx.services, ctx.incoming
    station = await DirectoryStore.of(services.store).station_info(station_id)
    if station is None:
        return await _ask_town(ctx, {"q": question, "origin": "asked"})
    town = town_of(station.name)
    ticket_id, notified = await HandoffStore.of(services.store).open_ticket(
        ctx.user.id,
        station.id,
        inc.channel,
        inc.chat_id,
        question,
        notice=lambda tid: worker_notice(tid, station, inc.channel, town, question),
    )
    if not ticket_id:
        log.info("handoff refused: station has no bound worker", extra={"station_id": station.id})
        return Reply(f"{station.name}暂时还没有开通线上回复，请直接联系社工站：\n{describe(station)}\n\n{URGENT}")
    metrics.TICKETS_OPENED.inc(station=station.name)
    consent.update_current(ticket_id=ticket_id)
    services.wake_outbox()
    log.info("ticket opened", extra={"ticket_id": ticket_id, "station_id": station.id, "notified": notified})
    note = response_note(services.clock.now(), local_tz(ctx))
    return Reply(
        f"已转给{station.name}的社工（工单 #{ticket_id}）。{note}\n"
        "社工回复前和对话期间，您发的消息都会直接转给社工，机器人不再自动回答；"
        "发送“结束人工”可以随时结束。\n" + URGENT
    )
