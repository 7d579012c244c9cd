"""WeChat Official Account (公众号): callbacks at /wechat, pushes through the customer-service API.

Plaintext mode checks `signature`; safe mode (wechat_aes_key set) checks `msg_signature`, decrypts the
message and encrypts the passive reply. Crypto stays in `echo`/`unwrap`/`wrap`; parsing is wechatpy's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import wechatpy
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.channels.base import SendError
from bot.channels.wx_common import Refused, WxApi, WxChannel
from bot.messages import Reply

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

# 40001/40014 invalid token, 42001 expired token: fetch a new one and retry once.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# 45015 outside the 48-hour reply window, 45047 too many pushes since the user last wrote,
# 40003 unknown openid, 43004 user unsubscribed: retrying cannot help.
PERMANENT_ERRORS = frozenset({45015, 45047, 40003, 43004})


class WeChatChannel(WxChannel):
    name = "wechat"
    rate_per_second = 20.0
    path = "/wechat"

    def __init__(self, services: Services) -> None:
        s = services.settings
        self.callback_token, self.appid, self.secret = s.wechat_token, s.wechat_appid, s.wechat_appsecret
        self.crypto = WeChatCrypto(s.wechat_token, s.wechat_aes_key, s.wechat_appid) if s.wechat_aes_key else None
        # Plaintext mode signs only the URL: a captured callback URL carries any body, as any sender.
        self.body_signed = self.crypto is not None
        super().__init__(services, WxApi(s.wechat_api_base, TOKEN_ERRORS, PERMANENT_ERRORS), "wechat:access_token")

    def _check_plain(self, query: Mapping[str, str]) -> None:
        try:
            check_signature(self.callback_token, query.get("signature", ""), query.get("timestamp", ""),
                            query.get("nonce", ""))
        except InvalidSignatureException as exc:
            raise Refused(403, "bad signature") from exc

    def echo(self, query: Mapping[str, str]) -> str:
        if self.crypto is not None and "msg_signature" in query:
            return self._decrypt(query, {"Encrypt": query.get("echostr", "")})
        self._check_plain(query)
        return query.get("echostr", "")

    def unwrap(self, query: Mapping[str, str], body: str) -> str:
        if self.crypto is None:
            self._check_plain(query)
            return body
        if "msg_signature" not in query:
            raise Refused(403, "safe mode requires msg_signature")
        return self._decrypt(query, body)

    def _decrypt(self, query: Mapping[str, str], message: str | dict) -> str:
        assert self.crypto is not None
        try:
            return self.crypto.decrypt_message(message, query.get("msg_signature", ""), query.get("timestamp", ""),
                                               query.get("nonce", ""))
        except (InvalidSignatureException, InvalidAppIdException) as exc:
            raise Refused(403, "bad signature") from exc

    def parse(self, xml: str) -> BaseMessage:
        return wechatpy.parse_message(xml)

    def wrap(self, msg: BaseMessage, text: str, query: Mapping[str, str]) -> str:
        now = str(int(self.services.clock.now().timestamp()))
        xml = TextReply(message=msg, content=text, time=int(now)).render()
        if self.crypto is None:
            return xml
        return self.crypto.encrypt_message(xml, query.get("nonce", ""), now)

    async def fetch_token(self) -> tuple[str, int]:
        data = await self.api.request("GET", "/cgi-bin/token", {
            "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
        if not data.get("access_token"):
            raise SendError(f"token: errcode {data.get('errcode')}")
        return str(data["access_token"]), int(data.get("expires_in") or 7200)

    async def send(self, chat_id: str, reply: Reply) -> None:
        async def one(text: str) -> None:
            await self.api.post("/cgi-bin/message/custom/send",
                                {"touser": chat_id, "msgtype": "text", "text": {"content": text}})

        await self.send_texts(reply, one)


def create(services: Services) -> WeChatChannel | None:
    settings = services.settings
    if not settings.wechat_token:
        return None
    if settings.wechat_aes_key and len(settings.wechat_aes_key) != 43:
        raise ValueError("SHEGONG_WECHAT_AES_KEY（EncodingAESKey）应为 43 个字符")
    if not settings.wechat_aes_key:
        log.warning("WeChat official account in plaintext mode (SHEGONG_WECHAT_AES_KEY is empty): the platform "
                    "signs only the callback URL, not the message, so /wechat answers public policy questions "
                    "only; casework, handoff (转人工) and every worker or lead command need safe mode. "
                    "Set SHEGONG_WECHAT_AES_KEY and choose 安全模式 in the account's server settings.")
    return WeChatChannel(services)
