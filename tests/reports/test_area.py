"""Where a station sits (city, district, township; migration 0007) and supervisors scoped to an area:
the commands as an administrator runs them, the migration on both databases, and binding in chat."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from bot.app import build_services
from bot.clock import FrozenClock
from bot.config import Settings
from bot.messages import Incoming
from bot.store import StationRecord, create_engine
from bot.store.database import _alembic_config
from handlers.common.area import Area, AreaError, parse_scope
from handlers.reports.store import viewer_for_user

CODE = re.compile(r"绑定 ([A-HJ-NP-Z2-9]{8})")


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHEGONG_DATA_DIR": str(tmp_path / "data"), "SHEGONG_DATABASE_URL": "",
           "SHEGONG_SECRET_KEY": ""}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=tmp_path, check=False)


def ok(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    result = run(args, tmp_path)
    assert result.returncode == 0, result.stderr
    return result


def test_parse_scope() -> None:
    assert parse_scope("city:东莞市") == Area("city", "东莞市")
    assert parse_scope("district:佛山市/南海区") == Area("district", "南海区", "佛山市")
    assert parse_scope("province") == Area("province")
    assert parse_scope("district:南海区").scope == "district:南海区"
    for bad in ("town:石龙镇", "city:", "district:/南海区", "东莞市"):
        with pytest.raises(AreaError):
            parse_scope(bad)
    station = StationRecord(1, "桂城街道社工站", "南海区", "佛山市", "桂城街道")
    assert Area("district", "南海区", "佛山市").contains(station)
    assert not Area("district", "南海区", "广州市").contains(station)
    assert Area("city", "佛山市").contains(station) and not Area("city", "东莞市").contains(station)


def test_station_add_with_area_and_the_old_county_flag(tmp_path: Path) -> None:
    added = ok(["station", "add", "石龙镇社工站", "--city", "东莞市", "--town", "石龙镇"], tmp_path)
    assert "已添加社工站：石龙镇社工站（东莞市石龙镇）" in added.stdout and not added.stderr
    old = ok(["station", "add", "石牌街社工站", "--county", "天河区", "--city", "广州市"], tmp_path)
    assert "（广州市天河区）" in old.stdout and "--county 已改名为 --district" in old.stderr
    listed = ok(["station", "list"], tmp_path).stdout
    assert "石龙镇社工站  东莞市 - 石龙镇" in listed and "石牌街社工站  广州市 天河区 -" in listed


async def test_migration_moves_county_to_district_and_takes_the_town_from_the_name(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(_alembic_config(c), "0005"))
            now = datetime(2026, 1, 5, tzinfo=UTC)
            await conn.execute(sa.text("INSERT INTO stations (name, county, city, created_at) VALUES "
                                       "('石湾镇社工站', '禅城区', '佛山市', :t), ('总站', '', '', :t)"), {"t": now})
            await conn.execute(sa.text("INSERT INTO workers (station_id, name, role, created_at) "
                                       "SELECT id, '李敏', 'lead', :t FROM stations WHERE name = '总站'"), {"t": now})
            await conn.run_sync(lambda c: command.upgrade(_alembic_config(c), "head"))
            rows = (await conn.execute(sa.text("SELECT name, city, district, town FROM stations ORDER BY id"))).all()
            assert [tuple(r) for r in rows] == [("石湾镇社工站", "佛山市", "禅城区", "石湾镇"), ("总站", "", "", "")]
            worker = (await conn.execute(sa.text("SELECT role, scope FROM workers"))).one()
            assert tuple(worker) == ("lead", "")
            await conn.run_sync(lambda c: command.downgrade(_alembic_config(c), "0005"))
            back = (await conn.execute(sa.text("SELECT county FROM stations ORDER BY id"))).scalars().all()
            assert back == ["禅城区", ""]
    finally:
        await engine.dispose()


async def test_supervisor_invite_binds_in_chat_and_sees_no_casework(tmp_path: Path) -> None:
    ok(["station", "add", "石龙镇社工站", "--city", "东莞市", "--town", "石龙镇"], tmp_path)
    refused = run(["invite", "--scope", "town:石龙镇", "--name", "陈主任", "--role", "supervisor"], tmp_path)
    assert refused.returncode == 1 and "范围写法不对" in refused.stderr
    mixed = run(["invite", "--scope", "city:东莞市", "--station", "石龙镇社工站", "--name", "陈主任"], tmp_path)
    assert mixed.returncode == 1 and "不能与 --station 一起使用" in mixed.stderr
    out = ok(["invite", "--scope", "city:东莞市", "--name", "陈主任", "--role", "supervisor"], tmp_path).stdout
    assert "陈主任（督导，市：东莞市，目前 1 个社工站）" in out
    code = CODE.search(out)
    assert code is not None

    clock = FrozenClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url="", secret_key="")
    services = await build_services(settings, clock=clock)
    try:
        assert services.dispatcher is not None

        async def say(text: str, n: int) -> str:
            incoming = Incoming(channel="console", user_id="chen", chat_id="chen", text=text, message_id=f"s{n}",
                                at=clock.now())
            return (await services.dispatcher.handle(incoming))[0].text  # type: ignore[union-attr]

        bound = await say(f"绑定 {code.group(1)}", 1)
        assert "绑定成功！陈主任，督导（东莞市）" in bound and "看板" in bound
        user = await services.store.user_for("console", "chen")
        viewer = await viewer_for_user(services.store, user.id)
        assert viewer is not None and viewer.is_supervisor and viewer.area == Area("city", "东莞市")
        assert "社工专用功能" in await say("我的对象", 2)  # a supervisor records no visits and reads no case lists
    finally:
        await services.close()
