"""Local time for stations: the configured zone, month bounds, and the weekday names used in messages."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.routing import Context

try:
    SHANGHAI: tzinfo = ZoneInfo("Asia/Shanghai")
except ZoneInfoNotFoundError:  # no tz database on the machine: China has no daylight saving time
    SHANGHAI = timezone(timedelta(hours=8), "CST")

WEEKDAYS = "一二三四五六日"  # 周一 … 周日, indexed by date.weekday()


def weekday_name(day: date) -> str:
    """`周三` for a date or datetime."""
    return "周" + WEEKDAYS[day.weekday()]


@functools.lru_cache(maxsize=4)
def zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return SHANGHAI


def local_tz(ctx: Context) -> tzinfo:
    return zone(ctx.services.settings.timezone)


def month_start(now: datetime, tz: tzinfo) -> datetime:
    """The first instant of `now`'s month in local time, as UTC."""
    return month_bounds(now, tz)[0]


def month_bounds(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """This local month as [start, end) in UTC."""
    local = now.astimezone(tz)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    return first.astimezone(UTC), following.astimezone(UTC)


def names_list(names: list[str], limit: int = 20) -> str:
    shown = "、".join(names[:limit])
    return shown + (f" 等 {len(names)} 人" if len(names) > limit else "")
