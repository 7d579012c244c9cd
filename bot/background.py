"""One helper for the periodic work inside `shegong serve`: the outbox sender, reminders, maintenance and the
knowledge-base refresh all run as a `BackgroundLoop`.

A loop calls `tick` every `interval` seconds, or sooner when woken. Stopping lets a tick in progress finish its
transaction (work a platform already accepted must be recorded, or it would be redone after the restart) and
cancels it only when that takes longer than the timeout; a cancelled transaction rolls back and the next process
redoes the work. A failing tick is logged and retried at the next one: the database may come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable

from aiohttp import web

log = logging.getLogger(__name__)


class BackgroundLoop(ABC):
    name = "background"

    def __init__(self, interval: float, tick_at_start: bool = False) -> None:
        self.interval = interval
        self.tick_at_start = tick_at_start  # else the first tick waits one interval, out of start-up's way
        self._wake = asyncio.Event()
        self._stopping = False

    @abstractmethod
    async def tick(self) -> object:
        """One pass of the work."""

    async def started(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Runs once before the first tick (e.g. a cheap read that should not wait a whole interval)."""

    def wake(self) -> None:
        """There is work now (queued by this process): do not wait for the rest of the interval."""
        self._wake.set()

    async def run_forever(self) -> None:
        try:
            await self.started()
        except Exception:
            log.exception("%s start failed", self.name)
        first = True
        while not self._stopping:
            if not (first and self.tick_at_start):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
                self._wake.clear()
                if self._stopping:
                    return
            first = False
            try:
                await self.tick()
            except Exception:
                log.exception("%s pass failed", self.name)

    async def stop(self, task: asyncio.Task[None], timeout: float = 10) -> None:
        """Ask `run_forever` to return after the current tick; cancel it only if that takes too long."""
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def cleanup_context(self, timeout: float = 10) -> Callable[[web.Application], AsyncIterator[None]]:
        """The loop as an aiohttp cleanup context: started with the app, stopped (gracefully) on shutdown."""

        async def run(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(self.run_forever())
            yield
            await self.stop(task, timeout)

        return run
