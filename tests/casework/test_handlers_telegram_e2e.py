"""The issue's scripted end to end: `shegong station add` → `shegong invite` → `/bind` over Telegram (the fake
Bot API, the real server) → `shegong cases import` of 3 cases → a one-message report → 确认 → `shegong visits
export --format csv` shows exactly that one visit with the parsed fields. CLI commands run as subprocesses on
the same data directory and database as the server."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from fakes.telegram_api import FakeTelegram, callback_update, text_update
from town import id_number

from bot.app import build_services
from bot.channels import telegram
from bot.clock import Clock
from bot.config import Settings
from bot.crypto import generate_key
from bot.server import app_runner, create_app

pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type:DeprecationWarning")

TOKEN, SECRET, CHAT = "123:ABC", "s3cret", 777001
KEY = generate_key()
SHEGONG = Path(sys.executable).with_name("shegong")


async def shegong(tmp_path: Path, database_url: str, *args: str) -> str:
    """Run the CLI as the operator would; its standard output, or fail with its standard error."""
    env = {
        **os.environ,
        "SHEGONG_DATA_DIR": str(tmp_path / "data"),
        "SHEGONG_DATABASE_URL": database_url,
        "SHEGONG_SECRET_KEY": KEY,
    }
    env = {k: v for k, v in env.items() if not k.startswith("SHEGONG_TELEGRAM")}
    proc = await asyncio.create_subprocess_exec(
        str(SHEGONG), *args, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, f"shegong {' '.join(args)} failed:\n{err.decode()}"
    return out.decode()


async def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return result


async def post(url: str, update: dict) -> int:
    headers = {"Content-Type": "application/json", telegram.SECRET_HEADER: SECRET}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}{telegram.WEBHOOK_PATH}", data=json.dumps(update).encode(), headers=headers) as r,
    ):
        return r.status


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(token=TOKEN)
    await server.start()
    yield server
    await server.stop()


async def test_station_invite_bind_import_report_confirm_export(
    tmp_path: Path, fake: FakeTelegram, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        await shegong(tmp_path, database_url, "db", "upgrade")
    assert "已添加社工站：石湾镇社工站" in await shegong(
        tmp_path, database_url, "station", "add", "石湾镇社工站", "--county", "禅城区", "--city", "佛山市"
    )
    invited = await shegong(tmp_path, database_url, "invite", "--station", "石湾镇社工站", "--name", "李敏")
    code = re.search(r"绑定码：([A-Z0-9]+)", invited)
    assert code is not None, invited

    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=KEY,
        telegram_token=TOKEN,
        telegram_webhook_secret=SECRET,
        telegram_api_base=fake.api_base,
        _env_file=None,
    )
    services = await build_services(settings, clock=Clock(), migrate=True)
    channel = telegram.create(services)
    assert channel is not None
    runner = app_runner(create_app(services, {"telegram": channel}))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        assert await post(url, text_update(1, CHAT, f"/bind {code.group(1)}")) == 200
        [bound] = await fake.wait_for("sendMessage")
        assert "绑定成功" in bound["text"] and "李敏" in bound["text"] and "石湾镇社工站" in bound["text"]

        cases = tmp_path / "cases.csv"
        rows = [
            ["姓名", "类别", "村居", "住址", "电话", "身份证号", "风险等级", "负责社工"],
            [
                "张桂英",
                "低保;独居老人",
                "东村",
                "东村12号",
                "13812345678",
                id_number("44060519450312002"),
                "中",
                "李敏",
            ],
            ["李四", "高龄老人", "东村", "东村3号", "13912345678", id_number("44060519380101003"), "低", "李敏"],
            ["王五", "残疾人", "西村", "西村8号", "13712345678", id_number("44060519600505004"), "低", "李敏"],
        ]
        with cases.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)
        assert "新增 3 人" in await shegong(
            tmp_path, database_url, "cases", "import", str(cases), "--station", "石湾镇社工站"
        )

        report = "走访 张桂英 入户 身体还可以，腿脚不便，需要助餐，低风险，下周电话回访"
        assert await post(url, text_update(2, CHAT, report)) == 200
        shown = (await fake.wait_for("sendMessage", count=2))[1]
        assert "对象：张桂英（东村）" in shown["text"] and "需求：需要助餐" in shown["text"]
        keys = [b["callback_data"] for row in shown["reply_markup"]["inline_keyboard"] for b in row]
        assert keys == ["确认", "修改", "取消"]
        assert await post(url, callback_update(3, CHAT, "确认")) == 200
        saved = (await fake.wait_for("sendMessage", count=3))[2]
        assert "已保存" in saved["text"]
        await eventually(lambda: channel.in_flight == 0)
    finally:
        await runner.cleanup()
        await services.close()

    exported = await shegong(tmp_path, database_url, "visits", "export", "--format", "csv")
    [row] = list(csv.DictReader(io.StringIO(exported)))
    today = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
    assert row["社工站"] == "石湾镇社工站" and row["服务对象"] == "张桂英" and row["社工"] == "李敏"
    assert row["身份证号"] == id_number("44060519450312002") and row["电话"] == "13812345678"
    assert (
        row["方式"],
        row["发现情况"],
        row["需求"],
        row["提供服务"],
        row["走访后风险"],
        row["跟进计划"],
        row["危险提示"],
    ) == ("入户", "身体还可以，腿脚不便", "需要助餐", "", "低", "下周电话回访", "")
    assert row["走访时间"].startswith(today) and row["村居"] == "东村"
