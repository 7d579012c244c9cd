"""Home-visit casework for bound workers: visit reports, their queries, and the notice for everyone else."""

from bot.features import Feature
from bot.routing import Router
from handlers.casework import queries, visits
from handlers.common.roles import for_non_workers

router = Router("casework")
router.include_routers(visits.router, queries.router,
                       for_non_workers("casework.guests", visits.WORKER_ONLY + queries.WORKER_ONLY,
                                       forms=(visits.VisitForm,)))
FEATURE = Feature("casework", router)
