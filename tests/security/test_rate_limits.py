"""Issue 13, point 3: rate limits. Before: ~1,100 messages/s from one user, ~21,600 invite-code guesses a minute
from one visitor, ~1,000 new web identities a second, and a handoff that relayed one web request as 81
Telegram messages past the 500-character limit. Used, expired and unknown codes answered differently."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from live_app import serve_services
from sqlalchemy import select

from bot.app import Services
from bot.clock import FrozenClock
from bot.config import Settings
from bot.crypto import generate_key
from bot.ratelimit import RATE_NOTICE
from bot.store import create_engine, upgrade
from bot.store.models import OutboxMessage
from handlers.casework.admin import add_station, invite
from handlers.workers.router import REFUSED


async def settings_for(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    if not database_url.startswith("sqlite"):
        engine = create_engine(database_url)
        await upgrade(engine)
        await engine.dispose()
    return Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key=generate_key(),
                    _env_file=None, **overrides)


def browser(address: str = "") -> aiohttp.ClientSession:
    """A visitor with its own cookies; `address` as a reverse proxy on this machine would forward it."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 headers={"X-Forwarded-For": address} if address else None)


@dataclass
class Site:
    url: str
    services: Services
    settings: Settings
    clock: FrozenClock

    async def post(self, http: aiohttp.ClientSession, text: str) -> tuple[int, list[str]]:
        async with http.post(f"{self.url}/api/chat", json={"text": text}) as r:
            body = await r.json()
            return r.status, [x["text"] for x in body.get("replies", [])] or [body.get("error", "")]

    async def say(self, http: aiohttp.ClientSession, text: str) -> list[str]:
        """The replies, without the privacy notice a visitor's first reply carries."""
        status, texts = await self.post(http, text)
        assert status == 200, texts
        return [] if texts == [""] else [t.split("\n\n【隐私说明】")[0] for t in texts]

    async def new_code(self, capsys: pytest.CaptureFixture[str], name: str) -> str:
        await invite(self.settings, "石湾镇社工站", name, "worker")
        found = re.search(r"绑定码：([A-Z0-9]+)", capsys.readouterr().out)
        assert found is not None
        return found.group(1)


@pytest.fixture
async def site(tmp_path: Path, clock: FrozenClock, database_url: str) -> AsyncIterator[Site]:
    settings = await settings_for(tmp_path, database_url, web_new_identities_per_hour=40)
    await add_station(settings, "石湾镇社工站", county="禅城区", city="佛山市")
    async with serve_services(settings, clock) as (url, services):
        yield Site(url, services, settings, clock)


async def test_one_polite_notice_when_a_sender_goes_over_the_rate(site: Site) -> None:
    limit = site.settings.rate_messages_per_minute
    async with browser() as http:
        answers = [await site.say(http, f"低保怎么申请{i}") for i in range(limit + 5)]
        assert all(a and RATE_NOTICE not in a for a in answers[:limit])
        assert answers[limit] == [RATE_NOTICE]
        assert answers[limit + 1:] == [[]] * 4  # one notice, then silence for the rest of the minute
        site.clock.advance(minutes=1)
        assert RATE_NOTICE not in await site.say(http, "低保怎么申请")


async def test_the_message_rate_holds_across_processes_sharing_the_database(site: Site) -> None:
    """Several `shegong serve` share one database: the count is kept there, not in each process."""
    limit = site.settings.rate_messages_per_minute
    async with serve_services(site.settings, site.clock) as (other_url, _other):
        other = Site(other_url, _other, site.settings, site.clock)
        async with browser() as http:  # one visitor, one session cookie, whichever process answers
            answers = [await (site if i % 2 else other).say(http, f"低保怎么申请{i}") for i in range(limit + 5)]
            assert all(a and RATE_NOTICE not in a for a in answers[:limit])
            assert answers[limit] == [RATE_NOTICE]
            assert answers[limit + 1:] == [[]] * 4
            site.clock.advance(minutes=1)
            assert RATE_NOTICE not in await other.say(http, "低保怎么申请")


async def test_used_expired_and_unknown_codes_get_one_answer(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    used, expired = await site.new_code(capsys, "李敏"), await site.new_code(capsys, "陈芳")
    async with browser("198.51.100.1") as first:
        assert "绑定成功" in (await site.say(first, f"绑定 {used}"))[0]
    # `shegong invite` dates codes by the real clock; the server's clock moves past their 7 days.
    site.clock.advance(seconds=(datetime.now(UTC) + timedelta(days=8) - site.clock.now()).total_seconds())
    async with browser("198.51.100.2") as other:
        answers = {kind: await site.say(other, f"绑定 {code}")
                   for kind, code in (("used", used), ("expired", expired), ("unknown", "ZZZZ9999"))}
    assert answers == {"used": [REFUSED], "expired": [REFUSED], "unknown": [REFUSED]}


async def test_five_failures_per_identity_then_even_a_valid_code_is_refused(site: Site,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = await site.new_code(capsys, "李敏")
    async with browser("198.51.100.3") as guesser:
        for guess in ("AAAA2222", "BBBB3333", "CCCC4444", "DDDD5555", "EEEE6666"):
            assert await site.say(guesser, f"绑定 {guess}") == [REFUSED]
        assert await site.say(guesser, f"绑定 {code}") == [REFUSED]
        assert "服务对象" not in "".join(await site.say(guesser, "我的对象"))
        site.clock.advance(minutes=16)
        assert "绑定成功" in (await site.say(guesser, f"绑定 {code}"))[0]


async def test_five_failures_per_client_address_whatever_the_identity(site: Site,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = await site.new_code(capsys, "李敏")
    for i in range(5):  # a fresh identity (no cookie) for every guess, all from one address
        async with browser("203.0.113.7") as guesser:
            assert await site.say(guesser, f"绑定 QQQQ{i}777") == [REFUSED]
    async with browser("203.0.113.7") as same_address:
        assert await site.say(same_address, f"绑定 {code}") == [REFUSED]
    async with browser("203.0.113.8") as elsewhere:
        assert "绑定成功" in (await site.say(elsewhere, f"绑定 {code}"))[0]


async def test_new_web_identities_per_client_address(tmp_path: Path, clock: FrozenClock, database_url: str) -> None:
    settings = await settings_for(tmp_path, database_url, web_new_identities_per_hour=3)
    async with serve_services(settings, clock) as (url, services):
        site = Site(url, services, settings, clock)
        kept = browser("192.0.2.10")
        async with kept:
            assert await site.say(kept, "你好")
            for _ in range(2):
                async with browser("192.0.2.10") as fresh:
                    assert await site.say(fresh, "你好")
            async with browser("192.0.2.10") as one_too_many:
                status, [error] = await site.post(one_too_many, "你好")
                assert status == 429 and "太多" in error
                assert not list(one_too_many.cookie_jar)
            assert await site.say(kept, "低保怎么申请")  # a visitor who has a session keeps it
            async with browser("192.0.2.11") as neighbour:  # another address has its own allowance
                assert await site.say(neighbour, "你好")
            clock.advance(hours=1, minutes=1)
            async with browser("192.0.2.10") as later:
                assert await site.say(later, "你好")


async def test_handoff_relays_obey_the_length_limit_and_the_rate(site: Site, capsys: pytest.CaptureFixture[str]
                                                                 ) -> None:
    code = await site.new_code(capsys, "李敏")
    async with browser("198.51.100.20") as worker, browser("198.51.100.21") as resident:
        assert "绑定成功" in (await site.say(worker, f"绑定 {code}"))[0]
        for text in ("你好", "同意", "我在石湾镇", "找社工"):
            await site.say(resident, text)
        assert "工单 #1" in (await site.say(resident, "想问一下临时救助"))[0]
        huge = "我家的情况是这样的，" * 4000  # 40,000 characters in one request
        [refused] = await site.say(resident, huge)
        assert "太长" in refused
        sent_before = site.settings.rate_messages_per_minute - 6  # the six messages above count too
        answers = [await site.say(resident, f"补充第{i}点") for i in range(sent_before + 5)]
        assert answers.count([RATE_NOTICE]) == 1 and sum(a not in ([], [RATE_NOTICE]) for a in answers) == 0
        async with site.services.store.session() as s:
            relayed = [row.payload["text"] for row in (await s.execute(
                select(OutboxMessage).where(OutboxMessage.dedup_key.like("handoff:1:r:%")))).scalars()]
        assert len(relayed) == sent_before
        assert all(len(text) < 600 and "我家的情况" not in text for text in relayed)
