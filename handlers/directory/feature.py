"""The directory feature as the engine sees it: its router, middlewares, background work and commands."""

from bot.features import Feature
from bot.routing import Router
from handlers.directory import profile
from handlers.directory import router as stations

router = Router("directory")
router.include_routers(stations.router, profile.router)
FEATURE = Feature("directory", router)
