"""Telegram channel: updates in (webhook, or long polling for development), Bot API messages out.

A thin adapter over python-telegram-bot's `Bot`: it verifies the webhook secret, translates an `Update`
to `Incoming`, dispatches, and queues every reply in the outbox; `send` renders a `Reply` as sendMessage.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import warnings
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.channels.base import NestedTooDeep, SendError, parse_json
from bot.messages import Attachment, Button, Incoming, Reply

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.services import Services

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and Bot API URLs contain the bot token.
logging.getLogger("httpx").setLevel(logging.WARNING)
# PTB 22 warns on every RetryAfter that `retry_after` will become a timedelta; `_seconds` takes either.
warnings.filterwarnings("ignore", message=r".*`retry_after` will be of type", category=PTBDeprecationWarning)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query"]
GROUP_CHATS = frozenset({"group", "supergroup"})
MAX_CALLBACK_BYTES = 64  # Bot API limit for callback_data
MAX_TEXT_UNITS = 4096  # Bot API limit for a message, in UTF-16 code units
BUTTONS_PER_ROW = 2
CLOSE_TIMEOUT = 10.0  # how long shutdown waits for updates still being handled


def parse_update(body: bytes, bot: Bot) -> Update:
    """A webhook body as an Update. NestedTooDeep for absurd nesting, ValueError for anything else that is not
    an update: python-telegram-bot builds objects from whatever the JSON holds (dates, nested messages), and
    a body it cannot build from is a bad request, whichever exception it happens to raise."""
    data = parse_json(body)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise ValueError("not an update")
    try:
        return Update.de_json(data, bot)
    except Exception as exc:  # see the docstring: any failure here means a malformed body
        raise ValueError(f"not an update: {type(exc).__name__}") from exc


def to_incoming(update: Update, now: datetime) -> Incoming | None:
    """The update as the dispatcher sees it, or None for kinds we do not answer (edits, channel posts…).
    ValueError when its fields have types no real update has (python-telegram-bot does not check them).

    The update_id is the dedup id: Telegram redelivers the same update_id until it gets a 2xx.
    """
    try:
        return _to_incoming(update, now)
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"malformed update: {type(exc).__name__}") from exc


def _to_incoming(update: Update, now: datetime) -> Incoming | None:
    message_id = str(update.update_id)
    if (query := update.callback_query) is not None:
        if query.data is None:  # game buttons carry no data
            return None
        chat = query.message.chat if query.message is not None else None
        return Incoming("telegram", str(query.from_user.id), str(chat.id if chat else query.from_user.id),
                        query.data, message_id, now, is_button=True,
                        group_chat=chat is not None and chat.type in GROUP_CHATS)
    msg = update.message
    if msg is None or msg.from_user is None:
        return None
    found: list[Attachment] = []
    if msg.photo:  # several sizes of one picture; the largest comes last
        found.append(Attachment("image", url=msg.photo[-1].file_id))
    if msg.voice:
        found.append(Attachment("voice", url=msg.voice.file_id))
    if msg.location:
        found.append(Attachment("location", latitude=msg.location.latitude, longitude=msg.location.longitude,
                                label=msg.venue.title if msg.venue else ""))
    if msg.document:
        found.append(Attachment("file", url=msg.document.file_id, label=msg.document.file_name or ""))
    text = msg.text or msg.caption or ""
    if msg.sticker is not None:
        text = msg.sticker.emoji or ""  # a sticker is a big emoji: answered like one
    elif not found and msg.effective_attachment is not None:
        # Video, audio, contact, poll…: not text, and not "an empty message" either.
        found.append(Attachment("file", url=str(getattr(msg.effective_attachment, "file_id", ""))))
    return Incoming("telegram", str(msg.from_user.id), str(msg.chat.id), text, message_id, now, tuple(found),
                    group_chat=msg.chat.type in GROUP_CHATS)


def callback_data(button: Button) -> str:
    """Telegram rejects callback_data over 64 bytes: fall back to the label, else cut at a character boundary."""
    for candidate in (button.value, button.label):
        if 0 < len(candidate.encode()) <= MAX_CALLBACK_BYTES:
            return candidate
    return button.value.encode()[:MAX_CALLBACK_BYTES].decode(errors="ignore")


def keyboard(buttons: list[Button]) -> InlineKeyboardMarkup | None:
    keys = [InlineKeyboardButton(b.label, callback_data=callback_data(b)) for b in buttons if b.label]
    if not keys:
        return None
    return InlineKeyboardMarkup([keys[i:i + BUTTONS_PER_ROW] for i in range(0, len(keys), BUTTONS_PER_ROW)])


def _units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1  # Telegram counts UTF-16 code units


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Pieces under Telegram's length limit, cut at line ends where possible (long "详细" answers)."""
    chunks: list[str] = []
    rest = text
    while sum(map(_units, rest)) > limit:
        cut = used = 0
        while used + _units(rest[cut]) <= limit:
            used += _units(rest[cut])
            cut += 1
        newline = rest.rfind("\n", 0, cut)
        cut = newline + 1 if newline > cut // 2 else cut
        chunks.append(rest[:cut])
        rest = rest[cut:]
    return [c for c in [*chunks, rest] if c.strip()]


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _retry_after(exc: RetryAfter) -> float:
    return _seconds(exc.retry_after)


def make_bot(settings: Settings) -> tuple[Bot, tuple[HTTPXRequest, HTTPXRequest]]:
    """The Bot and its HTTP clients: we close those ourselves, since Bot.initialize (which would) calls getMe."""
    # A small pool: with hundreds of connections httpcore spends its time scanning them on every request.
    requests = (HTTPXRequest(connection_pool_size=8), HTTPXRequest(connection_pool_size=1))
    bot = Bot(settings.telegram_token, base_url=settings.telegram_api_base, request=requests[0],
              get_updates_request=requests[1])
    return bot, requests


# Acknowledged updates handled at once. Few: each answer holds the event loop for milliseconds of retrieval, and an
# acknowledgement (now a database write, several event-loop turns) waits behind every handler that is ready to
# run. With 16 the acknowledgement's p99 at 200 updates/s was 3x that with 4 (docs/benchmarks.md); handling is
# CPU-bound, so fewer at once costs no throughput.
MAX_CONCURRENT_UPDATES = 4


class TelegramChannel:
    name = "telegram"
    rate_per_second = 25.0  # Telegram allows about 30 messages a second overall; keep a margin

    def __init__(self, services: Services, bot: Bot, secret: str, requests: tuple[HTTPXRequest, ...] = ()) -> None:
        self.services = services
        self.bot = bot
        self.secret = secret
        self._requests = requests  # closed with the channel
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        # Bursts are handled a few at a time, so acknowledging new updates stays fast.
        self._working = asyncio.Semaphore(MAX_CONCURRENT_UPDATES)

    @property
    def in_flight(self) -> int:
        """Updates acknowledged but still being handled."""
        return len(self._tasks)

    # -- in ---------------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        if self._poller is not None:
            return []  # polling mode: Telegram refuses getUpdates while a webhook is set anyway
        if not self.secret:
            log.warning("SHEGONG_TELEGRAM_WEBHOOK_SECRET is empty: the Telegram webhook is not mounted, since "
                        "anyone could post forged updates to it (`serve --telegram-polling` still works)")
            return []
        return [web.post(WEBHOOK_PATH, self._webhook)]

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(errors="replace"), self.secret.encode()):
            return web.json_response({"error": "密钥不正确"}, status=401)
        body = await request.read()  # over client_max_size: 413 from the server's middleware
        try:
            update = parse_update(body, self.bot)
            # Translated now, so that a body that could not be handled later is refused while Telegram listens.
            incoming = to_incoming(update, self.services.clock.now())
        except NestedTooDeep as exc:
            log.warning("telegram webhook refused: %s", exc)
            return web.json_response({"error": "请求体嵌套层数过多"}, status=400)
        except ValueError:
            return web.json_response({"error": "请求体不是有效的 Telegram 更新"}, status=400)
        incoming = to_incoming(update, self.services.clock.now())
        if incoming is None:  # a kind of update we do not answer (a game button's press): nothing to keep
            if update.callback_query is not None:
                self._spawn(self._stop_spinner(update.callback_query))
            return web.Response(status=200)
        # Stored before the 200 (Telegram never resends an update it got 200 for): a process killed after
        # this point leaves it in the inbox, and another process (or this one restarted) answers it.
        try:
            accepted = await self.services.inbox.accept(incoming)
        except Exception as exc:  # noqa: BLE001 - the database is unreachable or failing
            # The error's name only: a driver's message may quote the statement's parameters (the text).
            log.warning("telegram update not stored (%s); answering 503 so that Telegram delivers it again",
                        type(exc).__name__)
            return web.json_response({"error": "暂时无法接收，请稍后重试"}, status=503)
        if accepted is not None:  # None: a redelivery of an update taken before
            # Handled after the answer, so that a slow reply never holds Telegram's request.
            self._spawn(self._process(update, accepted))
        return web.Response(status=200)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("telegram update failed", exc_info=exc)

    async def _process(self, update: Update, incoming: Incoming) -> None:
        async with self._working:
            if update.callback_query is not None:
                await self._stop_spinner(update.callback_query)
            await self._answer(incoming)

    @staticmethod
    async def _stop_spinner(query: CallbackQuery) -> None:
        try:  # a lost answer costs nothing but the spinner, so it is neither stored nor queued
            await query.answer()
        except TelegramError as exc:
            log.warning("answerCallbackQuery failed: %s", exc)

    async def redo(self, incoming: Incoming) -> None:
        """An update accepted earlier whose process died before its replies were queued (bot/inbox.py)."""
        async with self._working:
            await self._answer(incoming)

    async def _answer(self, incoming: Incoming) -> None:
        assert self.services.dispatcher is not None
        try:
            replies = await self.services.dispatcher.handle(incoming)
            await self.services.inbox.finish(incoming, replies)
        except Exception:
            await self.services.inbox.give_back(incoming)
            raise

    # -- long polling (development: no public HTTPS URL needed) --------------------------------------
    def start_polling(self, timeout: int = 30) -> None:
        """Fetch updates with getUpdates instead of a webhook. Call before the routes are mounted."""
        log.info("telegram: long polling with getUpdates (webhook not mounted)")
        self._poller = asyncio.create_task(self._poll(timeout))

    async def _poll(self, timeout: int) -> None:
        offset: int | None = None
        failures = 0
        webhook_cleared = False
        while True:
            try:
                if not webhook_cleared:
                    webhook_cleared = await self.bot.delete_webhook()
                updates = await self.bot.get_updates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES)
                failures = 0
            except RetryAfter as exc:
                await asyncio.sleep(_retry_after(exc))
                continue
            except TelegramError as exc:
                failures += 1
                delay = min(30, 2 ** failures)
                hint = " (another process is polling, or a webhook was set)" if isinstance(exc, Conflict) else ""
                log.warning("getUpdates failed%s: %s; retrying in %d s", hint, exc, delay)
                await asyncio.sleep(delay)
                continue
            for update in updates:
                offset = update.update_id + 1
                try:  # a malformed update is skipped (and confirmed) here rather than retried forever below
                    to_incoming(update, self.services.clock.now())
                except ValueError as exc:
                    log.warning("telegram update %d skipped: %s", update.update_id, exc)
                    continue
                # In order, and confirmed (offset) only once handled: after a crash the unconfirmed updates
                # come back and dedup drops those already handled. As a task (wait() neither cancels it nor
                # raises its error, which _done logs) so that close() lets the current update finish.
                task = self._spawn(self._take_polled(update))
                await asyncio.wait([task])
                if task.cancelled() or task.exception() is not None:
                    # Not stored (the database is away): not confirmed either, so getUpdates returns it.
                    await asyncio.sleep(min(30, 2 ** failures))
                    failures += 1
                    break
                offset = update.update_id + 1

    async def _take_polled(self, update: Update) -> None:
        incoming = to_incoming(update, self.services.clock.now())
        if incoming is not None and (accepted := await self.services.inbox.accept(incoming)) is not None:
            await self._process(update, accepted)

    # -- out --------------------------------------------------------------------------------------
    async def send(self, chat_id: str, reply: Reply) -> None:
        # Citations are already in the text; plain text (no parse_mode) so policy text needs no escaping.
        # A reply longer than one message goes as several; a retry after a partial send repeats pieces.
        pieces = split_text(reply.text) or (["请选择："] if reply.buttons else [])
        for n, piece in enumerate(pieces):
            markup = keyboard(reply.buttons) if n == len(pieces) - 1 else None
            try:
                await self.bot.send_message(chat_id, piece, reply_markup=markup)
            except RetryAfter as exc:
                raise SendError(str(exc), retry_after=_retry_after(exc)) from exc
            except (Forbidden, BadRequest, ChatMigrated) as exc:
                # Blocked, deactivated, bad chat id, or a group that became a supergroup: retrying cannot help.
                raise SendError(str(exc), permanent=True) from exc
            except TelegramError as exc:
                # NetworkError, TimedOut, and InvalidToken (fixable by the operator, then a retry delivers).
                raise SendError(str(exc)) from exc

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        if self._tasks:  # graceful shutdown: let in-flight updates reach the outbox
            _, pending = await asyncio.wait(set(self._tasks), timeout=CLOSE_TIMEOUT)
            for task in pending:
                log.warning("telegram update still running at shutdown: cancelled")
                task.cancel()
        await asyncio.gather(*(r.shutdown() for r in self._requests))


def create(services: Services) -> TelegramChannel | None:
    settings = services.settings
    if not settings.telegram_token:
        return None
    bot, requests = make_bot(settings)
    return TelegramChannel(services, bot, settings.telegram_webhook_secret, requests)


async def set_webhook(settings: Settings, url: str) -> None:
    """Point Telegram at our webhook, with the secret it must send back. Raises SystemExit with the reason."""
    if not settings.telegram_token:
        raise SystemExit("未配置 SHEGONG_TELEGRAM_TOKEN（机器人令牌），无法设置 Webhook。")
    if not settings.telegram_webhook_secret:
        raise SystemExit("未配置 SHEGONG_TELEGRAM_WEBHOOK_SECRET：没有密钥的 Webhook 不安全，服务端也不会接收。")
    bot, requests = make_bot(settings)
    try:
        await bot.set_webhook(url, secret_token=settings.telegram_webhook_secret, allowed_updates=ALLOWED_UPDATES)
    except TelegramError as exc:
        raise SystemExit(f"设置 Webhook 失败：{exc}") from exc
    finally:
        await asyncio.gather(*(r.shutdown() for r in requests))
