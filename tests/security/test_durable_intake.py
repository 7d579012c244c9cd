"""Issue 13, point 1: nothing acknowledged is lost. A webhook answers 200 only once the message is stored;
when it cannot be stored the answer is 503 (the platform retries); what a process acknowledged and did not
answer is answered by the next process to start (or any live one), exactly once. The kill -9 version of this
runs `shegong serve` as a subprocess: test_crash_kill9.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fakes.telegram_api import FakeTelegram, text_update
from fakes.wechat_platform import AES_KEY, Callbacks, FakeWxPlatform

from bot.app import Services, build_services
from bot.channels import telegram, wechat
from bot.channels.base import Channel
from bot.clock import FrozenClock
from bot.config import Settings
from bot.inbox import Inbox
from bot.messages import (
    Attachment,
    Incoming,
    Reply,
    incoming_to_payload,
    payload_to_incoming,
)
from bot.server import app_runner, create_app
from bot.store import Store, create_engine, upgrade
from bot.store.arrivals import Accept

pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type:DeprecationWarning")

TG_TOKEN, TG_SECRET = "123:ABC", "s3cret"
WX_TOKEN = "wx-callback-token"
UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere"  # the discard port: connection refused


async def eventually(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(token=TG_TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake_wechat() -> AsyncIterator[FakeWxPlatform]:
    server = FakeWxPlatform()
    await server.start()
    yield server
    await server.stop()


def settings_for(tmp_path: Path, database_url: str, tg: FakeTelegram | None = None,
                 wx: FakeWxPlatform | None = None) -> Settings:
    extra: dict[str, Any] = {}
    if tg is not None:
        extra.update(telegram_token=TG_TOKEN, telegram_webhook_secret=TG_SECRET, telegram_api_base=tg.api_base)
    if wx is not None:
        extra.update(wechat_token=WX_TOKEN, wechat_appid=wx.appid, wechat_appsecret=wx.secret,
                     wechat_aes_key=AES_KEY, wechat_api_base=wx.url)
    return Settings(data_dir=tmp_path / "data", database_url=database_url, _env_file=None, **extra)


@asynccontextmanager
async def serving(settings: Settings, clock: FrozenClock,
                  channel_of: Callable[[Services], Channel | None]) -> AsyncIterator[tuple[str, Services]]:
    services = await build_services(settings, clock=clock, migrate=True)
    channel = channel_of(services)
    assert channel is not None
    runner = app_runner(create_app(services, {channel.name: channel}))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", services
    finally:
        await runner.cleanup()
        await services.close()


async def post_update(url: str, update: dict) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            f"{url}{telegram.WEBHOOK_PATH}", data=json.dumps(update).encode(),
            headers={"Content-Type": "application/json", telegram.SECRET_HEADER: TG_SECRET}) as r:
        return r.status


async def post_wechat(url: str, xml: str) -> tuple[int, str]:
    params, body = Callbacks(WX_TOKEN, "wx123", AES_KEY).post(xml)
    async with aiohttp.ClientSession() as http, http.post(f"{url}/wechat", params=params, data=body,
                                                          headers={"Content-Type": "text/xml"}) as r:
        return r.status, await r.text()


async def migrated(database_url: str, clock: FrozenClock) -> Store:
    engine = create_engine(database_url)
    await upgrade(engine)
    return Store(engine, clock)


async def _inbox_empty(services: Services) -> bool:
    return await services.store.inbox_count() == 0


async def outbox_idle(services: Services) -> bool:
    return "pending" not in await services.store.outbox_counts()


# -- Telegram ---------------------------------------------------------------------------------------------
async def test_telegram_update_that_cannot_be_stored_gets_503_and_its_retry_is_answered_once(
        tmp_path: Path, database_url: str, clock: FrozenClock, fake_telegram: FakeTelegram) -> None:
    settings = settings_for(tmp_path, database_url, tg=fake_telegram)
    async with serving(settings, clock, telegram.create) as (url, services):
        store = services.store
        working = store.engine
        store.engine = create_engine(UNREACHABLE)  # the database goes away
        try:
            statuses = [await post_update(url, text_update(700 + n, 555000 + n, "低保怎么申请")) for n in range(3)]
        finally:
            await store.engine.dispose()
            store.engine = working
        assert statuses == [503, 503, 503]  # never a 200 for an update we do not have
        # Telegram delivers each again once we answer errors; now the database is back.
        assert [await post_update(url, text_update(700 + n, 555000 + n, "低保怎么申请")) for n in range(3)] == [200] * 3
        await fake_telegram.wait_for("sendMessage", count=3)
        await eventually(lambda: outbox_idle(services), what="outbox drained")
        assert sorted(s["chat_id"] for s in fake_telegram.sent()) == [555000, 555001, 555002]
        assert await store.inbox_count() == 0


async def test_update_acknowledged_by_a_dead_process_is_answered_once_at_start_up(
        tmp_path: Path, database_url: str, clock: FrozenClock, fake_telegram: FakeTelegram) -> None:
    update = text_update(900, 555900, "低保怎么申请")
    incoming = telegram.to_incoming(telegram.Update.de_json(update, None), clock.now())
    assert incoming is not None
    store = await migrated(database_url, clock)
    # What a killed process leaves: the update claimed and stored (it answered 200), nothing queued.
    assert await store.accept(Accept(incoming.dedup_key, "telegram", incoming_to_payload(incoming), "dead-process",
                                     clock.now()))
    await store.close()
    settings = settings_for(tmp_path, database_url, tg=fake_telegram)
    async with serving(settings, clock, telegram.create) as (url, services):
        [sent] = await fake_telegram.wait_for("sendMessage")
        assert sent["chat_id"] == 555900 and "来源" in sent["text"]
        assert await post_update(url, update) == 200  # a late redelivery: acknowledged, not answered again
        await eventually(lambda: outbox_idle(services), what="outbox drained")
        await asyncio.sleep(0.3)
        assert len(fake_telegram.sent()) == 1
        assert await services.store.inbox_count() == 0


# -- WeChat -------------------------------------------------------------------------------------------------
async def test_wechat_message_that_cannot_be_stored_gets_503(
        tmp_path: Path, database_url: str, clock: FrozenClock, fake_wechat: FakeWxPlatform) -> None:
    settings = settings_for(tmp_path, database_url, wx=fake_wechat)
    cb = Callbacks(WX_TOKEN, "wx123", AES_KEY)
    xml = cb.text("低保怎么申请", msg_id=4242)
    async with serving(settings, clock, wechat.create) as (url, services):
        working = services.store.engine
        services.store.engine = create_engine(UNREACHABLE)
        try:
            status, _ = await post_wechat(url, xml)
        finally:
            await services.store.engine.dispose()
            services.store.engine = working
        assert status == 503  # WeChat retries a callback that did not get a 2xx
        status, body = await post_wechat(url, xml)
        assert status == 200 and "来源" in cb.open_reply(body)["Content"]
        # Taken out of the inbox once the passive reply is written (and any further replies queued).
        await eventually(lambda: _inbox_empty(services), what="the inbox emptied")


async def test_wechat_message_accepted_by_a_dead_process_is_pushed_once(
        tmp_path: Path, database_url: str, clock: FrozenClock, fake_wechat: FakeWxPlatform) -> None:
    incoming = Incoming("wechat", "o_user_9", "o_user_9", "低保怎么申请", "8080", clock.now())
    store = await migrated(database_url, clock)
    assert await store.accept(Accept(incoming.dedup_key, "wechat", incoming_to_payload(incoming), "dead-process",
                                     clock.now()))
    await store.close()
    settings = settings_for(tmp_path, database_url, wx=fake_wechat)
    async with serving(settings, clock, wechat.create) as (url, services):
        await eventually(lambda: fake_wechat.sent, what="a push")
        await eventually(lambda: outbox_idle(services), what="outbox drained")
        # WeChat retries the callback the dead process never answered: caught as a duplicate.
        status, body = await post_wechat(url, Callbacks(WX_TOKEN, "wx123", AES_KEY).text(
            "低保怎么申请", user="o_user_9", msg_id=8080))
        assert (status, body) == (200, "success")
        await asyncio.sleep(0.3)
        assert len(fake_wechat.sent) == 1 and fake_wechat.sent[0].body["touser"] == "o_user_9"


# -- the store: leases between processes ------------------------------------------------------------------
def accept_of(n: int, clock: FrozenClock) -> Incoming:
    return Incoming("telegram", str(n), str(n), f"问题{n}", str(n), clock.now())


async def test_a_live_process_keeps_its_messages_and_a_dead_ones_go_to_exactly_one_other(
        database_url: str, clock: FrozenClock) -> None:
    stores = [await migrated(database_url, clock) for _ in range(3)]
    lease = timedelta(seconds=30)
    inboxes = [Inbox(s, clock, lease, lambda: None) for s in stores]
    for n in range(40):
        assert await inboxes[0].accept(accept_of(n, clock)) is not None
    done: list[tuple[int, str]] = []

    def redo_for(i: int) -> Callable[[Incoming], Any]:
        async def redo(incoming: Incoming) -> None:
            assert incoming.accepted
            done.append((i, incoming.message_id))
            await inboxes[i].finish(incoming, [])
        return redo

    clock.advance(seconds=20)
    await inboxes[0].run_once({"telegram": redo_for(0)})  # still handling them: renews its leases
    assert await inboxes[1].run_once({"telegram": redo_for(1)}) == 0
    clock.advance(seconds=20)  # 40 s after accepting, 20 s after renewing: still alive
    assert await inboxes[1].run_once({"telegram": redo_for(1)}) == 0
    clock.advance(seconds=31)  # no renewal for longer than the lease: the process is gone
    counts = await asyncio.gather(*(inbox.run_once({"telegram": redo_for(i)})
                                    for i, inbox in enumerate(inboxes[1:], 1)))
    assert sum(counts) == 40
    assert sorted(int(m) for _, m in done) == list(range(40))  # each exactly once, by one of them
    assert {i for i, _ in done} <= {1, 2}
    assert await stores[0].inbox_count() == 0
    for s in stores:
        await s.close()


async def test_finishing_twice_queues_each_reply_once_and_redeliveries_are_refused(
        store: Store, clock: FrozenClock) -> None:
    inbox = Inbox(store, clock, timedelta(seconds=30), lambda: None)
    first = await inbox.accept(accept_of(1, clock))
    assert first is not None and first.accepted
    assert await inbox.accept(accept_of(1, clock)) is None  # the same message id again
    await inbox.finish(first, [Reply("一"), Reply("二")])
    await inbox.finish(first, [Reply("一"), Reply("二"), Reply("三")], first=0)  # handled again after a crash
    counts = await store.outbox_counts()
    assert counts == {"pending": 3}  # 一 and 二 once each; only the new third reply was added
    assert await store.inbox_count() == 0
    assert inbox.handling == 0


def test_a_stored_message_comes_back_as_it_was(clock: FrozenClock) -> None:
    incoming = Incoming("wecom", "u", "c", "文字", "77", clock.now(),
                        (Attachment("location", latitude=23.1, longitude=113.2, label="东村"),), is_button=True,
                        event="", group_chat=True, sender_verified=False)
    assert payload_to_incoming(json.loads(json.dumps(incoming_to_payload(incoming)))) == replace(incoming,
                                                                                                  accepted=True)


async def test_hot_path_batches_without_an_acknowledgement_leave_the_connection_flushing(
        store: Store, clock: FrozenClock) -> None:
    """Dialog state and queued replies commit without waiting for a flush; every other transaction (an
    acknowledgement, a saved visit) still waits for it, so the setting is back on the connection afterwards."""
    inbox = Inbox(store, clock, timedelta(seconds=30), lambda: None)
    accepted = await inbox.accept(accept_of(5, clock))
    assert accepted is not None
    await inbox.finish(accepted, [Reply("好的")])  # a batch without accepts: the lazy commit
    assert await store.outbox_counts() == {"pending": 1} and await store.inbox_count() == 0
    if store.dialect == "sqlite":
        async with store.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
    else:
        async with store.engine.connect() as conn:
            assert (await conn.exec_driver_sql("SHOW synchronous_commit")).scalar() == "on"
