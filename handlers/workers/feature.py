"""The workers feature as the engine sees it: its router, middlewares, background work and commands."""

from bot.features import Feature
from handlers.workers import models
from handlers.workers.router import router

FEATURE = Feature("workers", router, models=(models,))
