"""What every channel adapter provides to the core: HTTP routes in, `send` out."""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from bot.messages import Incoming, Reply

# No update or chat request nests deeper than this; Telegram's deepest (a callback's message with its
# keyboard) is about 7 levels.
MAX_JSON_DEPTH = 32


class NestedTooDeep(ValueError):
    """A request body nested deeper than any real one: refused (400) before anything walks it."""


def parse_json(body: bytes) -> Any:
    """A JSON request body. ValueError when malformed or not UTF-8, NestedTooDeep when nested deeper than
    MAX_JSON_DEPTH: Python's parser recurses, so 100 000 opening brackets would end as a RecursionError
    (a 500), and a structure just under that limit could still exhaust the stack further along."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise NestedTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:  # iterative, so the check itself cannot overflow
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > MAX_JSON_DEPTH:
            raise NestedTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return data


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def trusted_proxy_set(setting: str) -> frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses of SHEGONG_TRUSTED_PROXIES (comma separated); entries that are not addresses are ignored."""
    return frozenset(a for part in setting.split(",") if (a := _address(part)) is not None)


def from_trusted_proxy(request: web.BaseRequest,
                       trusted: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    peer = _address(request.remote or "")
    return peer is not None and peer in trusted


def client_address(request: web.BaseRequest,
                   trusted: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> str:
    """The address a request came from. Behind a trusted reverse proxy it is the last X-Forwarded-For hop
    that is not itself a trusted proxy (earlier hops are whatever the client chose to write); from
    anyone else the header is ignored, since a client could name any address to dodge a limit."""
    peer = request.remote or ""
    if not from_trusted_proxy(request, trusted):
        return peer
    hops = [h for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer
        if address not in trusted:
            return str(address)
    return peer


class SendError(Exception):
    """A push failed. `permanent` means retrying cannot help (the user blocked the bot, bad chat id)."""

    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Channel(Protocol):
    name: str
    # Sustained sends per second the platform allows (the outbox paces itself to this).
    rate_per_second: float

    def routes(self) -> list[web.RouteDef]: ...

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Deliver one reply outside a request (push); raise SendError on failure."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class DurableChannel(Channel, Protocol):
    """A channel whose webhook acknowledges messages before answering them (bot/inbox.py)."""

    async def redo(self, incoming: Incoming) -> None:
        """Handle a message accepted earlier (perhaps by a process that died) and queue its replies."""
        ...
