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
