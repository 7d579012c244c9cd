"""同意 / 不同意 / 隐私 / 删除我的信息: the resident's side of the privacy notice (bot/consent.py)."""

from __future__ import annotations

import logging

from bot.messages import Reply
from bot.routing import Command, Context, HandlerResult, Router, not_in_form
from handlers.privacy import consent
from handlers.privacy.store import PrivacyStore

log = logging.getLogger(__name__)
router = Router("privacy")

AGREE = {"同意", "我同意", "同意了", "好的同意", "同意转人工", "agree"}
DISAGREE = {"不同意", "我不同意", "拒绝"}
DELETED = ("已删除您在社工助手保存的信息：个人资料（所在市、镇街）、同意记录、对话进度，"
           "以及您转人工时的留言{detail}。之后您再发消息，会作为新用户重新开始。\n"
           "请注意：社工站为您建立的服务档案（个案、走访记录）由社工站依照规定保管，不属于在这里可以自行删除的内容；"
           "如有疑问，请联系所在镇（街）社工站。")


@router.message(Command("agree", keywords=AGREE), not_in_form)
async def agree(ctx: Context) -> HandlerResult:
    assert ctx.user is not None
    await PrivacyStore.of(ctx.services.store).record_consent(ctx.user.id)
    consent.update_current(consented_at=ctx.services.clock.now())
    if ctx.state == consent.WAITING:
        data = dict(ctx.state_data)
        await ctx.clear_state()
        resume = consent.CONTINUATIONS.get(str(data.pop("then", "")))
        if resume is not None:
            return await resume(ctx, data)
    return Reply("已记录您的同意，谢谢！需要社工帮助时发送“找社工”。随时发送“删除我的信息”可以删除保存的信息。")


@router.message(Command(keywords=DISAGREE), not_in_form)
async def disagree(ctx: Context) -> Reply:
    if ctx.state == consent.WAITING:
        await ctx.clear_state()
    return Reply("好的，不会保存您的镇街和留言。您仍然可以问我政策问题；需要人工帮助可以拨打 12345 政务服务热线，"
                 "或到所在镇（街）社工站。发送“社工站在哪”可以查地址电话。")


@router.message(Command("privacy", keywords={"隐私", "隐私说明", "隐私政策", "个人信息保护"}))
async def notice(ctx: Context) -> Reply:
    return Reply(consent.notice_text(ctx.services.settings.retention_days))


@router.message(Command("delete_my_data", keywords=consent.DELETE_WORDS))
async def delete_my_data(ctx: Context) -> Reply:
    assert ctx.user is not None
    if (await consent.status_of(ctx)).is_worker:
        return Reply("这是社工账号，绑定信息由站长管理；如需解绑，请联系站长。")
    counts = await PrivacyStore.of(ctx.services.store).delete_resident(ctx.user.id)
    if counts.get("published"):
        await ctx.services.knowledge.load()  # gone from this process now, from the others at their next check
    consent.mark_deleted(ctx)
    ctx.state, ctx.state_data = None, {}
    log.info("resident data deleted", extra={k: v for k, v in counts.items()})
    detail = f"（{counts['tickets']} 个求助、{counts['messages']} 条消息）" if counts.get("tickets") else ""
    return Reply(DELETED.format(detail=detail))
