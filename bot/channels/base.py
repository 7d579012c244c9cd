"""What every channel adapter provides to the core: HTTP routes in, `send` out."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from bot.messages import Reply


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
