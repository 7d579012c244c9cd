"""Inbox upkeep, mixed into Store: keeping the leases of messages being handled, and taking over those of a
process that died (accepting and finishing go through the hot path in arrivals.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update

from bot.store.models import InboxMessage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.clock import Clock

# Keys per statement when renewing: a long backlog stays well under every driver's parameter limit.
RENEW_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Unanswered:
    key: str
    payload: dict[str, Any]
    attempts: int  # including this one


class InboxQueries:
    session: async_sessionmaker[AsyncSession]
    clock: Clock

    async def renew_inbox(self, owner: str, keys: Collection[str], until: datetime) -> None:
        """Extend this process's leases on the messages it is still handling."""
        ordered = sorted(keys)
        async with self.session.begin() as s:
            for start in range(0, len(ordered), RENEW_CHUNK):
                await s.execute(update(InboxMessage).where(
                    InboxMessage.key.in_(ordered[start:start + RENEW_CHUNK]), InboxMessage.owner == owner)
                    .values(lease_until=until))

    async def take_over_inbox(self, owner: str, channels: Collection[str], limit: int, lease: timedelta
                              ) -> list[Unanswered]:
        """Messages of `channels` whose handler's lease ran out (it died, or gave up): now this owner's,
        oldest first. Several processes may call this at once: each row goes to one of them."""
        now = self.clock.now()
        due = (select(InboxMessage.key)
               .where(InboxMessage.lease_until <= now, InboxMessage.channel.in_(sorted(channels)))
               .order_by(InboxMessage.accepted_at, InboxMessage.key).limit(limit)
               .with_for_update(skip_locked=True))  # PostgreSQL; SQLite serialises writers instead
        stmt = (update(InboxMessage).where(InboxMessage.key.in_(due.scalar_subquery()))
                .values(owner=owner, lease_until=now + lease, attempts=InboxMessage.attempts + 1)
                .returning(InboxMessage.key, InboxMessage.payload, InboxMessage.attempts, InboxMessage.accepted_at))
        async with self.session.begin() as s:
            rows = (await s.execute(stmt)).all()
        return [Unanswered(key, payload, attempts)
                for key, payload, attempts, _ in sorted(rows, key=lambda r: (r.accepted_at, r.key))]

    async def release_inbox(self, owner: str, key: str) -> None:
        """Hand a message back at once (its handling failed here): the next pass of any process retries it."""
        async with self.session.begin() as s:
            await s.execute(update(InboxMessage).where(InboxMessage.key == key, InboxMessage.owner == owner)
                            .values(lease_until=self.clock.now()))

    async def drop_inbox(self, key: str) -> None:
        """Give up on a message (it failed too often): it stays unanswered, which the log says."""
        async with self.session.begin() as s:
            await s.execute(delete(InboxMessage).where(InboxMessage.key == key))

    async def inbox_count(self) -> int:
        async with self.session() as s:
            return (await s.execute(select(func.count()).select_from(InboxMessage))).scalar_one()
