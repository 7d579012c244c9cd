"""What the WeChat (公众号) and WeCom (企业微信) channels really share.

Both platforms post the same XML callbacks (wechatpy's enterprise messages subclass the official-account
ones), wait 5 s for a passive reply, and push later through a JSON API that needs an access token.
`WxChannel` holds that flow; the two subclasses add only their crypto, URL check and send payload.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import struct
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from xml.parsers import expat
from xml.parsers.expat import ExpatError

import aiohttp
from aiohttp import web
from wechatpy.messages import BaseMessage

from bot.channels.base import SendError
from bot.messages import Attachment, Incoming, Reply

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.services import Services
    from bot.store import Store

log = logging.getLogger(__name__)

# WeChat gives up after 5 s and retries; answering within 1.5 s leaves room for the database,
# encryption and a slow network. Anything slower is answered through the outbox instead.
PASSIVE_DEADLINE = 1.5
# Passive and pushed text messages are cut off (or refused) beyond 2048 bytes.
MAX_TEXT_BYTES = 2000
# A callback signed longer ago than this is refused. Message ids are remembered for 7 days
# (bot/maintenance.py), so a captured callback replayed inside this window is caught as a duplicate and
# one replayed later is refused here; a day leaves any plausible clock difference alone.
MAX_CALLBACK_AGE = timedelta(hours=24)
TOKEN_MARGIN = timedelta(minutes=5)  # refresh this long before the platform's expiry
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)
FORBIDDEN_XML = ("<!doctype", "<!entity")
# The deepest real callback (a WeCom approval event) nests about 6 elements; nothing legitimate nears this.
MAX_XML_DEPTH = 16
UNSUPPORTED_TEXT = "抱歉，这类消息我暂时看不懂。请直接打字告诉我您想了解什么，例如：低保怎么申请？"
# What broken XML, base64 or ciphertext raises inside xmltodict, wechatpy and cryptography.
MALFORMED = (ExpatError, KeyError, TypeError, ValueError, AttributeError, IndexError, struct.error)


class Unsupported(Exception):
    """A message type the bot cannot read (video, link, file…): answered politely, not dispatched."""


class Refused(Exception):
    """A callback we will not process; `status` is the HTTP answer (403 forged, 400 malformed)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def safe_xml(data: bytes | str) -> str:
    """The body as text, refused before any parser sees it if it declares a DTD or entities.

    xmltodict (under wechatpy) already rejects entity declarations, but a DTD has no business in a
    WeChat callback, so refusing up front does not depend on a library default."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise Refused(400, "body is not UTF-8") from exc
    lowered = text.lower()
    if any(marker in lowered for marker in FORBIDDEN_XML):
        raise Refused(400, "DTD or entity declarations are not accepted")
    _check_depth(text)
    return text


def _check_depth(text: str) -> None:
    """Refused(400) when elements nest deeper than MAX_XML_DEPTH; ExpatError when the XML is malformed.
    One pass of expat (C, no recursion) before the parsers that build nested dictionaries from it."""
    depth = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_XML_DEPTH:
            raise Refused(400, f"XML nested deeper than {MAX_XML_DEPTH} levels")

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    parser = expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.Parse(text, True)


def check_fresh(query: Mapping[str, str], now: float) -> None:
    """Refuse (403) a callback whose signed timestamp is missing or more than MAX_CALLBACK_AGE away from
    now. Wall-clock time on purpose: this is about the transport, like a TLS certificate's validity."""
    try:
        sent = int(query.get("timestamp", ""))
    except ValueError as exc:
        raise Refused(403, "missing or malformed timestamp") from exc
    if abs(now - sent) > MAX_CALLBACK_AGE.total_seconds():
        raise Refused(403, "stale callback timestamp")


def event_id(msg: BaseMessage) -> str:
    """Events carry no MsgId: sender + time + event name identify a delivery (hashed: short, no openid)."""
    raw = f"{msg.source}|{msg._data.get('CreateTime', '')}|{msg._data.get('Event') or msg._data.get('MsgType')}"
    return "evt-" + hashlib.sha1(raw.encode()).hexdigest()[:24]


def _reply_fields(msg: BaseMessage) -> tuple[Any, ...]:
    """The fields a passive reply is built from, converted once here (wechatpy converts on access; WeCom's
    AgentID must be a number): a callback they do not convert for is malformed and refused before any work,
    rather than failing once the answer is ready."""
    return msg.source, msg.target, getattr(msg, "agent", None)


def _coordinate(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def to_incoming(msg: BaseMessage, channel: str, clock: Clock, sender_verified: bool = True) -> Incoming | None:
    """The platform-neutral message, or None for events the bot stays silent on.

    Raises Unsupported for message types the bot cannot read. wechatpy maps unknown types and unknown
    events alike to UnknownMessage, so the raw MsgType tells them apart. `sender_verified` is False when
    the platform's signature does not cover the body (WeChat plaintext mode)."""
    raw_type = str(msg._data.get("MsgType", "")).lower()
    user = msg.source or ""
    if not user:
        raise KeyError("FromUserName")  # a callback without a sender is malformed
    # Callbacks for a group conversation name it (ChatId / ChatType); direct app messages do not.
    group = bool(msg._data.get("ChatId")) or str(msg._data.get("ChatType", "")).lower() == "group"
    base: dict[str, Any] = {"channel": channel, "user_id": user, "chat_id": user, "at": clock.now(),
                            "group_chat": group, "sender_verified": sender_verified}
    if raw_type == "event":
        event = getattr(msg, "event", "")
        if event in ("subscribe", "subscribe_scan"):
            return Incoming(text="", message_id=event_id(msg), event="subscribe", **base)
        if event == "click" and getattr(msg, "key", ""):
            return Incoming(text=msg.key, message_id=event_id(msg), is_button=True, **base)
        return None  # unsubscribe, menu views, location reports…: nothing to say
    base["message_id"] = str(msg.id) if msg.id else event_id(msg)
    if msg.type == "text":
        return Incoming(text=msg.content or "", **base)
    if msg.type == "voice":
        if msg.recognition:  # WeChat's speech recognition, when the account has it switched on
            return Incoming(text=msg.recognition, **base)
        return Incoming(text="", attachments=(Attachment("voice", url=msg.media_id or ""),), **base)
    if msg.type == "image":
        return Incoming(text="", attachments=(Attachment("image", url=msg.image or msg.media_id or ""),), **base)
    if msg.type == "location":
        # Location_X is the latitude, Location_Y the longitude.
        place = Attachment("location", latitude=_coordinate(msg.location_x), longitude=_coordinate(msg.location_y),
                           label=msg.label or "")
        return Incoming(text="", attachments=(place,), **base)
    raise Unsupported(raw_type)


def render_text(reply: Reply) -> str:
    """Plain text: WeChat text messages have no buttons, so they become a line of things to type."""
    if not reply.buttons:
        return reply.text
    return f"{reply.text}\n\n可回复：{' / '.join(b.label for b in reply.buttons)}"


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """Pieces under the platform's byte limit, cut at line ends where possible."""
    pieces: list[str] = []
    while len(text.encode()) > limit:
        cut = len(text.encode()[:limit].decode("utf-8", "ignore"))
        newline = text.rfind("\n", 0, cut)
        cut = newline + 1 if newline > cut // 2 else cut
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n")
    return [*pieces, text]


def as_texts(replies: list[Reply]) -> list[Reply]:
    return [Reply(piece) for reply in replies for piece in split_text(render_text(reply))]


REFRESH_LEASE = timedelta(seconds=15)  # a fetch that takes longer is presumed dead


class AccessToken:
    """One access token per app, shared by all processes through the database until 5 min before expiry.

    Every send reads the database first, so tokens are never fetched per message. When a refresh is due,
    one process takes a short lease in the database and fetches; the others (and other tasks in the same
    process, behind a lock) wait for the new token to appear. WeChat limits how often a token may be
    fetched and invalidates the old one on each fetch, so exactly one fetch matters."""

    def __init__(self, key: str, store: Store, clock: Clock,
                 fetch: Callable[[], Awaitable[tuple[str, int]]]) -> None:
        self.key, self.store, self.clock, self._fetch = key, store, clock, fetch
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if token := await self.store.get_shared(self.key):
            return token
        async with self._lock:
            if token := await self.store.get_shared(self.key):
                return token
            holder = uuid.uuid4().hex
            waited = 0.0
            while not await self.store.take_lease(f"{self.key}:refresh", holder, REFRESH_LEASE):
                # Another process is fetching: its token shows up in the database shortly.
                await asyncio.sleep(0.1)
                waited += 0.1
                if token := await self.store.get_shared(self.key):
                    return token
            try:
                # The previous holder may have stored a fresh token just before we took the lease.
                if token := await self.store.get_shared(self.key):
                    return token
                token, expires_in = await self._fetch()
                lifetime = max(timedelta(seconds=expires_in) - TOKEN_MARGIN, timedelta(minutes=1))
                await self.store.put_shared(self.key, token, self.clock.now() + lifetime)
            finally:
                await self.store.release_lease(f"{self.key}:refresh", holder)
            log.info("access token refreshed", extra={"key": self.key})
            return token

    async def invalidate(self, bad: str) -> None:
        # Only drop the token that failed: another process may already have stored a fresh one.
        if await self.store.get_shared(self.key) == bad:
            await self.store.put_shared(self.key, "", self.clock.now())


class WxApi:
    """JSON calls with the access token, on aiohttp (wechatpy's own client would block the event loop)."""

    def __init__(self, base: str, token_errors: frozenset[int], permanent_errors: frozenset[int]) -> None:
        self.base = base.rstrip("/")
        self.token_errors, self.permanent_errors = token_errors, permanent_errors
        self.token: AccessToken | None = None  # set by the channel, whose fetch uses this client
        self._http: aiohttp.ClientSession | None = None

    async def request(self, method: str, path: str, params: Mapping[str, str], payload: dict | None = None) -> dict:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=HTTP_TIMEOUT)
        body = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else None
        try:
            async with self._http.request(method, self.base + path, params=params, data=body, headers=headers) as r:
                if r.status >= 400:
                    raise SendError(f"HTTP {r.status} from {path}")
                data = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
            raise SendError(f"{path}: {type(exc).__name__}") from exc
        if not isinstance(data, dict):
            raise SendError(f"{path}: unexpected answer")
        return data

    async def post(self, path: str, payload: dict) -> dict:
        """POST with the token; an invalid or expired token is dropped and the call retried once."""
        assert self.token is not None
        for attempt in (1, 2):
            token = await self.token.get()
            data = await self.request("POST", path, {"access_token": token}, payload)
            code = int(data.get("errcode") or 0)
            if code == 0:
                return data
            if code in self.token_errors and attempt == 1:
                await self.token.invalidate(token)
                continue
            raise SendError(f"errcode {code}: {str(data.get('errmsg', ''))[:100]}",
                            permanent=code in self.permanent_errors)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


class Responder:
    """Runs the dispatcher for one accepted callback with the passive-reply deadline.

    Ready within PASSIVE_DEADLINE: the first reply is answered in the HTTP response and the rest queued
    (after the response is written, so they arrive after the first). Slower: nothing now, and every reply
    is queued when the dispatcher finishes. Either way the message leaves the inbox (bot/inbox.py) in the
    transaction that queues its replies."""

    def __init__(self, services: Services, channel: str) -> None:
        self.services, self.channel = services, channel
        self._pending: set[asyncio.Task] = set()

    async def answer(self, incoming: Incoming) -> tuple[Reply | None, list[Reply]]:
        """The passive reply and the replies to queue after it; (None, []) when everything is (or will be)
        queued already."""
        assert self.services.dispatcher is not None
        task = self._keep(self.services.dispatcher.handle(incoming))
        try:
            # asyncio.wait leaves the task running when the deadline passes (wait_for would cancel it).
            await asyncio.wait((task,), timeout=PASSIVE_DEADLINE)
        except asyncio.CancelledError:  # the request was dropped: the answer still arrives by push
            self._keep(self._push_when_done(task, incoming))
            raise
        if not task.done():
            self._keep(self._push_when_done(task, incoming))
            return None, []
        try:
            replies = as_texts(task.result())
        except Exception:
            await self.services.inbox.give_back(incoming)
            raise
        if not replies:
            await self.finish(incoming, [], first=0)
            return None, []
        return replies[0], replies[1:]

    def _keep(self, coro: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _push_when_done(self, task: asyncio.Task, incoming: Incoming) -> None:
        try:
            replies = as_texts(await task)
        except Exception:
            await self.services.inbox.give_back(incoming)
            raise
        await self.finish(incoming, replies, first=0)

    async def finish(self, incoming: Incoming, replies: list[Reply], first: int) -> None:
        # Numbered dedup keys: a second attempt (or a second process) queues nothing twice.
        try:
            await self.services.inbox.finish(incoming, replies, first)
        except Exception:
            await self.services.inbox.give_back(incoming)
            raise

    def finish_soon(self, incoming: Incoming, replies: list[Reply]) -> None:
        self._keep(self.finish(incoming, replies, first=0))

    async def redo(self, incoming: Incoming) -> None:
        """A message accepted earlier whose process died before its replies were queued: all are pushed."""
        assert self.services.dispatcher is not None
        await self._push_when_done(self._keep(self.services.dispatcher.handle(incoming)), incoming)

    async def close(self, timeout: float = 10) -> None:
        """Let answers in progress reach the outbox before shutdown."""
        if self._pending:
            _, late = await asyncio.wait(set(self._pending), timeout=timeout)
            for task in late:
                task.cancel()


class WxChannel(ABC):
    """The callback flow: unwrap (signature, decryption) → refuse DTDs → parse → dispatch → wrap."""

    name: str
    rate_per_second: float
    path: str
    # Whether the platform's signature covers the message body (and so the sender in it).
    body_signed: bool = True

    def __init__(self, services: Services, api: WxApi, token_key: str) -> None:
        self.services = services
        self.api = api
        api.token = AccessToken(token_key, services.store, services.clock, self.fetch_token)
        self.responder = Responder(services, self.name)

    # -- provided by each platform: crypto in echo/unwrap/wrap, parsing in parse ----------------------
    @abstractmethod
    def echo(self, query: Mapping[str, str]) -> str:
        """URL verification: the echostr to answer; Refused(403) on a bad signature."""
        ...

    @abstractmethod
    def unwrap(self, query: Mapping[str, str], body: str) -> str:
        """Check the signature (Refused(403)) and decrypt where needed: the message XML."""
        ...

    @abstractmethod
    def parse(self, xml: str) -> BaseMessage:
        ...

    @abstractmethod
    def wrap(self, msg: BaseMessage, text: str, query: Mapping[str, str]) -> str:
        """The passive text reply, encrypted where the platform expects it."""
        ...

    @abstractmethod
    async def fetch_token(self) -> tuple[str, int]:
        """A new access token and its lifetime in seconds."""
        ...

    @abstractmethod
    async def send(self, chat_id: str, reply: Reply) -> None:
        ...

    # -- shared -----------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return [web.get(self.path, self._verify_url), web.post(self.path, self._callback)]

    async def _verify_url(self, request: web.Request) -> web.Response:
        try:
            return web.Response(text=self.echo(request.query))
        except Refused as exc:
            return web.Response(status=exc.status, text=str(exc))
        except MALFORMED:
            return web.Response(status=400, text="malformed echostr")

    def read(self, query: Mapping[str, str], body: bytes, now: float) -> BaseMessage:
        """The callback's message: fresh, signed, decrypted, free of DTDs and deep nesting. Raises Refused or
        one of MALFORMED, which the callback answers with 4xx."""
        check_fresh(query, now)
        msg = self.parse(safe_xml(self.unwrap(query, safe_xml(body))))
        _reply_fields(msg)
        return msg

    async def _callback(self, request: web.Request) -> web.Response:
        body = await request.read()  # over 1 MB: the server answers 413
        try:
            msg = self.read(request.query, body, time.time())
            incoming = to_incoming(msg, self.name, self.services.clock, sender_verified=self.body_signed)
        except Unsupported:
            return self._reply(msg, UNSUPPORTED_TEXT, request.query)
        except Refused as exc:
            log.warning("%s callback refused: %s", self.name, exc)
            return web.Response(status=exc.status, text=str(exc))
        except MALFORMED as exc:
            log.warning("%s callback malformed: %s", self.name, type(exc).__name__)
            return web.Response(status=400, text="malformed XML")
        if incoming is None:  # an event the bot stays silent on
            return web.Response(text="success")
        # Stored before any answer, so that the message survives this process (bot/inbox.py).
        try:
            accepted = await self.services.inbox.accept(incoming)
        except Exception as exc:  # noqa: BLE001 - the database is unreachable or failing
            # An error status makes the platform retry; the error's name only (a driver may quote the text).
            log.warning("%s message not stored (%s); answering 503 so that it is delivered again", self.name,
                        type(exc).__name__)
            return web.Response(status=503, text="temporarily unavailable")
        if accepted is None:  # a redelivery of a message taken before
            return web.Response(text="success")
        first, later = await self.responder.answer(accepted)
        if first is None:  # no answer, or one that will be pushed
            return web.Response(text="success")
        response = self._reply(msg, first.text, request.query)
        try:
            await response.prepare(request)
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            # The passive reply did not go out: it is pushed with the rest (in a task of its own, since this
            # one may be cancelled).
            self.responder.finish_soon(accepted, [first, *later])
            raise
        await self.responder.finish(accepted, later, first=1)
        return response

    async def redo(self, incoming: Incoming) -> None:
        await self.responder.redo(incoming)

    def _reply(self, msg: BaseMessage, text: str, query: Mapping[str, str]) -> web.Response:
        return web.Response(text=self.wrap(msg, text, query), content_type="application/xml")

    async def send_texts(self, reply: Reply, send_one: Callable[[str], Awaitable[None]]) -> None:
        # A push longer than one message goes out in pieces (a retry may repeat earlier pieces).
        for piece in split_text(render_text(reply)):
            await send_one(piece)

    async def close(self) -> None:
        await self.responder.close()
        await self.api.close()
