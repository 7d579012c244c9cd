"""What the casework handlers share: only bound workers get case data, local time, masked display."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone, tzinfo

from bot.dispatch import Context, HandlerFn, HandlerResult
from bot.messages import Button, Reply
from bot.store import WorkerRecord
from bot.trust import casework_refusal
from handlers.visit_parser import SHANGHAI

ROLE_NAMES = {"worker": "社工", "lead": "站长", "admin": "管理员"}
NOT_A_WORKER = ("这是社工专用功能，只对已绑定的社工开放。\n"
                "· 如果您是社工：请向站长索取绑定码，发送“绑定 绑定码”。\n"
                "· 如果您需要帮助：请联系所在镇（街）社工站或村（居）社工点，也可以拨打 12345 政务服务热线。")
WorkerFn = Callable[[Context, WorkerRecord], Awaitable[HandlerResult]]


def for_workers(fallback: HandlerFn | None = None) -> Callable[[WorkerFn], HandlerFn]:
    """Run the handler with the sender's worker record, loaded once per message. Anyone else gets no case
    data: the `fallback` handler (e.g. policy questions) when given, else how to reach the station."""

    def wrap(fn: WorkerFn) -> HandlerFn:
        @functools.wraps(fn)
        async def run(ctx: Context) -> HandlerResult:
            # Group chats and unauthenticated senders never reach worker features (bot/trust.py); a sender
            # the platform did not authenticate is nobody's worker, whatever id it claims.
            refusal = casework_refusal(ctx.incoming)
            verified = ctx.incoming.sender_verified
            worker = await ctx.services.store.worker_for_user(ctx.user.id) if ctx.user and verified else None
            if worker is not None:
                return Reply(refusal) if refusal else await fn(ctx, worker)
            if verified and ctx.state and ctx.state.startswith("visit:"):
                await ctx.clear_state()  # unbound in the middle of a report
            if fallback is not None:
                return await fallback(ctx)
            return Reply(refusal) if refusal else Reply(NOT_A_WORKER, buttons=[Button("找社工")])

        return run

    return wrap


async def policy_fallback(ctx: Context) -> HandlerResult:
    """What anyone else gets for a message a worker would mean as casework: the policy answer."""
    from handlers import policy_qa

    if ctx.text:
        return await policy_qa.answer_question(ctx)
    return await policy_qa.not_text(ctx)


@functools.lru_cache(maxsize=4)
def _zone(name: str) -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - unknown name or no tz database
        return SHANGHAI


def local_tz(ctx: Context) -> tzinfo:
    return _zone(ctx.services.settings.timezone)


def month_start(now: datetime, tz: tzinfo) -> datetime:
    """The first instant of `now`'s month in local time, as UTC."""
    local = now.astimezone(tz)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return first.astimezone(timezone.utc)


def month_bounds(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """This local month as [start, end) in UTC."""
    local = now.astimezone(tz)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    return first.astimezone(timezone.utc), following.astimezone(timezone.utc)


def actor(worker: WorkerRecord) -> str:
    return f"worker:{worker.id}"


def names_list(names: list[str], limit: int = 20) -> str:
    shown = "、".join(names[:limit])
    return shown + (f" 等 {len(names)} 人" if len(names) > limit else "")
