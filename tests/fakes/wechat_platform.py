"""A fake WeChat / WeCom platform for end-to-end channel tests.

Two halves, both written from the platform documentation without wechatpy, so that they check our use of
wechatpy independently:

* `Callbacks` builds what the platform POSTs to us: message XML, `signature` = sha1 of sorted
  [token, timestamp, nonce], and in safe mode `msg_signature` over [token, timestamp, nonce, Encrypt] with
  Encrypt = base64(AES-256-CBC(16 random bytes + 4-byte big-endian length + xml + appid/corpid), PKCS#7
  padded to 32, key = base64(EncodingAESKey + "="), IV = key[:16]). It opens and verifies our encrypted
  passive replies the same way.
* `FakeWxPlatform` serves the API on 127.0.0.1 (a free port): `/cgi-bin/token`, `/cgi-bin/gettoken`,
  `/cgi-bin/message/custom/send`, `/cgi-bin/message/send`; it records token fetches and messages, checks
  tokens (40001 / 40014 for unknown ones) and can be told to answer errcodes or to be slow.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import struct
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # an EncodingAESKey: 43 characters


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class WxCipher:
    """The platform's message encryption, for one receiver (the appid or corpid)."""

    def __init__(self, encoding_aes_key: str, receiver_id: str) -> None:
        self.key = base64.b64decode(encoding_aes_key + "=")
        assert len(self.key) == 32
        self.receiver_id = receiver_id.encode()

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, text: str) -> str:
        body = text.encode()
        data = os.urandom(16) + struct.pack(">I", len(body)) + body + self.receiver_id
        pad = 32 - len(data) % 32
        data += bytes([pad]) * pad
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(data) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        dec = self._cipher().decryptor()
        data = dec.update(base64.b64decode(encrypted)) + dec.finalize()
        pad = data[-1]
        assert 1 <= pad <= 32 and data[-pad:] == bytes([pad]) * pad, "bad PKCS#7 padding"
        content = data[16:-pad]
        (length,) = struct.unpack(">I", content[:4])
        assert content[4 + length:] == self.receiver_id, "reply encrypted for another app"
        return content[4:4 + length].decode()


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def xml_fields(xml: str) -> dict[str, str]:
    """Top-level children of <xml> (our own replies only: refuses DTDs like the bot does)."""
    assert "<!DOCTYPE" not in xml.upper()
    root = ET.fromstring(xml)
    assert root.tag == "xml"
    return {child.tag: child.text or "" for child in root}


@dataclass
class Callbacks:
    """What the platform sends to our callback URL. `receiver_id` is the appid (WeChat) or corpid (WeCom)."""

    token: str
    receiver_id: str
    aes_key: str = ""  # empty: plaintext mode (WeChat only)
    to_user: str = "gh_test_account"
    agent_id: str = ""  # set for WeCom, whose messages name the app
    _ids: itertools.count = field(default_factory=lambda: itertools.count(int(time.time()) * 1000))

    @property
    def cipher(self) -> WxCipher:
        return WxCipher(self.aes_key, self.receiver_id)

    # -- message XML ------------------------------------------------------------------------------
    def message(self, msg_type: str, fields: dict[str, str], user: str = "o_user_1", msg_id: int | None = None,
                create_time: int | None = None) -> str:
        parts = [f"<ToUserName>{cdata(self.to_user)}</ToUserName>", f"<FromUserName>{cdata(user)}</FromUserName>",
                 f"<CreateTime>{create_time or int(time.time())}</CreateTime>", f"<MsgType>{cdata(msg_type)}</MsgType>"]
        parts += [f"<{k}>{cdata(v)}</{k}>" for k, v in fields.items()]
        if msg_type != "event":
            parts.append(f"<MsgId>{msg_id if msg_id is not None else next(self._ids)}</MsgId>")
        if self.agent_id:
            parts.append(f"<AgentID>{self.agent_id}</AgentID>")
        return "<xml>" + "".join(parts) + "</xml>"

    def text(self, content: str, **kw: Any) -> str:
        return self.message("text", {"Content": content}, **kw)

    def voice(self, recognition: str | None, **kw: Any) -> str:
        fields = {"MediaId": "media-voice-1", "Format": "amr"}
        if recognition is not None:
            fields["Recognition"] = recognition
        return self.message("voice", fields, **kw)

    def event(self, event: str, **kw: Any) -> str:
        return self.message("event", {"Event": event, "EventKey": ""}, **kw)

    # -- the HTTP request -------------------------------------------------------------------------
    def post(self, xml: str, forge: bool = False, sent_at: float | None = None) -> tuple[dict[str, str], bytes]:
        """Query parameters and body of the callback; `forge` signs with the wrong token, `sent_at` (Unix
        time) signs a callback sent then (a replay of a captured one) instead of now."""
        token = "not-the-token" if forge else self.token
        timestamp, nonce = str(int(time.time() if sent_at is None else sent_at)), os.urandom(6).hex()
        params = {"signature": sha1_signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        if not self.aes_key:
            return params, xml.encode()
        encrypt = self.cipher.encrypt(xml)
        msg_signature = sha1_signature(token, timestamp, nonce, encrypt)
        if self.agent_id:  # WeCom: only the message signature, and the body names the app
            params = {"msg_signature": msg_signature, "timestamp": timestamp, "nonce": nonce}
            body = (f"<xml><ToUserName>{cdata(self.receiver_id)}</ToUserName><AgentID>{cdata(self.agent_id)}</AgentID>"
                    f"<Encrypt>{cdata(encrypt)}</Encrypt></xml>")
        else:  # official account in safe mode: both signatures, and the openid in the query
            params |= {"encrypt_type": "aes", "msg_signature": msg_signature, "openid": "o_user_1"}
            body = f"<xml><ToUserName>{cdata(self.receiver_id)}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
        return params, body.encode()

    def verify_url(self, echostr: str, encrypted: bool, forge: bool = False) -> dict[str, str]:
        """The GET the platform sends when an administrator saves the callback URL."""
        token = "not-the-token" if forge else self.token
        timestamp, nonce = str(int(time.time())), os.urandom(6).hex()
        if not encrypted:
            return {"signature": sha1_signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                    "echostr": echostr}
        sealed = self.cipher.encrypt(echostr)
        return {"msg_signature": sha1_signature(token, timestamp, nonce, sealed), "timestamp": timestamp,
                "nonce": nonce, "echostr": sealed}

    def open_reply(self, body: str) -> dict[str, str]:
        """Our passive reply as the platform reads it: verified and decrypted in safe mode."""
        outer = xml_fields(body)
        if not self.aes_key:
            return outer
        expected = sha1_signature(self.token, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
        assert outer["MsgSignature"] == expected, "reply signature does not verify"
        return xml_fields(self.cipher.decrypt(outer["Encrypt"]))


@dataclass
class Sent:
    api: str  # "custom" (WeChat customer service) or "app" (WeCom app message)
    token: str
    body: dict[str, Any]

    @property
    def touser(self) -> str:
        return self.body.get("touser", "")

    @property
    def content(self) -> str:
        return self.body.get("text", {}).get("content", "")


@dataclass
class FakeWxPlatform:
    appid: str = "wx123"
    secret: str = "sec"
    corpid: str = "ww123"
    corpsecret: str = "corpsec"
    agentid: int = 1000002
    delay: float = 0.0  # seconds before answering a send
    fail_next: deque[int] = field(default_factory=deque)  # errcodes for the next sends, in order
    invalid_users: set[str] = field(default_factory=set)  # WeCom: answered errcode 0 + invaliduser
    token_fetches: list[str] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)  # errcodes answered to sends
    valid_tokens: set[str] = field(default_factory=set)
    url: str = ""
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.add_routes([web.get("/cgi-bin/token", self._token), web.get("/cgi-bin/gettoken", self._gettoken),
                        web.post("/cgi-bin/message/custom/send", self._custom_send),
                        web.post("/cgi-bin/message/send", self._app_send)])
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (as after a secret reset)."""
        self.valid_tokens.clear()

    def _issue(self, kind: str) -> web.Response:
        token = f"{kind}-TOKEN-{next(self._numbers)}"
        self.token_fetches.append(kind)
        self.valid_tokens.add(token)
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    async def _token(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("grant_type") != "client_credential" or q.get("appid") != self.appid or q.get("secret") != self.secret:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        return self._issue("wechat")

    async def _gettoken(self, request: web.Request) -> web.Response:
        if request.query.get("corpid") != self.corpid or request.query.get("corpsecret") != self.corpsecret:
            return web.json_response({"errcode": 40001, "errmsg": "invalid secret"})
        return self._issue("wecom")

    async def _send(self, request: web.Request, api: str, bad_token: int,
                    check: Callable[[dict[str, Any]], int]) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        token = request.query.get("access_token", "")
        body = json.loads(await request.read())
        code = bad_token if token not in self.valid_tokens else (self.fail_next.popleft() if self.fail_next else 0)
        if code == 0:
            code = check(body)
        if code:
            self.rejected.append(code)
            return web.json_response({"errcode": code, "errmsg": f"fake error {code}"})
        if api == "app" and body.get("touser") in self.invalid_users:
            return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": body["touser"]})
        self.sent.append(Sent(api, token, body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    @staticmethod
    def _check_text(body: dict[str, Any]) -> int:
        content = body.get("text", {}).get("content", "") if isinstance(body.get("text"), dict) else ""
        if not body.get("touser") or body.get("msgtype") != "text" or not content:
            return 44002  # empty post data / bad fields
        return 45002 if len(content.encode()) > 2048 else 0  # content size out of limit

    async def _custom_send(self, request: web.Request) -> web.Response:
        return await self._send(request, "custom", 40001, self._check_text)

    async def _app_send(self, request: web.Request) -> web.Response:
        def check(body: dict[str, Any]) -> int:
            return 40056 if body.get("agentid") != self.agentid else self._check_text(body)  # invalid agentid

        return await self._send(request, "app", 40014, check)


async def eventually(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll until `condition()` (sync or async) is truthy; fail with a clear message after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
