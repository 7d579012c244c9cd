"""The issue's end to end across two channels, nothing inside the bot mocked: the real server on a port with
the WeChat and Telegram channels, a resident on the fake WeChat platform (encrypted callbacks, customer-service
pushes), a social worker on the fake Telegram Bot API, the outbox delivering. Handoff request → notice to the
on-duty worker → reply relayed → the bot silent during the handoff → 结束 → the bot answers again."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from fakes.telegram_api import FakeTelegram, text_update
from fakes.wechat_platform import AES_KEY, Callbacks, FakeWxPlatform, eventually
from live_app import serve_services
from town import Town

from bot.channels import telegram, wechat
from bot.channels.base import Channel
from bot.clock import FrozenClock
from bot.config import Settings
from bot.crypto import generate_key
from bot.server import app_runner, create_app
from bot.services import Services
from bot.store import Store

pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type:DeprecationWarning")

TG_TOKEN, TG_SECRET, WORKER_CHAT = "123:ABC", "s3cret", 880001
WX_TOKEN, RESIDENT = "wx-callback-token", "o_user_1"
WX = Callbacks(WX_TOKEN, "wx123", AES_KEY)


class Platforms:
    """The resident's WeChat and the worker's Telegram, seen from outside the bot."""

    def __init__(
        self, url: str, http: aiohttp.ClientSession, tg: FakeTelegram, wx: FakeWxPlatform, store: Store
    ) -> None:
        self.url, self.http, self.tg, self.wx, self.store = url, http, tg, wx, store
        self._updates = itertools.count(1)

    async def resident(self, text: str) -> str | None:
        """What the resident sees in answer to one message: the passive reply, or None ("success")."""
        params, body = WX.post(WX.text(text, user=RESIDENT))
        async with self.http.post(f"{self.url}/wechat", params=params, data=body) as r:
            assert r.status == 200
            answer = await r.text()
        return None if answer == "success" else WX.open_reply(answer)["Content"]

    async def worker(self, text: str) -> None:
        headers = {"Content-Type": "application/json", telegram.SECRET_HEADER: TG_SECRET}
        body = json.dumps(text_update(next(self._updates), WORKER_CHAT, text)).encode()
        async with self.http.post(f"{self.url}{telegram.WEBHOOK_PATH}", data=body, headers=headers) as r:
            assert r.status == 200

    async def worker_sees(self, count: int) -> str:
        """The worker's Telegram chat once it has `count` messages: the last one."""
        found = await self.tg.wait_for("sendMessage", count=count)
        assert all(str(m["chat_id"]) == str(WORKER_CHAT) for m in found)
        return found[count - 1]["text"]

    async def resident_pushed(self, count: int) -> str:
        await eventually(lambda: len(self.wx.sent) >= count)
        await eventually(self._outbox_idle)  # so that an unexpected extra push is seen, not raced
        assert len(self.wx.sent) == count and self.wx.sent[-1].touser == RESIDENT
        return self.wx.sent[-1].content

    async def _outbox_idle(self) -> bool:
        return "pending" not in await self.store.outbox_counts()


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeWxPlatform]]:
    tg, wx = FakeTelegram(token=TG_TOKEN), FakeWxPlatform()
    await tg.start()
    await wx.start()
    yield tg, wx
    await wx.stop()
    await tg.stop()


async def test_resident_on_wechat_worker_on_telegram(
    tmp_path: Path, database_url: str, clock: FrozenClock, fakes: tuple[FakeTelegram, FakeWxPlatform]
) -> None:
    tg, wx = fakes
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=generate_key(),
        telegram_token=TG_TOKEN,
        telegram_webhook_secret=TG_SECRET,
        telegram_api_base=tg.api_base,
        wechat_token=WX_TOKEN,
        wechat_appid=wx.appid,
        wechat_appsecret=wx.secret,
        wechat_aes_key=AES_KEY,
        wechat_api_base=wx.url,
        _env_file=None,
    )

    def channels(services: Services) -> dict[str, Channel]:
        return {"telegram": telegram.create(services), "wechat": wechat.create(services)}

    async with serve_services(settings, clock, channels=channels) as (url, services), aiohttp.ClientSession() as http:
        store = services.store
        roster = Town(store, clock, services)
        code = await roster.invite(await roster.station("石湾镇社工站", county="禅城区", city="佛山市"), "李敏")
        town = Platforms(url, http, tg, wx, store)
        await town.worker(f"/bind {code}")
        assert "绑定成功" in await town.worker_sees(1)
        await town.worker("值班")
        assert "已开始值班" in await town.worker_sees(2)

        # The handoff request: consent, the 镇街, a description → ticket.
        asked = await town.resident("找社工")
        assert asked is not None and "同意" in asked and "【隐私说明】" in asked
        assert "哪个镇（街）" in (await town.resident("同意") or "")
        assert "将转给石湾镇社工站" in (await town.resident("石湾镇") or "")
        opened = await town.resident("我想帮妈妈申请残疾人两项补贴，要准备什么？")
        assert opened is not None and "工单 #1" in opened and "12345" in opened and "110" in opened

        # The notice reaches the on-duty worker on Telegram, with the number and the question.
        notice = await town.worker_sees(3)
        assert "工单 #1" in notice and "残疾人两项补贴" in notice and "回复 1" in notice

        # The bot is silent while a person talks; the resident's words go to the worker.
        assert await town.resident("她八十岁了，行动不便") is None
        assert "她八十岁了，行动不便" in await town.worker_sees(4)

        # The worker's reply reaches the resident through the WeChat customer-service API.
        await town.worker("回复 1 您好！带上户口本和残疾人证复印件，社工可以上门帮忙办理。")
        assert "已发给居民" in await town.worker_sees(5)
        relayed = await town.resident_pushed(1)
        assert "社工李敏" in relayed and "带上户口本和残疾人证复印件" in relayed

        assert await town.resident("好的，谢谢！") is None
        assert "好的，谢谢！" in await town.worker_sees(6)

        # The end of the handoff, and the bot answering again.
        await town.worker("结束 1")
        assert "已结束工单 #1" in await town.worker_sees(7)
        assert "社工已结束本次对话" in await town.resident_pushed(2)
        answer = await town.resident("低保怎么申请")
        assert answer is not None and "来源" in answer
        assert (await store.outbox_counts()).get("pending", 0) == 0
        assert len(wx.sent) == 2  # nothing else was pushed to the resident


async def test_web_chat_resident_gets_the_workers_reply_by_polling(desk) -> None:
    """The web chat cannot be pushed to: the page polls /api/chat/updates, which hands each message over once."""
    runner = app_runner(create_app(desk.services, {}))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
            aiohttp.ClientSession() as stranger,
        ):

            async def say(text: str) -> list[dict]:
                async with http.post(f"{base}/api/chat", json={"text": text}) as r:
                    return (await r.json())["replies"]

            async def updates(client: aiohttp.ClientSession = http) -> tuple[int, list[dict]]:
                async with client.get(f"{base}/api/chat/updates") as r:
                    return r.status, (await r.json()).get("replies", [])

            for text in ("你好", "同意", "我在石湾镇", "找社工"):
                await say(text)
            [opened] = await say("网页上想问一下临时救助")
            assert "工单 #1" in opened["text"]
            assert await updates() == (200, [])
            await desk.worker("李敏", "回复 1 可以的，带上身份证来站里")
            status, [pushed] = await updates()
            assert "带上身份证来站里" in pushed["text"]
            assert await updates() == (200, [])  # handed over once
            assert await say("好的") == []  # silent during the handoff
            assert await updates(stranger) == (200, [])  # no session cookie: nothing to hand over
    finally:
        await runner.cleanup()
