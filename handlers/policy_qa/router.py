"""Policy questions answered from the knowledge base, with the source, or an honest "not sure" with a referral.

The conversation's topic (document and facet, knowledge.dialog.Topic) is kept in the dialog state so that short
follow-ups (要几耐, 咁深圳呢) are answered against it for half an hour, and 详细 works even after a refusal."""

from __future__ import annotations

from bot.messages import Button, Citation, Reply
from bot.routing import Command, Context, Router, has_text
from handlers.handoff.router import after_unsure
from knowledge import Answer
from knowledge.dialog import MORE_WORDS, Topic, answer_turn, detail_answer

router = Router("policy_qa")

LAST_QUESTION = "qa:answered"  # dialog state after an answer: {"topic": Topic.as_data()}
UNSURE = "qa:unsure"  # the last answer was unsure (plus "q"); a second one in a row offers a social worker (handoff)
SOCIAL_WORKER = "找社工"


def _reply(answer: Answer) -> Reply:
    if not answer.confident:
        return Reply(answer.text, buttons=[Button(t) for t in answer.suggestions] + [Button(SOCIAL_WORKER)])
    doc = answer.sources[0].document
    buttons = [Button(SOCIAL_WORKER)] if answer.urgent else []
    return Reply(answer.text, citations=[Citation(doc.title, doc.source, doc.year, doc.path)], buttons=buttons)


def _topic(ctx: Context) -> Topic | None:
    if not (ctx.state or "").startswith("qa:"):
        return None
    return Topic.from_data(ctx.state_data.get("topic"))


@router.message(Command("more", keywords=MORE_WORDS))
async def more(ctx: Context) -> Reply:
    topic = _topic(ctx)
    answer = (
        detail_answer(ctx.services.knowledge.current(), topic, ctx.user.city if ctx.user else "") if topic else None
    )
    if answer is None:
        return Reply("请先问一个问题，再回复“详细”查看完整内容。")
    return _reply(answer)


@router.message(has_text)
async def answer_question(ctx: Context) -> Reply:
    kb = ctx.services.knowledge.current()
    city = ctx.user.city if ctx.user else ""
    # A new question also drops a pending consent question (the resident moved on).
    if ctx.user is None or not (ctx.state is None or ctx.state.startswith(("qa:", "consent:"))):
        return _reply(kb.answer(ctx.text, city=city))
    answer, topic = answer_turn(kb, ctx.text, _topic(ctx), city, ctx.services.clock.now())
    kept = {"topic": topic.as_data()} if topic else {}
    if answer.confident:
        await ctx.set_state(LAST_QUESTION, kept)
        return _reply(answer)
    if ctx.state == UNSURE and not answer.urgent:
        offer = await after_unsure(ctx, _reply(answer), f"{ctx.state_data.get('q', '')}；{ctx.text}")
        if offer is not None:
            return offer
    await ctx.set_state(UNSURE, {**kept, "q": ctx.text})
    return _reply(answer)


@router.message()
async def not_text(ctx: Context) -> Reply:
    if any(a.kind == "voice" for a in ctx.incoming.attachments):
        return Reply("暂时听不了语音，请打字告诉我您的问题，谢谢！")
    return Reply("收到。我目前只能回答文字问题，请打字告诉我想了解什么。")
