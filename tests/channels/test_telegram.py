"""The Telegram channel end to end: the real aiohttp app on a port, python-telegram-bot talking HTTP to a fake
Bot API server, the outbox delivering. Nothing inside the bot is mocked."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fakes.telegram_api import FakeTelegram, callback_update, message_update, text_update
from sqlalchemy import select

from bot import cli
from bot.app import build_services
from bot.channels import telegram
from bot.clock import FrozenClock
from bot.config import Settings
from bot.messages import Button, Reply
from bot.server import app_runner, create_app
from bot.services import Services
from bot.store.models import OutboxMessage

# PTB itself warns when it builds a RetryAfter (the channel accepts both types the warning is about).
pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type:DeprecationWarning")

TOKEN = "123:ABC"
SECRET = "s3cret"
CHAT = 555001
WEBHOOK = "/telegram/webhook"


async def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll an (a)sync check until it returns something truthy."""
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


@dataclass
class Bot:
    url: str
    fake: FakeTelegram
    services: Services
    channel: telegram.TelegramChannel
    clock: FrozenClock

    async def post(self, body: dict | bytes, secret: str | None = SECRET) -> int:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[telegram.SECRET_HEADER] = secret
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with aiohttp.ClientSession() as http, http.post(f"{self.url}{WEBHOOK}", data=data,
                                                              headers=headers) as r:
            return r.status

    async def settled(self) -> None:
        """Every acknowledged update handled and every queued reply delivered or given up."""
        async def done() -> bool:
            return self.channel.in_flight == 0 and "pending" not in await self.services.store.outbox_counts()
        await eventually(done, what="updates handled and outbox drained")

    async def outbox_rows(self) -> list[OutboxMessage]:
        async with self.services.store.session() as s:
            return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(token=TOKEN)
    await server.start()
    yield server
    await server.stop()


async def start_bot(tmp_path: Path, fake: FakeTelegram, clock: FrozenClock, database_url: str | None = None,
                    secret: str = SECRET, polling: bool = False) -> tuple[Bot, web.AppRunner]:
    settings = Settings(data_dir=tmp_path, database_url=database_url or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                        telegram_token=TOKEN, telegram_webhook_secret=secret,
                        telegram_api_base=fake.api_base, _env_file=None)
    services = await build_services(settings, clock=clock, migrate=True)
    channel = telegram.create(services)
    assert channel is not None
    if polling:
        channel.start_polling()
    runner = app_runner(create_app(services, {"telegram": channel}))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return Bot(f"http://127.0.0.1:{runner.addresses[0][1]}", fake, services, channel, clock), runner


async def stop_server(runner: web.AppRunner) -> None:
    await runner.cleanup()  # waits for the outbox sender's current pass before returning


async def stop_bot(started: Bot, runner: web.AppRunner) -> None:
    await stop_server(runner)
    await started.services.close()


@pytest.fixture
def bot_database(request: pytest.FixtureRequest) -> str | None:
    """SQLite by default; every database when the test also asks for `database_url`. A plain fixture, since
    `database_url` prepares PostgreSQL with asyncio.run, which cannot run inside the test's event loop."""
    return request.getfixturevalue("database_url") if "database_url" in request.fixturenames else None


@pytest.fixture
async def bot(tmp_path: Path, fake: FakeTelegram, clock: FrozenClock,
              bot_database: str | None) -> AsyncIterator[Bot]:
    started, runner = await start_bot(tmp_path, fake, clock, bot_database)
    yield started
    await stop_bot(started, runner)


# -- the done-when ------------------------------------------------------------------------------
async def test_text_update_gets_cited_answer(bot: Bot) -> None:
    assert await bot.post(text_update(1, CHAT, "低保怎么申请")) == 200
    [sent] = await bot.fake.wait_for("sendMessage")
    assert sent["chat_id"] == CHAT
    assert "来源" in sent["text"]


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
async def test_missing_or_wrong_secret_is_rejected_and_nothing_sent(bot: Bot, secret: str | None) -> None:
    assert await bot.post(text_update(1, CHAT, "低保怎么申请"), secret=secret) == 401
    # A good update afterwards is the barrier: once it is answered, the rejected one would have been too.
    assert await bot.post(text_update(2, CHAT + 1, "低保怎么申请")) == 200
    await bot.fake.wait_for("sendMessage")
    await bot.settled()
    assert [s["chat_id"] for s in bot.fake.sent()] == [CHAT + 1]


async def test_redelivered_update_is_answered_once(bot: Bot, database_url: str) -> None:
    update = text_update(42, CHAT, "低保怎么申请")
    statuses = await asyncio.gather(*(bot.post(update) for _ in range(3)))
    assert statuses == [200, 200, 200]
    await bot.fake.wait_for("sendMessage")
    await bot.settled()
    assert len(bot.fake.sent()) == 1
    assert await bot.services.store.outbox_counts() == {"sent": 1}


# -- kinds of update ----------------------------------------------------------------------------
async def test_button_press_is_dispatched_as_its_text_and_acknowledged(bot: Bot) -> None:
    assert await bot.post(callback_update(7, CHAT, "找社工", query_id="q-77")) == 200
    [sent] = await bot.fake.wait_for("sendMessage")
    assert "12345" in sent["text"] and sent["chat_id"] == CHAT
    [answered] = await bot.fake.wait_for("answerCallbackQuery")
    assert answered["callback_query_id"] == "q-77"


async def test_start_command_shows_help_with_inline_keyboard(bot: Bot) -> None:
    assert await bot.post(text_update(3, CHAT, "/start")) == 200
    [sent] = await bot.fake.wait_for("sendMessage")
    assert "社工助手" in sent["text"]
    rows = sent["reply_markup"]["inline_keyboard"]
    assert all(len(row) <= 2 for row in rows)
    labels = [(b["text"], b["callback_data"]) for row in rows for b in row]
    assert ("低保怎么申请", "低保怎么申请") in labels and ("找社工", "找社工") in labels


async def test_voice_note_asks_to_type(bot: Bot) -> None:
    voice = {"file_id": "AwACAgUAAxkBAAIB", "file_unique_id": "AgADvQ", "duration": 4, "mime_type": "audio/ogg"}
    assert await bot.post(message_update(4, CHAT, voice=voice)) == 200
    [sent] = await bot.fake.wait_for("sendMessage")
    assert "打字" in sent["text"]


@pytest.mark.parametrize("content", [
    {"photo": [{"file_id": "small", "file_unique_id": "s", "width": 90, "height": 60},
               {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 853}]},
    {"location": {"latitude": 23.1291, "longitude": 113.2644}},
    {"venue": {"location": {"latitude": 23.1291, "longitude": 113.2644}, "title": "越秀区社工站",
               "address": "广州市越秀区"}, "location": {"latitude": 23.1291, "longitude": 113.2644}},
    {"sticker": {"file_id": "st", "file_unique_id": "st", "type": "regular", "width": 512, "height": 512,
                 "is_animated": False, "is_video": False, "emoji": "👍"}},
    {"video": {"file_id": "v", "file_unique_id": "v", "width": 640, "height": 480, "duration": 5}},
    {"contact": {"phone_number": "+8613800000000", "first_name": "阿明"}},
])
async def test_media_without_text_gets_a_polite_answer(bot: Bot, content: dict) -> None:
    assert await bot.post(message_update(5, CHAT, **content)) == 200
    [sent] = await bot.fake.wait_for("sendMessage")
    assert "文字" in sent["text"]


async def test_photo_caption_is_answered_as_a_question(bot: Bot) -> None:
    photo = [{"file_id": "p", "file_unique_id": "p", "width": 800, "height": 600}]
    assert await bot.post(message_update(6, CHAT, photo=photo, caption="低保怎么申请")) == 200
    [sent] = await bot.fake.wait_for("sendMessage")
    assert "来源" in sent["text"]


async def test_edited_message_is_acknowledged_and_ignored(bot: Bot) -> None:
    edited = message_update(8, CHAT, text="低保怎么申请", edit_date=1795000100)
    edited["edited_message"] = edited.pop("message")
    assert await bot.post(edited) == 200
    await bot.settled()
    assert bot.fake.sent() == []


async def test_slow_work_does_not_hold_the_webhook_and_shutdown_finishes_it(tmp_path: Path, fake: FakeTelegram,
                                                                             clock: FrozenClock) -> None:
    fake.delays["answerCallbackQuery"] = 3.0  # handling this update takes at least three seconds
    started, runner = await start_bot(tmp_path, fake, clock)
    try:
        began = time.monotonic()
        assert await started.post(callback_update(12, CHAT, "找社工")) == 200
        assert time.monotonic() - began < 3.0  # acknowledged before the work is done
        assert started.channel.in_flight == 1
    finally:
        await stop_server(runner)  # graceful: waits for the update in flight
    try:
        assert started.channel.in_flight == 0
        # The reply reached the outbox; the sender had already stopped, so it is delivered after a restart.
        assert await started.services.store.outbox_counts() == {"pending": 1}
    finally:
        await started.services.close()


# -- bad requests -------------------------------------------------------------------------------
@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"\xff\xfe", 400),
    (b'["a list"]', 400),
    (b'{"message": {"text": "no update_id"}}', 400),
    (b'{"update_id": 9, "message": {"text": "no chat, no date"}}', 400),
    (b"x" * (1024 * 1024 + 10), 413),
])
async def test_bad_bodies_get_4xx_and_nothing_sent(bot: Bot, body: bytes, status: int) -> None:
    assert await bot.post(body) == status
    await bot.settled()
    assert bot.fake.calls == []


# -- delivery failures through the outbox --------------------------------------------------------
async def test_blocked_user_fails_for_good_without_retries(bot: Bot, database_url: str) -> None:
    bot.fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert await bot.post(text_update(10, CHAT, "低保怎么申请")) == 200
    await bot.fake.wait_for("sendMessage", ok=False)
    await bot.settled()
    [row] = await bot.outbox_rows()
    assert row.status == "failed" and row.attempts == 1 and "blocked" in row.last_error
    bot.clock.advance(hours=2)
    assert await bot.services.outbox.run_once() == 0
    assert len(bot.fake.sent(ok=None)) == 1


async def test_flood_limit_is_retried_after_the_given_delay(bot: Bot, database_url: str) -> None:
    bot.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30)
    assert await bot.post(text_update(11, CHAT, "低保怎么申请")) == 200
    await bot.fake.wait_for("sendMessage", ok=False)
    [row] = await eventually(lambda: _with_error(bot), what="retry recorded")
    assert row.status == "pending" and row.attempts == 1
    bot.clock.advance(seconds=29)
    assert await bot.services.outbox.run_once() == 0  # not due yet
    bot.clock.advance(seconds=2)
    bot.services.outbox.wake()
    [sent] = await bot.fake.wait_for("sendMessage")
    assert "来源" in sent["text"]
    await bot.settled()
    assert await bot.services.store.outbox_counts() == {"sent": 1}


async def _with_error(bot: Bot) -> list[OutboxMessage]:
    rows = await bot.outbox_rows()
    return rows if rows and rows[0].last_error else []


async def test_long_reply_is_split_and_buttons_go_on_the_last_piece(bot: Bot) -> None:
    text = ("第一段政策说明。" * 30 + "\n") * 40  # about 9,600 characters
    await bot.channel.send(str(CHAT), Reply(text, buttons=[Button("详细"), Button("找社工")]))
    sent = bot.fake.sent()
    assert len(sent) == 3 and "".join(s["text"] for s in sent) == text
    assert all(s["text"].endswith("\n") for s in sent[:-1])  # cut at line ends
    assert [("reply_markup" in s) for s in sent] == [False, False, True]


# -- polling, configuration, CLI ----------------------------------------------------------------
async def test_polling_consumes_queued_updates_and_confirms_them(tmp_path: Path, fake: FakeTelegram,
                                                                 clock: FrozenClock) -> None:
    fake.webhook = {"url": "https://old.example.org/hook"}  # polling must clear it: Telegram refuses otherwise
    fake.queue_update(text_update(100, CHAT, "低保怎么申请"))
    fake.queue_update(callback_update(101, CHAT, "找社工"))
    started, runner = await start_bot(tmp_path, fake, clock, polling=True)
    try:
        first, second = await fake.wait_for("sendMessage", count=2)
        assert "来源" in first["text"] and "12345" in second["text"]
        await fake.wait_for("answerCallbackQuery")
        assert fake.sent("deleteWebhook") and fake.webhook == {}
        # The next getUpdates confirms both, so Telegram forgets them.
        await eventually(lambda: any(p.get("offset") == 102 for p in fake.sent("getUpdates")), what="offset 102")
        fake.queue_update(text_update(102, CHAT + 1, "帮助"))
        await fake.wait_for("sendMessage", count=3)
        assert fake.sent()[2]["chat_id"] == CHAT + 1
        async with aiohttp.ClientSession() as http, http.post(f"{started.url}{WEBHOOK}", json={}) as r:
            assert r.status in (404, 405)  # no webhook route in polling mode
    finally:
        await stop_bot(started, runner)
    assert started.channel._poller is not None and started.channel._poller.done()


async def test_webhook_not_mounted_without_secret(tmp_path: Path, fake: FakeTelegram, clock: FrozenClock,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.channels.telegram"):
        started, runner = await start_bot(tmp_path, fake, clock, secret="")
    try:
        assert any("WEBHOOK_SECRET" in r.getMessage() for r in caplog.records)
        assert await started.post(text_update(1, CHAT, "低保怎么申请"), secret="") in (404, 405)
    finally:
        await stop_bot(started, runner)


def test_no_token_means_not_configured() -> None:
    services: Any = SimpleNamespace(settings=Settings(telegram_token="", _env_file=None))
    assert telegram.create(services) is None


def test_callback_data_fits_64_bytes() -> None:
    assert telegram.callback_data(Button("低保怎么申请")) == "低保怎么申请"
    assert telegram.callback_data(Button("详细", "x" * 100)) == "详细"
    cut = telegram.callback_data(Button("长" * 40, "🙂" * 40))
    assert 0 < len(cut.encode()) <= 64 and cut == "🙂" * 16


async def run_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str],
                  **env: str) -> tuple[int | None, str]:
    """`shegong ...` in a worker thread (it runs its own event loop; the fake runs in ours)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("SHEGONG_DATA_DIR", str(tmp_path / "data"))
    for name in ("TELEGRAM_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_BASE"):
        monkeypatch.delenv(f"SHEGONG_{name}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(f"SHEGONG_{name.upper()}", value)

    def run() -> tuple[int | None, str]:
        try:
            return cli.main(argv), ""
        except SystemExit as exc:
            return None, str(exc.code)

    return await asyncio.to_thread(run)


async def test_cli_set_webhook(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeTelegram,
                               capsys: pytest.CaptureFixture[str]) -> None:
    env = {"telegram_token": TOKEN, "telegram_webhook_secret": SECRET, "telegram_api_base": fake.api_base}
    url = "https://bot.example.org/telegram/webhook"
    code, error = await run_cli(monkeypatch, tmp_path, ["telegram", "set-webhook", url], **env)
    assert (code, error) == (0, "")
    assert "已设置" in capsys.readouterr().out
    assert fake.webhook["url"] == url and fake.webhook["secret_token"] == SECRET
    assert fake.webhook["allowed_updates"] == ["message", "callback_query"]

    code, error = await run_cli(monkeypatch, tmp_path, ["telegram", "set-webhook", "http://insecure"], **env)
    assert code is None and "设置 Webhook 失败" in error and "https" in error.lower()
    code, error = await run_cli(monkeypatch, tmp_path, ["telegram", "set-webhook", url],
                                **{**env, "telegram_token": "999:WRONG"})
    assert code is None and "设置 Webhook 失败" in error


async def test_cli_polling_without_token_explains(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, error = await run_cli(monkeypatch, tmp_path, ["serve", "--telegram-polling", "--port", "0"])
    assert code is None and "SHEGONG_TELEGRAM_TOKEN" in error


@pytest.mark.parametrize("missing, message", [("telegram_token", "SHEGONG_TELEGRAM_TOKEN"),
                                               ("telegram_webhook_secret", "SHEGONG_TELEGRAM_WEBHOOK_SECRET")])
async def test_cli_set_webhook_explains_missing_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          fake: FakeTelegram, missing: str, message: str) -> None:
    env = {"telegram_token": TOKEN, "telegram_webhook_secret": SECRET, "telegram_api_base": fake.api_base}
    del env[missing]
    code, error = await run_cli(monkeypatch, tmp_path, ["telegram", "set-webhook", "https://x.org/h"], **env)
    assert code is None and message in error
    assert fake.calls == []
