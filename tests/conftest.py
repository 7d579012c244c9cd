"""Shared fixtures. Storage tests run on SQLite and, when SHEGONG_TEST_POSTGRES_URL is set, on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from live_app import TEST_KEY, serve_app, sqlite_settings, throwaway_postgres
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.clock import FrozenClock
from bot.crypto import Secrets, parse_key
from bot.store import Store, create_engine, upgrade

POSTGRES_URL = os.environ.get("SHEGONG_TEST_POSTGRES_URL", "")
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not POSTGRES_URL, reason="SHEGONG_TEST_POSTGRES_URL not set"))]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway database for this test session, dropped at the end."""
    with throwaway_postgres("shegong_test") as url:
        yield url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    url = request.getfixturevalue("postgres_database")
    import asyncio

    async def reset() -> None:
        # Each test starts from an empty schema, migrated from scratch.
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())
    return url


@pytest.fixture
async def base_url(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[str]:
    async with serve_app(sqlite_settings(tmp_path), clock) as url:
        yield url


@pytest.fixture
async def store(database_url: str, clock: FrozenClock) -> AsyncIterator[Store]:
    engine = create_engine(database_url)
    await upgrade(engine)
    # the test key (tests/live_app.py): a `shegong` subprocess given SHEGONG_SECRET_KEY reads what this store wrote
    s = Store(engine, clock, Secrets(parse_key(TEST_KEY)))
    yield s
    await s.close()
