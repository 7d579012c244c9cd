"""The reminder loop inside `shegong serve`: the real app with the Telegram channel talking to a fake Bot API.
It sends the morning digest once, stops gracefully with the app, and a restarted server (a redeploy) does
not send it again."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from fakes.telegram_api import FakeTelegram
from town import Town, local

from bot.app import build_services
from bot.channels.registry import configured_channels
from bot.clock import FrozenClock
from bot.config import Settings
from bot.crypto import generate_key
from bot.server import app_runner, create_app
from handlers.reminders.loop import ReminderLoop
from handlers.reminders.settings import ReminderSettings

from .conftest import reminder_station


async def serve_once(settings: Settings, clock: FrozenClock, seconds: float) -> None:
    services = await build_services(settings, clock, migrate=True)
    channels = configured_channels(services)
    runner = app_runner(create_app(services, channels), shutdown_timeout=2)
    await runner.setup()  # starts the outbox and reminder loops
    try:
        await asyncio.sleep(seconds)
    finally:
        await runner.cleanup()  # stops them: reminders first, then the outbox
        await services.close()


async def test_serve_sends_the_digest_once_across_a_restart(database_url: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTelegram()
    await fake.start()
    monkeypatch.setenv("SHEGONG_REMINDER_POLL_SECONDS", "0.05")
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key=generate_key(),
                        telegram_token=fake.token, telegram_api_base=fake.api_base, _env_file=None)
    clock = FrozenClock(local(date(2026, 1, 5)))
    try:
        services = await build_services(settings, clock, migrate=True)
        town = await reminder_station(Town(services.store, clock, services))
        await town.register("张桂英", ("独居老人",), at=local(date(2025, 12, 1)))
        await services.close()
        town.at(date(2026, 2, 2), 8, 0)  # before the window: nothing
        await serve_once(settings, clock, 0.5)
        assert fake.sent("sendMessage") == []
        town.at(date(2026, 2, 2), 8, 31)
        await serve_once(settings, clock, 1.5)
        sent = fake.sent("sendMessage")
        assert sorted(str(p["chat_id"]) for p in sent) == ["1001", "1002"]  # digest and escalation
        await serve_once(settings, clock, 0.5)  # a redeploy the same morning
        assert len(fake.sent("sendMessage")) == 2
    finally:
        await fake.stop()


async def test_the_loop_stops_within_its_timeout_even_mid_pass(store, clock) -> None:
    services = type("S", (), {"store": store, "clock": clock})()
    loop = ReminderLoop(services, {}, ReminderSettings(poll_seconds=0.01))  # type: ignore[arg-type]

    async def stuck() -> None:
        await asyncio.sleep(60)

    loop.tick = stuck  # type: ignore[method-assign]
    task = asyncio.create_task(loop.run_forever())
    await asyncio.sleep(0.05)
    await asyncio.wait_for(loop.stop(task, timeout=0.2), timeout=2)
    assert task.done()
