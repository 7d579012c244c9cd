"""Durable intake: a message is stored before its webhook acknowledges it, and answered even if the process
that acknowledged it dies.

`accept` claims the message id and stores the message in the `inbox` table in the hot path's group commit
(one shared transaction for everything arriving at once, so it costs a few rows, not a transaction, per
message); only then does the webhook answer 200, and when the database cannot be written it answers 503 so
the platform delivers again. `finish` queues the replies in the outbox and deletes the inbox row in one
transaction. What is left in the inbox was acknowledged and not answered.

Each process holds a lease on the rows it accepted and renews it while it handles them; `run_forever` takes
over rows whose lease ran out (their process died: kill -9, power loss, OOM) on start-up and every third of
a lease, with row locks (SKIP LOCKED on PostgreSQL) so that each goes to one process. Taken-over messages are
handled again from the start; their replies carry the same outbox dedup keys as the first attempt's, so a
reply queued once is never queued twice. The one double this allows is a send already in flight: the outbox
sent a reply and died before marking it sent (bot/outbox.py), or a WeChat passive reply was written and the
process died before queueing the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from bot import metrics
from bot.clock import Clock
from bot.messages import (
    Incoming,
    Reply,
    as_accepted,
    incoming_to_payload,
    payload_to_incoming,
    reply_to_payload,
)
from bot.store import Store
from bot.store.arrivals import Accept, Finish, Push
from bot.store.inbox import Unanswered

log = logging.getLogger(__name__)

# A message that has been taken over this many times (each time its process died or failed on it) is
# dropped with an error in the log instead of taking processes down forever.
MAX_ATTEMPTS = 5
TAKE_OVER_BATCH = 50

Redo = Callable[[Incoming], Awaitable[None]]


def reply_key(incoming: Incoming, n: int) -> str:
    """The outbox dedup key of a message's n-th reply: the same in every attempt and every process."""
    return f"reply:{incoming.channel}:{incoming.message_id}:{n}"


class Inbox:
    def __init__(self, store: Store, clock: Clock, lease: timedelta, wake_outbox: Callable[[], None]) -> None:
        self.store, self.clock, self.lease = store, clock, lease
        self._wake_outbox = wake_outbox
        self.owner = uuid.uuid4().hex  # this process (or this app, in tests running several)
        self._handling: set[str] = set()  # keys accepted here and not finished: their leases are renewed
        self._stopping = asyncio.Event()

    @property
    def handling(self) -> int:
        return len(self._handling)

    async def accept(self, incoming: Incoming) -> Incoming | None:
        """Claim and store the message: it comes back marked accepted, to be handled and then `finish`ed, or
        None for a redelivery of a message taken before (by any process). Raises when the database cannot
        be written; the webhook must then answer with an error status so that the platform retries."""
        if not incoming.message_id:  # no platform id: nothing to deduplicate or to store it under
            return incoming
        key = incoming.dedup_key
        self._handling.add(key)  # before the write: a renewal must not miss it
        try:
            fresh = await self.store.accept(Accept(key, incoming.channel, incoming_to_payload(incoming),
                                                   self.owner, self.clock.now() + self.lease))
        except BaseException:
            self._handling.discard(key)
            raise
        if not fresh:
            self._handling.discard(key)
            log.info("duplicate delivery dropped", extra={"key": key})
            metrics.note_redelivery_refused(incoming.channel)
            return None
        return as_accepted(incoming)

    async def finish(self, incoming: Incoming, replies: list[Reply], first: int = 0) -> None:
        """Queue the replies (numbered from `first`) and take the message out of the inbox, atomically."""
        pushes = tuple(Push(incoming.channel, incoming.chat_id, reply_to_payload(reply), reply_key(incoming, n))
                       for n, reply in enumerate(replies, first))
        key = incoming.dedup_key if incoming.accepted else ""
        await self.store.finish(Finish(key, pushes))
        self._handling.discard(key)
        if pushes:
            self._wake_outbox()

    async def give_back(self, incoming: Incoming) -> None:
        """Handling failed here (the database went away mid-way, a bug): let any process retry it soon."""
        key = incoming.dedup_key
        self._handling.discard(key)
        if incoming.accepted:
            try:
                await self.store.release_inbox(self.owner, key)
            except Exception:  # noqa: BLE001 - the lease runs out by itself, since it is no longer renewed
                log.warning("could not hand back an accepted message; it is retried when its lease runs out")

    # -- the background loop ------------------------------------------------------------------------
    async def run_once(self, redo: Mapping[str, Redo]) -> int:
        """Renew this process's leases, then handle every message whose lease ran out; returns how many."""
        if self._handling:
            await self.store.renew_inbox(self.owner, set(self._handling), self.clock.now() + self.lease)
        handled = 0
        while not self._stopping.is_set() and redo and (
                found := await self.store.take_over_inbox(self.owner, redo.keys(), TAKE_OVER_BATCH, self.lease)):
            log.warning("taking over %d acknowledged message(s) left unanswered", len(found))
            await asyncio.gather(*(self._redo(item, redo) for item in found))
            handled += len(found)
        return handled

    async def _redo(self, item: Unanswered, redo: Mapping[str, Redo]) -> None:
        if item.attempts > MAX_ATTEMPTS:
            log.error("an acknowledged message failed %d times and is dropped unanswered",
                      item.attempts - 1, extra={"key": item.key})
            await self.store.drop_inbox(item.key)
            return
        incoming = payload_to_incoming(item.payload)
        self._handling.add(item.key)
        try:
            await redo[incoming.channel](incoming)
        except Exception:
            log.exception("handling a taken-over message failed", extra={"key": item.key})
            await self.give_back(incoming)
        finally:
            # The channel finished it or gave it back; either way this process stops renewing it.
            self._handling.discard(item.key)

    async def run_forever(self, redo: Mapping[str, Redo]) -> None:
        """On start-up and then every third of a lease, until `stop`."""
        interval = self.lease.total_seconds() / 3
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                await self.run_once(redo)
            except Exception:
                log.exception("inbox pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=interval)

    def stop(self) -> None:
        self._stopping.set()
