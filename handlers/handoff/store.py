"""Duty, handoff tickets and their messages. Pushes caused by a change (a new ticket's notices, relayed
messages) are queued in the same transaction, with dedup keys starting `handoff:<ticket>:` so deletion finds them."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from bot.pii import mask_id_numbers
from bot.store.casework_models import Station, Worker, WorkerIdentity
from bot.store.casework_records import aware
from bot.store.database import affected
from bot.store.handoff_models import Ticket, TicketMessage
from bot.store.handoff_records import (
    ACTIVE_HOURS,
    ReplyOutcome,
    TicketLine,
    TicketRecord,
    TicketStats,
)
from bot.store.models import User
from handlers.handoff.models import WorkerDuty
from handlers.privacy.store import ticket_key_prefix

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
from bot.store.feature import FeatureStore

Payload = dict[str, Any]
MAX_TEXT = 2000


def _ticket(row: Ticket, station_name: str) -> TicketRecord:
    return TicketRecord(
        row.id,
        row.station_id,
        station_name,
        row.user_id,
        row.channel,
        row.chat_id,
        row.question,
        row.status,
        row.worker_id,
        aware(row.created_at),
        aware(row.last_activity_at),
        aware(row.first_reply_at) if row.first_reply_at else None,
        aware(row.closed_at) if row.closed_at else None,
    )


class HandoffStore(FeatureStore):
    """Tickets' texts (the question, every message) are written with ID numbers masked and encrypted with the
    secret key; the relayed copies in the outbox are masked too, and go when the ticket's texts go."""

    def _record(self, row: Ticket, station_name: str) -> TicketRecord:
        record = _ticket(row, station_name)
        return dataclasses.replace(record, question=self.secrets.open_text(row.question))

    def _seal(self, text: str) -> str:
        return self.secrets.encrypt(mask_id_numbers(text[:MAX_TEXT]))

    def _active_since(self) -> datetime:
        return self.clock.now() - timedelta(hours=ACTIVE_HOURS)

    # -- duty -------------------------------------------------------------------------------
    async def set_duty(self, worker_id: int, on_duty: bool) -> None:
        now = self.clock.now()
        async with self.session.begin() as s:
            stmt = self._insert(WorkerDuty).values(worker_id=worker_id, on_duty=on_duty, changed_at=now)
            await s.execute(
                stmt.on_conflict_do_update(index_elements=["worker_id"], set_={"on_duty": on_duty, "changed_at": now})
            )

    async def on_duty_names(self, station_id: int) -> list[str]:
        async with self.session() as s:
            stmt = (
                select(Worker.name)
                .join(WorkerDuty, WorkerDuty.worker_id == Worker.id)
                .where(Worker.station_id == station_id, WorkerDuty.on_duty.is_(True))
                .order_by(Worker.name)
            )
            return list((await s.execute(stmt)).scalars())

    async def _recipients(
        self, s: AsyncSession, station_id: int, worker_id: int | None = None
    ) -> list[tuple[str, str]]:
        """(channel, chat id) of the given worker, else of the station's on-duty workers (all bound workers
        when nobody is marked on duty)."""
        stmt = (
            select(Worker.id, WorkerDuty.on_duty, User.channel, User.platform_user_id)
            .join(WorkerIdentity, WorkerIdentity.worker_id == Worker.id)
            .join(User, User.id == WorkerIdentity.user_id)
            .outerjoin(WorkerDuty, WorkerDuty.worker_id == Worker.id)
            .where(Worker.station_id == station_id)
        )
        rows = (await s.execute(stmt)).all()
        chosen = [r for r in rows if r.id == worker_id] or [r for r in rows if r.on_duty] or rows
        return sorted({(r.channel, r.platform_user_id) for r in chosen})

    async def _queue(self, s: AsyncSession, targets: list[tuple[str, str]], payload: Payload, key: str) -> int:
        for channel, chat_id in targets:
            await self.store.enqueue(channel, chat_id, payload, f"{key}:{channel}:{chat_id}"[:200], session=s)
        return len(targets)

    # -- tickets ----------------------------------------------------------------------------
    async def open_ticket(
        self, user_id: int, station_id: int, channel: str, chat_id: str, question: str, notice: Callable[[int], Payload]
    ) -> tuple[int, int]:
        """Open a ticket and queue its notice to the on-duty workers; (ticket id, chats notified). An older
        open ticket of the same person is closed as replaced. A station without any bound worker gets no
        ticket: (0, 0), since nobody would read it."""
        now = self.clock.now()
        async with self.session.begin() as s:
            targets = await self._recipients(s, station_id)
            if not targets:
                return 0, 0
            await s.execute(
                update(Ticket)
                .where(Ticket.user_id == user_id, Ticket.status == "open")
                .values(status="closed", closed_at=now, closed_by="replaced")
            )
            row = Ticket(
                station_id=station_id,
                user_id=user_id,
                channel=channel,
                chat_id=chat_id,
                question=self._seal(question),
                status="open",
                created_at=now,
                last_activity_at=now,
                closed_by="",
            )
            s.add(row)
            await s.flush()
            sent = await self._queue(s, targets, notice(row.id), ticket_key_prefix(row.id) + "new")
            return row.id, sent

    async def add_resident_message(self, ticket_id: int, text: str, chat_id: str, key: str, relay: Payload) -> int:
        """Log a resident's message on their ticket and relay it; returns how many chats it went to."""
        async with self.session.begin() as s:
            row = await s.get(Ticket, ticket_id)
            if row is None or row.status != "open":
                return 0
            row.last_activity_at, row.chat_id = self.clock.now(), chat_id
            s.add(
                TicketMessage(
                    ticket_id=ticket_id,
                    sender="resident",
                    worker_id=None,
                    text=self._seal(text),
                    created_at=self.clock.now(),
                )
            )
            targets = await self._recipients(s, row.station_id, row.worker_id)
            return await self._queue(s, targets, relay, f"{ticket_key_prefix(ticket_id)}r:{key}")

    async def worker_reply(
        self,
        ticket_id: int,
        worker_id: int,
        station_id: int,
        text: str,
        key: str,
        payload: Callable[[bool, bool], Payload],
    ) -> ReplyOutcome:
        """A worker's `回复 N …`, relayed to the resident. `payload(first, reactivated)` builds the message."""
        now = self.clock.now()
        async with self.session.begin() as s:
            found = await self._station_ticket(s, ticket_id, station_id)
            if found is None:
                return ReplyOutcome("missing")
            row, name = found
            if row.status != "open" or not row.chat_id:
                return ReplyOutcome("closed", self._record(row, name))
            first = row.first_reply_at is None
            reactivated = aware(row.last_activity_at) < self._active_since()
            seconds = (now - aware(row.created_at)).total_seconds() if first else None
            if first:
                row.first_reply_at = now
            row.worker_id, row.last_activity_at = worker_id, now
            s.add(
                TicketMessage(
                    ticket_id=ticket_id, sender="worker", worker_id=worker_id, text=self._seal(text), created_at=now
                )
            )
            await self._queue(
                s, [(row.channel, row.chat_id)], payload(first, reactivated), f"{ticket_key_prefix(ticket_id)}w:{key}"
            )
            return ReplyOutcome("ok", self._record(row, name), seconds, reactivated)

    async def close_ticket(
        self, ticket_id: int, by: str, station_id: int | None = None, payload: Payload | None = None, key: str = ""
    ) -> ReplyOutcome:
        """Close (`结束 N` by a worker of the station, or the resident leaving). The payload goes to the
        resident when a worker closes, to the worker(s) when the resident does."""
        now = self.clock.now()
        async with self.session.begin() as s:
            found = await (
                self._station_ticket(s, ticket_id, station_id)
                if station_id is not None
                else self._any_ticket(s, ticket_id)
            )
            if found is None:
                return ReplyOutcome("missing")
            row, name = found
            if row.status != "open":
                return ReplyOutcome("closed", self._record(row, name))
            row.status, row.closed_at, row.closed_by = "closed", now, by
            if payload is not None:
                targets = (
                    [(row.channel, row.chat_id)]
                    if by == "worker" and row.chat_id
                    else await self._recipients(s, row.station_id, row.worker_id)
                )
                await self._queue(s, targets, payload, f"{ticket_key_prefix(ticket_id)}end:{key}")
            return ReplyOutcome("ok", self._record(row, name))

    async def _station_ticket(self, s: AsyncSession, ticket_id: int, station_id: int) -> tuple[Ticket, str] | None:
        """The ticket, only if it belongs to this station: another station's ticket does not exist here."""
        stmt = (
            select(Ticket, Station.name)
            .join(Station, Station.id == Ticket.station_id)
            .where(Ticket.id == ticket_id, Ticket.station_id == station_id)
        )
        found = (await s.execute(stmt)).one_or_none()
        return None if found is None else (found[0], found[1])

    async def _any_ticket(self, s: AsyncSession, ticket_id: int) -> tuple[Ticket, str] | None:
        stmt = select(Ticket, Station.name).join(Station, Station.id == Ticket.station_id).where(Ticket.id == ticket_id)
        found = (await s.execute(stmt)).one_or_none()
        return None if found is None else (found[0], found[1])

    async def ticket_view(self, ticket_id: int, station_id: int) -> tuple[TicketRecord, list[TicketLine]] | None:
        async with self.session() as s:
            found = await self._station_ticket(s, ticket_id, station_id)
            if found is None:
                return None
            stmt = (
                select(TicketMessage.sender, Worker.name, TicketMessage.text, TicketMessage.created_at)
                .outerjoin(Worker, Worker.id == TicketMessage.worker_id)
                .where(TicketMessage.ticket_id == ticket_id)
                .order_by(TicketMessage.id)
            )
            lines = [
                TicketLine(sender, name or "", self.secrets.open_text(text), aware(at))
                for sender, name, text, at in (await s.execute(stmt)).all()
            ]
            return self._record(*found), lines

    async def open_tickets(self, station_id: int) -> list[TicketRecord]:
        async with self.session() as s:
            stmt = (
                select(Ticket, Station.name)
                .join(Station, Station.id == Ticket.station_id)
                .where(Ticket.station_id == station_id, Ticket.status == "open")
                .order_by(Ticket.id)
            )
            return [self._record(row, name) for row, name in (await s.execute(stmt)).all()]

    async def ticket_stats(self, since: datetime, station_id: int | None = None) -> list[TicketStats]:
        """Per station: open tickets, those still waiting for a first reply, and for tickets opened since
        `since` how many there were, how many got a reply and the median time to the first reply."""
        where = [] if station_id is None else [Station.id == station_id]
        async with self.session() as s:
            stations = (await s.execute(select(Station.id, Station.name).where(*where).order_by(Station.name))).all()
            rows = (
                await s.execute(
                    select(Ticket.station_id, Ticket.status, Ticket.created_at, Ticket.first_reply_at).where(
                        *([Ticket.station_id == station_id] if station_id else []),
                        (Ticket.status == "open") | (Ticket.created_at >= since),
                    )
                )
            ).all()
        by_station: dict[int, list[Any]] = {}
        for r in rows:
            by_station.setdefault(r.station_id, []).append(r)
        found = []
        for sid, name in stations:
            mine = by_station.get(sid, [])
            recent = [r for r in mine if aware(r.created_at) >= since]
            waits = [
                (aware(r.first_reply_at) - aware(r.created_at)).total_seconds() for r in recent if r.first_reply_at
            ]
            found.append(
                TicketStats(
                    sid,
                    name,
                    sum(r.status == "open" for r in mine),
                    sum(r.status == "open" and r.first_reply_at is None for r in mine),
                    len(recent),
                    len(waits),
                    statistics.median(waits) if waits else None,
                )
            )
        return found

    async def close_stale_tickets(self, before: datetime) -> int:
        async with self.session.begin() as s:
            stmt = (
                update(Ticket)
                .where(Ticket.status == "open", Ticket.last_activity_at < before)
                .values(status="closed", closed_at=self.clock.now(), closed_by="stale")
            )
            return affected(await s.execute(stmt))

    async def open_ticket_counts(self) -> dict[str, int]:
        """Open tickets per station name (every station, zeros included), for /metrics."""
        async with self.session() as s:
            stmt = (
                select(Station.name, func.count(Ticket.id))
                .outerjoin(Ticket, (Ticket.station_id == Station.id) & (Ticket.status == "open"))
                .group_by(Station.id, Station.name)
            )
            return {name: n for name, n in (await s.execute(stmt)).all()}
