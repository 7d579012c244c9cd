"""Issue 13, point 7: what a sender types is cleaned at intake on every channel, bodies nested beyond any real
one are refused with 400 and one warning line (never a 500), and error logs never repeat message text."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import wechatpy
from fakes.telegram_api import text_update
from fakes.wechat_platform import AES_KEY, Callbacks
from live_app import serve_services, settings_for
from sqlalchemy import text as sql
from telegram import Bot, Update

from bot.app import Services, build_services
from bot.channels import telegram, wechat, wecom
from bot.channels.base import Channel
from bot.channels.wx_common import to_incoming as wx_incoming
from bot.clock import FrozenClock
from bot.logging_setup import install_redaction
from bot.messages import Incoming
from bot.routing import Context, Dispatcher, Regex, Router

APOLOGY = "系统刚才出了点问题"
TG_TOKEN, TG_SECRET = "123:ABC", "s3cret"
WX_TOKEN = "wx-callback-token"
RESIDENT_WORDS = "张桂英住东村十二号独居腿脚不便"


def all_channels(services: Services) -> dict[str, Channel]:
    made = {"telegram": telegram.create(services), "wechat": wechat.create(services), "wecom": wecom.create(services)}
    return {name: channel for name, channel in made.items() if channel is not None}


CHANNEL_SETTINGS: dict[str, Any] = {
    "telegram_token": TG_TOKEN,
    "telegram_webhook_secret": TG_SECRET,
    "telegram_api_base": "http://127.0.0.1:9/bot",
    "wechat_token": WX_TOKEN,
    "wechat_appid": "wx123",
    "wechat_appsecret": "sec",
    "wechat_aes_key": AES_KEY,
    "wechat_api_base": "http://127.0.0.1:9",
    "wecom_corpid": "ww123",
    "wecom_agentid": "1000002",
    "wecom_secret": "corpsec",
    "wecom_token": WX_TOKEN,
    "wecom_aes_key": AES_KEY,
    "wecom_api_base": "http://127.0.0.1:9",
}


# -- cleaning at intake -------------------------------------------------------------------------------------
async def test_control_characters_and_lone_surrogates_never_reach_the_database(
    tmp_path: Path, clock: FrozenClock, database_url: str
) -> None:
    """On PostgreSQL a NUL made the message's dialog-state write fail (an apology instead of an answer);
    on both databases the text the handlers keep must be what a person could have meant."""
    settings = settings_for(database_url, tmp_path)
    # A question the knowledge base cannot answer: its text is kept in the dialog state for the next turn.
    body = json.dumps({"message_id": "m\u00001", "text": "火星\u0000移民\u0007补贴\ud800怎么领\u0085\r"})
    async with (
        serve_services(settings, clock) as (url, services),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        async with http.post(f"{url}/api/chat", data=body, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 200
            replies = (await r.json())["replies"]
        assert replies and APOLOGY not in replies[0]["text"]
        [cookie] = list(http.cookie_jar)
        session = services.store.secrets.verify_session(cookie.value)
        assert session is not None
        user = await services.store.user_for("web", session[0])
        state = await services.store.get_state(user.id)
        assert state is not None and state[1]["q"] == "火星移民补贴怎么领"
        async with http.post(f"{url}/api/chat", json={"text": "低保怎么申请"}) as r:
            assert APOLOGY not in (await r.json())["replies"][0]["text"]


def test_every_channel_builds_clean_incoming_messages(clock: FrozenClock) -> None:
    """The platforms' own parsers hand over what the sender typed; Incoming is where it is cleaned."""
    dirty = "阿婆\u0000问\u0008低保\u009f\ud83d"
    update = Update.de_json(text_update(1, 42, dirty), Bot(TG_TOKEN))
    from_telegram = telegram.to_incoming(update, clock.now())
    # XML 1.0 cannot carry C0 controls, but it does carry C1 controls such as U+0085 and U+009F.
    wx_xml = Callbacks(WX_TOKEN, "wx123").text("阿婆\u0085问\u009f低保")
    from_wechat = wx_incoming(wechatpy.parse_message(wx_xml), "wechat", clock)
    direct = Incoming("web", "v\u0000isitor", "v\u0000isitor", dirty, "id\u0000", clock.now())
    assert from_telegram is not None and from_telegram.text == "阿婆问低保"
    assert from_wechat is not None and from_wechat.text == "阿婆问低保"
    assert (direct.text, direct.user_id, direct.message_id) == ("阿婆问低保", "visitor", "id")
    assert Incoming("web", "v", "v", "第一行\n\t第二行", "1", clock.now()).text == "第一行\n\t第二行"


# -- nesting ---------------------------------------------------------------------------------------------------
def nested_json(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def nested_xml(depth: int) -> str:
    return "<a>" * depth + "x" + "</a>" * depth


@pytest.mark.parametrize(
    "path, depth",
    [("/api/chat", 100_000), ("/api/chat", 40), ("/telegram/webhook", 100_000), ("/telegram/webhook", 40)],
)
async def test_deeply_nested_json_is_400_with_one_warning_line(
    tmp_path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture, path: str, depth: int
) -> None:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", tmp_path, **CHANNEL_SETTINGS)
    headers = {"Content-Type": "application/json", telegram.SECRET_HEADER: TG_SECRET}
    if depth < 1000:  # inside a real-looking body: Python's parser copes, the structure is still refused
        inner = json.loads(nested_json(depth))
        body = json.dumps({"update_id": 7, "text": "低保", "extra": inner}).encode()
    else:
        body = nested_json(depth)
    async with serve_services(settings, clock, channels=all_channels) as (url, _), aiohttp.ClientSession() as http:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            async with http.post(f"{url}{path}", data=body, headers=headers) as r:
                assert r.status == 400, await r.text()
    problems = [rec for rec in caplog.records if rec.levelno >= logging.WARNING and rec.name.startswith("bot")]
    assert len(problems) == 1 and problems[0].levelno == logging.WARNING
    assert problems[0].exc_info is None and "\n" not in problems[0].getMessage()
    assert "nested deeper" in problems[0].getMessage()


@pytest.mark.parametrize(
    "path, callbacks",
    [
        ("/wechat", Callbacks(WX_TOKEN, "wx123", AES_KEY)),
        ("/wecom", Callbacks(WX_TOKEN, "ww123", AES_KEY, agent_id="1000002")),
    ],
)
@pytest.mark.parametrize("depth", [40, 50_000])
async def test_deeply_nested_xml_is_400_with_one_warning_line(
    tmp_path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture, path: str, callbacks: Callbacks, depth: int
) -> None:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", tmp_path, **CHANNEL_SETTINGS)
    xml = callbacks.message("text", {"Content": "低保"}).replace("</xml>", nested_xml(depth) + "</xml>")
    params, body = callbacks.post(xml)
    async with serve_services(settings, clock, channels=all_channels) as (url, _), aiohttp.ClientSession() as http:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            async with http.post(f"{url}{path}", params=params, data=body) as r:
                assert r.status == 400, await r.text()
    problems = [rec for rec in caplog.records if rec.levelno >= logging.WARNING and rec.name.startswith("bot")]
    assert len(problems) == 1 and problems[0].exc_info is None and "\n" not in problems[0].getMessage()
    assert "nested deeper" in problems[0].getMessage()


# -- error logs ------------------------------------------------------------------------------------------------
def failing_save_router() -> Router:
    """A feature whose save fails in the database with the resident's words as a statement parameter, as a
    visit or ticket save did on PostgreSQL when the text held a NUL."""
    router = Router("test-failing-save")

    @router.message(Regex("^记录"))
    async def save(ctx: Context) -> str:
        async with ctx.services.store.session() as s:
            await s.execute(sql("INSERT INTO no_such_table (note) VALUES (:note)"), {"note": ctx.text})
        return "已保存"

    @router.message(Regex("^换算"))
    async def convert(ctx: Context) -> str:
        return str(int(ctx.text))

    return router


@pytest.mark.parametrize("message", [f"记录 {RESIDENT_WORDS}", f"换算 {RESIDENT_WORDS}"])
async def test_error_logs_hold_no_message_text(
    tmp_path: Path, clock: FrozenClock, database_url: str, caplog: pytest.LogCaptureFixture, message: str
) -> None:
    install_redaction()  # what `shegong serve` runs (setup_logging): every record is cleaned as it is made
    services = await build_services(settings_for(database_url, tmp_path), clock=clock, migrate=True)
    try:
        assert services.dispatcher is not None
        assert isinstance(services.dispatcher, Dispatcher)
        services.dispatcher.root.include_router(failing_save_router(), first=True)
        with caplog.at_level(logging.ERROR):
            replies = await services.dispatcher.handle(
                Incoming("web", "visitor-log-1", "visitor-log-1", message, "m1", clock.now())
            )
    finally:
        await services.close()
    assert APOLOGY in replies[0].text
    [failure] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    logged = caplog.text
    assert failure.getMessage() == "handler failed" and "Error" in logged and "Traceback" in logged
    assert RESIDENT_WORDS not in logged and "张桂英" not in logged
