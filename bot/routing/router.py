"""Routers: handlers tried in registration order, then included routers, behind the router's own filters."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.messages import Reply
from bot.routing.context import Context, HandlerResult
from bot.routing.filters import Filter
from bot.routing.states import State, StatesGroup

HandlerFn = Callable[..., Awaitable[HandlerResult]]
# Runs when one of a router's handlers took a message, before it is called: a reply here answers instead.
Guard = Callable[[Context], Awaitable[HandlerResult]]
ANY_STATE = object()
StateSpec = object  # ANY_STATE, None (no dialog open), a State, a StatesGroup subclass, or a sequence of States


class SkipHandler(Exception):
    """Raised by a handler that looked closer and does not want the message: routing goes on after it."""


async def check(filters: Sequence[Filter], ctx: Context) -> dict[str, Any] | None:
    """Run filters in order; None when one rejects, else the data they returned, merged."""
    data: dict[str, Any] = {}
    for f in filters:
        result = f(ctx)
        if inspect.isawaitable(result):
            result = await result
        if not result:
            return None
        if isinstance(result, dict):
            data.update(result)
    return data


def _state_matches(spec: StateSpec, state: str | None) -> bool:
    if spec is ANY_STATE:
        return True
    if spec is None:
        return state is None
    if isinstance(spec, State):
        return spec.matches(state)
    if isinstance(spec, type) and issubclass(spec, StatesGroup):
        return spec.contains(state)
    if isinstance(spec, (tuple, list)):
        return any(_state_matches(s, state) for s in spec)
    raise TypeError(f"unsupported state filter: {spec!r}")


@dataclass(frozen=True)
class Handler:
    fn: HandlerFn
    filters: tuple[Filter, ...]
    state: StateSpec
    wants: tuple[str, ...]  # keyword parameters the handler takes from filter data

    async def match(self, ctx: Context) -> dict[str, Any] | None:
        if not _state_matches(self.state, ctx.state):
            return None
        return await check(self.filters, ctx)

    async def call(self, ctx: Context, data: dict[str, Any]) -> HandlerResult:
        return await self.fn(ctx, **{name: data[name] for name in self.wants if name in data})


def _keyword_parameters(fn: HandlerFn) -> tuple[str, ...]:
    params = list(inspect.signature(fn).parameters.values())[1:]  # the first is the context
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


class Router:
    """A feature's handlers. Router-level `filters` run first: when they reject the message, none of this
    router's handlers or included routers see it and routing goes on with the next router. A `guard` runs
    once a handler of this router (not of an included one) has taken the message, and may answer instead."""

    def __init__(self, name: str, *filters: Filter, guard: Guard | None = None) -> None:
        self.name = name
        self.filters = filters
        self.guard = guard
        self.handlers: list[Handler] = []
        self.children: list[Router] = []

    def message(self, *filters: Filter, state: StateSpec = ANY_STATE) -> Callable[[HandlerFn], HandlerFn]:
        def register(fn: HandlerFn) -> HandlerFn:
            self.handlers.append(Handler(fn, filters, state, _keyword_parameters(fn)))
            return fn

        return register

    def include_router(self, router: Router, first: bool = False) -> Router:
        """Try `router` after this one's handlers and earlier included routers (before them with `first`)."""
        if router is self or router in self.children:
            raise ValueError(f"router {router.name!r} is already included in {self.name!r}")
        self.children.insert(0 if first else len(self.children), router)
        return router

    def include_routers(self, *routers: Router) -> None:
        for router in routers:
            self.include_router(router)

    async def route(self, ctx: Context, inherited: dict[str, Any] | None = None) -> list[Reply] | None:
        """The replies of the first handler that takes the message, or None when none does."""
        own = await check(self.filters, ctx)
        if own is None:
            return None
        data = {**(inherited or {}), **own}
        for handler in self.handlers:
            found = await handler.match(ctx)
            if found is None:
                continue
            if self.guard is not None and (refused := await self.guard(ctx)) is not None:
                return as_replies(refused)
            try:
                return as_replies(await handler.call(ctx, {**data, **found}))
            except SkipHandler:
                continue
        for child in self.children:
            replies = await child.route(ctx, data)
            if replies is not None:
                return replies
        return None


def as_replies(result: HandlerResult) -> list[Reply]:
    if result is None:
        return []
    if isinstance(result, str):
        return [Reply(result)]
    if isinstance(result, Reply):
        return [result]
    return list(result)
