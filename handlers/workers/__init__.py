"""Worker accounts in chat: `绑定 CODE` links a chat identity to the worker an invite was made for."""

from bot.features import Feature
from handlers.workers.router import router

FEATURE = Feature("workers", router)
