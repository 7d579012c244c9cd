"""Wiring: settings → store → knowledge → features (handlers.FEATURES) → dispatcher.

The one engine module that names the features' package: everything else in bot/ knows no feature.
"""

from __future__ import annotations

from pathlib import Path

from bot.clock import Clock
from bot.config import Settings
from bot.features import Feature
from bot.knowledge_service import KnowledgeService
from bot.routing import Dispatcher, Middleware
from bot.routing.middlewares import input_guard, intake, measure, rate_limit
from bot.services import Services
from bot.store.connect import open_store
from handlers import FEATURES

__all__ = ["FEATURES", "Services", "build_services", "middlewares_of", "open_store"]


def middlewares_of(features: tuple[Feature, ...]) -> tuple[Middleware, ...]:
    """The chain every message passes: metrics, intake (dedup, sender, state), the rate limit, the features'
    own (handoff relays from there: limited too), input checks."""
    return (measure, intake, rate_limit, *(mw for f in features for mw in f.middlewares), input_guard)


async def build_services(settings: Settings, clock: Clock | None = None, migrate: bool | None = None,
                         features: tuple[Feature, ...] = FEATURES) -> Services:
    clock = clock or Clock()
    store = await open_store(settings, clock, migrate)
    extra = tuple(Path(p.strip()) for p in settings.kb_extra_dirs.split(",") if p.strip())
    knowledge = KnowledgeService(store, builtin=settings.kb_builtin, extra_dirs=extra, exclude=(settings.data_dir,))
    await knowledge.load()
    services = Services(settings, store, knowledge, clock)
    services.dispatcher = Dispatcher(services, [f.router for f in features], middlewares_of(features))
    return services
