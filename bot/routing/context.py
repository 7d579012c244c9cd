"""What a handler gets for one message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.messages import Incoming, Reply
from bot.services import Services
from bot.store import UserRecord
from bot.store.handoff_records import ResidentStatus

HandlerResult = Reply | str | list[Reply] | None


@dataclass
class Context:
    """The message, its sender, the shared services and the dialog state."""

    incoming: Incoming
    services: Services
    user: UserRecord | None = None
    text: str = ""  # stripped, width-folded text used by filters
    state: str | None = None
    state_data: dict[str, Any] = field(default_factory=dict)
    status: ResidentStatus | None = None  # consent and handoff facts, read with the user at intake
    sent_this_minute: int = 0  # the sender's messages this minute, by every process (intake counts them)
    # Set by intake: state changes are kept here and written with the message's other writes when it
    # leaves (one batched transaction) instead of one transaction each.
    write_behind: bool = False
    state_changed: bool = False
    notice_shown: bool = False  # the privacy notice went out with this message
    forgotten: bool = False  # the sender's data was deleted by this message: write nothing more about them

    async def set_state(self, name: str, data: dict[str, Any] | None = None) -> None:
        assert self.user is not None
        self.state, self.state_data = name, dict(data or {})
        if self.write_behind:
            self.state_changed = True
        else:
            await self.services.store.set_state(self.user.id, name, self.state_data)

    async def clear_state(self) -> None:
        assert self.user is not None
        self.state, self.state_data = None, {}
        if self.write_behind:
            self.state_changed = True
        else:
            await self.services.store.clear_state(self.user.id)


Next = Callable[[Context], Awaitable[list[Reply]]]
