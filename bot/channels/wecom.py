"""WeCom (企业微信) self-built app: callbacks at /wecom (always encrypted), pushes as app messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.enterprise.replies import TextReply
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.messages import BaseMessage

from bot.channels.base import SendError
from bot.channels.wx_common import Refused, WxApi, WxChannel
from bot.messages import Reply

if TYPE_CHECKING:
    from bot.services import Services

# 40014 invalid token, 42001 expired token: fetch a new one and retry once.
TOKEN_ERRORS = frozenset({40014, 42001})
# 81013 user/department/tag all invalid or out of the app's visible range, 60111 unknown userid.
PERMANENT_ERRORS = frozenset({81013, 60111})


class WeComChannel(WxChannel):
    name = "wecom"
    rate_per_second = 20.0
    path = "/wecom"

    def __init__(self, services: Services) -> None:
        s = services.settings
        self.corpid, self.secret, self.agentid = s.wecom_corpid, s.wecom_secret, s.wecom_agentid
        self.crypto = WeChatCrypto(s.wecom_token, s.wecom_aes_key, s.wecom_corpid)
        super().__init__(services, WxApi(s.wecom_api_base, TOKEN_ERRORS, PERMANENT_ERRORS), "wecom:access_token")

    def echo(self, query: Mapping[str, str]) -> str:
        try:
            return self.crypto.check_signature(query.get("msg_signature", ""), query.get("timestamp", ""),
                                               query.get("nonce", ""), query.get("echostr", ""))
        except (InvalidSignatureException, InvalidCorpIdException) as exc:
            raise Refused(403, "bad signature") from exc

    def unwrap(self, query: Mapping[str, str], body: str) -> str:
        try:
            return self.crypto.decrypt_message(body, query.get("msg_signature", ""), query.get("timestamp", ""),
                                               query.get("nonce", ""))
        except (InvalidSignatureException, InvalidCorpIdException) as exc:
            raise Refused(403, "bad signature") from exc

    def parse(self, xml: str) -> BaseMessage:
        return parse_message(xml)

    def wrap(self, msg: BaseMessage, text: str, query: Mapping[str, str]) -> str:
        now = str(int(self.services.clock.now().timestamp()))
        xml = TextReply(message=msg, content=text, time=int(now)).render()
        return self.crypto.encrypt_message(xml, query.get("nonce", ""), now)

    async def fetch_token(self) -> tuple[str, int]:
        data = await self.api.request("GET", "/cgi-bin/gettoken", {"corpid": self.corpid, "corpsecret": self.secret})
        if not data.get("access_token"):
            raise SendError(f"token: errcode {data.get('errcode')}")
        return str(data["access_token"]), int(data.get("expires_in") or 7200)

    async def send(self, chat_id: str, reply: Reply) -> None:
        async def one(text: str) -> None:
            data = await self.api.post("/cgi-bin/message/send", {
                "touser": chat_id, "msgtype": "text", "agentid": int(self.agentid), "text": {"content": text}})
            # errcode 0 can still mean "not delivered": the user left or is outside the app's range.
            if data.get("invaliduser"):
                raise SendError("user not reachable by this app", permanent=True)

        await self.send_texts(reply, one)


def create(services: Services) -> WeComChannel | None:
    s = services.settings
    if not all((s.wecom_corpid, s.wecom_secret, s.wecom_token, s.wecom_aes_key, s.wecom_agentid)):
        return None
    if len(s.wecom_aes_key) != 43 or not s.wecom_agentid.isdigit():
        raise ValueError("企业微信设置有误：SHEGONG_WECOM_AES_KEY 应为 43 个字符，SHEGONG_WECOM_AGENTID 应为数字")
    return WeComChannel(services)
