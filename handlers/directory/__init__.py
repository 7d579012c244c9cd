"""Where the stations are (`社工站在哪`, a shared location) and the resident's own city and 镇街."""

from bot.features import Feature
from bot.routing import Router
from handlers.directory import profile
from handlers.directory import router as stations

router = Router("directory")
router.include_routers(stations.router, profile.router)
FEATURE = Feature("directory", router)
