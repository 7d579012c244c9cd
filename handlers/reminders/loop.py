"""The reminder loop inside `shegong serve`, and the single pass behind `shegong reminders run-once`.

Every process runs the loop. Once a day's pass has completed in any process, a shared marker tells the
others to skip it (a pass over a large database is not free); a lease keeps two processes from doing the
same pass at the same time, and expires if its holder dies, so a crashed pass is redone. Correctness does
not depend on either: the pass itself queues each digest and escalation once.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta

from aiohttp import web

from bot.background import BackgroundLoop
from bot.channels.base import Channel
from bot.outbox import OutboxSender
from bot.services import Services
from handlers.reminders.dispatch import DispatchReport, ReminderDispatcher
from handlers.reminders.rules import current_rulebook
from handlers.reminders.settings import ReminderSettings

log = logging.getLogger(__name__)

LEASE_KEY = "reminders:pass"
LEASE_TTL = timedelta(minutes=15)


def done_key(day: str) -> str:
    return f"reminders:done:{day}"


def make_dispatcher(services: Services, channels: Mapping[str, object],
                    settings: ReminderSettings | None = None) -> ReminderDispatcher:
    settings = settings or ReminderSettings()
    return ReminderDispatcher(services.store, current_rulebook(settings.rules_dir), channels.keys(),
                              window=settings.window, wechat_window=settings.wechat_window)


class ReminderLoop(BackgroundLoop):
    name = "reminders"

    def __init__(self, services: Services, channels: Mapping[str, object], settings: ReminderSettings | None = None,
                 outbox: OutboxSender | None = None) -> None:
        settings = settings or ReminderSettings()
        # The first pass waits one poll: a process that starts and stops at once (a deploy check, a test
        # server) sends nothing, and a restart delays the morning digest by a minute at most.
        super().__init__(settings.poll_seconds)
        self.services = services
        self.channels = channels
        self.settings = settings
        self.outbox = outbox
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._done_day = ""

    async def tick(self) -> DispatchReport | None:
        """Run today's pass if it is due and no process has completed it; the report, or None if skipped."""
        store = self.services.store
        now = self.services.clock.now()
        dispatcher = make_dispatcher(self.services, self.channels, self.settings)
        day = now.astimezone(store.tz).date().isoformat()
        if self._done_day == day or dispatcher.why_not(now):
            return None
        if await store.get_shared(done_key(day)) is not None:
            self._done_day = day
            return None
        if not await store.take_lease(LEASE_KEY, self.holder, LEASE_TTL):
            return None  # another process is on it; if it dies, its lease runs out and we take over
        try:
            report = await dispatcher.run(now)
            await store.put_shared(done_key(day), self.holder, now + timedelta(days=3))
            self._done_day = day
        finally:
            await store.release_lease(LEASE_KEY, self.holder)
        if report.queued:
            self.services.wake_outbox()
        return report

def reminder_hook(services: Services, channels: Mapping[str, Channel]
                  ) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context: starts the loop with the app, stops it (gracefully) before the outbox."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        settings = ReminderSettings()
        if not settings.enabled:
            log.info("reminders disabled (SHEGONG_REMINDER_ENABLED=false)")
            yield
            return
        current_rulebook(settings.rules_dir)  # a broken rules file stops the start, with its file and line
        async for _ in ReminderLoop(services, channels, settings).cleanup_context()(app):
            yield

    return run


async def run_once(services: Services, channels: Mapping[str, Channel], now: datetime,
                   settings: ReminderSettings | None = None) -> tuple[DispatchReport, int]:
    """One pass at `now`, then deliver what is due in the outbox through `channels` (cron users and tests).
    Returns the pass's report and how many outbox messages this process handled."""
    report = await make_dispatcher(services, channels, settings).run(now)
    if not report.skipped:  # the serve loops need not redo today's pass
        day = report.day.isoformat()
        await services.store.put_shared(done_key(day), "run-once", now + timedelta(days=3))
    sender = OutboxSender(services.store, channels)
    handled = await sender.run_once()
    return report, handled
