"""Routers, filters, middlewares and the dispatcher that sends each Incoming to one handler.

A feature module creates a `Router`, registers handlers on it with filters, and is listed once in
`handlers.ROUTERS`. Middlewares wrap every message (dedup and identity, consent, input checks) so that handlers
stay free of `if` chains about those concerns.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.messages import Incoming, Reply
from bot.store import UserRecord
from bot.store.handoff_records import ResidentStatus

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

HandlerResult = Reply | str | list[Reply] | None
HandlerFn = Callable[["Context"], Awaitable[HandlerResult]]


@dataclass
class Context:
    """What a handler gets: the message, its sender, the shared services and the dialog state."""

    incoming: Incoming
    services: Services
    user: UserRecord | None = None
    text: str = ""  # stripped, width-folded text used by filters
    state: str | None = None
    state_data: dict[str, Any] = field(default_factory=dict)
    match: re.Match[str] | None = None
    status: ResidentStatus | None = None  # consent and handoff facts, read with the user at intake
    # Set by intake: state changes are kept here and written with the message's other writes when it
    # leaves (one batched transaction) instead of one transaction each.
    write_behind: bool = False
    state_changed: bool = False
    notice_shown: bool = False  # the privacy notice went out with this message
    forgotten: bool = False  # the sender's data was deleted by this message: write nothing more about them

    async def set_state(self, name: str, data: dict[str, Any] | None = None) -> None:
        assert self.user is not None
        self.state, self.state_data = name, dict(data or {})
        if self.write_behind:
            self.state_changed = True
        else:
            await self.services.store.set_state(self.user.id, name, self.state_data)

    async def clear_state(self) -> None:
        assert self.user is not None
        self.state, self.state_data = None, {}
        if self.write_behind:
            self.state_changed = True
        else:
            await self.services.store.clear_state(self.user.id)


class Filter(Protocol):
    def __call__(self, ctx: Context) -> bool: ...


def fold_text(text: str) -> str:
    """Full-width to half-width and trimmed; what command filters compare against."""
    return unicodedata.normalize("NFKC", text).strip()


class Command:
    """`/name` (Telegram style) or one of the given keywords typed alone."""

    def __init__(self, *names: str, keywords: Iterable[str] = ()) -> None:
        self.names = {n.lower() for n in names}
        self.keywords = set(keywords)

    def __call__(self, ctx: Context) -> bool:
        text = ctx.text
        if text.startswith("/"):
            name = text[1:].split(maxsplit=1)[0].split("@")[0].lower() if len(text) > 1 else ""
            return name in self.names
        return text.rstrip("!！?？。.~ ") in self.keywords


class Regex:
    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)

    def __call__(self, ctx: Context) -> bool:
        ctx.match = self.pattern.search(ctx.text)
        return ctx.match is not None


class Event:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, ctx: Context) -> bool:
        return ctx.incoming.event == self.name


class HasAttachment:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, ctx: Context) -> bool:
        return any(a.kind == self.kind for a in ctx.incoming.attachments)


def has_text(ctx: Context) -> bool:
    return bool(ctx.text)


ANY_STATE = object()


@dataclass(frozen=True)
class Handler:
    fn: HandlerFn
    filters: tuple[Filter, ...]
    state: object  # ANY_STATE, None (no dialog open) or a state name / prefix ending in ":"

    def matches(self, ctx: Context) -> bool:
        if self.state is not ANY_STATE:
            if self.state is None and ctx.state is not None:
                return False
            if isinstance(self.state, str):
                wanted = self.state
                if not ctx.state or not (ctx.state == wanted or (wanted.endswith(":") and ctx.state.startswith(wanted))):
                    return False
        return all(f(ctx) for f in self.filters)


class Router:
    """A feature's handlers, tried in the order they were registered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.handlers: list[Handler] = []

    def message(self, *filters: Filter, state: object = ANY_STATE) -> Callable[[HandlerFn], HandlerFn]:
        def register(fn: HandlerFn) -> HandlerFn:
            self.handlers.append(Handler(fn, filters, state))
            return fn

        return register


Next = Callable[[Context], Awaitable[list[Reply]]]
Middleware = Callable[[Context, Next], Awaitable[list[Reply]]]


def as_replies(result: HandlerResult) -> list[Reply]:
    if result is None:
        return []
    if isinstance(result, str):
        return [Reply(result)]
    if isinstance(result, Reply):
        return [result]
    return list(result)


class Dispatcher:
    def __init__(self, services: Services, routers: Sequence[Router], middlewares: Sequence[Middleware]) -> None:
        self.services = services
        self.routers = list(routers)
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
            return [Reply("抱歉，系统刚才出了点问题，请稍后再试。如有急事请联系所在镇（街）社工站或拨打 12345。")]
        finally:
            log.debug("handled %s in %.1f ms", incoming.dedup_key, (time.perf_counter() - started) * 1000)

    async def _route(self, ctx: Context) -> list[Reply]:
        for router in self.routers:
            for handler in router.handlers:
                if handler.matches(ctx):
                    return as_replies(await handler.fn(ctx))
        return []


def _bind(mw: Middleware, nxt: Next) -> Next:
    async def call(ctx: Context) -> list[Reply]:
        return await mw(ctx, nxt)

    return call
