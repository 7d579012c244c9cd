"""The WeCom (企业微信) channel end to end: the real app on a port, a fake WeCom on another."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from fakes.wechat_platform import AES_KEY, Callbacks, FakeWxPlatform, eventually

from bot.app import FEATURES, build_services, middlewares_of
from bot.channels import registry, wecom
from bot.config import Settings
from bot.messages import Incoming, Reply
from bot.routing import Context, Dispatcher, Next, Regex, Router
from bot.routing.middlewares import intake
from bot.server import app_runner, create_app
from bot.services import Services
from bot.store import Store, create_engine

TOKEN = "wecom-callback-token"
SLOW_SECONDS = 4.0  # well past the 1.5 s passive deadline, so a loaded machine still tells them apart
CB = Callbacks(TOKEN, "ww123", AES_KEY, to_user="ww123", agent_id="1000002")
DOCTYPE = ('<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName>ww123</ToUserName>'
           '<FromUserName>zhangsan</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>'
           '<Content>&xxe;</Content><MsgId>9</MsgId><AgentID>1000002</AgentID></xml>')


@dataclass
class Bot:
    url: str
    services: Services
    processed: list[Incoming]  # messages that got past deduplication

    async def outbox_is(self, expected: dict[str, int]) -> bool:
        return await self.services.store.outbox_counts() == expected


def slow_router() -> Router:
    router = Router("test-slow")

    @router.message(Regex("^慢慢答$"))
    async def slow(ctx: Context) -> Reply:
        await asyncio.sleep(SLOW_SECONDS)
        return Reply("这是慢慢想好的回答")

    return router


@pytest.fixture
async def platform() -> AsyncIterator[FakeWxPlatform]:
    fake = FakeWxPlatform()
    await fake.start()
    yield fake
    await fake.stop()


Launch = Callable[..., Awaitable[Bot]]


async def stop_app(runner: web.AppRunner) -> None:
    await runner.cleanup()  # returns once the server's background loops have stopped


@pytest.fixture
async def launch(tmp_path: Path, clock, platform: FakeWxPlatform) -> AsyncIterator[Launch]:
    stack = AsyncExitStack()

    async def start(database_url: str | None = None, share_with: Bot | None = None) -> Bot:
        database_url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        settings = Settings(data_dir=tmp_path, database_url=database_url,
                            wecom_corpid=platform.corpid, wecom_secret=platform.corpsecret, wecom_token=TOKEN,
                            wecom_aes_key=AES_KEY, wecom_agentid=str(platform.agentid), wecom_api_base=platform.url,
                            _env_file=None)
        if share_with is None:
            services = await build_services(settings, clock=clock, migrate=True)
        else:  # another process on the same database (the knowledge base loaded once for speed)
            store = Store(create_engine(settings.effective_database_url), clock)
            services = Services(settings, store, share_with.services.knowledge, clock)
            services.dispatcher = Dispatcher(services, [f.router for f in FEATURES], middlewares_of(FEATURES))
        stack.push_async_callback(services.close)
        assert services.dispatcher is not None
        dispatcher = services.dispatcher
        assert isinstance(dispatcher, Dispatcher)
        dispatcher.root.include_router(slow_router(), first=True)
        processed: list[Incoming] = []

        async def spy(ctx: Context, nxt: Next) -> list[Reply]:
            processed.append(ctx.incoming)
            return await nxt(ctx)

        middlewares = dispatcher.middlewares
        middlewares.insert(middlewares.index(intake) + 1, spy)
        channel = wecom.create(services)
        assert channel is not None
        runner = app_runner(create_app(services, {"wecom": channel}))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        stack.push_async_callback(stop_app, runner)
        return Bot(f"http://127.0.0.1:{runner.addresses[0][1]}", services, processed)

    yield start
    await stack.aclose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def deliver(http: aiohttp.ClientSession, bot: Bot, xml: str, forge: bool = False) -> tuple[int, str]:
    params, body = CB.post(xml, forge=forge)
    async with http.post(f"{bot.url}/wecom", params=params, data=body, headers={"Content-Type": "text/xml"}) as r:
        return r.status, await r.text()


async def ask(http: aiohttp.ClientSession, bot: Bot, xml: str) -> str | None:
    status, text = await deliver(http, bot, xml)
    assert status == 200, text
    if text == "success":
        return None
    reply = CB.open_reply(text)
    assert (reply["MsgType"], reply["ToUserName"], reply["FromUserName"], reply["AgentID"]) == (
        "text", "zhangsan", "ww123", "1000002")
    return reply["Content"]


def text(content: str, **kw: object) -> str:
    return CB.text(content, user="zhangsan", **kw)


async def test_url_verification(launch: Launch, http) -> None:
    bot = await launch()
    async with http.get(f"{bot.url}/wecom", params=CB.verify_url("echo-67890", encrypted=True)) as r:
        assert (r.status, await r.text()) == (200, "echo-67890")
    async with http.get(f"{bot.url}/wecom", params=CB.verify_url("echo-67890", encrypted=True, forge=True)) as r:
        assert r.status == 403


async def test_encrypted_question_gets_encrypted_cited_answer(launch: Launch, http, platform) -> None:
    bot = await launch()
    answer = await ask(http, bot, text("低保怎么申请"))
    assert answer is not None and "来源" in answer
    assert [(m.channel, m.user_id) for m in bot.processed] == [("wecom", "zhangsan")] and platform.sent == []


async def test_same_msgid_three_times_is_answered_once(launch: Launch, http, platform, database_url: str) -> None:
    first = await launch(database_url=database_url)
    second = await launch(database_url=database_url, share_with=first)
    xml = text("低保怎么申请")
    answers = await asyncio.gather(ask(http, first, xml), ask(http, second, xml), ask(http, first, xml))
    await eventually(lambda: [a for a in answers if a] or platform.sent)
    assert await ask(http, second, xml) is None
    assert len(first.processed) + len(second.processed) == 1
    assert len([a for a in answers if a]) + len(platform.sent) == 1


async def test_slow_answer_goes_out_as_app_message_once(launch: Launch, http, platform) -> None:
    bot = await launch()
    xml = text("慢慢答")
    started = time.monotonic()
    assert await ask(http, bot, xml) is None
    assert time.monotonic() - started < SLOW_SECONDS
    assert await ask(http, bot, xml) is None  # a retry while the answer is prepared
    await eventually(lambda: platform.sent)
    [sent] = platform.sent
    assert sent.api == "app" and sent.body == {"touser": "zhangsan", "msgtype": "text", "agentid": 1000002,
                                               "text": {"content": "这是慢慢想好的回答"}}
    await eventually(lambda: bot.outbox_is({"sent": 1}))
    assert platform.token_fetches == ["wecom"] and len(bot.processed) == 1


async def test_forged_signature_is_refused(launch: Launch, http, platform) -> None:
    bot = await launch()
    assert (await deliver(http, bot, text("低保怎么申请"), forge=True))[0] == 403
    params, body = CB.post(text("低保怎么申请"))
    params["timestamp"] = str(int(params["timestamp"]) + 1)  # a replay with a changed timestamp
    async with http.post(f"{bot.url}/wecom", params=params, data=body) as r:
        assert r.status == 403
    params, body = CB.post(text("低保怎么申请"), sent_at=time.time() - 3 * 86400)  # signed, but days old
    async with http.post(f"{bot.url}/wecom", params=params, data=body) as r:
        assert r.status == 403 and "stale" in await r.text()
    assert bot.processed == [] and platform.sent == []


@pytest.mark.parametrize("where", ["outer", "inner"])
async def test_xml_entity_attacks_are_refused(launch: Launch, http, platform, where: str) -> None:
    bot = await launch()
    params, body = CB.post(DOCTYPE)
    if where == "outer":
        body = DOCTYPE.encode()
    async with http.post(f"{bot.url}/wecom", params=params, data=body) as r:
        assert r.status == 400
    assert bot.processed == [] and platform.sent == []


@pytest.mark.parametrize("xml", ["<xml><MsgType>text", "<xml><MsgType>text</MsgType></xml>", "plain words"])
async def test_malformed_xml_is_400(launch: Launch, http, xml: str) -> None:
    bot = await launch()
    assert (await deliver(http, bot, xml))[0] == 400
    params, _ = CB.post(text("x"))
    async with http.post(f"{bot.url}/wecom", params=params, data=b"<xml><Encrypt>") as r:
        assert r.status == 400
    assert bot.processed == []


async def test_body_over_one_megabyte_is_413(launch: Launch, http) -> None:
    bot = await launch()
    params, _ = CB.post(text("x"))
    async with http.post(f"{bot.url}/wecom", params=params, data=b"<xml>" + b"x" * (1024 * 1024) + b"</xml>") as r:
        assert r.status == 413


async def test_events_subscribe_welcomes_enter_agent_is_silent(launch: Launch, http) -> None:
    bot = await launch()
    welcome = await ask(http, bot, CB.event("subscribe", user="zhangsan"))
    assert welcome is not None and "感谢关注" in welcome
    assert await ask(http, bot, CB.event("enter_agent", user="zhangsan")) is None
    assert [m.event for m in bot.processed] == ["subscribe"]


async def test_token_shared_between_stores_and_refreshed_once_when_invalid(launch: Launch, platform) -> None:
    bot = await launch()
    for n in range(3):
        await bot.services.push("wecom", "zhangsan", Reply(f"提醒{n}"))
    await eventually(lambda: len(platform.sent) == 3)
    assert platform.token_fetches == ["wecom"]
    settings, clock = bot.services.settings, bot.services.clock
    other = Store(create_engine(settings.effective_database_url), clock)
    channel = wecom.WeComChannel(Services(settings, other, bot.services.knowledge, clock))
    try:
        await channel.send("lisi", Reply("另一个进程"))
        assert platform.token_fetches == ["wecom"]
        platform.expire_tokens()  # WeCom answers 40014: fetch once, retry once
        await channel.send("lisi", Reply("换了令牌"))
        assert platform.rejected == [40014] and platform.token_fetches == ["wecom", "wecom"]
    finally:
        await channel.close()
        await other.close()


@pytest.mark.parametrize("failure", ["invaliduser", "81013"])
async def test_unreachable_user_fails_for_good(launch: Launch, platform, failure: str) -> None:
    bot = await launch()
    if failure == "invaliduser":
        platform.invalid_users.add("gone")
    else:
        platform.fail_next.append(81013)
    await bot.services.push("wecom", "gone", Reply("通知"))
    await eventually(lambda: bot.outbox_is({"failed": 1}))
    assert platform.sent == []


def test_registered_and_skipped_unless_fully_configured(tmp_path: Path) -> None:
    assert ("wecom", wecom.create) in registry.factories()
    partial = Settings(data_dir=tmp_path, wecom_corpid="ww1", wecom_secret="s", wecom_token="t",
                       wecom_aes_key=AES_KEY, _env_file=None)  # no agentid
    assert wecom.create(Services(partial, None, None, None)) is None  # type: ignore[arg-type]
