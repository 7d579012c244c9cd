"""The channels `shegong serve` can mount. A channel whose settings are absent is skipped (and logged)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.channels import telegram, wechat, wecom
from bot.channels.base import Channel

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

# Each factory returns a Channel, or None when its settings are absent. Add one line per platform.
ChannelFactory = Callable[["Services"], Channel | None]


def factories() -> list[tuple[str, ChannelFactory]]:
    found: list[tuple[str, ChannelFactory]] = []
    found.append(("telegram", telegram.create))
    found.append(("wechat", wechat.create))
    found.append(("wecom", wecom.create))
    return found


def configured_channels(services: Services) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for name, factory in factories():
        channel = factory(services)
        if channel is None:
            log.info("channel %s not configured: not mounted", name)
        else:
            log.info("channel %s mounted", name)
            channels[channel.name] = channel
    return channels
