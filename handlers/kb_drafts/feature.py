"""The kb_drafts feature as the engine sees it: its router, middlewares, background work and commands."""

from bot.features import Feature
from handlers.kb_drafts.router import router

FEATURE = Feature("kb_drafts", router)
