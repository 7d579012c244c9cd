"""Reminder settings, read from SHEGONG_REMINDER_* variables (and .env) beside the main Settings."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, SettingsConfigDict

from handlers.common.calendar import SendWindow


class ReminderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHEGONG_REMINDER_", env_file=".env", extra="ignore")

    enabled: bool = True  # false: `shegong serve` sends no reminders (run-once from cron still works)
    send_from: str = "08:30"  # local time (SHEGONG_TIMEZONE) from which the morning digest may go out
    send_until: str = "20:00"
    rules_dir: str = ""  # empty: the built-in handlers/reminders/data
    poll_seconds: float = 60.0
    # WeChat customer-service messages are allowed only this long after the user's last message.
    wechat_window_hours: float = 48.0

    @property
    def window(self) -> SendWindow:
        return SendWindow.parse(self.send_from, self.send_until)

    @property
    def wechat_window(self) -> timedelta:
        return timedelta(hours=self.wechat_window_hours)


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name or "Asia/Shanghai")
