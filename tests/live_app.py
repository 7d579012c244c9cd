"""The real HTTP app on a free loopback port, for tests that talk to it over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from bot.app import build_services
from bot.clock import FrozenClock
from bot.config import Settings
from bot.server import app_runner, create_app


@asynccontextmanager
async def serve_app(settings: Settings, clock: FrozenClock) -> AsyncIterator[str]:
    """The real HTTP app (no platform channels) on a free loopback port; yields its base URL."""
    services = await build_services(settings, clock=clock)
    runner = app_runner(create_app(services, channels={}))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        await services.close()


def sqlite_settings(tmp_path: Path, **overrides: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", _env_file=None,
                    **overrides)
