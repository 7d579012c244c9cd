"""Issue 13, point 8: in WeChat plaintext mode the signature covers only the URL, so one captured callback URL
carries any body as any sender for a day. That mode answers public policy questions only: casework, handoff
and every worker or lead command need safe mode, and start-up says so."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from fakes.wechat_platform import AES_KEY, Callbacks, FakeWxPlatform
from live_app import serve_services
from town import station_with_one_case

from bot.app import Services, build_services
from bot.channels import wechat
from bot.channels.base import Channel
from bot.clock import FrozenClock
from bot.config import Settings
from bot.trust import SAFE_MODE_ONLY

TOKEN = "wx-callback-token"
WORKER_OPENID = "o_worker_li_min"
PLAIN, SAFE = Callbacks(TOKEN, "wx123"), Callbacks(TOKEN, "wx123", AES_KEY)
MESSAGE_IDS = itertools.count(7_100_000_000)  # one sequence for both modes: WeChat's ids are unique per account


def wechat_only(services: Services) -> dict[str, Channel]:
    channel = wechat.create(services)
    assert channel is not None
    return {"wechat": channel}


@pytest.fixture
async def platform() -> AsyncIterator[FakeWxPlatform]:
    fake = FakeWxPlatform()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def station(tmp_path: Path, platform: FakeWxPlatform, capsys: pytest.CaptureFixture[str]) -> str:
    """A station with one case and an invite for its lead; the invite code."""
    settings = Settings(data_dir=tmp_path / "data", database_url="", _env_file=None)
    return await station_with_one_case(settings, tmp_path, capsys)


@asynccontextmanager
async def bot(tmp_path: Path, clock: FrozenClock, platform: FakeWxPlatform, safe_mode: bool) -> AsyncIterator[str]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url="",
        wechat_token=TOKEN,
        wechat_appid=platform.appid,
        wechat_appsecret=platform.secret,
        wechat_aes_key=AES_KEY if safe_mode else "",
        wechat_api_base=platform.url,
        _env_file=None,
    )
    async with serve_services(settings, clock, channels=wechat_only) as (url, _):
        yield url


async def ask(url: str, callbacks: Callbacks, text: str, user: str = WORKER_OPENID) -> str:
    params, body = callbacks.post(callbacks.text(text, user=user, msg_id=next(MESSAGE_IDS)))
    async with aiohttp.ClientSession() as http, http.post(f"{url}/wechat", params=params, data=body) as r:
        assert r.status == 200
        answer = await r.text()
        assert answer != "success", f"no passive answer to {text!r}"
        return callbacks.open_reply(answer)["Content"]


async def test_worker_commands_need_safe_mode(
    tmp_path: Path, clock: FrozenClock, platform: FakeWxPlatform, station: str
) -> None:
    async with bot(tmp_path, clock, platform, safe_mode=True) as url:  # the lead binds while the account is safe
        assert "绑定成功" in await ask(url, SAFE, f"绑定 {station}")
        assert "张桂英" in await ask(url, SAFE, "我的对象")
    async with bot(tmp_path, clock, platform, safe_mode=False) as url:
        # Anyone holding a captured callback URL can send these bodies with the lead's openid.
        for command in ("我的对象", "本站统计", "本月走访", "待办", "走访 张桂英 入户 身体还可以"):
            assert (await ask(url, PLAIN, command)).startswith(SAFE_MODE_ONLY), command
        # Words that are also questions get the policy answer anyone gets, never the worker's view.
        for command in ("我的对象", "查 张桂英", "工单", "值班", "确认"):
            answer = await ask(url, PLAIN, command)
            assert "张桂英" not in answer and "东村" not in answer and "5678" not in answer, command
    async with bot(tmp_path, clock, platform, safe_mode=True) as url:  # the lead's own view is intact
        assert "张桂英" in await ask(url, SAFE, "我的对象")


async def test_handoff_and_binding_need_safe_mode_and_policy_answers_do_not(
    tmp_path: Path, clock: FrozenClock, platform: FakeWxPlatform, station: str
) -> None:
    async with bot(tmp_path, clock, platform, safe_mode=False) as url:
        assert (await ask(url, PLAIN, "找社工", user="o_resident_1")).startswith(SAFE_MODE_ONLY)
        assert (await ask(url, PLAIN, f"绑定 {station}", user="o_resident_2")).startswith(SAFE_MODE_ONLY)
        answer = await ask(url, PLAIN, "低保怎么申请", user="o_resident_3")
        assert "来源" in answer and SAFE_MODE_ONLY not in answer
        # Two unsure answers in a row would offer a social worker in safe mode; here they do not.
        await ask(url, PLAIN, "火星移民补贴怎么领", user="o_resident_3")
        unsure = await ask(url, PLAIN, "月球基地的养老金呢", user="o_resident_3")
        assert "转给社工" not in unsure and "同意" not in unsure
    async with bot(tmp_path, clock, platform, safe_mode=True) as url:  # the code was not spent in plaintext mode
        assert "绑定成功" in await ask(url, SAFE, f"绑定 {station}", user="o_resident_2")


async def test_plaintext_mode_warns_at_start_up(
    tmp_path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path, database_url="", wechat_token=TOKEN, _env_file=None)
    services = await build_services(settings, clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.channels.wechat"):
            channel = wechat.create(services)
        assert channel is not None
        await channel.close()
    finally:
        await services.close()
    [warning] = [r for r in caplog.records if r.name == "bot.channels.wechat"]
    message = warning.getMessage()
    assert warning.levelno == logging.WARNING and "plaintext" in message and "safe mode" in message
    assert "SHEGONG_WECHAT_AES_KEY" in message and "casework" in message and "handoff" in message
