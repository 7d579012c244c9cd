"""Outbox and shared-value queries, mixed into Store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update

from bot.store.database import affected
from bot.store.models import KeyValue, OutboxMessage, RateEvent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.clock import Clock


# A notice for someone no configured channel reaches: kept (status "held", never claimed by a sender) under
# chat_id "worker:<id>" and shown with the reply to that person's next message on any channel.
HELD = "held"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    channel: str
    chat_id: str
    payload: dict[str, Any]
    attempts: int  # including the current one


class OutboxQueries:
    session: async_sessionmaker[AsyncSession]
    clock: Clock

    def insert(self, table: Any) -> Any: ...  # the dialect's INSERT, provided by Store

    async def enqueue(self, channel: str, chat_id: str, payload: dict[str, Any], dedup_key: str | None = None,
                      session: AsyncSession | None = None) -> bool:
        """Queue a push. With `session`, it commits together with the caller's change. Returns False when
        a message with the same dedup_key was queued before."""
        now = self.clock.now()
        stmt = self.insert(OutboxMessage).values(
            channel=channel, chat_id=chat_id, payload=payload, dedup_key=dedup_key,
            status=HELD if channel == HELD else "pending",
            attempts=0, available_at=now, created_at=now, last_error="",
        ).on_conflict_do_nothing()
        if session is not None:
            return affected(await session.execute(stmt)) == 1
        async with self.session.begin() as s:
            return affected(await s.execute(stmt)) == 1

    async def claim_outbox(self, limit: int, lease: timedelta) -> list[OutboxItem]:
        """Take up to `limit` due messages for this process: no other process gets them until the lease
        runs out (then a crashed sender's messages are retried)."""
        now = self.clock.now()
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.available_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serialises writers instead
        )
        stmt = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(available_at=now + lease, attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage.id, OutboxMessage.channel, OutboxMessage.chat_id, OutboxMessage.payload,
                       OutboxMessage.attempts)
        )
        async with self.session.begin() as s:
            rows = (await s.execute(stmt)).all()
        return sorted((OutboxItem(*row) for row in rows), key=lambda i: i.id)

    async def take_held(self, chat_id: str) -> list[dict[str, Any]]:
        """The notices held for this person, oldest first, marked sent in the same statement (so that two
        processes never both show one)."""
        stmt = (update(OutboxMessage)
                .where(OutboxMessage.channel == HELD, OutboxMessage.chat_id == chat_id, OutboxMessage.status == HELD)
                .values(status="sent", sent_at=self.clock.now())
                .returning(OutboxMessage.id, OutboxMessage.payload))
        async with self.session.begin() as s:
            rows = (await s.execute(stmt)).all()
        return [payload for _id, payload in sorted(rows, key=lambda r: r[0])]

    async def retry_later(self, item_id: int, error: str, delay: timedelta) -> None:
        async with self.session.begin() as s:
            await s.execute(update(OutboxMessage).where(OutboxMessage.id == item_id)
                            .values(available_at=self.clock.now() + delay, last_error=error[:500]))

    async def mark_failed(self, item_id: int, error: str) -> None:
        async with self.session.begin() as s:
            await s.execute(update(OutboxMessage).where(OutboxMessage.id == item_id)
                            .values(status="failed", last_error=error[:500]))

    async def outbox_counts(self) -> dict[str, int]:
        async with self.session() as s:
            rows = (await s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all()
            return {status: n for status, n in rows}

    # -- shared values ----------------------------------------------------------------------
    async def get_shared(self, key: str) -> str | None:
        """A value still valid now, or None."""
        async with self.session() as s:
            row = await s.get(KeyValue, key)
            if row is None:
                return None
            expires = row.expires_at
            if expires is not None and _aware(expires) <= self.clock.now():
                return None
            return row.value

    async def take_lease(self, key: str, holder: str, ttl: timedelta) -> bool:
        """Take a named lease unless another holder's is still running: a cross-process lock that cannot
        be held forever by a crashed process."""
        now = self.clock.now()
        async with self.session.begin() as s:
            stmt = self.insert(KeyValue).values(key=key, value=holder, expires_at=now + ttl)
            stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": holder, "expires_at": now + ttl},
                                              where=KeyValue.expires_at <= now)
            return affected(await s.execute(stmt)) == 1

    async def release_lease(self, key: str, holder: str) -> None:
        async with self.session.begin() as s:
            await s.execute(delete(KeyValue).where(KeyValue.key == key, KeyValue.value == holder))

    async def put_shared(self, key: str, value: str, expires_at: datetime | None) -> None:
        async with self.session.begin() as s:
            stmt = self.insert(KeyValue).values(key=key, value=value, expires_at=expires_at)
            await s.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                                       set_={"value": value, "expires_at": expires_at}))


class RateQueries:
    """Counters for rate limits that must hold across processes (stored events in a sliding window)."""

    session: async_sessionmaker[AsyncSession]
    clock: Clock

    async def recent_events(self, keys: list[str], window: timedelta) -> dict[str, int]:
        """How many events each key had in the last `window` (0 for none)."""
        since = self.clock.now() - window
        async with self.session() as s:
            rows = (await s.execute(select(RateEvent.key, func.count()).where(
                RateEvent.key.in_(keys), RateEvent.at > since).group_by(RateEvent.key))).all()
        found = {key: n for key, n in rows}
        return {key: found.get(key, 0) for key in keys}

    async def note_event(self, keys: list[str]) -> None:
        now = self.clock.now()
        async with self.session.begin() as s:
            s.add_all([RateEvent(key=key[:100], at=now) for key in keys])

    async def forget_events_before(self, cutoff: datetime) -> int:
        async with self.session.begin() as s:
            return affected(await s.execute(delete(RateEvent).where(RateEvent.at < cutoff)))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
