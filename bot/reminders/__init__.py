"""Assessment and visit reminders: rules as data, due dates computed from each case's history, one digest
per worker per working morning through the outbox, escalation of long-overdue items to station leads.

rules.py     load and validate knowledge/rules/*.yaml (and station overrides)
due.py       due dates from registration, matching visits and "完成" replies
calendar.py  working days (holidays, 调休) and the send window
dispatch.py  one pass: digests and escalations, each queued exactly once
render.py    the texts
loop.py      the loop inside `shegong serve`, and `run-once`
"""

from bot.reminders.due import DueItem, compute_due
from bot.reminders.rules import RuleBook, RulesError, current_rulebook, load_rulebook

__all__ = ["DueItem", "RuleBook", "RulesError", "compute_due", "current_rulebook", "load_rulebook"]
