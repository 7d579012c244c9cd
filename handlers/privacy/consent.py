"""Privacy notice and consent: the `consent` middleware and what features use to ask for consent.

Runs after identity, which read the sender's status with the user record (worker? notice shown? consented?
handoff open?); it keeps that in a context variable for the handoff middleware and the handlers of this
message, which update it when they change it. A resident's
first message gets the privacy notice appended to the first reply (one message: a WeChat passive reply
carries one); workers are exempt. Nothing beyond the conversation (the 镇街 in the profile, tickets) is
stored before the resident answers `同意`: features call `ask_consent`, and `同意` resumes what they
were doing through the continuation they registered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from bot.messages import Button, Reply
from bot.routing import Context, HandlerResult, Next
from bot.store.handoff_records import ResidentStatus
from handlers.common.texts import URGENT
from handlers.privacy.store import PrivacyStore

# A WeCom self-built app reaches only members of the organisation (staff), not residents: no notice there.
STAFF_CHANNELS = frozenset({"wecom"})
DELETE_WORDS = {"删除我的信息", "删除我的资料", "删除我的数据", "删除个人信息", "删除我的记录", "/delete_my_data"}
WAITING = "consent:wait"  # dialog state: a feature waits for 同意; data {"then": continuation, ...}
Continuation = Callable[[Context, dict[str, Any]], Awaitable[HandlerResult]]
CONTINUATIONS: dict[str, Continuation] = {}

_status: ContextVar[ResidentStatus | None] = ContextVar("shegong_resident_status", default=None)


def notice_text(retention_days: int) -> str:
    return ("【隐私说明】为了回答问题，我会临时保存对话进度（24 小时内有效），并记住您告诉我的所在市。"
            "需要转给社工时，经您同意，还会保存您的镇（街）和给社工的留言，供社工站跟进您的求助。"
            f"对话记录最多保存 {retention_days} 天，到期自动删除；随时发送“删除我的信息”即可删除，"
            "发送“隐私”可再看这段说明。")


def consent_text(retention_days: int) -> str:
    return ("转给社工需要保存您的镇（街）和您的留言，只用于社工站跟进您的求助，"
            f"最多保存 {retention_days} 天，随时发送“删除我的信息”可删除。\n"
            "同意请回复“同意”。不同意也没关系，您仍然可以问我政策问题。\n" + URGENT)


def current() -> ResidentStatus | None:
    """The sender's status for the message being handled (None outside the middleware, e.g. in tests)."""
    return _status.get()


async def status_of(ctx: Context) -> ResidentStatus:
    """The sender's status: from the middleware, or read now (handlers called outside the full chain)."""
    status = _status.get()
    if status is None:
        assert ctx.user is not None
        status = await ctx.services.store.resident_status(ctx.user.id)
    return status


async def has_consented(ctx: Context) -> bool:
    return ctx.user is not None and (await status_of(ctx)).consented


def update_current(**changes: Any) -> None:
    status = _status.get()
    if status is not None:
        _status.set(dataclasses.replace(status, **changes))


def mark_deleted(ctx: Context) -> None:
    """The sender's data was just deleted: write nothing more about them for this message."""
    ctx.forgotten = True


def is_resident(ctx: Context) -> bool:
    """Filter: the sender is not a bound worker."""
    status = _status.get()
    return status is not None and not status.is_worker


def continuation(name: str) -> Callable[[Continuation], Continuation]:
    def register(fn: Continuation) -> Continuation:
        CONTINUATIONS[name] = fn
        return fn

    return register


async def ask_consent(ctx: Context, then: str, data: dict[str, Any] | None = None) -> Reply:
    """Ask for 同意; after it, the continuation `then` runs with `data`."""
    await ctx.set_state(WAITING, {"then": then, **(data or {})})
    days = ctx.services.settings.retention_days
    return Reply(consent_text(days), buttons=[Button("同意"), Button("不同意")])


def with_notice(replies: list[Reply], notice: str) -> list[Reply]:
    if not replies:
        return [Reply(notice)]
    first = replies[0]
    return [dataclasses.replace(first, text=f"{first.text}\n\n{notice}" if first.text else notice), *replies[1:]]


async def consent(ctx: Context, nxt: Next) -> list[Reply]:
    if ctx.user is None:
        return await nxt(ctx)
    store = ctx.services.store
    status = ctx.status or await store.resident_status(ctx.user.id)
    status_token = _status.set(status)
    try:
        replies = await nxt(ctx)
        now_worker = (_status.get() or status).is_worker  # this message may have bound them as a worker
    finally:
        _status.reset(status_token)
    if now_worker or status.notice_at is not None or ctx.forgotten or ctx.incoming.channel in STAFF_CHANNELS:
        return replies
    if ctx.write_behind:
        ctx.notice_shown = True  # written by intake with the message's state
    else:
        await PrivacyStore.of(store).mark_notice_shown(ctx.user.id)
    return with_notice(replies, notice_text(ctx.services.settings.retention_days))
