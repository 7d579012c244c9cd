"""Policy questions answered from the knowledge base, with the source, or an honest "not sure"."""

from __future__ import annotations

from bot.routing import Command, Context, Router, has_text
from bot.messages import Button, Citation, Reply
from handlers.handoff.router import after_unsure

router = Router("policy_qa")

LAST_QUESTION = "qa:answered"  # dialog state remembering the last question, for "详细"
UNSURE = "qa:unsure"  # the last answer was unsure; a second one in a row offers a social worker (handoff)


def _reply(answer) -> Reply:  # noqa: ANN001
    if not answer.confident:
        buttons = [Button(t) for t in answer.suggestions] + [Button("找社工")]
        return Reply(answer.text, buttons=buttons)
    best = answer.sources[0]
    doc = best.document
    return Reply(answer.text, citations=[Citation(doc.title, doc.source, doc.year, doc.path)])


@router.message(Command("more", keywords={"详细", "更多", "详细点", "详细啲", "讲详细啲", "全文", "继续"}))
async def more(ctx: Context) -> Reply:
    if ctx.state != LAST_QUESTION:
        return Reply("请先问一个问题，再回复“详细”查看完整内容。")
    kb = ctx.services.knowledge.current()
    return _reply(kb.answer(ctx.state_data["q"], city=ctx.user.city if ctx.user else "", detailed=True))


@router.message(has_text)
async def answer_question(ctx: Context) -> Reply:
    kb = ctx.services.knowledge.current()
    answer = kb.answer(ctx.text, city=ctx.user.city if ctx.user else "")
    # A new question also drops a pending consent question (the resident moved on).
    if ctx.user is None or not (ctx.state is None or ctx.state.startswith(("qa:", "consent:"))):
        return _reply(answer)
    if answer.confident:
        await ctx.set_state(LAST_QUESTION, {"q": ctx.text})
        return _reply(answer)
    if ctx.state == UNSURE:
        offer = await after_unsure(ctx, _reply(answer), f"{ctx.state_data.get('q', '')}；{ctx.text}")
        if offer is not None:
            return offer
    await ctx.set_state(UNSURE, {"q": ctx.text})
    return _reply(answer)


@router.message()
async def not_text(ctx: Context) -> Reply:
    if any(a.kind == "voice" for a in ctx.incoming.attachments):
        return Reply("暂时听不了语音，请打字告诉我您的问题，谢谢！")
    return Reply("收到。我目前只能回答文字问题，请打字告诉我想了解什么。")
