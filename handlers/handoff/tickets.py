"""Workers' side of the handoff: `回复 N 内容`, `结束 N`, `工单` / `工单 N`, `值班` / `下班`.

Only a bound worker of the ticket's station can reply to, read or close it; for anyone else the ticket does
not exist (the same answer as for a number never used). On duty: the workers who sent `值班`; when nobody at
the station has, every bound worker of the station gets the notices.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, tzinfo

from bot import metrics
from bot.messages import Reply, reply_to_payload
from bot.pii import mask_id_numbers, mask_phones
from bot.routing import Command, Context, Regex, Router, not_in_form
from bot.store import WorkerRecord
from bot.store.handoff_records import TicketRecord, TicketStats
from handlers.common.localtime import local_tz
from handlers.common.roles import IsWorker, actor, private_only
from handlers.handoff.store import HandoffStore

log = logging.getLogger(__name__)
router = Router("tickets", IsWorker(), guard=private_only)

STATS_DAYS = 30
MAX_LINES = 20
NOT_FOUND = "本站没有工单 #{n}。发送“工单”查看本站未结束的工单。"


def _ago(at: datetime, now: datetime) -> str:
    minutes = int((now - at).total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} 分钟前"
    return f"{minutes // 60} 小时前" if minutes < 48 * 60 else f"{minutes // 1440} 天前"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} 分钟" if minutes < 120 else f"{minutes / 60:.1f} 小时"


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# -- reply, end ---------------------------------------------------------------------------------------------
def resident_message(worker: WorkerRecord, text: str, footer: bool) -> dict:
    tail = "\n（直接回复就能和社工对话；发送“结束人工”结束对话。）" if footer else ""
    return reply_to_payload(Reply(f"【{worker.station_name} 社工{worker.name}】{text}{tail}"))


_REPLY = r"(?s)^(?:/reply(?:@\w+)?|回复|答复)\s*#?(\d{1,9})(?:\s+|\s*[:：,，]\s*)(\S.*)$"


@router.message(Regex(_REPLY), not_in_form)
async def reply(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    # The filter matched the width-folded text; relay what the worker typed (full-width punctuation kept).
    typed = re.match(_REPLY, ctx.incoming.text.strip())
    number, text = int(match.group(1)), mask_id_numbers((typed or match).group(2).strip())
    outcome = await HandoffStore.of(ctx.services.store).worker_reply(
        number, worker.id, worker.station_id, text, ctx.incoming.dedup_key,
        payload=lambda first, reactivated: resident_message(worker, text, first or reactivated))
    if outcome.status == "missing":
        return Reply(NOT_FOUND.format(n=number))
    if outcome.status == "closed":
        return Reply(f"工单 #{number} 已结束，消息没有发出。")
    if outcome.first_reply_seconds is not None:
        metrics.TICKET_FIRST_REPLY_SECONDS.observe(outcome.first_reply_seconds, station=worker.station_name)
    ctx.services.wake_outbox()
    log.info("ticket reply relayed", extra={"ticket_id": number, "worker_id": worker.id})
    return Reply(f"已发给居民（工单 #{number}）。结束对话请发：结束 {number}；"
                 f"把这次解答收进知识库请发：收录 {number}")


@router.message(Regex(r"^(?:/close(?:@\w+)?|结束|关闭)\s*(?:工单)?\s*#?(\d{1,9})$"), not_in_form)
async def end(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    number = int(match.group(1))
    goodbye = reply_to_payload(Reply(f"社工已结束本次对话（工单 #{number}）。之后的消息由社工助手（机器人）回答；"
                                     "还需要人工帮助时，发送“找社工”。"))
    outcome = await HandoffStore.of(ctx.services.store).close_ticket(number, "worker", worker.station_id, goodbye,
                                                    key=ctx.incoming.dedup_key)
    if outcome.status == "missing":
        return Reply(NOT_FOUND.format(n=number))
    if outcome.status == "closed":
        return Reply(f"工单 #{number} 之前已经结束了。")
    ctx.services.wake_outbox()
    log.info("ticket closed", extra={"ticket_id": number, "worker_id": worker.id})
    return Reply(f"已结束工单 #{number}，已通知居民。")


# -- read ---------------------------------------------------------------------------------------------------
@router.message(Regex(r"^(?:/ticket(?:@\w+)?|工单|查看工单)\s*#?(\d{1,9})$"), not_in_form)
async def view(ctx: Context, worker: WorkerRecord, match: re.Match[str]) -> Reply:
    number = int(match.group(1))
    store, tz = ctx.services.store, local_tz(ctx)
    found = await HandoffStore.of(store).ticket_view(number, worker.station_id)
    if found is None:
        return Reply(NOT_FOUND.format(n=number))
    ticket, lines = found
    await store.audit(actor(worker), "ticket.read", target=f"ticket:{number}", worker_id=worker.id)
    state = "进行中" if ticket.status == "open" else "已结束"
    out = [f"工单 #{number}（{ticket.station_name}，{state}，{_when(ticket.created_at, tz)} 提出）",
           f"问题：{ticket.question or '（内容已按居民要求或保存期限删除）'}"]
    for line in lines[-MAX_LINES:]:
        who = "居民" if line.sender == "resident" else f"社工{line.worker_name}"
        out.append(f"{_when(line.at, tz)} {who}：{line.text}")
    if ticket.status == "open":
        out.append(f"\n回复请发：回复 {number} 内容；结束请发：结束 {number}")
    return Reply("\n".join(out))


def _when(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%m-%d %H:%M")


def _stats_line(s: TicketStats) -> str:
    median = f"，首次回复用时中位数 {_duration(s.median_first_reply_seconds)}" if s.median_first_reply_seconds else ""
    return (f"{s.station_name}：未结束 {s.open} 个（待首次回复 {s.awaiting_reply} 个）；"
            f"近 {STATS_DAYS} 天新工单 {s.opened_recently} 个，已回复 {s.replied_recently} 个{median}")


def _ticket_line(t: TicketRecord, now: datetime) -> str:
    state = "待回复" if t.first_reply_at is None else "已回复"
    return f"#{t.id} {state}，{_ago(t.created_at, now)}：{_short(mask_phones(t.question)) or '（内容已删除）'}"


@router.message(Command("tickets", keywords={"工单", "工单列表", "本站工单", "我的工单", "工单统计"}), not_in_form)
async def overview(ctx: Context, worker: WorkerRecord) -> Reply:
    store, now = ctx.services.store, ctx.services.clock.now()
    tickets = await HandoffStore.of(store).open_tickets(worker.station_id)
    lines = [_ticket_line(t, now) for t in tickets[:MAX_LINES]]
    body = (f"本站未结束的工单（{len(tickets)} 个）：\n" + "\n".join(lines)) if tickets else "本站没有未结束的工单。"
    if worker.is_lead:
        stats = await HandoffStore.of(store).ticket_stats(now - timedelta(days=STATS_DAYS),
                                         None if worker.role == "admin" else worker.station_id)
        body += "\n\n工单统计：\n" + "\n".join(_stats_line(s) for s in stats)
    on_duty = await HandoffStore.of(store).on_duty_names(worker.station_id)
    body += f"\n\n值班：{'、'.join(on_duty)}" if on_duty else "\n\n现在没有人标记值班，新的求助会发给本站所有社工。"
    return Reply(body + "\n查看某个工单请发：工单 编号")


# -- duty ---------------------------------------------------------------------------------------------------
@router.message(Command("onduty", keywords={"值班", "开始值班", "我值班"}), not_in_form)
async def on_duty(ctx: Context, worker: WorkerRecord) -> Reply:
    await HandoffStore.of(ctx.services.store).set_duty(worker.id, True)
    names = await HandoffStore.of(ctx.services.store).on_duty_names(worker.station_id)
    return Reply(f"已开始值班：居民的新求助会发给您（本站值班：{'、'.join(names)}）。下班请发“下班”。")


@router.message(Command("offduty", keywords={"下班", "结束值班", "取消值班"}), not_in_form)
async def off_duty(ctx: Context, worker: WorkerRecord) -> Reply:
    await HandoffStore.of(ctx.services.store).set_duty(worker.id, False)
    names = await HandoffStore.of(ctx.services.store).on_duty_names(worker.station_id)
    who = f"本站值班：{'、'.join(names)}" if names else "本站现在没有人值班，新的求助会发给本站所有社工"
    return Reply(f"已下班，新的求助不再专门发给您（{who}）。您正在回复的工单，居民的消息仍会发给您。")
