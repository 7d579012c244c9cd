"""Issue 13, point 2: web identities are server-issued, signed, HttpOnly, SameSite=Lax cookies.

Before, the identity was a `visitor_id` the page chose and sent in every body and poll URL: anyone who learnt
one (a proxy log, a shared screen) read a worker's case list and took the worker's replies to a resident.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
import pytest
from live_app import serve_services

from bot.app import Services
from bot.channels.web import SESSION_COOKIE
from bot.clock import FrozenClock
from bot.config import Settings
from bot.crypto import Secrets, generate_key
from bot.store import create_engine, upgrade
from handlers.casework.admin import add_station, invite

CASE_LIST = "我的对象"


async def settings_for(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    if not database_url.startswith("sqlite"):
        engine = create_engine(database_url)
        await upgrade(engine)
        await engine.dispose()
    return Settings(data_dir=tmp_path / "data", database_url=database_url, secret_key=generate_key(),
                    _env_file=None, **overrides)


def browser() -> aiohttp.ClientSession:
    # A browser keeps cookies for 127.0.0.1 too; aiohttp's default jar refuses IP-address hosts.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@dataclass
class Site:
    url: str
    services: Services
    settings: Settings

    async def say(self, http: aiohttp.ClientSession, text: str, **extra: object) -> tuple[list[str], str]:
        """(reply texts, the Set-Cookie header or "")."""
        async with http.post(f"{self.url}/api/chat", json={"text": text, **extra}) as r:
            assert r.status == 200
            return [x["text"] for x in (await r.json())["replies"]], r.headers.get("Set-Cookie", "")

    async def poll(self, http: aiohttp.ClientSession, **params: str) -> list[str]:
        async with http.get(f"{self.url}/api/chat/updates", params=params) as r:
            assert r.status == 200
            return [x["text"] for x in (await r.json())["replies"]]


@pytest.fixture
async def site(tmp_path: Path, clock: FrozenClock, database_url: str) -> AsyncIterator[Site]:
    settings = await settings_for(tmp_path, database_url)
    async with serve_services(settings, clock) as (url, services):
        yield Site(url, services, settings)


def identity_of(http: aiohttp.ClientSession, secrets: Secrets) -> str:
    cookie = next(c for c in http.cookie_jar if c.key == SESSION_COOKIE)
    found = secrets.verify_session(cookie.value)
    assert found is not None
    return found[0]


async def test_the_server_issues_a_signed_httponly_lax_cookie(site: Site) -> None:
    async with browser() as http:
        _, header = await site.say(http, "低保怎么申请")
        cookie = SimpleCookie(header)[SESSION_COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
        assert int(cookie["max-age"]) == 30 * 86400
        assert not cookie["secure"]  # plain HTTP straight to the server
        identity = identity_of(http, site.services.store.secrets)
        assert identity.startswith("s-") and len(identity) >= 24
        # The same browser keeps its identity; a fresh cookie is not sent with every answer.
        _, again = await site.say(http, "高龄津贴怎么领")
        assert again == "" and identity_of(http, site.services.store.secrets) == identity
    behind_https_proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}  # a proxy on this machine
    async with aiohttp.ClientSession() as http, http.post(f"{site.url}/api/chat", json={"text": "你好"},
                                                          headers=behind_https_proxy) as r:
        assert SimpleCookie(r.headers["Set-Cookie"])[SESSION_COOKIE]["secure"]


async def test_an_identity_in_the_body_or_the_url_is_not_trusted(site: Site, capsys: pytest.CaptureFixture[str]
                                                                  ) -> None:
    await add_station(site.settings, "石湾镇社工站", county="禅城区", city="佛山市")
    await invite(site.settings, "石湾镇社工站", "李敏", "worker")
    code = re.search(r"绑定码：([A-Z0-9]+)", capsys.readouterr().out)
    assert code is not None
    async with browser() as worker, browser() as resident, browser() as intruder:
        [bound], _ = await site.say(worker, f"绑定 {code.group(1)}")
        assert "绑定成功" in bound
        [own_list], _ = await site.say(worker, CASE_LIST)
        worker_id = identity_of(worker, site.services.store.secrets)
        for text in ("你好", "同意", "我在石湾镇", "找社工"):
            await site.say(resident, text)
        [opened], _ = await site.say(resident, "想问一下临时救助")
        assert "工单 #1" in opened
        resident_id = identity_of(resident, site.services.store.secrets)
        [notice] = await site.poll(worker)
        assert "工单 #1" in notice

        # The intruder knows both identity strings and names them every way the old page did.
        answers, _ = await site.say(intruder, CASE_LIST, visitor_id=worker_id, user_id=worker_id,
                                    chat_id=worker_id)
        assert answers != [own_list] and "服务对象" not in "".join(answers)
        assert identity_of(intruder, site.services.store.secrets) not in (worker_id, resident_id)
        [sent], _ = await site.say(worker, "回复 1 可以的，带上户口本来站里")
        assert "已发给居民" in sent
        assert await site.poll(intruder, visitor_id=resident_id) == []
        async with aiohttp.ClientSession() as stranger:  # no cookie at all
            assert await site.poll(stranger, visitor_id=resident_id) == []
        [pushed] = await site.poll(resident)
        assert "带上户口本来站里" in pushed


async def test_forged_altered_foreign_or_lapsed_cookies_are_not_accepted(site: Site, clock: FrozenClock) -> None:
    secrets = site.services.store.secrets
    async with browser() as http:
        await site.say(http, "你好")
        identity = identity_of(http, secrets)
    now = int(clock.now().timestamp())
    genuine = secrets.sign_session(identity, now)
    other_key = Secrets.ephemeral().sign_session(identity, now)
    altered = genuine.replace(identity, identity[:-1] + ("A" if identity[-1] != "A" else "B"))
    made_up = f"{identity}.{now}.not-a-signature"
    for forged in (other_key, altered, made_up, identity):
        async with aiohttp.ClientSession(headers={"Cookie": f"{SESSION_COOKIE}={forged}"}) as http:
            _, header = await site.say(http, "你好")
            issued = secrets.verify_session(SimpleCookie(header)[SESSION_COOKIE].value)
            assert issued is not None and issued[0] != identity, forged
    async with aiohttp.ClientSession(headers={"Cookie": f"{SESSION_COOKIE}={genuine}"}) as http:
        _, header = await site.say(http, "你好")
        assert header == ""  # accepted as it is
        clock.advance(days=31)
        _, header = await site.say(http, "你好")
        lapsed = secrets.verify_session(SimpleCookie(header)[SESSION_COOKIE].value)
        assert lapsed is not None and lapsed[0] != identity


async def test_one_visitor_cannot_mark_anothers_message_as_already_seen(site: Site) -> None:
    """The page's message id deduplicates retries; scoped to the identity, another visitor reusing it (ids
    travel in logs and screenshots) does not make the first visitor's message look like a redelivery."""
    async with browser() as first, browser() as second:
        answers, _ = await site.say(second, "低保怎么申请", message_id="m-shared-1")
        assert answers
        answers, _ = await site.say(first, "低保怎么申请", message_id="m-shared-1")
        assert answers
        assert (await site.say(first, "低保怎么申请", message_id="m-shared-1"))[0] == []  # its own retry
