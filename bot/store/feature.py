"""The base of a feature's storage class: its queries over the shared `Store`'s database, clock and secrets.

Each feature package keeps its queries in `handlers/<feature>/store.py` as a `FeatureStore` subclass and gets
it with `TheStore.of(services.store)`: one instance per core store, made on first use, holding no state of
its own. What every message needs (intake, users, dialog state, the outbox, audit) stays in the core store.
"""

from __future__ import annotations

from typing import Any, Self
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.crypto import Secrets
from bot.store.repos import Store


class FeatureStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def of(cls, store: Store) -> Self:
        return store.view(cls)

    @property
    def engine(self) -> AsyncEngine:
        return self.store.engine

    @property
    def session(self) -> async_sessionmaker[AsyncSession]:
        return self.store.session

    @property
    def clock(self) -> Clock:
        return self.store.clock

    @property
    def secrets(self) -> Secrets:
        return self.store.secrets

    @property
    def tz(self) -> ZoneInfo:
        return self.store.tz

    @property
    def dialect(self) -> str:
        return self.store.dialect

    def _insert(self, table: Any) -> Any:
        return self.store.insert(table)
