"""Issue 13, point 10 (fuzzing part): whatever a platform, or someone pretending to be one, posts to a webhook,
the parsers behind it either produce a message or fail with the exceptions the handlers turn into 4xx. Nothing
else may escape (that would be a 500 with a traceback), and a message that gets through is clean and can be
answered."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakes.wechat_platform import AES_KEY, Callbacks, cdata, sha1_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Bot

from bot.app import Services
from bot.channels import telegram, wechat, wecom
from bot.channels.wx_common import MALFORMED, Refused, Unsupported, WxChannel, to_incoming
from bot.clock import FrozenClock
from bot.config import Settings
from bot.knowledge_service import KnowledgeService
from bot.messages import Incoming
from bot.store import Store, create_engine

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
BOT = Bot("123:ABC")  # never connected: de_json only links the objects it builds to it
TOKEN = "wx-callback-token"
# No example database: the fuzzing is fresh each run and writes nothing into the working tree.
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
UNSAFE = {chr(c) for c in [*range(0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]}


def clean(incoming: Incoming) -> bool:
    fields = (incoming.text, incoming.user_id, incoming.chat_id, incoming.message_id, incoming.event)
    return not any(ch in UNSAFE or 0xD800 <= ord(ch) <= 0xDFFF for value in fields for ch in value)


# -- Telegram ----------------------------------------------------------------------------------------------------
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ids = st.integers(-(2**63), 2**63) | json_values
chats = st.fixed_dictionaries(
    {"id": ids, "type": st.sampled_from(["private", "group", "supergroup", "channel", "x"]) | json_values},
    optional={"title": json_values, "first_name": json_values},
)
users = st.fixed_dictionaries(
    {"id": ids, "is_bot": st.booleans() | json_values, "first_name": st.text(max_size=10) | json_values}
)
messages = st.fixed_dictionaries(
    {"message_id": ids, "date": st.integers(-(2**40), 2**40) | json_values, "chat": chats | json_values},
    optional={
        "from": users | json_values,
        "text": st.text(max_size=60) | json_values,
        "caption": st.text(max_size=20) | json_values,
        "photo": st.lists(
            st.fixed_dictionaries(
                {
                    "file_id": st.text(max_size=8),
                    "file_unique_id": st.text(max_size=8),
                    "width": st.integers(),
                    "height": st.integers(),
                }
            ),
            max_size=2,
        )
        | json_values,
        "voice": st.fixed_dictionaries(
            {"file_id": st.text(max_size=8), "file_unique_id": st.text(max_size=8), "duration": st.integers()}
        )
        | json_values,
        "location": st.fixed_dictionaries(
            {"latitude": st.floats(allow_nan=False) | json_values, "longitude": st.floats(allow_nan=False)}
        )
        | json_values,
        "sticker": json_values,
        "document": json_values,
        "entities": json_values,
        "reply_to_message": json_values,
        "venue": json_values,
        "contact": json_values,
    },
)
callbacks = st.fixed_dictionaries(
    {
        "id": st.text(max_size=8) | json_values,
        "from": users | json_values,
        "chat_instance": st.text(max_size=8) | json_values,
    },
    optional={"data": st.text(max_size=70) | json_values, "message": messages | json_values},
)
updates = st.fixed_dictionaries(
    {"update_id": st.integers(-(2**63), 2**63) | json_values},
    optional={
        "message": messages | json_values,
        "callback_query": callbacks | json_values,
        "edited_message": messages | json_values,
        "channel_post": json_values,
    },
)
bodies = (
    updates.map(lambda u: json.dumps(u).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=200)
)


@settings(FUZZ, max_examples=1000)
@given(body=bodies)
def test_telegram_webhook_parser_accepts_or_refuses_never_crashes(body: bytes) -> None:
    """What the webhook runs before it answers: a ValueError is a 400, anything else escaping a 500."""
    try:
        update = telegram.parse_update(body, BOT)
        incoming = telegram.to_incoming(update, NOW)
    except ValueError:  # NestedTooDeep is one
        return
    assert incoming is None or clean(incoming)


# -- WeChat and WeCom --------------------------------------------------------------------------------------------
xml_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters=["\x00"]), max_size=40)
field_names = st.sampled_from(
    [
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "Content",
        "MsgId",
        "Event",
        "EventKey",
        "Recognition",
        "MediaId",
        "PicUrl",
        "Location_X",
        "Location_Y",
        "Scale",
        "Label",
        "ChatId",
        "ChatType",
        "AgentID",
        "Format",
        "Title",
        "Url",
    ]
)
msg_types = st.sampled_from(["text", "voice", "image", "location", "event", "video", "link", "file", "", "TEXT"])
events = st.sampled_from(["subscribe", "unsubscribe", "CLICK", "click", "VIEW", "LOCATION", "scancode_push", ""])


@st.composite
def callback_xml(draw: st.DrawFn) -> str:
    fields: dict[str, str] = {}
    usually = st.integers(0, 9).map(bool)  # present nine times in ten: most examples get past the basics
    if draw(usually):
        fields["FromUserName"] = draw(xml_text)
    if draw(usually):
        fields["MsgType"] = draw(msg_types if draw(usually) else xml_text)
    if draw(st.booleans()):
        fields["Event"] = draw(events | xml_text)
    if draw(usually):
        fields["CreateTime"] = draw(
            st.integers(0, 2**31).map(str) if draw(usually) else st.integers(-(2**70), 2**70).map(str) | xml_text
        )
    if draw(usually):
        fields["MsgId"] = draw(st.integers(0, 2**63).map(str) if draw(usually) else xml_text)
    if draw(usually):
        fields["AgentID"] = draw(st.just("1000002") if draw(usually) else xml_text)
    for name in draw(st.lists(field_names, max_size=6)):
        fields[name] = draw(xml_text)
    parts = [f"<{name}>{cdata(value)}</{name}>" for name, value in fields.items()]
    if draw(st.booleans()):  # a nested element where a value should be
        depth = draw(st.integers(1, 25))
        parts.append("<Content>" + "<a>" * depth + cdata(draw(xml_text)) + "</a>" * depth + "</Content>")
    return "<xml>" + "".join(draw(st.permutations(parts))) + "</xml>"


payloads = callback_xml() | xml_text | st.binary(max_size=120).map(lambda b: b.decode("latin-1"))


@pytest.fixture(scope="module")
def wx_channels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, WxChannel]]:
    """The real channel objects; only their synchronous callback path (read, to_incoming, wrap) is driven."""
    folder: Path = tmp_path_factory.mktemp("fuzz")

    def channels_for(aes_key: str) -> tuple[Services, WxChannel, WxChannel]:
        made = Settings(
            data_dir=folder / "data",
            database_url="",
            wechat_token=TOKEN,
            wechat_appid="wx123",
            wechat_appsecret="sec",
            wechat_aes_key=aes_key,
            wecom_corpid="ww123",
            wecom_agentid="1000002",
            wecom_secret="corpsec",
            wecom_token=TOKEN,
            wecom_aes_key=AES_KEY,
            _env_file=None,
        )
        clock = FrozenClock(NOW)
        # Real objects that are never connected: the synchronous path does no I/O.
        store = Store(create_engine(made.effective_database_url), clock)
        services = Services(made, store, KnowledgeService(store), clock)
        official, enterprise = wechat.create(services), wecom.create(services)
        assert official is not None and enterprise is not None
        return services, official, enterprise

    plain_services, plain, enterprise = channels_for("")
    safe_services, safe, _ = channels_for(AES_KEY)
    yield {"wechat-plain": plain, "wechat-safe": safe, "wecom": enterprise}
    for services in (plain_services, safe_services):
        asyncio.run(services.close())


def signed(name: str, xml: str) -> tuple[dict[str, str], bytes]:
    """What the platform would post for this XML: signed, and encrypted where the mode wants it."""
    if name == "wechat-plain":
        timestamp, nonce = str(int(time.time())), os.urandom(4).hex()
        return {
            "signature": sha1_signature(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }, xml.encode("utf-8", "surrogatepass")
    callbacks = (
        Callbacks(TOKEN, "wx123", AES_KEY)
        if name == "wechat-safe"
        else Callbacks(TOKEN, "ww123", AES_KEY, agent_id="1000002")
    )
    return callbacks.post(xml)


def drive(channel: WxChannel, query: dict[str, str], body: bytes) -> Incoming | None:
    """What the callback handler runs before it awaits anything; returns the message the bot would see."""
    try:
        msg = channel.read(query, body, time.time())
    except (Refused, *MALFORMED):  # 403 / 400
        return None
    try:
        incoming = to_incoming(msg, channel.name, channel.services.clock, sender_verified=channel.body_signed)
    except Unsupported:
        channel.wrap(msg, "这类消息我暂时看不懂", query)  # the polite passive answer must render
        return None
    except MALFORMED:
        return None
    if incoming is not None:
        channel.wrap(msg, "回答\n第二行", query)  # the passive answer to it must render too
    return incoming


@settings(FUZZ, max_examples=1000)
@given(name=st.sampled_from(["wechat-plain", "wechat-safe", "wecom"]), xml=payloads)
def test_wx_callback_parsers_accept_or_refuse_never_crash(
    wx_channels: dict[str, WxChannel], name: str, xml: str
) -> None:
    query, body = signed(name, xml)
    incoming = drive(wx_channels[name], query, body)
    assert incoming is None or (clean(incoming) and incoming.sender_verified == (name != "wechat-plain"))


@FUZZ
@given(
    name=st.sampled_from(["wechat-plain", "wechat-safe", "wecom"]),
    body=st.binary(max_size=300),
    query=st.dictionaries(
        st.sampled_from(["signature", "timestamp", "nonce", "msg_signature", "encrypt_type", "openid", "echostr"]),
        st.text(max_size=20),
    ),
)
def test_unsigned_garbage_is_refused(
    wx_channels: dict[str, WxChannel], name: str, body: bytes, query: dict[str, Any]
) -> None:
    assert drive(wx_channels[name], query, body) is None
