"""Group commit: requests that arrive while a transaction is running share the next one.

Every message costs the same few statements (claim its id, upsert its sender, read its state; later write
the new state). A transaction costs far more in round trips and driver overhead than the rows it touches,
so under load one transaction per batch instead of per message is what keeps the database off the
critical path. With one request in flight nothing waits: a batch of one starts at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Res = TypeVar("Res")


class GroupCommit(Generic[Req, Res]):
    """Runs `run_batch` on everything submitted while the previous batch ran, one batch at a time.

    `run_batch` gets the requests in submission order and returns one result per request. If a batch fails,
    each of its requests is retried alone, so one bad request cannot fail the others; its own error then
    reaches only its caller."""

    def __init__(self, run_batch: Callable[[Sequence[Req]], Awaitable[Sequence[Res]]], max_batch: int = 200) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._waiting: list[tuple[Req, asyncio.Future[Res]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, request: Req) -> Res:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        if self._runner is not None and self._runner.get_loop() is not loop:
            # A store reused under a new event loop (one asyncio.run per CLI call): whatever the old loop
            # left behind can never be settled there.
            self._runner, self._waiting = None, [w for w in self._waiting if w[1].get_loop() is loop]
        self._waiting.append((request, future))
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._drain())
        # The batch runs in its own task: a caller that is cancelled only cancels its own future (which the
        # batch then leaves alone), never the others' transaction.
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch:]
            try:
                results = await self._run_batch([request for request, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _fail(batch[0][1], exc)
                    continue
                log.warning("a batch of %d failed; retrying its requests one by one", len(batch), exc_info=True)
                for request, future in batch:
                    try:
                        (result,) = await self._run_batch([request])
                    except Exception as exc:  # noqa: BLE001 - handed to the caller waiting on this request
                        _fail(future, exc)
                    else:
                        _settle(future, result)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                _settle(future, result)


def _settle(future: asyncio.Future[Res], result: Res) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
