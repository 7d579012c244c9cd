"""The handoff tests' township (tests/town.py), the real dispatcher on SQLite and PostgreSQL: 石湾镇社工站 (a)
with 李敏 and 王芳 (workers) and 陈站长 (lead), 龙江镇社工站 (b) with 赵强 and 龙站长 (lead), both with their
directory details and every worker bound on Telegram; the chat speaks as a resident on WeChat by default.
Pushes stay in the outbox table (no sender runs), where the tests read them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from live_app import settings_for
from town import Town, running_town

from bot.clock import FrozenClock

RESIDENT = "o_resident_1"


@pytest.fixture
async def desk(database_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Town]:
    async with running_town(settings_for(database_url, tmp_path), clock, user=RESIDENT, channel="wechat") as town:
        await town.two_stations(details=True)
        await town.add_worker("李敏", "telegram", "101", station=town.a)
        await town.add_worker("王芳", "telegram", "102", station=town.a)
        await town.add_worker("陈站长", "telegram", "103", role="lead", station=town.a)
        await town.add_worker("赵强", "telegram", "201", station=town.b)
        await town.add_worker("龙站长", "telegram", "202", role="lead", station=town.b)
        yield town
