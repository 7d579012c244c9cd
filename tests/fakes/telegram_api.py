"""A fake Telegram Bot API server that speaks the real HTTP protocol, for end-to-end channel tests.

It serves `/bot<token>/<method>` on 127.0.0.1 like api.telegram.org does: parameters arrive form-encoded
(what python-telegram-bot sends: every non-string value JSON-encoded), as multipart, as JSON or in the query
string; answers are `{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}`
with the same HTTP status. It validates what real Telegram validates where our code could get it wrong
(empty or overlong text, callback_data over 64 bytes, getUpdates while a webhook is set), records every
call for assertions and can be told to fail the next calls of a method.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# Form values are strings on the wire; these are how Telegram types the fields we use.
INT_FIELDS = {"chat_id", "offset", "limit", "timeout", "message_id", "cache_time", "max_connections",
              "reply_to_message_id"}
BOOL_FIELDS = {"show_alert", "drop_pending_updates", "disable_notification", "protect_content"}
JSON_FIELDS = {"reply_markup", "allowed_updates", "entities", "link_preview_options", "reply_parameters"}
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    ok: bool = True  # False when the fake answered with an error


@dataclass
class FakeTelegram:
    token: str = "123:ABC"
    # getUpdates waits at most this long for new updates, whatever timeout the client asks for: tests stay fast.
    max_poll_wait: float = 0.5
    calls: list[Call] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    # Seconds to stall before answering a method, e.g. {"answerCallbackQuery": 1.0}: a slow Telegram.
    delays: dict[str, float] = field(default_factory=dict)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _failures: dict[str, deque[ApiError]] = field(default_factory=lambda: defaultdict(deque))
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    _runner: web.AppRunner | None = None
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        """What to pass as `telegram_api_base` (PTB appends the token)."""
        return f"{self.url}/bot"

    # -- test controls --------------------------------------------------------------------------
    def queue_update(self, update: dict[str, Any]) -> None:
        self._updates.append(update)
        self._new_update.set()

    def fail_next(self, method: str, error_code: int, description: str, retry_after: int | None = None,
                  times: int = 1) -> None:
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        for _ in range(times):
            self._failures[method.lower()].append(ApiError(error_code, description, parameters))

    def sent(self, method: str = "sendMessage", ok: bool | None = True) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    async def wait_for(self, method: str = "sendMessage", count: int = 1, timeout: float = 30.0,
                       ok: bool | None = True) -> list[dict[str, Any]]:
        """Poll until at least `count` calls of `method` arrived; fail with what did arrive otherwise."""
        deadline = time.monotonic() + timeout
        while len(found := self.sent(method, ok)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {method} call(s) within {timeout}s, got "
                                     f"{[(c.method, c.params) for c in self.calls]}")
            await asyncio.sleep(0.02)
        return found

    # -- protocol -------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(ApiError(401, "Unauthorized"))
        name = request.match_info["method"]
        method = METHODS.get(name.lower())
        if method is None:
            return _error(ApiError(404, "Not Found"))
        params = await _params(request)
        call = Call(method.__name__.lstrip("_"), params)
        self.calls.append(call)
        if delay := self.delays.get(call.method):
            await asyncio.sleep(delay)
        try:
            if failures := self._failures.get(name.lower()):
                raise failures.popleft()
            result = await method(self, params)
        except ApiError as exc:
            call.ok = False
            return _error(exc)
        return web.json_response({"ok": True, "result": result})

    def _bot_user(self) -> dict[str, Any]:
        return {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "社工助手",
                "username": "shegong_test_bot"}

    async def getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _required(params, "chat_id")
        text = str(params.get("text", ""))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "from": self._bot_user(),
                   "chat": {"id": chat_id, "type": "private" if isinstance(chat_id, int) and chat_id > 0
                            else "group"}, "text": text}
        if markup:
            message["reply_markup"] = markup
        return message

    async def answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        _required(params, "callback_query_id")
        return True

    async def setWebhook(self, params: dict[str, Any]) -> bool:
        url = str(_required(params, "url"))
        if url and not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not SECRET_TOKEN.match(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {k: v for k, v in params.items()} if url else {}
        return True

    async def deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    async def getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        if offset:  # updates below the offset are confirmed: Telegram forgets them
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        wait = min(float(params.get("timeout") or 0), self.max_poll_wait)
        deadline = time.monotonic() + wait
        while not self._updates and (left := deadline - time.monotonic()) > 0:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), left)
            except TimeoutError:
                break
        limit = int(params.get("limit") or 100)
        return self._updates[:limit]


METHODS = {name.lower(): getattr(FakeTelegram, name) for name in (
    "getMe", "sendMessage", "answerCallbackQuery", "setWebhook", "deleteWebhook", "getWebhookInfo", "getUpdates")}


def _error(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.code)


def _required(params: dict[str, Any], name: str) -> Any:
    if params.get(name) in (None, ""):
        raise ApiError(400, f"Bad Request: {name} is empty")
    return params[name]


async def _params(request: web.Request) -> dict[str, Any]:
    form: dict[str, str] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        return {**{k: _typed(k, v) for k, v in form.items()}, **(body if isinstance(body, dict) else {})}
    if request.can_read_body:
        form.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    return {k: _typed(k, v) for k, v in form.items()}


def _typed(name: str, value: str) -> Any:
    if name in JSON_FIELDS:
        return json.loads(value)
    if name in BOOL_FIELDS:
        return value.lower() in ("true", "1")
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value  # "@channelusername"
    return value


# -- update builders: the JSON Telegram POSTs to a webhook (or returns from getUpdates) -------------
def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "阿婆", "language_code": "zh-hans"}


def message_update(update_id: int, chat_id: int, **content: Any) -> dict[str, Any]:
    """An update with a private-chat message; `content` adds text, photo, voice, location, ..."""
    return {"update_id": update_id, "message": {
        "message_id": update_id + 5000, "date": 1795000000, "from": _user(chat_id),
        "chat": {"id": chat_id, "type": "private", "first_name": "阿婆"}, **content}}


def text_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return message_update(update_id, chat_id, **content)


def callback_update(update_id: int, chat_id: int, data: str, query_id: str = "4382bfdwdsb323b2d9") -> dict[str, Any]:
    return {"update_id": update_id, "callback_query": {
        "id": query_id, "from": _user(chat_id), "chat_instance": "-7654321", "data": data,
        "message": {"message_id": 77, "date": 1795000000, "chat": {"id": chat_id, "type": "private"},
                    "from": {"id": 123, "is_bot": True, "first_name": "社工助手"}, "text": "您好，我是社工助手"}}}
