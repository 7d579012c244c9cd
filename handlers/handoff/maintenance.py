"""Housekeeping inside `shegong serve`, and `shegong privacy purge`.

Every minute: refresh the open-ticket gauge from the database. Every hour: purge conversation logs older
than the retention period (SHEGONG_RETENTION_DAYS) and close tickets nobody touched for a week. The purge
is idempotent, so several processes may run it; a lease only saves them the duplicate work.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from bot import metrics
from bot.background import BackgroundLoop
from bot.channels.base import Channel
from bot.config import Settings
from bot.services import Services
from bot.store import Store
from bot.store.connect import open_store
from handlers.handoff.store import HandoffStore
from handlers.privacy.store import PrivacyStore

log = logging.getLogger(__name__)

STALE_DAYS = 7  # an open ticket nobody wrote on for this long is closed
PURGE_EVERY = timedelta(hours=1)
LEASE_KEY = "privacy:purge"
SEEN_MESSAGE_DAYS = 7
LEASE_TTL = timedelta(minutes=10)


async def purge(store: Store, retention_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete conversation logs older than the retention period; counts per kind."""
    now = now or store.clock.now()
    counts = await PrivacyStore.of(store).purge_before(now - timedelta(days=retention_days))
    counts["stale_tickets"] = await HandoffStore.of(store).close_stale_tickets(now - timedelta(days=STALE_DAYS))
    # Platforms redeliver within minutes; keeping message ids longer only risks dropping new messages
    # when a platform's ids start over (e.g. a new Telegram bot token).
    counts["seen_messages"] += await store.forget_seen_before(now - timedelta(days=SEEN_MESSAGE_DAYS))
    # Rate-limit windows are minutes to an hour long: a day-old event limits nothing.
    counts["rate_events"] = await store.forget_events_before(now - timedelta(days=1))
    return counts


async def refresh_gauges(store: Store) -> None:
    counts = await HandoffStore.of(store).open_ticket_counts()
    metrics.TICKETS_OPEN.replace({(name,): float(n) for name, n in counts.items()})


class MaintenanceLoop(BackgroundLoop):
    name = "maintenance"

    def __init__(self, store: Store, retention_days: int, tick_seconds: float = 60.0) -> None:
        super().__init__(tick_seconds)
        self.store, self.retention_days = store, retention_days
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._last_purge: datetime | None = None

    async def tick(self) -> dict[str, int] | None:
        """One pass; the purge counts when a purge ran."""
        await refresh_gauges(self.store)
        now = self.store.clock.now()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return None
        if not await self.store.take_lease(LEASE_KEY, self.holder, LEASE_TTL):
            return None
        try:
            counts = await purge(self.store, self.retention_days, now)
        finally:
            await self.store.release_lease(LEASE_KEY, self.holder)
        self._last_purge = now
        if any(counts.values()):
            log.info("retention purge", extra=counts)
        return counts

    async def started(self) -> None:
        """The gauge at once (a read); the first purge one tick after start, out of start-up's way."""
        await refresh_gauges(self.store)


def maintenance_hook(
    services: Services, channels: Mapping[str, Channel]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context running the loop for the life of the server."""

    return MaintenanceLoop(services.store, services.settings.retention_days).cleanup_context()


PURGE_NAMES = {
    "ticket_messages": "工单消息",
    "tickets": "工单内容",
    "outbox": "已发送的推送",
    "conversation_states": "对话进度",
    "seen_messages": "消息去重记录",
    "kb_drafts": "未发布的知识库草稿",
    "stale_tickets": "久未处理而关闭的工单",
    "idle_users": "久未联系的居民身份记录",
}


async def purge_command(settings: Settings, now_iso: str | None = None) -> int:
    """`shegong privacy purge [--now ISO]`."""
    now = None
    if now_iso:
        try:
            now = datetime.fromisoformat(now_iso)
        except ValueError as exc:
            raise SystemExit(f"--now 应为 ISO 时间，例如 2026-12-01T00:00:00+08:00（收到：{now_iso}）") from exc
        if now.tzinfo is None:
            now = now.replace(tzinfo=ZoneInfo(settings.timezone))
    store = await open_store(settings)
    try:
        counts = await purge(store, settings.retention_days, now)
    finally:
        await store.close()
    print(
        f"已删除超过 {settings.retention_days} 天的对话记录："
        + "，".join(f"{PURGE_NAMES.get(k, k)} {n}" for k, n in counts.items())
    )
    return 0
