"""Who the sender is to casework: the `IsWorker` router filter, role names, and the audit actor."""

from __future__ import annotations

from typing import Any

from bot.messages import Button, Reply
from bot.routing import Context, Filter, Router, StatesGroup
from bot.store import WorkerRecord
from bot.trust import casework_refusal

ROLE_NAMES = {"worker": "社工", "lead": "站长", "admin": "管理员", "supervisor": "督导"}
NOT_A_WORKER = ("这是社工专用功能，只对已绑定的社工开放。\n"
                "· 如果您是社工：请向站长索取绑定码，发送“绑定 绑定码”。\n"
                "· 如果您需要帮助：请联系所在镇（街）社工站或村（居）社工点，也可以拨打 12345 政务服务热线。")


def not_a_worker() -> Reply:
    return Reply(NOT_A_WORKER, buttons=[Button("找社工")])


class IsWorker:
    """Router filter: the sender is a bound worker; the handler receives the record as `worker`.

    Intake has already read whether the sender is a worker (`ctx.status`), so for residents this costs
    nothing; the worker's record is loaded only for workers. Anyone else falls through to the next router, and
    so does a sender the channel could not authenticate (bot/trust.py). Routers using it also take
    `guard=private_only`, so a worker in a group chat is told to write privately instead of seeing case data."""

    async def __call__(self, ctx: Context) -> dict[str, Any] | None:
        if ctx.user is None or (ctx.status is not None and not ctx.status.is_worker):
            return None
        if not ctx.incoming.sender_verified:
            return None
        worker = await ctx.services.store.worker_for_user(ctx.user.id)
        return {"worker": worker} if worker is not None else None


async def private_only(ctx: Context) -> Reply | None:
    """Guard for worker routers: casework never answers in a group chat (bot/trust.py)."""
    refusal = casework_refusal(ctx.incoming)
    return Reply(refusal) if refusal else None


def actor(worker: WorkerRecord) -> str:
    return f"worker:{worker.id}"


async def _is_not_worker(ctx: Context) -> bool:
    return await IsWorker()(ctx) is None


async def _refuse(ctx: Context) -> Reply:
    refusal = casework_refusal(ctx.incoming)  # a worker in a group chat, or a sender nobody authenticated
    return Reply(refusal) if refusal else not_a_worker()


def for_non_workers(name: str, commands: tuple[Filter, ...], forms: tuple[type[StatesGroup], ...] = ()) -> Router:
    """The router that answers a non-worker who typed a worker-only command: what the command is for and
    how to reach the station, rather than another feature's guess. A dialog state of `forms` left from an
    earlier binding is cleared the same way."""
    guests = Router(name, _is_not_worker)

    @guests.message(state=forms)
    async def left_form(ctx: Context) -> Reply:
        if ctx.incoming.sender_verified:
            await ctx.clear_state()  # unbound in the middle of a form
        return await _refuse(ctx)

    for command in commands:
        guests.message(command)(_refuse)
    return guests
