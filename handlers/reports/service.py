"""One report, everywhere: load the facts of an area and month, add the overdue items at the month's end (the
reminders' due computation), and compute. Chat, web and `shegong report monthly` all call `build_report`."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.store import Store
from handlers.common.area import Area
from handlers.reminders import RuleBook, compute_due, current_rulebook
from handlers.reminders.settings import ReminderSettings
from handlers.reports.categories import ServiceCategories, default_categories
from handlers.reports.monthly import Month, OverdueFact, ReportInput, monthly_report
from handlers.reports.store import report_facts, stations_in


class ReportError(ValueError):
    """The report cannot be made as asked (in Chinese, for the person asking)."""


def reminder_rules() -> RuleBook:
    return current_rulebook(ReminderSettings().rules_dir)


async def build_report(store: Store, area: Area, month: Month, now: datetime, rules: RuleBook | None = None,
                       categories: ServiceCategories | None = None) -> dict[str, object]:
    if month.start(store.tz) > now:
        raise ReportError(f"{month.label}还没有开始")
    stations = await stations_in(store, area)
    if not stations:
        raise ReportError(f"{area.label}还没有登记社工站")
    ids = [s.id for s in stations]
    end = month.shift(1).start(store.tz)
    # Overdue at the month's end, as things stood then (see monthly.py), or today for the current month (the
    # reminders' list as the workers see it).
    past = end <= now
    as_of = month.last_day() if past else now.astimezone(store.tz).date()
    facts, due = await asyncio.gather(
        report_facts(store, stations, month, now),
        compute_due(store, rules or reminder_rules(), as_of, station_ids=ids, at=end if past else None),
    )
    overdue = [OverdueFact(d.station_id, d.worker_id, d.case_id, d.case_name, d.item.name, d.due_date,
                           d.days_overdue) for d in due if d.days_overdue > 0]
    data = ReportInput(area, month, store.tz, now, stations, facts.workers, facts.groups, facts.visit_counts,
                       facts.notes, facts.danger, facts.tickets, overdue, as_of, categories or default_categories())
    return monthly_report(data)
