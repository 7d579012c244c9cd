"""Handoff mode: while a resident's ticket is active the bot steps aside and relays what they write.

A middleware after `consent` (which reads the sender's status, including the active ticket). The resident's
messages go to the ticket, and through the outbox to the worker who replied last, or to everyone on duty;
the bot answers nothing. `结束人工` leaves the handoff; `删除我的信息` still reaches its handler.
The handoff ends when a worker sends `结束 N` or 24 hours pass without a message either way (computed
from the ticket's last activity, so no timer is needed).
"""

from __future__ import annotations

import logging

from bot.messages import Attachment, Reply, reply_to_payload
from bot.pii import mask_id_numbers
from bot.routing import Context, Next
from bot.routing.middlewares import too_long
from handlers.handoff.store import HandoffStore
from handlers.privacy import consent

log = logging.getLogger(__name__)

END_WORDS = {"结束人工", "退出人工", "取消人工", "结束对话", "结束转人工", "不用人工了"}
KIND_NAMES = {"image": "图片", "voice": "语音", "file": "文件"}


def attachment_note(a: Attachment) -> str:
    if a.kind == "location":
        where = a.label or "位置"
        if a.latitude is not None and a.longitude is not None:
            where += f" {a.latitude:.5f},{a.longitude:.5f}"
        return f"[位置：{where}]"
    return f"[{KIND_NAMES.get(a.kind, '附件')}，请让居民用文字描述]"


def relay_text(ctx: Context) -> str:
    typed = ctx.incoming.text.strip()  # as typed, not width-folded
    parts = [typed] if typed else []
    # A voice message with the platform's speech recognition arrives as its text.
    parts += [attachment_note(a) for a in ctx.incoming.attachments if not (typed and a.kind == "voice")]
    return " ".join(parts)


def resident_relay(ticket_id: int, text: str) -> dict:
    return reply_to_payload(Reply(f"💬 工单 #{ticket_id} 居民：{text}\n（回复请发：回复 {ticket_id} 内容）"))


def is_end_request(text: str) -> bool:
    return text.rstrip("!！。.~ ") in END_WORDS


async def handoff_mode(ctx: Context, nxt: Next) -> list[Reply]:
    status = consent.current()
    if status is None or status.is_worker or status.ticket_id is None or ctx.incoming.event:
        return await nxt(ctx)
    if not ctx.incoming.sender_verified:  # WeChat plaintext mode: the sender may be forged (bot/trust.py)
        return await nxt(ctx)
    if ctx.text in consent.DELETE_WORDS:
        return await nxt(ctx)
    services, ticket_id = ctx.services, status.ticket_id
    if is_end_request(ctx.text):
        notice = reply_to_payload(Reply(f"居民已结束工单 #{ticket_id} 的对话，之后的消息由机器人回答。"))
        await HandoffStore.of(services.store).close_ticket(
            ticket_id, "resident", payload=notice, key=ctx.incoming.dedup_key
        )
        ctx.services.wake_outbox()
        log.info("handoff ended by resident", extra={"ticket_id": ticket_id})
        return [
            Reply(
                f"好的，已结束与社工的对话（工单 #{ticket_id}）。现在起由社工助手继续为您服务，需要时再发送“找社工”。"
            )
        ]
    text = mask_id_numbers(relay_text(ctx))  # the case record holds the real one; the relay needs none
    if not text:
        return []
    if (refusal := too_long(text)) is not None:  # the same limit as any message: one relay, one message
        return [refusal]
    relayed = await HandoffStore.of(services.store).add_resident_message(
        ticket_id, text, ctx.incoming.chat_id, ctx.incoming.dedup_key, resident_relay(ticket_id, text)
    )
    ctx.services.wake_outbox()
    log.info("handoff message relayed", extra={"ticket_id": ticket_id, "relayed": relayed})
    return []
