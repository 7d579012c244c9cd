"""The engine's middlewares: `measure`, `intake` and `rate_limit` first, `input_guard` last; features add theirs between
(see `bot.app.middlewares_of`)."""

from __future__ import annotations

import logging
import time
import unicodedata

from bot import metrics
from bot.messages import Reply
from bot.ratelimit import RATE_NOTICE
from bot.routing.context import Context, Next
from bot.store.arrivals import Arrival, Departure

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 500


async def measure(ctx: Context, nxt: Next) -> list[Reply]:
    """Outcome and latency per channel; first in the chain so duplicates and failures are counted too."""
    token, started = metrics.begin_message(), time.perf_counter()
    replies: list[Reply] = []
    failed = False
    try:
        replies = await nxt(ctx)
    except Exception:
        failed = True  # the dispatcher turns it into an apology; here it is only counted
        raise
    finally:
        metrics.end_message(token, ctx.incoming.channel, bool(replies), time.perf_counter() - started, failed)
    return replies


async def intake(ctx: Context, nxt: Next) -> list[Reply]:
    """Drop a platform redelivery of a message already taken (by any process); otherwise attach the
    stable user record, any open dialog state and the sender's status, and afterwards write the state the
    handlers left. This runs for every message, so both ends are group-committed with other messages'."""
    inc = ctx.incoming
    store = ctx.services.store
    # A message accepted by durable intake was claimed there (and may be handled again after a crash).
    key = inc.dedup_key if inc.message_id and not inc.accepted else ""
    sender = await store.arrive(Arrival(key, inc.channel, inc.user_id))
    if sender is None:
        log.info("duplicate delivery dropped", extra={"key": inc.dedup_key})
        metrics.note_duplicate(inc.channel)
        return []
    ctx.user, ctx.status, ctx.write_behind = sender.user, sender.status, True
    ctx.sent_this_minute = sender.sent_this_minute
    if sender.state is not None:
        ctx.state, ctx.state_data = sender.state
    replies = await nxt(ctx)
    if not ctx.forgotten:
        # Before the replies go out: what a reply says was kept must be stored when the user reads it.
        await store.depart(Departure(ctx.user.id, (ctx.state, ctx.state_data) if ctx.state else None,
                                     ctx.state_changed, ctx.notice_shown))
    return replies


async def rate_limit(ctx: Context, nxt: Next) -> list[Reply]:
    """More than SHEGONG_RATE_MESSAGES_PER_MINUTE messages from one sender in a minute: the first one over
    gets one polite notice, the rest of that minute nothing (not answered, not relayed in a handoff).
    Intake counts them in the database, with the sender's upsert, so the limit holds for all processes
    together; a platform's redeliveries are not counted."""
    inc = ctx.incoming
    limit = ctx.services.settings.rate_messages_per_minute
    sent = ctx.sent_this_minute
    if sent <= limit:
        return await nxt(ctx)
    if sent == limit + 1:
        log.info("sender over the message rate", extra={"channel": inc.channel})
        return [Reply(RATE_NOTICE)]
    return []


def too_long(text: str) -> Reply | None:
    """The answer to a message longer than anyone reads in one go (None when it is not)."""
    if len(text) <= MAX_TEXT_CHARS:
        return None
    return Reply(f"您的消息有 {len(text)} 个字，太长了，我一次最多能看 {MAX_TEXT_CHARS} 字。"
                 "请用一两句话说明想问的事情，或分几条发送。")


def _is_only_symbols(text: str) -> bool:
    # Emoji, punctuation and spaces only: nothing we could look up.
    return all(unicodedata.category(ch)[0] in "SPZC" for ch in text)


async def input_guard(ctx: Context, nxt: Next) -> list[Reply]:
    """Empty, symbol-only and overlong text gets a clear answer instead of a search."""
    inc = ctx.incoming
    if inc.event or inc.attachments or inc.is_button:
        return await nxt(ctx)
    if not ctx.text:
        return [Reply("您发来的是空消息。请直接输入想问的问题，例如：低保怎么申请？发送“帮助”查看我能做什么。")]
    if _is_only_symbols(ctx.text):
        return [Reply("收到您的表情啦 😊 请用文字告诉我想了解什么，例如：高龄津贴怎么领？")]
    if (refusal := too_long(ctx.text)) is not None:
        return [refusal]
    return await nxt(ctx)

