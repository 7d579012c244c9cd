"""The casework feature as the engine sees it: its router, middlewares, background work and commands."""

from bot.features import Feature
from bot.routing import Router
from handlers.casework import admin, models, queries, roster_chat, visits
from handlers.casework.held import deliver_held
from handlers.common.roles import for_non_workers

router = Router("casework")
router.include_routers(roster_chat.router, visits.router, queries.router,
                       for_non_workers("casework.guests",
                                       roster_chat.WORKER_ONLY + visits.WORKER_ONLY + queries.WORKER_ONLY,
                                       forms=(visits.VisitForm, roster_chat.RosterForm)))
FEATURE = Feature("casework", router, middlewares=(deliver_held,), commands=admin.add_commands, models=(models,))
