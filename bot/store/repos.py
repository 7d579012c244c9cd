"""Repositories: each public method is one short transaction, committed before it returns."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql import ColumnElement

from bot.clock import Clock
from bot.crypto import Secrets
from bot.store.arrivals import ArrivalQueries, UserRecord
from bot.store.casework_models import AuditEntry, Station, Worker, WorkerIdentity
from bot.store.casework_records import WorkerRecord, aware
from bot.store.database import affected
from bot.store.handoff_models import ResidentProfile
from bot.store.inbox import InboxQueries
from bot.store.models import (
    ConversationState,
    KbDocument,
    KeyValue,
    OutboxMessage,
    SeenMessage,
    User,
)
from bot.store.outbox import OutboxQueries, RateQueries

__all__ = ["Store", "StoredDocument", "UserRecord"]
V = TypeVar("V")
KEY_FINGERPRINT = "secret_key_fingerprint"
Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredDocument:
    path: str
    title: str
    source: str
    year: str
    region: str
    body: str
    content_hash: str
    sources: tuple[dict[str, str], ...] = ()  # front matter `sources:` entries, text values only
    reviewed: date | None = None
    aliases: tuple[str, ...] = ()
    front_matter: str = ""  # the file's front matter as written, up to the body


def _user(row: User) -> UserRecord:
    return UserRecord(row.id, row.channel, row.platform_user_id, row.display_name, row.city)


class Store(ArrivalQueries, InboxQueries, OutboxQueries, RateQueries):
    """What every message and every feature needs: users, dialog state, documents, the outbox, audit. Features
    keep their own queries in `handlers/<feature>/store.py` (`FeatureStore`), reached with `TheirStore.of(store)`."""

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None, secrets: Secrets | None = None,
                 tz: str = "Asia/Shanghai") -> None:
        self.engine = engine
        self.clock = clock or Clock()
        # Without a configured key (tests, throwaway tools) personal numbers are encrypted with a key that
        # dies with this object; open_store always passes the configured one.
        self.secrets = secrets or Secrets.ephemeral()
        self.tz = ZoneInfo(tz)  # local time for exported dates
        self.session: async_sessionmaker[AsyncSession] = async_sessionmaker(engine, expire_on_commit=False)
        self._views: dict[object, object] = {}
        self._start_group_commit()

    def view(self, cls: Callable[[Store], V]) -> V:
        """The feature store `cls` over this store (made once, then reused)."""
        found = self._views.get(cls)
        if found is None:
            found = self._views[cls] = cls(self)
        return cast(V, found)

    def insert(self, table: Any) -> Any:
        """INSERT for this dialect, with its ON CONFLICT clauses."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def _core(self):
        # A Core transaction: the hot path skips the ORM session's bookkeeping.
        return self.engine.begin()

    @contextlib.asynccontextmanager
    async def _core_lazy(self) -> AsyncIterator[AsyncConnection]:
        """A Core transaction whose commit returns before it reaches the disk (SQLite `synchronous=NORMAL` in
        WAL mode, PostgreSQL `synchronous_commit=off`): a process killed right after still has it; only a power
        loss or an operating-system crash can undo it, never half of it, and the next ordinary commit makes it
        durable too. For the hot path's writes that nobody was promised yet (dialog state, replies queued,
        sends recorded): undoing one repeats a step or a send, it loses nothing. A flush costs milliseconds
        on an ordinary disk, more than the rest of a message's database work."""
        async with self.engine.connect() as conn:
            if self.dialect != "sqlite":
                async with conn.begin():
                    await conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                    yield conn
                return
            # A connection-wide setting: changed outside the transaction and back before anyone else gets it.
            await conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
            await conn.commit()
            try:
                async with conn.begin():
                    yield conn
            finally:
                try:
                    await conn.exec_driver_sql("PRAGMA synchronous=FULL")
                    await conn.commit()
                except BaseException:
                    await conn.invalidate()  # never hand out a connection left without flushes
                    raise

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        async with self.session() as s:
            return (await s.execute(select(1))).scalar() == 1

    # -- identity ---------------------------------------------------------------------------
    async def user_for(self, channel: str, platform_user_id: str, display_name: str = "") -> UserRecord:
        """The stable user record for a platform identity, created on first contact."""
        now = self.clock.now()
        async with self.session.begin() as s:
            stmt = (
                self.insert(User)
                .values(channel=channel, platform_user_id=platform_user_id, display_name=display_name[:64],
                        city="", created_at=now, last_seen_at=now)
                .on_conflict_do_update(index_elements=["channel", "platform_user_id"], set_={"last_seen_at": now})
                .returning(User)
            )
            row = (await s.execute(stmt)).scalar_one()
            return _user(row)

    async def set_user_city(self, user_id: int, city: str) -> None:
        async with self.session.begin() as s:
            row = await s.get(User, user_id)
            if row is not None:
                row.city = city

    # -- deduplication (claims are made by `arrive`) ----------------------------------------
    async def forget_seen_before(self, cutoff: datetime) -> int:
        async with self.session.begin() as s:
            return affected(await s.execute(delete(SeenMessage).where(SeenMessage.seen_at < cutoff)))

    # -- conversation state -----------------------------------------------------------------
    async def get_state(self, user_id: int, max_age: timedelta | None = None) -> tuple[str, dict[str, Any]] | None:
        async with self.session() as s:
            row = await s.get(ConversationState, user_id)
            if row is None:
                return None
            if max_age is not None and aware(row.updated_at) < self.clock.now() - max_age:
                return None
            return row.name, self.open_state(row.data)

    async def set_state(self, user_id: int, name: str, data: dict[str, Any]) -> None:
        sealed = self.seal_state(data)
        async with self.session.begin() as s:
            stmt = self.insert(ConversationState).values(
                user_id=user_id, name=name, data=sealed, updated_at=self.clock.now()
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["user_id"], set_={"name": name, "data": sealed, "updated_at": self.clock.now()}
            )
            await s.execute(stmt)

    async def clear_state(self, user_id: int) -> None:
        async with self.session.begin() as s:
            await s.execute(delete(ConversationState).where(ConversationState.user_id == user_id))

    # -- knowledge-base documents -----------------------------------------------------------
    async def save_document(self, doc: StoredDocument) -> str:
        """Insert or replace by path. Returns "added", "updated" or "unchanged"."""
        async with self.session.begin() as s:
            row = (await s.execute(select(KbDocument).where(KbDocument.path == doc.path))).scalar_one_or_none()
            values: dict[str, Any] = dict(
                title=doc.title, source=doc.source, year=doc.year, region=doc.region, body=doc.body,
                content_hash=doc.content_hash, sources=[dict(e) for e in doc.sources], reviewed=doc.reviewed,
                aliases=list(doc.aliases), front_matter=doc.front_matter)
            # A re-checked document often changes only its front matter (reviewed, sources): that is an update.
            if row is not None and all(getattr(row, key) == value for key, value in values.items()):
                return "unchanged"
            values["ingested_at"] = self.clock.now()
            if row is None:
                s.add(KbDocument(path=doc.path, **values))
                return "added"
            for key, value in values.items():
                setattr(row, key, value)
            return "updated"

    async def document_with_hash(self, content_hash: str) -> str | None:
        async with self.session() as s:
            stmt = select(KbDocument.path).where(KbDocument.content_hash == content_hash).limit(1)
            return (await s.execute(stmt)).scalar_one_or_none()

    async def list_documents(self) -> list[StoredDocument]:
        async with self.session() as s:
            rows = (await s.execute(select(KbDocument).order_by(KbDocument.path))).scalars()
            return [StoredDocument(r.path, r.title, r.source, r.year, r.region, r.body, r.content_hash,
                                   tuple(r.sources or ()), r.reviewed, tuple(r.aliases or ()), r.front_matter)
                    for r in rows]

    async def remove_documents(self, path_prefix: str) -> list[str]:
        """Remove the document at this path, or every document under it when it names a folder."""
        prefix = path_prefix.rstrip("/")
        async with self.session.begin() as s:
            cond = (KbDocument.path == prefix) | KbDocument.path.startswith(prefix + "/", autoescape=True)
            paths = list((await s.execute(select(KbDocument.path).where(cond))).scalars())
            await s.execute(delete(KbDocument).where(cond))
            return paths

    async def documents_revision(self) -> tuple[int, datetime | None]:
        """Changes when documents are added or removed, so processes know to reload."""
        async with self.session() as s:
            count, latest = (await s.execute(select(func.count(), func.max(KbDocument.ingested_at)))).one()
            return count, latest

    # -- resident profile (read by intake with every message) ---------------------------------------
    # -- profile and consent ------------------------------------------------------------------
    async def upsert_profile(self, s: AsyncSession, user_id: int, **values: Any) -> None:
        now = self.clock.now()
        stmt = self.insert(ResidentProfile).values(**{"user_id": user_id, "town": "", "updated_at": now, **values})
        await s.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_={**values, "updated_at": now}))

    # -- pushes collected by polling (web chat) ----------------------------------------------
    async def take_pushed(self, channel: str, chat_id: str, limit: int = 20) -> list[Payload]:
        """Queued messages for a chat whose channel cannot push (the web chat polls for them): handed over
        once, marked sent."""
        due = (select(OutboxMessage.id).where(OutboxMessage.channel == channel, OutboxMessage.chat_id == chat_id,
                                              OutboxMessage.status == "pending")
               .order_by(OutboxMessage.id).limit(limit).scalar_subquery())
        stmt = (update(OutboxMessage).where(OutboxMessage.id.in_(due), OutboxMessage.status == "pending")
                .values(status="sent", sent_at=self.clock.now()).returning(OutboxMessage.id, OutboxMessage.payload))
        async with self.session.begin() as s:
            return [payload for _, payload in sorted((await s.execute(stmt)).all(), key=lambda row: row[0])]


    # -- key check and audit -----------------------------------------------------------------
    # -- key check --------------------------------------------------------------------------
    async def key_matches(self, fingerprint: str) -> bool:
        """Record the encryption key's fingerprint on first use; afterwards, say whether it is the same."""
        async with self.session.begin() as s:
            await s.execute(self.insert(KeyValue).values(key=KEY_FINGERPRINT, value=fingerprint, expires_at=None)
                            .on_conflict_do_nothing())
            stored = (await s.execute(select(KeyValue.value).where(KeyValue.key == KEY_FINGERPRINT))).scalar_one()
            return stored == fingerprint

    # -- audit ------------------------------------------------------------------------------
    async def audit(self, actor: str, action: str, target: str = "", worker_id: int | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        """Who read or exported which case data. Never put ID or phone numbers in target or detail."""
        async with self.session.begin() as s:
            s.add(AuditEntry(at=self.clock.now(), worker_id=worker_id, actor=actor[:64], action=action[:32],
                             target=target[:200], detail=detail or {}, flagged=False))

    # -- the sender as a worker (every feature asks) ----------------------------------------------
    async def worker_for_user(self, user_id: int) -> WorkerRecord | None:
        async with self.session() as s:
            found = await self.workers_where(s, Worker.id == select(WorkerIdentity.worker_id)
                                        .where(WorkerIdentity.user_id == user_id).scalar_subquery(),
                                        Worker.status == "active")  # a disabled worker has no case access
            return found[0] if found else None

    async def workers_where(self, s: AsyncSession, *where: ColumnElement[bool]) -> list[WorkerRecord]:
        """Workers (with their station) matching `where`, in station and registration order."""
        stmt = (select(Worker.id, Worker.name, Worker.role, Station.id, Station.name)
                .join(Station, Station.id == Worker.station_id).where(*where).order_by(Station.name, Worker.id))
        return [WorkerRecord(*row) for row in (await s.execute(stmt)).all()]

