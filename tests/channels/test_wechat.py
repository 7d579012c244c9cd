"""The WeChat Official Account channel end to end: the real app on a port, a fake WeChat on another."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from fakes.wechat_platform import AES_KEY, Callbacks, FakeWxPlatform, eventually

from bot.app import FEATURES, build_services, middlewares_of
from bot.channels import registry, wechat
from bot.channels.base import SendError
from bot.channels.wx_common import MAX_CALLBACK_AGE, MAX_TEXT_BYTES, UNSUPPORTED_TEXT, split_text
from bot.config import Settings
from bot.messages import Incoming, Reply
from bot.routing import Context, Dispatcher, Next, Regex, Router
from bot.routing.middlewares import intake
from bot.server import app_runner, create_app
from bot.services import Services
from bot.store import Store, create_engine
from handlers.handoff.maintenance import SEEN_MESSAGE_DAYS
from handlers.privacy.consent import notice_text

TOKEN = "wx-callback-token"
NOTICE = notice_text(180)  # the privacy notice a resident's first message gets (bot/consent.py)
SLOW_SECONDS = 4.0  # well past the 1.5 s passive deadline, so a loaded machine still tells them apart
BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        '<xml><ToUserName>gh</ToUserName><FromUserName>o_user_1</FromUserName><CreateTime>1</CreateTime>'
        '<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>')
XXE = ('<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName>gh</ToUserName>'
       '<FromUserName>o_user_1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>'
       '<Content>&xxe;</Content><MsgId>2</MsgId></xml>')


@dataclass
class Bot:
    url: str
    services: Services
    processed: list[Incoming]  # messages that got past deduplication

    async def outbox(self) -> dict[str, int]:
        return await self.services.store.outbox_counts()

    async def outbox_is(self, expected: dict[str, int]) -> bool:
        return await self.outbox() == expected

    async def outbox_idle(self) -> bool:
        """Nothing left to send: the moment to compare what the platform received with what was queued."""
        return "pending" not in await self.outbox()


def extra_router() -> Router:
    router = Router("test-slow")

    @router.message(Regex("^慢慢答$"))
    async def slow(ctx: Context) -> Reply:
        await asyncio.sleep(SLOW_SECONDS)
        return Reply("这是慢慢想好的回答")

    @router.message(Regex("^两条$"))
    async def two(ctx: Context) -> list[Reply]:
        return [Reply("第一条"), Reply("第二条")]

    @router.message(Regex("^长文$"))
    async def long(ctx: Context) -> Reply:
        return Reply("\n".join(f"第{i}段：" + "社会救助政策说明" * 12 for i in range(30)))

    return router




@pytest.fixture
async def platform() -> AsyncIterator[FakeWxPlatform]:
    fake = FakeWxPlatform()
    await fake.start()
    yield fake
    await fake.stop()


Launch = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def launch(tmp_path: Path, clock, platform: FakeWxPlatform) -> AsyncIterator[Launch]:
    """Start the bot: `aes_key=""` for plaintext mode; `share_with` for a second process on the same database."""
    stack = AsyncExitStack()

    async def start(aes_key: str = AES_KEY, database_url: str | None = None, share_with: Bot | None = None) -> Bot:
        database_url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        settings = Settings(data_dir=tmp_path, database_url=database_url,
                            wechat_token=TOKEN, wechat_appid=platform.appid, wechat_appsecret=platform.secret,
                            wechat_aes_key=aes_key, wechat_api_base=platform.url, _env_file=None)
        if share_with is None:
            services = await build_services(settings, clock=clock, migrate=True)
        else:  # another process: its own store and dispatcher, the knowledge base loaded once for speed
            store = Store(create_engine(settings.effective_database_url), clock)
            services = Services(settings, store, share_with.services.knowledge, clock)
            services.dispatcher = Dispatcher(services, [f.router for f in FEATURES], middlewares_of(FEATURES))
        stack.push_async_callback(services.close)
        assert services.dispatcher is not None
        dispatcher = services.dispatcher
        assert isinstance(dispatcher, Dispatcher)
        dispatcher.root.include_router(extra_router(), first=True)
        processed: list[Incoming] = []

        async def spy(ctx: Context, nxt: Next) -> list[Reply]:
            processed.append(ctx.incoming)
            return await nxt(ctx)

        middlewares = dispatcher.middlewares
        middlewares.insert(middlewares.index(intake) + 1, spy)
        channel = wechat.create(services)
        assert channel is not None
        runner = app_runner(create_app(services, {"wechat": channel}))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        stack.push_async_callback(stop_app, runner)
        return Bot(f"http://127.0.0.1:{runner.addresses[0][1]}", services, processed)

    yield start
    await stack.aclose()


async def stop_app(runner: web.AppRunner) -> None:
    await runner.cleanup()  # returns once the server's background loops have stopped


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


SAFE = Callbacks(TOKEN, "wx123", AES_KEY)
PLAIN = Callbacks(TOKEN, "wx123")


async def deliver(http: aiohttp.ClientSession, bot: Bot, cb: Callbacks, xml: str, forge: bool = False
                  ) -> tuple[int, str]:
    params, body = cb.post(xml, forge=forge)
    async with http.post(f"{bot.url}/wechat", params=params, data=body, headers={"Content-Type": "text/xml"}) as r:
        return r.status, await r.text()


async def ask(http: aiohttp.ClientSession, bot: Bot, cb: Callbacks, xml: str) -> str | None:
    """The passive answer's text as WeChat reads it, or None for "success"."""
    status, text = await deliver(http, bot, cb, xml)
    assert status == 200, text
    if text == "success":
        return None
    reply = cb.open_reply(text)
    assert reply["MsgType"] == "text" and reply["ToUserName"] == "o_user_1" and reply["FromUserName"] == cb.to_user
    return reply["Content"]


# -- answering ------------------------------------------------------------------------------------
async def test_encrypted_question_gets_encrypted_cited_answer(launch: Launch, http, platform) -> None:
    bot = await launch()
    answer = await ask(http, bot, SAFE, SAFE.text("低保怎么申请"))
    assert answer is not None and "来源" in answer and "申请" in answer
    assert [m.text for m in bot.processed] == ["低保怎么申请"] and bot.processed[0].user_id == "o_user_1"
    assert platform.sent == [] and await bot.outbox() == {}


async def test_plaintext_mode(launch: Launch, http) -> None:
    bot = await launch(aes_key="")
    answer = await ask(http, bot, PLAIN, PLAIN.text("低保怎么申请"))
    assert answer is not None and "来源" in answer


@pytest.mark.parametrize("xml, expected", [
    (SAFE.text(""), "空消息"),
    (SAFE.voice("低保怎么申请"), "来源"),  # speech recognition text is answered like typed text
    (SAFE.voice(None), "打字"),
    (SAFE.event("subscribe"), "感谢关注"),
    (SAFE.message("image", {"PicUrl": "http://img.example/1.jpg", "MediaId": "m1"}), "文字"),
    (SAFE.message("location", {"Location_X": "23.134521", "Location_Y": "113.358803", "Scale": "20",
                               "Label": "广州市天河区"}), "文字"),
    (SAFE.message("video", {"MediaId": "m2", "ThumbMediaId": "t2"}), UNSUPPORTED_TEXT),
    (SAFE.message("link", {"Title": "t", "Description": "d", "Url": "http://example.com"}), UNSUPPORTED_TEXT),
    (SAFE.message("brand_new_type", {"Whatever": "x"}), UNSUPPORTED_TEXT),
])
async def test_message_kinds(launch: Launch, http, xml: str, expected: str) -> None:
    bot = await launch()
    answer = await ask(http, bot, SAFE, xml)
    assert answer is not None and expected in answer


async def test_location_and_subscribe_reach_handlers_translated(launch: Launch, http) -> None:
    bot = await launch()
    await ask(http, bot, SAFE, SAFE.message("location", {"Location_X": "23.13", "Location_Y": "113.35",
                                                         "Scale": "20", "Label": "天河"}))
    welcome = await ask(http, bot, SAFE, SAFE.event("subscribe", create_time=1700000000))
    assert welcome is not None and "可回复：低保怎么申请 / " in welcome  # buttons as a line to type
    place, subscribe = bot.processed
    assert (place.attachments[0].kind, place.attachments[0].latitude, place.attachments[0].longitude,
            place.attachments[0].label) == ("location", 23.13, 113.35, "天河")
    assert subscribe.event == "subscribe" and subscribe.text == ""
    # The same event delivered again (WeChat retry: same sender, time and event) is not answered twice.
    assert await ask(http, bot, SAFE, SAFE.event("subscribe", create_time=1700000000)) is None
    assert await ask(http, bot, SAFE, SAFE.event("unsubscribe")) is None  # silent events
    assert len(bot.processed) == 2


async def test_several_replies_first_passive_rest_pushed(launch: Launch, http, platform) -> None:
    bot = await launch()
    assert await ask(http, bot, SAFE, SAFE.text("两条")) == "第一条\n\n" + NOTICE  # a first message: the notice
    await eventually(lambda: platform.sent)
    assert [(s.api, s.touser, s.content) for s in platform.sent] == [("custom", "o_user_1", "第二条")]


async def test_long_answer_is_split_under_the_byte_limit(launch: Launch, http, platform) -> None:
    bot = await launch()
    first = await ask(http, bot, SAFE, SAFE.text("长文"))
    assert first is not None and len(first.encode()) <= MAX_TEXT_BYTES
    # Wait for what the assertion needs: every section pushed and the outbox idle, not merely a second message.
    await eventually(lambda: "\n".join([first, *(s.content for s in platform.sent)]).count("段：") >= 30)
    await eventually(bot.outbox_idle)
    rest = [s.content for s in platform.sent]
    assert all(len(t.encode()) <= MAX_TEXT_BYTES for t in rest)
    assert "\n".join([first, *rest]).count("段：") == 30 and platform.rejected == []


def test_split_text_keeps_everything() -> None:
    text = "甲" * 1000 + "\n" + "乙" * 900
    pieces = split_text(text)
    assert all(len(p.encode()) <= MAX_TEXT_BYTES for p in pieces)
    assert pieces[1] == "甲" * 334  # cut at the line end rather than mid-paragraph
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    assert split_text("短") == ["短"]


# -- deadline and deduplication -------------------------------------------------------------------
async def test_same_msgid_three_times_is_answered_once(launch: Launch, http, platform, database_url: str) -> None:
    first = await launch(database_url=database_url)
    second = await launch(database_url=database_url, share_with=first)  # another process, same database
    xml = SAFE.text("低保怎么申请")
    answers = await asyncio.gather(*(ask(http, bot, SAFE, xml) for bot in (first, second, first)))
    await eventually(lambda: [a for a in answers if a] or platform.sent)
    assert await ask(http, second, SAFE, xml) is None  # a late retry
    assert len(first.processed) + len(second.processed) == 1
    assert len([a for a in answers if a]) + len(platform.sent) == 1
    assert "来源" in ([a for a in answers if a] or [platform.sent[0].content])[0]
    assert (await first.outbox()).get("pending", 0) == 0


async def test_slow_answer_says_success_then_pushes_once(launch: Launch, http, platform) -> None:
    bot = await launch()
    xml = SAFE.text("慢慢答")
    started = time.monotonic()
    assert await ask(http, bot, SAFE, xml) is None  # "success": WeChat stops waiting and retrying
    assert time.monotonic() - started < SLOW_SECONDS
    # WeChat's retries of the same MsgId while the answer is being prepared get "success" too.
    assert await ask(http, bot, SAFE, xml) is None
    assert await ask(http, bot, SAFE, xml) is None
    await eventually(lambda: platform.sent)
    assert [(s.api, s.touser, s.content) for s in platform.sent] == [("custom", "o_user_1",
                                                                      "这是慢慢想好的回答\n\n" + NOTICE)]
    await eventually(lambda: bot.outbox_is({"sent": 1}))
    assert await ask(http, bot, SAFE, xml) is None and len(bot.processed) == 1


# -- refusing ---------------------------------------------------------------------------------------
async def test_forged_signatures_are_refused(launch: Launch, http, platform) -> None:
    safe = await launch()
    assert (await deliver(http, safe, SAFE, SAFE.text("低保怎么申请"), forge=True))[0] == 403
    params, body = SAFE.post(SAFE.text("低保怎么申请"))
    del params["msg_signature"]  # safe mode needs the message signature, not only the URL one
    async with http.post(f"{safe.url}/wechat", params=params, data=body) as r:
        assert r.status == 403
    plain = await launch(aes_key="")
    assert (await deliver(http, plain, PLAIN, PLAIN.text("低保怎么申请"), forge=True))[0] == 403
    assert safe.processed == plain.processed == [] and platform.sent == []


async def test_replayed_old_callbacks_are_refused(launch: Launch, http, platform) -> None:
    # Correctly signed callbacks: accepted an hour after they were signed (a slow network, a skewed clock);
    # refused when signed longer ago than message ids are remembered for sure, or far in the future.
    bot = await launch()
    xml = SAFE.text("低保怎么申请")
    an_hour_ago = time.time() - 3600
    params, body = SAFE.post(xml, sent_at=an_hour_ago)
    async with http.post(f"{bot.url}/wechat", params=params, data=body) as r:
        assert r.status == 200 and "来源" in SAFE.open_reply(await r.text())["Content"]
    for sent_at in (time.time() - MAX_CALLBACK_AGE.total_seconds() - 60, time.time() + 2 * 86400):
        params, body = SAFE.post(SAFE.text("高龄津贴怎么领"), sent_at=sent_at)
        async with http.post(f"{bot.url}/wechat", params=params, data=body) as r:
            assert r.status == 403 and "stale" in await r.text()
    params, body = SAFE.post(SAFE.text("高龄津贴怎么领"))
    params["timestamp"] = "yesterday"
    async with http.post(f"{bot.url}/wechat", params=params, data=body) as r:
        assert r.status == 403
    assert [m.text for m in bot.processed] == ["低保怎么申请"] and platform.sent == []


def test_replay_window_is_inside_the_dedup_memory() -> None:
    assert MAX_CALLBACK_AGE < timedelta(days=SEEN_MESSAGE_DAYS)


async def test_url_verification(launch: Launch, http) -> None:
    plain, safe = await launch(aes_key=""), await launch()
    for bot, encrypted in ((plain, False), (safe, False), (safe, True)):
        async with http.get(f"{bot.url}/wechat", params=SAFE.verify_url("echo-12345", encrypted)) as r:
            assert (r.status, await r.text()) == (200, "echo-12345")
        async with http.get(f"{bot.url}/wechat", params=SAFE.verify_url("echo-12345", encrypted, forge=True)) as r:
            assert r.status == 403


@pytest.mark.parametrize("mode, where, xml", [
    ("plain", "body", BOMB), ("plain", "body", XXE),
    ("safe", "outer", BOMB), ("safe", "inner", BOMB), ("safe", "inner", XXE),
    ("safe", "inner", '<!doctype xml><xml><MsgType>text</MsgType></xml>'),
])
async def test_xml_entity_attacks_are_refused(launch: Launch, http, platform, mode: str, where: str, xml: str) -> None:
    bot = await launch(aes_key="" if mode == "plain" else AES_KEY)
    cb = PLAIN if mode == "plain" else SAFE
    params, body = cb.post(xml)
    if where == "outer":
        params, _ = cb.post(SAFE.text("x"))
        body = xml.encode()
    async with http.post(f"{bot.url}/wechat", params=params, data=body) as r:
        assert r.status == 400
    assert bot.processed == [] and platform.sent == [] and platform.token_fetches == []


def test_xmltodict_does_not_expand_entities_either() -> None:
    for xml in (BOMB, XXE):
        with pytest.raises(ValueError):
            xmltodict.parse(xml)


@pytest.mark.parametrize("mode, xml", [
    ("plain", "<xml><ToUserName>gh</ToUserName>"), ("plain", "not xml at all"),
    ("plain", "<xml><MsgType>text</MsgType><Content>no sender</Content></xml>"),
    ("safe", "<xml><MsgType>text</MsgType"), ("safe", "<other>1</other>"),
])
async def test_malformed_xml_is_400(launch: Launch, http, mode: str, xml: str) -> None:
    bot = await launch(aes_key="" if mode == "plain" else AES_KEY)
    status, _ = await deliver(http, bot, PLAIN if mode == "plain" else SAFE, xml)
    assert status == 400 and bot.processed == []
    params, _ = SAFE.post("<xml/>")
    async with http.post(f"{bot.url}/wechat", params=params, data=b"<xml><Encrypt>bad") as r:
        assert r.status == 400


async def test_body_over_one_megabyte_is_413(launch: Launch, http) -> None:
    bot = await launch(aes_key="")
    params, _ = PLAIN.post("<xml/>")
    async with http.post(f"{bot.url}/wechat", params=params, data=b"<xml>" + b"x" * (1024 * 1024) + b"</xml>") as r:
        assert r.status == 413
    assert bot.processed == []


# -- pushing through the customer-service API ------------------------------------------------------
async def test_access_token_fetched_once_and_shared_between_stores(launch: Launch, platform) -> None:
    bot = await launch()
    for n in range(3):
        await bot.services.push("wechat", "o_user_1", Reply(f"提醒{n}"), dedup_key=f"test:{n}")
    await eventually(lambda: len(platform.sent) == 3)
    assert platform.token_fetches == ["wechat"]
    # A second process: its own Store on the same database uses the token the first one stored.
    settings = bot.services.settings
    other = Store(create_engine(settings.effective_database_url), bot.services.clock)
    channel = wechat.WeChatChannel(Services(settings, other, bot.services.knowledge, bot.services.clock))
    try:
        await channel.send("o_user_2", Reply("另一个进程"))
        assert platform.token_fetches == ["wechat"] and platform.sent[-1].token == platform.sent[0].token
        # Concurrent senders in one process wait for a single refresh.
        await other.put_shared("wechat:access_token", "", bot.services.clock.now())
        await asyncio.gather(*(channel.send(f"o_user_{n}", Reply("并发")) for n in range(5)))
        assert platform.token_fetches == ["wechat", "wechat"] and len(platform.sent) == 9
        # Two processes needing a fresh token at the same moment: one fetch between them (a lease in the
        # database), since each fetch from WeChat invalidates the token the other one got.
        third = Store(create_engine(settings.effective_database_url), bot.services.clock)
        channel3 = wechat.WeChatChannel(Services(settings, third, bot.services.knowledge, bot.services.clock))
        try:
            await other.put_shared("wechat:access_token", "", bot.services.clock.now())
            await asyncio.gather(*(ch.send(f"o_user_{n}", Reply("两个进程")) for n in range(4)
                                   for ch in (channel, channel3)))
            assert platform.token_fetches == ["wechat"] * 3 and len(platform.sent) == 17
        finally:
            await channel3.close()
            await third.close()
    finally:
        await channel.close()
        await other.close()


async def test_invalid_token_is_refreshed_once_and_retried(launch: Launch, platform) -> None:
    bot = await launch()
    await bot.services.push("wechat", "o_user_1", Reply("第一条"))
    await eventually(lambda: platform.sent)
    platform.expire_tokens()  # e.g. the secret was reset: WeChat answers 40001
    await bot.services.push("wechat", "o_user_1", Reply("第二条"))
    await eventually(lambda: len(platform.sent) == 2)
    assert platform.rejected == [40001] and platform.token_fetches == ["wechat", "wechat"]
    assert await bot.outbox() == {"sent": 2}


async def test_outside_48_hour_window_fails_for_good(launch: Launch, platform) -> None:
    bot = await launch()
    platform.fail_next.append(45015)
    await bot.services.push("wechat", "o_user_1", Reply("过期的回复"))
    await eventually(lambda: bot.outbox_is({"failed": 1}))
    assert platform.sent == [] and platform.rejected == [45015]


async def test_other_errcodes_are_transient(launch: Launch, platform) -> None:
    bot = await launch()
    channel = wechat.create(bot.services)
    assert channel is not None
    platform.fail_next.append(45009)  # API rate limit
    try:
        with pytest.raises(SendError) as info:
            await channel.send("o_user_1", Reply("稍后再试"))
        assert not info.value.permanent
    finally:
        await channel.close()


async def test_registered_and_skipped_without_token(tmp_path: Path) -> None:
    assert ("wechat", wechat.create) in registry.factories()
    services = Services(Settings(data_dir=tmp_path, _env_file=None), None, None, None)  # type: ignore[arg-type]
    assert wechat.create(services) is None
