"""The reminders feature as the engine sees it."""

from bot.features import Feature
from bot.routing import Router
from handlers.common.roles import for_non_workers
from handlers.reminders import models
from handlers.reminders import router as lists
from handlers.reminders.admin import add_commands
from handlers.reminders.loop import reminder_hook

router = Router("reminders")
router.include_routers(lists.router, for_non_workers("reminders.guests", lists.WORKER_ONLY))
FEATURE = Feature("reminders", router, background=(reminder_hook,), commands=add_commands, models=(models,))
