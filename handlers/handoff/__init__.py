"""Handoff to a social worker: the resident's request, tickets, the workers' replies, and the bot stepping
aside (a middleware) while a person talks."""

from bot.features import Feature
from bot.routing import Router
from handlers.handoff import router as requests
from handlers.handoff import tickets
from handlers.handoff.mode import handoff_mode

router = Router("handoff")
router.include_routers(requests.router, tickets.router)
FEATURE = Feature("handoff", router, middlewares=(handoff_mode,))
