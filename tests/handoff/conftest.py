"""A township desk for the handoff tests: two stations, their workers bound on Telegram, residents on WeChat,
the real dispatcher on SQLite and PostgreSQL. Pushes stay in the outbox table (no sender runs), where the
tests read them."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from live_app import settings_for
from sqlalchemy import select

from bot.app import build_services
from bot.clock import FrozenClock
from bot.crypto import generate_key, new_invite_code
from bot.messages import Incoming, Reply
from bot.services import Services
from bot.store import StationRecord
from bot.store.models import OutboxMessage
from handlers.directory.store import DirectoryStore
from handlers.workers.store import WorkersStore

KEY = generate_key()
RESIDENT = "o_resident_1"
# 石湾镇 (禅城) and 龙江镇 (顺德), about 15 km apart.
SHIWAN = dict(
    address="佛山市禅城区石湾镇街道太平街 8 号",
    phone="0757-82700000",
    hours="周一至周五 8:30-12:00 14:00-17:30",
    latitude=23.0030,
    longitude=113.0860,
)
LONGJIANG = dict(
    address="佛山市顺德区龙江镇龙江社区",
    phone="0757-23300000",
    hours="工作日 9:00-17:00",
    latitude=22.8730,
    longitude=113.0860,
)
_ids = itertools.count(1)


@dataclass
class Desk:
    """石湾镇社工站 (a): 李敏 and 王芳 (workers), 陈站长 (lead); 龙江镇社工站 (b): 赵强. All on Telegram."""

    services: Services
    clock: FrozenClock
    a: StationRecord = field(init=False)
    b: StationRecord = field(init=False)
    chats: dict[str, str] = field(default_factory=dict)  # worker name -> Telegram chat id
    resident: str = RESIDENT

    @property
    def store(self):
        return self.services.store

    async def say(self, text: str = "", user: str = RESIDENT, channel: str = "wechat", **kw: Any) -> list[Reply]:
        assert self.services.dispatcher is not None
        incoming = Incoming(
            channel=channel,
            user_id=user,
            chat_id=user,
            text=text,
            message_id=f"m{next(_ids)}",
            at=self.clock.now(),
            **kw,
        )
        return await self.services.dispatcher.handle(incoming)

    async def one(self, text: str = "", user: str = RESIDENT, channel: str = "wechat", **kw: Any) -> Reply:
        replies = await self.say(text, user, channel, **kw)
        assert len(replies) == 1, replies
        return replies[0]

    async def worker(self, name: str, text: str) -> Reply:
        return await self.one(text, self.chats[name], "telegram")

    async def bind(self, station: StationRecord, name: str, chat: str, role: str = "worker") -> None:
        store, code = self.store, new_invite_code()
        await WorkersStore.of(store).add_worker_with_invite(
            station.id, name, role, store.secrets.invite_hash(code), self.clock.now() + timedelta(days=7)
        )
        user = await store.user_for("telegram", chat)
        assert not isinstance(await WorkersStore.of(store).redeem_invite(store.secrets.invite_hash(code), user.id), str)
        self.chats[name] = chat

    async def outbox(self) -> list[OutboxMessage]:
        async with self.store.session() as s:
            return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())

    async def pushed(self, chat: str) -> list[str]:
        """Texts queued for one chat, oldest first."""
        return [m.payload["text"] for m in await self.outbox() if m.chat_id == chat]

    async def to_worker(self, name: str) -> list[str]:
        return await self.pushed(self.chats[name])

    async def ready_resident(self, user: str = RESIDENT, town: str = "石湾镇") -> None:
        """Notice seen, consent given, station remembered."""
        await self.say("你好", user)
        await self.say("同意", user)
        assert "已记住" in (await self.one(f"我在{town}", user)).text

    async def open_ticket(self, question: str, user: str = RESIDENT) -> int:
        await self.say("找社工", user)
        opened = await self.one(question, user)
        assert "工单 #" in opened.text, opened.text
        return int(opened.text.split("工单 #")[1].split("）")[0])


async def make_desk(services: Services, clock: FrozenClock) -> Desk:
    desk = Desk(services, clock)
    store = services.store
    desk.a = await WorkersStore.of(store).add_station("石湾镇社工站", county="禅城区", city="佛山市")
    desk.b = await WorkersStore.of(store).add_station("龙江镇社工站", county="顺德区", city="佛山市")
    await DirectoryStore.of(store).set_station_details(desk.a.id, **SHIWAN)
    await DirectoryStore.of(store).set_station_details(desk.b.id, **LONGJIANG)
    await desk.bind(desk.a, "李敏", "101")
    await desk.bind(desk.a, "王芳", "102")
    await desk.bind(desk.a, "陈站长", "103", role="lead")
    await desk.bind(desk.b, "赵强", "201")
    await desk.bind(desk.b, "龙站长", "202", role="lead")
    return desk


@pytest.fixture
async def desk(database_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Desk]:
    services = await build_services(settings_for(database_url, tmp_path, secret_key=KEY), clock=clock, migrate=True)
    try:
        yield await make_desk(services, clock)
    finally:
        await services.close()
