"""Working days (Chinese public holidays and 调休 make-up days) and the daily send window."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time

log = logging.getLogger(__name__)

try:
    import chinese_calendar
except ImportError:  # pragma: no cover - a dependency, but the bot must not die without it
    chinese_calendar = None


class WorkCalendar:
    """Is this a working day in mainland China? chinese_calendar knows each year's holidays and 调休 days once
    the State Council publishes them (usually in November for the next year); for a year it does not know yet
    we fall back to Monday–Friday and warn once per year, so that an old install keeps reminding."""

    def __init__(self) -> None:
        self._warned: set[int] = set()

    def is_workday(self, day: date) -> bool:
        if chinese_calendar is not None:
            try:
                return bool(chinese_calendar.is_workday(day))
            except NotImplementedError:
                pass
        if day.year not in self._warned:
            self._warned.add(day.year)
            log.warning("chinese_calendar has no holiday data for %d: treating Monday-Friday as working days; "
                        "upgrade the chinese-calendar package", day.year)
        return day.weekday() < 5

    def describe(self, day: date) -> str:
        """Why a day is or is not a working day, in words (for the dry-run view): "国庆节假期", "调休上班日"…"""
        workday = self.is_workday(day)
        name = ""
        if chinese_calendar is not None:
            try:
                _, english = chinese_calendar.get_holiday_detail(day)
                name = next((h.chinese for h in chinese_calendar.Holiday if h.value == english), "")
            except NotImplementedError:
                pass
        if workday:
            return f"{name}调休上班日" if day.weekday() >= 5 else "工作日"
        return f"{name}假期" if name else "周末"


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Digests go out only between these local times (default 08:30–20:00): never at 3 a.m."""

    start: time = time(8, 30)
    end: time = time(20, 0)

    def contains(self, local: datetime) -> bool:
        return self.start <= local.time().replace(tzinfo=None) < self.end

    @classmethod
    def parse(cls, start: str, end: str) -> SendWindow:
        try:
            window = cls(time.fromisoformat(start), time.fromisoformat(end))
        except ValueError:
            raise ValueError(f"提醒发送时段应写成 HH:MM，例如 08:30 和 20:00（现在是 {start}、{end}）") from None
        if window.start >= window.end:
            raise ValueError(f"提醒发送时段开始时间应早于结束时间（现在是 {start}–{end}）")
        return window
