"""Knowledge-base drafts from answered tickets: `收录 N` by a worker, `发布 M` by a lead."""

from bot.features import Feature
from handlers.kb_drafts.router import router

FEATURE = Feature("kb_drafts", router)
