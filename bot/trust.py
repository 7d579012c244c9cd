"""Which messages may reach casework: private chats whose sender the platform authenticated.

Worker and lead commands show case data, and handoff relays a resident's situation. In a group chat everyone
reads the reply; in WeChat plaintext mode the signature covers only the URL, so one captured callback URL
lets anyone post any body as any user. Both get public policy answers only.
"""

from __future__ import annotations

from bot.messages import Incoming

PRIVATE_ONLY = "请私聊使用：社工和站长的功能只在与我的私聊中使用（群里的其他人会看到回复）。"
SAFE_MODE_ONLY = ("这里目前只提供政策问答。社工功能和转人工需要公众号开启安全模式（消息加密），请联系管理员。"
                  "如需帮助，请联系所在镇（街）社工站或拨打 12345 政务服务热线。")


def casework_refusal(incoming: Incoming) -> str | None:
    """Why this message may not use casework, worker or lead features; None when it may."""
    if not incoming.sender_verified:
        return SAFE_MODE_ONLY
    if incoming.group_chat:
        return PRIVATE_ONLY
    return None
