"""The outbox sender: claims due messages, sends them through their channel, marks them sent.

One mechanism for every push gives retries with backoff, rate limits and survival across restarts. Several
processes may run senders on one database; row claims (SKIP LOCKED / leases) keep each message with one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import timedelta

from bot.background import BackgroundLoop
from bot.channels.base import Channel, SendError
from bot.messages import payload_to_reply
from bot.metrics import OUTBOUND_ERRORS, OUTBOUND_SENT
from bot.store import Store
from bot.store.outbox import OutboxItem

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
BATCH = 50


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 2 ** attempts))


class RateLimiter:
    """Token bucket: at most `rate` sends a second on average, short bursts up to `rate`."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.updated = time.monotonic()

    async def wait(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


class OutboxSender(BackgroundLoop):
    name = "outbox"

    def __init__(self, store: Store, channels: Mapping[str, Channel], poll_seconds: float = 1.0,
                 lease: timedelta = LEASE) -> None:
        super().__init__(poll_seconds, tick_at_start=True)
        self.store = store
        self.lease = lease
        self.channels = dict(channels)
        self.poll_seconds = poll_seconds
        self.limits = {name: RateLimiter(ch.rate_per_second) for name, ch in self.channels.items()}
        self.sent = 0
        self.errors = 0

    async def tick(self) -> int:
        return await self.run_once()

    async def run_once(self) -> int:
        """Send everything due now; returns how many were handled."""
        handled = 0
        while items := await self.store.claim_outbox(BATCH, self.lease):
            await asyncio.gather(*(self._deliver(item) for item in items))
            handled += len(items)
        return handled

    async def _deliver(self, item: OutboxItem) -> None:
        channel = self.channels.get(item.channel)
        if channel is None:
            # Another process may have this channel configured; leave it for the lease to hand over.
            await self.store.retry_later(item.id, f"channel {item.channel} not configured here", self.lease)
            return
        await self.limits[item.channel].wait()
        try:
            await channel.send(item.chat_id, payload_to_reply(item.payload))
        except SendError as exc:
            self.errors += 1
            OUTBOUND_ERRORS.inc(channel=item.channel)
            if exc.permanent or item.attempts >= MAX_ATTEMPTS:
                log.warning("push failed for good", extra={"outbox_id": item.id, "channel": item.channel})
                await self.store.mark_failed(item.id, str(exc))
            else:
                delay = timedelta(seconds=exc.retry_after) if exc.retry_after else backoff(item.attempts)
                await self.store.retry_later(item.id, str(exc), delay)
            return
        except Exception as exc:
            self.errors += 1
            OUTBOUND_ERRORS.inc(channel=item.channel)
            log.exception("push raised", extra={"outbox_id": item.id, "channel": item.channel})
            await self.store.retry_later(item.id, repr(exc), backoff(item.attempts))
            return
        await self.store.mark_sent(item.id)
        self.sent += 1
        OUTBOUND_SENT.inc(channel=item.channel)
