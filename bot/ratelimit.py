"""Rate limits: messages per identity (counted in this process) and keys for the limits shared in the database.

Messages per identity per minute are counted in memory: every message would otherwise pay a database write,
and a person's messages reach one process at a time in practice (a second process can at most double the
allowance). Invite failures and new web identities are rare and worth guessing at scale, so they are
counted in the database (`Store.recent_events`), shared by every process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

RATE_NOTICE = ("您发消息太快了，我需要歇一歇 🙏 请一分钟后再发，之前的消息我已收到。"
               "如有急事请拨打 12345 政务服务热线，紧急情况请拨打 110 或 120。")


@dataclass
class MessageRate:
    """Fixed one-minute windows per (channel, user): how many messages each sent in the current minute."""

    minute: int = -1
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def count(self, channel: str, user_id: str, at_seconds: float) -> int:
        """Count one message; returns how many this sender sent in the current minute, this one included."""
        minute = int(at_seconds // 60)
        if minute != self.minute:  # a new window: everyone starts again (and memory stays bounded)
            self.minute, self.counts = minute, {}
        key = (channel, user_id)
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]


def address_key(prefix: str, address: str) -> str:
    """A rate-limit key for a client address; the address itself is not stored."""
    return f"{prefix}:{hashlib.sha256(address.encode()).hexdigest()[:32]}"
