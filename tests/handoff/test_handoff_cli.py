"""`shegong station add|set` with directory details and `shegong privacy purge [--now]`, run in-process on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import cli
from bot.clock import FrozenClock
from bot.crypto import generate_key
from bot.store import Store, create_engine
from bot.store.arrivals import Arrival
from handlers.directory.store import DirectoryStore


@pytest.fixture
def shegong(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture):
    monkeypatch.setenv("SHEGONG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHEGONG_DATABASE_URL", database_url)
    monkeypatch.setenv("SHEGONG_SECRET_KEY", generate_key())
    monkeypatch.chdir(tmp_path)  # no stray .env

    def run(*args: str) -> str:
        capsys.readouterr()
        assert cli.main(list(args)) == 0
        return capsys.readouterr().out

    run("db", "upgrade")
    return run


def in_store(database_url: str, work, clock: FrozenClock | None = None):
    async def go():
        store = Store(create_engine(database_url), clock)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def test_station_add_and_set_directory_details(shegong, database_url: str) -> None:
    out = shegong("station", "add", "石湾镇社工站", "--city", "佛山市", "--address", "太平街 8 号", "--phone",
                  "0757-82700000", "--hours", "周一至周五 8:30-17:30", "--lat", "23.003", "--lon", "113.086")
    assert "已添加社工站：石湾镇社工站" in out
    with pytest.raises(SystemExit, match="纬度和经度要一起填写"):
        shegong("station", "add", "龙江镇社工站", "--lat", "22.87")
    out = shegong("station", "set", "石湾镇社工站", "--phone", "0757-82711111")
    assert "电话：0757-82711111" in out and "地址：太平街 8 号" in out
    with pytest.raises(SystemExit, match="请至少指定一项"):
        shegong("station", "set", "石湾镇社工站")
    with pytest.raises(SystemExit, match="找不到社工站"):
        shegong("station", "set", "大沥镇社工站", "--phone", "1")
    with pytest.raises(SystemExit, match="纬度超出范围"):
        shegong("station", "set", "石湾镇社工站", "--lat", "123", "--lon", "113")
    [info] = in_store(database_url, lambda store: DirectoryStore.of(store).station_directory())
    assert (info.name, info.address, info.phone, info.hours, info.latitude, info.longitude) == (
        "石湾镇社工站", "太平街 8 号", "0757-82711111", "周一至周五 8:30-17:30", 23.003, 113.086)
    assert "龙江" not in shegong("station", "list")  # the refused add created nothing


def test_privacy_purge_with_a_given_now(shegong, database_url: str) -> None:
    old = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert in_store(database_url, lambda store: store.arrive(Arrival("wechat:1", "wechat", "o1")), old)
    out = shegong("privacy", "purge", "--now", "2026-01-04T00:00:00+08:00")  # 3 days later: still a redelivery
    assert "消息去重记录 0" in out
    # Message ids are only kept a week (platforms redeliver within minutes), well inside the retention period.
    out = shegong("privacy", "purge", "--now", "2026-01-09T00:00:00")  # local time, 8 days later
    assert "已删除超过 180 天的对话记录" in out and "消息去重记录 1" in out
    with pytest.raises(SystemExit, match="ISO"):
        shegong("privacy", "purge", "--now", "下周")
