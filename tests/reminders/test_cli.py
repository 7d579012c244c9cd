"""`shegong reminders due | run-once | rules` as separate processes, as an operator or cron runs them. The
done-when: two run-once processes started at the same moment against one PostgreSQL deliver every due
digest exactly once (counted at a fake Telegram Bot API)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from fakes.telegram_api import FakeTelegram
from live_app import TEST_KEY
from town import Town, local

NOW = "2026-02-02T09:00:00+08:00"  # a working Monday morning


def env_for(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEGONG_")}
    env.update(SHEGONG_DATABASE_URL=database_url, SHEGONG_DATA_DIR=str(tmp_path / "data"), SHEGONG_SECRET_KEY=TEST_KEY,
               **extra)
    return env


async def shegong(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    return proc.returncode or 0, out.decode(), err.decode()


async def roster(town: Town, workers: int) -> None:
    """`workers` more workers on Telegram, each with one overdue case and one due today."""
    for n in range(workers):
        name = f"社工{n:02d}"
        await town.add_worker(name, "telegram", str(3000 + n))
        await town.register(f"甲{n:02d}", ("独居老人",), worker=name, at=local(date(2025, 12, 1)))
        await town.register(f"乙{n:02d}", ("高龄老人",), worker=name, at=local(date(2025, 12, 1)))
        await town.visit(f"乙{n:02d}", local(date(2026, 1, 2)), mode="电话", worker=name)


async def test_due_is_a_dry_run_with_recipients(database_url: str, town: Town, tmp_path: Path) -> None:
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 12, 1)))
    await town.register("无人管", ("独居老人",), worker=None, at=local(date(2025, 12, 1)))
    env = env_for(database_url, tmp_path, SHEGONG_TELEGRAM_TOKEN="123:ABC")
    code, out, err = await shegong(env, "reminders", "due", "--date", "2026-02-02", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["workday"] is True
    rows = {r["case"]: r for r in data["items"]}
    # The station's first import: the two first visits are spread over December (12月17日, 1月1日).
    assert rows["张桂英"]["recipient"] == "王芳（telegram）" and rows["张桂英"]["days_overdue"] == 47
    assert rows["无人管"]["days_overdue"] == 32
    assert rows["张桂英"]["escalates"] is True and rows["无人管"]["recipient"] == "未分配社工"
    code, out, _ = await shegong(env, "reminders", "due", "--date", "2026-10-01", "--station", "石岗镇社工站")
    assert code == 0 and "国庆节假期，不发送提醒" in out and "张桂英（#" in out
    code, _, err = await shegong(env, "reminders", "due", "--station", "没有这个站")
    assert code != 0 and "没有这个社工站" in err
    async with town.store.session() as s:  # nothing was sent or recorded by a dry run
        from sqlalchemy import func, select

        from bot.store.models import OutboxMessage

        assert (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar() == 0


async def test_rules_command_checks_files(tmp_path: Path) -> None:
    env = env_for("sqlite+aiosqlite:///:memory:", tmp_path)
    code, out, _ = await shegong(env, "reminders", "rules")
    assert code == 0 and "特困分散供养：入户探访（每月" in out
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "default.yaml").write_text(
        "categories:\n  低保:\n    - key: x\n      name: y\n      every: 每周五\n      reset_by: {modes: [入户]}\n",
        encoding="utf-8",
    )
    code, _, err = await shegong(env, "reminders", "rules", str(tmp_path / "bad"))
    assert code != 0 and "default.yaml:5" in err and "看不懂的间隔" in err


@pytest.fixture
async def telegram() -> FakeTelegram:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


async def test_two_run_once_processes_send_every_digest_exactly_once(
    database_url: str, town: Town, tmp_path: Path, telegram: FakeTelegram
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("two processes on one database: the PostgreSQL deployment")
    await roster(town, 24)
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 12, 1)))  # 王芳's
    env = env_for(
        database_url, tmp_path, SHEGONG_TELEGRAM_TOKEN=telegram.token, SHEGONG_TELEGRAM_API_BASE=telegram.api_base
    )
    results = await asyncio.gather(*(shegong(env, "reminders", "run-once", "--now", NOW, "--json") for _ in range(2)))
    for code, _, err in results:
        assert code == 0, err
    reports = [json.loads(out) for _, out, _ in results]
    assert sum(r["queued"] for r in reports) == 25  # each digest queued by exactly one of the two
    sent = Counter(str(p["chat_id"]) for p in telegram.sent("sendMessage"))
    workers = {str(3000 + n) for n in range(24)} | {"1001"}
    assert {chat: sent[chat] for chat in workers} == {chat: 1 for chat in workers}
    assert sent["1002"] == 1  # the lead: one escalation listing the 25 long-overdue visits
    assert sum(sent.values()) == 26
    lead_text = next(p["text"] for p in telegram.sent("sendMessage") if str(p["chat_id"]) == "1002")
    assert "以下 25 项已逾期" in lead_text
    # cron runs it again later that morning: nothing more is sent
    code, _, err = await shegong(env, "reminders", "run-once", "--now", "2026-02-02T10:00:00+08:00")
    assert code == 0, err
    assert len(telegram.sent("sendMessage")) == 26


async def test_run_once_outside_the_window_sends_nothing(
    database_url: str, town: Town, tmp_path: Path, telegram: FakeTelegram
) -> None:
    await town.register("张桂英", ("独居老人",), at=local(date(2025, 12, 1)))
    env = env_for(
        database_url, tmp_path, SHEGONG_TELEGRAM_TOKEN=telegram.token, SHEGONG_TELEGRAM_API_BASE=telegram.api_base
    )
    code, out, err = await shegong(env, "reminders", "run-once", "--now", "2026-02-02T06:00:00+08:00")
    assert code == 0, err
    assert "不在发送时段" in out and telegram.sent("sendMessage") == []
    code, out, err = await shegong(env, "reminders", "run-once", "--now", "2026-02-02 09:00")  # local time
    assert code == 0, err
    assert len(telegram.sent("sendMessage")) == 2  # 王芳's digest and the escalation to 陈站长
