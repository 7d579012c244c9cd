"""A channel double at the platform boundary: records what would go over the wire, per chat, and can fail."""

from __future__ import annotations

from aiohttp import web

from bot.channels.base import SendError
from bot.messages import Reply


class RecordingChannel:
    rate_per_second = 1000.0

    def __init__(self, name: str = "test", failures: list[SendError] | None = None,
                 fail: SendError | None = None) -> None:
        self.name = name
        self.sent: list[tuple[str, Reply]] = []
        self.failures = list(failures or [])  # raised once each, in order
        self.fail = fail  # raised on every send

    def routes(self) -> list[web.RouteDef]:
        return []

    async def send(self, chat_id: str, reply: Reply) -> None:
        if self.fail is not None:
            raise self.fail
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((chat_id, reply))

    async def close(self) -> None:
        pass
