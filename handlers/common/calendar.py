"""Working days (Chinese public holidays and 调休 make-up days) and the daily send window.

The chinese-calendar package knows each year once the State Council has published it and a release followed.
For a year it does not know yet, an administrator copies the published notice into handlers/common/data/holidays.tsv
(format in the file; validated on load, errors name the file and line). Without either, Monday–Friday.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

try:
    import chinese_calendar
except ImportError:  # pragma: no cover - a dependency, but the bot must not die without it
    chinese_calendar = None

HOLIDAYS_FILE = Path(__file__).resolve().parent / "data" / "holidays.tsv"
LOOKAHEAD_DAYS = 60  # `reminders due` warns when a day this close has no holiday data
_DAY = r"\d{4}-\d{2}-\d{2}"
_DAYS = re.compile(rf"({_DAY})(?:\s*[~～]\s*({_DAY}))?")
_KINDS = {"休": False, "班": True}  # kind → is a working day


class HolidaysError(ValueError):
    """The holidays file has a bad line; the message names the file and the line number."""


@dataclass(frozen=True)
class HolidayTable:
    """Days that differ from Monday–Friday, for the years the file covers, and each year's source."""

    days: dict[date, tuple[bool, str]] = field(default_factory=dict)  # day → (working day?, holiday name)
    sources: dict[int, str] = field(default_factory=dict)  # year → the notice it was copied from
    path: Path = HOLIDAYS_FILE


def load_holidays(path: Path = HOLIDAYS_FILE) -> HolidayTable:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise HolidaysError(f"节假日文件 {path}: 不是 UTF-8 编码的文本文件（{exc.reason}）") from None
    except OSError as exc:
        raise HolidaysError(f"读不到节假日文件 {path}：{exc.strerror}") from None
    days: dict[date, tuple[bool, str]] = {}
    lines: dict[date, int] = {}
    sources: dict[int, str] = {}
    first_line: dict[int, int] = {}

    def fail(number: int, message: str) -> HolidaysError:
        return HolidaysError(f"节假日文件 {path}:{number}：{message}")

    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in raw.split("\t")]
        if len(cells) != 3 or not all(cells):
            raise fail(number, "每行应为三列，用 TAB 分隔：日期、休或班、节日名称（或：年份、来源、通知名称）")
        first, kind, name = cells
        if kind == "来源":
            if not re.fullmatch(r"20\d{2}", first):
                raise fail(number, f"来源行的第一列应为年份，如 2027（现在是“{first}”）")
            if int(first) in sources:
                raise fail(number, f"{first} 年的来源写了两次")
            sources[int(first)] = name
            continue
        match = _DAYS.fullmatch(first)
        if match is None:
            raise fail(number, f"日期应写成 2027-01-01 或 2027-02-06~2027-02-12（现在是“{first}”）")
        try:
            start = date.fromisoformat(match.group(1))
            end = date.fromisoformat(match.group(2) or match.group(1))
        except ValueError:
            raise fail(number, f"日期不存在：“{first}”") from None
        if end < start or end.year != start.year or (end - start).days > 15:
            raise fail(number, f"日期段“{first}”不对：应在同一年内、先早后晚，最长 16 天")
        if kind not in _KINDS:
            raise fail(number, f"第二列应为“休”或“班”（现在是“{kind}”）")
        if len(name) > 12:
            raise fail(number, f"节日名称过长：“{name}”")
        day = start
        while day <= end:
            if kind == "班" and day.weekday() < 5:
                raise fail(
                    number,
                    f"{day.isoformat()} 是周{'一二三四五'[day.weekday()]}，本来就上班，调休上班日只能是周六或周日",
                )
            if day in days:
                raise fail(number, f"{day.isoformat()} 在第 {lines[day]} 行已经写过")
            days[day], lines[day] = (_KINDS[kind], name), number
            first_line.setdefault(day.year, number)
            day += timedelta(days=1)
    for year, number in sorted(first_line.items()):
        if year not in sources:
            raise fail(
                number, f"{year} 年没有来源行（{year}<TAB>来源<TAB>国务院办公厅关于{year}年部分节假日安排的通知……）"
            )
    for year in sources:
        if year not in first_line:
            raise HolidaysError(f"节假日文件 {path}：{year} 年只有来源，没有日期")
    return HolidayTable(days, sources, path)


@lru_cache(maxsize=4)
def _cached_holidays(path: str, _mtime: float) -> HolidayTable:
    return load_holidays(Path(path))


def current_holidays(path: Path = HOLIDAYS_FILE) -> HolidayTable:
    """The file, read again when it changed. Raises HolidaysError on a bad line."""
    try:
        stamp = path.stat().st_mtime
    except OSError as exc:
        raise HolidaysError(f"读不到节假日文件 {path}：{exc.strerror}") from None
    return _cached_holidays(str(path), stamp)


def _package_knows(year: int) -> bool:
    if chinese_calendar is None:
        return False
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


class WorkCalendar:
    """Is this a working day in mainland China? The holidays file for the years it covers, else
    chinese_calendar; for a year neither knows we fall back to Monday–Friday and warn once per year, so that
    an old install keeps reminding."""

    def __init__(self, holidays: HolidayTable | None = None) -> None:
        self._warned: set[int] = set()
        if holidays is None:
            try:
                holidays = current_holidays()
            except HolidaysError as exc:  # the bot keeps running; `shegong reminders due|rules` show the error
                log.error("%s", exc)
                holidays = HolidayTable()
        self.holidays = holidays

    def has_data(self, day: date) -> bool:
        return day.year in self.holidays.sources or _package_knows(day.year)

    def missing_years(self, start: date, days: int = LOOKAHEAD_DAYS) -> list[int]:
        """Years between `start` and `days` later that have no holiday data at all."""
        years = range(start.year, (start + timedelta(days=days)).year + 1)
        return [y for y in years if not self.has_data(date(y, 1, 1))]

    def is_workday(self, day: date) -> bool:
        if day.year in self.holidays.sources:
            return self.holidays.days.get(day, (day.weekday() < 5, ""))[0]
        if chinese_calendar is not None:
            try:
                return bool(chinese_calendar.is_workday(day))
            except NotImplementedError:
                pass
        if day.year not in self._warned:
            self._warned.add(day.year)
            log.warning(
                "no holiday data for %d (chinese_calendar nor %s): treating Monday-Friday as working "
                "days; upgrade the chinese-calendar package or add the year to the file",
                day.year,
                self.holidays.path,
            )
        return day.weekday() < 5

    def describe(self, day: date) -> str:
        """Why a day is or is not a working day, in words (for the dry-run view): "国庆节假期", "调休上班日"…"""
        workday = self.is_workday(day)
        name = ""
        if day.year in self.holidays.sources:
            name = self.holidays.days.get(day, (workday, ""))[1]
        elif chinese_calendar is not None:
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
