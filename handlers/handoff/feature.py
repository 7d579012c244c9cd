"""The handoff feature as the engine sees it: its router, middlewares, background work and commands."""

from bot.features import Feature
from bot.routing import Router
from handlers.handoff import router as requests
from handlers.handoff import tickets
from handlers.handoff.mode import handoff_mode

router = Router("handoff")
router.include_routers(requests.router, tickets.router)
FEATURE = Feature("handoff", router, middlewares=(handoff_mode,))
