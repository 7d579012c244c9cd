"""What a feature package hands the engine: its router, middlewares, background work, HTTP routes and
CLI commands.

`handlers.FEATURES` lists one `Feature` per package, in routing order; the wiring (`bot.app`) and the server
read that list, so the engine itself names no feature.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

from aiohttp import web

from bot.channels.base import Channel
from bot.routing import Middleware, Router
from bot.services import Services

# An aiohttp cleanup context: starts a feature's loop with the server and stops it on shutdown.
BackgroundHook = Callable[[Services, Mapping[str, Channel]], Callable[[web.Application], AsyncIterator[None]]]
# HTTP routes a feature serves (mounted by bot.server.create_app), given the services.
RoutesHook = Callable[[Services], list[web.AbstractRouteDef]]


@dataclass(frozen=True)
class Feature:
    name: str
    router: Router
    # Run for every message after intake and before the input checks, in FEATURES order.
    middlewares: tuple[Middleware, ...] = ()
    background: tuple[BackgroundHook, ...] = ()
    # Adds the feature's `shegong` sub-commands to the command line's sub-parsers.
    commands: Callable[[argparse._SubParsersAction], None] | None = None
    routes: tuple[RoutesHook, ...] = ()
    # Its `models` module (the tables only this feature uses): the migrations environment and the schema test
    # take every table from the shared models and these.
    models: tuple[ModuleType, ...] = ()
