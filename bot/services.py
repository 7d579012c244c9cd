"""What handlers, channels and background loops may use: settings, store, knowledge, clock and the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from bot.clock import Clock
from bot.config import Settings
from bot.inbox import Inbox
from bot.knowledge_service import KnowledgeService
from bot.messages import Incoming, Reply, reply_to_payload
from bot.outbox import OutboxSender
from bot.store import Store


class MessageHandler(Protocol):
    """The dispatcher as channels see it: one Incoming in, the replies out."""

    async def handle(self, incoming: Incoming) -> list[Reply]: ...


@dataclass
class Services:
    settings: Settings
    store: Store
    knowledge: KnowledgeService
    clock: Clock
    dispatcher: MessageHandler | None = None
    outbox: OutboxSender | None = None  # set by the server, which knows the channels
    inbox: Inbox = field(init=False)  # durable intake for the channels that acknowledge before answering

    def __post_init__(self) -> None:
        self.inbox = Inbox(self.store, self.clock, timedelta(seconds=self.settings.inbox_lease_seconds),
                           self.wake_outbox)

    async def push(self, channel: str, chat_id: str, reply: Reply, dedup_key: str | None = None) -> bool:
        """Queue a message for delivery outside the current request (always through the outbox)."""
        queued = await self.store.enqueue(channel, chat_id, reply_to_payload(reply), dedup_key)
        if queued:
            self.wake_outbox()
        return queued

    def wake_outbox(self) -> None:
        """Rows were queued by a store method: let the sender loop look now instead of at its next poll."""
        if self.outbox is not None:
            self.outbox.wake()

    async def close(self) -> None:
        await self.store.close()
