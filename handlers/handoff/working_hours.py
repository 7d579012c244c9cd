"""Station working hours (Mon–Fri 08:30–17:30 local time, public holidays and 调休 days respected) and what
a resident is told about when a person will answer."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Protocol

from handlers.common.calendar import WorkCalendar
from handlers.common.localtime import WEEKDAYS

WORK_START, WORK_END = time(8, 30), time(17, 30)


class Calendar(Protocol):
    def is_workday(self, day: date) -> bool: ...


class WeekdayCalendar:
    def is_workday(self, day: date) -> bool:
        return day.weekday() < 5


def default_calendar() -> Calendar:
    """The holiday-aware calendar the reminders use."""
    return WorkCalendar()


_CALENDAR: Calendar | None = None


def calendar() -> Calendar:
    global _CALENDAR
    if _CALENDAR is None:
        _CALENDAR = default_calendar()
    return _CALENDAR


def in_working_hours(now: datetime, tz: tzinfo, cal: Calendar | None = None) -> bool:
    local = now.astimezone(tz)
    return (cal or calendar()).is_workday(local.date()) and WORK_START <= local.time() < WORK_END


def next_opening(now: datetime, tz: tzinfo, cal: Calendar | None = None) -> datetime:
    """The next time the station opens (later today if it has not opened yet)."""
    cal = cal or calendar()
    local = now.astimezone(tz)
    day = local.date() if local.time() < WORK_START else local.date() + timedelta(days=1)
    for _ in range(40):  # the longest holiday plus weekends is well under this
        if cal.is_workday(day):
            break
        day += timedelta(days=1)
    return datetime.combine(day, WORK_START, tz)


def response_note(now: datetime, tz: tzinfo, cal: Calendar | None = None) -> str:
    if in_working_hours(now, tz, cal):
        return "现在是工作时间（周一至周五 8:30–17:30），社工一般会在 2 小时内回复您。"
    opening = next_opening(now, tz, cal)
    today = now.astimezone(tz).date()
    when = "今天" if opening.date() == today else f"{opening.month}月{opening.day}日（周{WEEKDAYS[opening.weekday()]}）"
    return (f"现在是非工作时间（社工站工作时间：周一至周五 8:30–17:30，节假日除外），"
            f"社工会在{when}上班后回复您。")
