"""Rate limits, all shared by every process through the database: messages per identity per minute are
counted by the sender upsert every message already makes (bot.store.arrivals); invite failures and new web
identities, rare and worth guessing at scale, are stored as events (`Store.recent_events`).
"""

from __future__ import annotations

import hashlib

RATE_NOTICE = ("您发消息太快了，我需要歇一歇 🙏 请一分钟后再发，之前的消息我已收到。"
               "如有急事请拨打 12345 政务服务热线，紧急情况请拨打 110 或 120。")


def address_key(prefix: str, address: str) -> str:
    """A rate-limit key for a client address; the address itself is not stored."""
    return f"{prefix}:{hashlib.sha256(address.encode()).hexdigest()[:32]}"
