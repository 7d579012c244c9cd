"""The reports feature as the engine sees it: its chat router (and the notice for everyone else who types its
commands), the dashboard routes and `shegong report`."""

from bot.features import Feature
from bot.routing import Router
from handlers.common.roles import for_non_workers
from handlers.reports import router as chat
from handlers.reports.admin import add_commands
from handlers.reports.web import routes

router = Router("reports")
router.include_routers(chat.router,
                       for_non_workers("reports.guests", (chat.STATS, chat.COVERAGE, chat.DANGER, chat.DASHBOARD)))
FEATURE = Feature("reports", router, routes=(routes,), commands=add_commands)
