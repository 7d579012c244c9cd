"""Assessment and visit reminders: rules as data, due dates computed from each case's history, one digest
per worker per working morning through the outbox, escalation of long-overdue items to station leads.

rules.py     load and validate handlers/reminders/data/*.yaml (and station overrides)
due.py       due dates from registration, matching visits and "完成" replies
(handlers/common/calendar.py: working days, holidays and 调休, shared with handoff)
dispatch.py  one pass: digests and escalations, each queued exactly once
render.py    the texts
loop.py      the loop inside `shegong serve`, and `run-once`
"""

from handlers.reminders.due import DueItem, compute_due
from handlers.reminders.rules import RuleBook, RulesError, current_rulebook, load_rulebook

__all__ = ["DueItem", "RuleBook", "RulesError", "compute_due", "current_rulebook", "load_rulebook"]

# The feature (after the re-exports above, which the router and loop import).
from bot.features import Feature  # noqa: E402
from bot.routing import Router  # noqa: E402
from handlers.common.roles import for_non_workers  # noqa: E402
from handlers.reminders import router as lists  # noqa: E402
from handlers.reminders.loop import reminder_hook  # noqa: E402

router = Router("reminders")
router.include_routers(lists.router, for_non_workers("reminders.guests", lists.WORKER_ONLY))
FEATURE = Feature("reminders", router, background=(reminder_hook,))
