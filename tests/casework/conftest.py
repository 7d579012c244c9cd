"""The casework chat tests' township (tests/town.py), through the real dispatcher on SQLite and PostgreSQL:
石湾镇社工站 with 李敏 and 王芳 (workers) and 陈站长 (lead, on Telegram and WeCom), 龙江镇社工站 with 赵强, all bound
by chat, and their cases imported from the roster. The chat speaks as 李敏 on the console by default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from live_app import settings_for
from town import ZHANG_ID, Town, case, running_town

from bot.clock import FrozenClock

# Telegram and WeCom are configured (pushes to them count as delivered); the console never receives pushes.
PUSH_SETTINGS: dict[str, Any] = {
    "telegram_token": "test-token",
    "wecom_corpid": "corp",
    "wecom_agentid": "1000002",
    "wecom_secret": "secret",
    "wecom_token": "token",
    "wecom_aes_key": "a" * 43,
}


@pytest.fixture
async def world(database_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Town]:
    """Cases by "name@village": two 张桂英 (东村, 南村), 李四, 周一平 (李敏's), 陈大文 (王芳's), 黄美玲 (nobody's);
    何秀珍 at 龙江."""
    async with running_town(settings_for(database_url, tmp_path, **PUSH_SETTINGS), clock) as w:
        await w.two_stations()
        assert "绑定成功" in (await w.bind(w.a, "李敏", "limin")).text
        await w.bind(w.a, "王芳", "wangfang")
        await w.bind(w.a, "陈站长", "tg-lead", role="lead", channel="telegram")
        await w.bind(w.a, "陈站长", "wc-lead", role="lead", channel="wecom")  # a second chat for the same lead
        await w.bind(w.b, "赵强", "zhao")
        await w.forget_pushes()  # the leads' binding notices (test_roster_changes): start from none
        await w.import_cases(
            w.a,
            [
                case("张桂英", "李敏", "东村", 1, id_number=ZHANG_ID),
                case("张桂英", "李敏", "南村", 2, categories=("高龄老人",)),
                case("李四", "李敏", "东村", 3),
                case("周一平", "李敏", "东村", 4),
                case("陈大文", "王芳", "西村", 5),
                case("黄美玲", "", "西村", 6),
            ],
        )
        await w.import_cases(w.b, [case("何秀珍", "赵强", "龙江村", 7)])
        yield w
