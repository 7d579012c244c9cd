"""Notices held for a lead no configured channel reaches (bound only on the console, say): safety notices of
visits (`LeadTargets` in visits.py) and overdue escalations (handlers/reminders/dispatch.py). Shown first
with the reply to that lead's next message, on any channel."""

from __future__ import annotations

from bot.messages import Reply, payload_to_reply
from bot.routing import Context, Next
from bot.trust import casework_refusal


async def deliver_held(ctx: Context, nxt: Next) -> list[Reply]:
    replies = await nxt(ctx)
    # Intake has read whether the sender is a worker: residents cost nothing here. Case data never goes to
    # a group chat or an unauthenticated sender; the notice waits for a private message.
    if ctx.user is None or ctx.status is None or not ctx.status.is_worker or casework_refusal(ctx.incoming):
        return replies
    worker = await ctx.services.store.worker_for_user(ctx.user.id)
    if worker is None:
        return replies
    held = await ctx.services.store.take_held(f"worker:{worker.id}")
    if not held:
        return replies
    notices = [payload_to_reply(payload) for payload in held]
    notices[0] = Reply(
        "📌 您还没看到的提示（发出时没有能推送给您的账号）：\n" + notices[0].text, buttons=notices[0].buttons
    )
    return [*notices, *replies]
