"""The reminder tests' township (tests/town.py): 石岗镇社工站 with two workers and a lead bound on Telegram;
cases are registered and visited at chosen times by moving a frozen clock. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from town import Town, local

from bot.clock import FrozenClock
from bot.store import Store


async def reminder_station(town: Town) -> Town:
    """石岗镇社工站: 王芳 (Telegram 1001) and 李敏 (1003), workers; 陈站长 (1002), lead."""
    await town.station("石岗镇社工站")
    await town.add_worker("王芳", "telegram", "1001")
    await town.add_worker("李敏", "telegram", "1003")
    await town.add_worker("陈站长", "telegram", "1002", role="lead")
    return town


@pytest.fixture
async def town(store: Store, clock: FrozenClock) -> Town:
    clock._at = local(date(2026, 1, 5))
    return await reminder_station(Town(store, clock))
