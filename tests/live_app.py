"""The shared test harness: settings for a test database, and the real HTTP app on a free loopback port for
tests that talk to it over HTTP."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import Services, build_services
from bot.channels.base import Channel
from bot.clock import FrozenClock
from bot.config import Settings
from bot.crypto import generate_key
from bot.server import app_runner, create_app


@asynccontextmanager
async def serve_services(settings: Settings, clock: FrozenClock, host: str = "127.0.0.1",
                         channels: Callable[[Services], dict[str, Channel]] | None = None,
                         ) -> AsyncIterator[tuple[str, Services]]:
    """The real HTTP app on a free port of `host`, with the platform channels `channels` builds (none by
    default); yields its base URL (on 127.0.0.1 unless `host` names one address) and its services."""
    services = await build_services(settings, clock=clock, migrate=True)
    runner = app_runner(create_app(services, channels=channels(services) if channels else {}))
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    try:
        yield f"http://{url_host}:{runner.addresses[0][1]}", services
    finally:
        await runner.cleanup()
        await services.close()


@asynccontextmanager
async def serve_app(settings: Settings, clock: FrozenClock) -> AsyncIterator[str]:
    """The real HTTP app (no platform channels) on a free loopback port; yields its base URL."""
    async with serve_services(settings, clock) as (url, _):
        yield url


def sqlite_settings(tmp_path: Path, **overrides: str) -> Settings:
    """SQLite in tmp_path. The data directory is a folder of its own, as in a deployment: documents a test
    writes into tmp_path are outside it (nothing inside the data directory is ever read as a document)."""
    return Settings(data_dir=tmp_path / "data", database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                    _env_file=None, **overrides)


def settings_for(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for the test database `database_url` (SQLite or PostgreSQL), with the data directory in a folder
    of its own under tmp_path and the test run's secret key (PostgreSQL deployments must set one; web sessions
    and case data use it; every process on one database shares it) unless the test names its own."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, _env_file=None,
                    **{"secret_key": TEST_KEY, **overrides})


TEST_KEY = generate_key()


@contextmanager
def throwaway_postgres(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server; its URL, and the database dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_url(os.environ["SHEGONG_TEST_POSTGRES_URL"])

    async def run(sql: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
