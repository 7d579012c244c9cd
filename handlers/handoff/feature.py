"""The handoff feature as the engine sees it: its router, the relay middleware, the housekeeping loop (open-ticket
gauge, stale tickets, the retention purge) and `shegong privacy purge`."""

from bot.features import Feature
from bot.routing import Router
from handlers.handoff import admin, models, tickets
from handlers.handoff import router as requests
from handlers.handoff.maintenance import maintenance_hook
from handlers.handoff.mode import handoff_mode

router = Router("handoff")
router.include_routers(requests.router, tickets.router)
FEATURE = Feature("handoff", router, middlewares=(handoff_mode,), background=(maintenance_hook,),
                  commands=admin.add_commands, models=(models,))
