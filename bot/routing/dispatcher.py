"""The dispatcher: every Incoming through the middleware chain to the root router."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from bot.messages import Incoming, Reply
from bot.routing.context import Context, Next
from bot.routing.filters import fold_text
from bot.routing.router import Router, as_replies
from bot.services import Services

log = logging.getLogger(__name__)

Middleware = Callable[[Context, Next], Awaitable[list[Reply]]]
APOLOGY = "抱歉，系统刚才出了点问题，请稍后再试。如有急事请联系所在镇（街）社工站或拨打 12345。"

__all__ = ["Dispatcher", "Middleware", "as_replies"]


class Dispatcher:
    def __init__(self, services: Services, routers: Sequence[Router], middlewares: Sequence[Middleware]) -> None:
        self.services = services
        self.root = Router("root")
        self.root.include_routers(*routers)
        self.middlewares = list(middlewares)

    async def handle(self, incoming: Incoming) -> list[Reply]:
        ctx = Context(incoming=incoming, services=self.services, text=fold_text(incoming.text))
        started = time.perf_counter()
        call: Next = self._route
        for mw in reversed(self.middlewares):
            call = _bind(mw, call)
        try:
            return await call(ctx)
        except Exception:
            log.exception("handler failed", extra={"channel": incoming.channel, "message_id": incoming.message_id})
            return [Reply(APOLOGY)]
        finally:
            log.debug("handled %s in %.1f ms", incoming.dedup_key, (time.perf_counter() - started) * 1000)

    async def _route(self, ctx: Context) -> list[Reply]:
        return await self.root.route(ctx) or []


def _bind(mw: Middleware, nxt: Next) -> Next:
    async def call(ctx: Context) -> list[Reply]:
        return await mw(ctx, nxt)

    return call
