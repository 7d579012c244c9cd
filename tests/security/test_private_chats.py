"""Issue 13, point 5: worker and lead commands work in private chats only. In a Telegram group or supergroup
(or a WeCom group conversation) they answer "请私聊使用" and nothing about any case; policy questions are
still answered there."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import wechatpy.enterprise
from fakes.telegram_api import FakeTelegram, text_update
from fakes.wechat_platform import AES_KEY, Callbacks, FakeWxPlatform
from live_app import serve_services
from town import station_with_one_case

from bot.app import Services
from bot.channels import telegram, wecom
from bot.channels.base import Channel
from bot.channels.wx_common import to_incoming as wx_incoming
from bot.clock import FrozenClock
from bot.config import Settings
from bot.trust import PRIVATE_ONLY
from handlers.casework.admin import add_station, invite

pytestmark = pytest.mark.filterwarnings("ignore:.*`retry_after` will be of type:DeprecationWarning")

TOKEN, SECRET = "123:ABC", "s3cret"
WORKER, RESIDENT, GROUP = 880001, 880002, -1001234567
def group_update(update_id: int, user_id: int, text: str, kind: str = "supergroup") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id + 5000,
            "date": 1795000000,
            "from": {"id": user_id, "is_bot": False, "first_name": "李敏"},
            "chat": {"id": GROUP, "type": kind, "title": "东村志愿者群"},
            "text": text,
        },
    }


def wecom_only(services: Services) -> dict[str, Channel]:
    channel = wecom.create(services)
    assert channel is not None
    return {"wecom": channel}


def telegram_only(services: Services) -> dict[str, Channel]:
    channel = telegram.create(services)
    assert channel is not None
    return {"telegram": channel}


@dataclass
class Station:
    url: str
    fake: FakeTelegram
    settings: Settings
    sent_before: int = 0

    async def say(self, update: dict[str, Any]) -> list[str]:
        """Post one update; the texts Telegram was asked to send in answer (to any chat)."""
        self.sent_before = len(self.fake.sent())
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}{telegram.WEBHOOK_PATH}", json=update, headers={telegram.SECRET_HEADER: SECRET}) as r,
        ):
            assert r.status == 200
        sent = await self.fake.wait_for("sendMessage", count=self.sent_before + 1)
        return [str(m["text"]) for m in sent[self.sent_before :]]

    def sent_to(self, chat_id: int) -> list[str]:
        return [str(m["text"]) for m in self.fake.sent() if int(m["chat_id"]) == chat_id]


@pytest.fixture
async def station(tmp_path: Path, clock: FrozenClock, capsys: pytest.CaptureFixture[str]) -> AsyncIterator[Station]:
    fake = FakeTelegram(token=TOKEN)
    await fake.start()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url="",
        telegram_token=TOKEN,
        telegram_webhook_secret=SECRET,
        telegram_api_base=fake.api_base,
        _env_file=None,
    )
    code = await station_with_one_case(settings, tmp_path, capsys)
    try:
        async with serve_services(settings, clock, channels=telegram_only) as (url, _):
            started = Station(url, fake, settings)
            [bound] = await started.say(text_update(1, WORKER, f"/bind {code}"))
            assert "绑定成功" in bound
            yield started
    finally:
        await fake.stop()


@pytest.mark.parametrize(
    "command",
    ["我的对象", "查 张桂英", "本站统计", "本月走访", "走访 张桂英 入户 身体还可以，需要助餐", "工单", "待办", "值班"],
)
@pytest.mark.parametrize("kind", ["group", "supergroup"])
async def test_worker_commands_in_a_group_answer_only_private_use(station: Station, command: str, kind: str) -> None:
    answers = await station.say(group_update(10, WORKER, command, kind))
    assert answers == [PRIVATE_ONLY]
    everything_in_the_group = "\n".join(station.sent_to(GROUP))
    for case_detail in ("张桂英", "东村", "5678", "低保;独居老人"):
        assert case_detail not in everything_in_the_group


async def test_the_same_worker_gets_case_data_in_private_and_a_report_started_there_stays_private(
    station: Station,
) -> None:
    [mine] = await station.say(text_update(20, WORKER, "我的对象"))
    assert "张桂英" in mine  # the command itself works, in the private chat
    [shown] = await station.say(text_update(21, WORKER, "走访 张桂英 入户 身体还可以，需要助餐，低风险"))
    assert "张桂英" in shown
    # Writing in the group while the report waits for 确认 neither confirms it nor shows it there.
    assert await station.say(group_update(22, WORKER, "确认")) == [PRIVATE_ONLY]
    [saved] = await station.say(text_update(23, WORKER, "确认"))
    assert "已保存" in saved or "保存" in saved


async def test_binding_in_a_group_is_refused_before_the_code_is_used(
    station: Station, capsys: pytest.CaptureFixture[str]
) -> None:
    await invite(station.settings, "石湾镇社工站", "陈芳", "worker")
    code = re.search(r"绑定码：([A-Z0-9]+)", capsys.readouterr().out)
    assert code is not None
    [refused] = await station.say(group_update(30, RESIDENT, f"绑定 {code.group(1)}"))
    assert refused.startswith(PRIVATE_ONLY)  # (a resident's first message also carries the privacy notice)
    await station.say(text_update(31, RESIDENT, f"绑定 {code.group(1)}"))
    # two messages: the reply, and the notice to the station's lead 李敏 (in either order)
    sent = await station.fake.wait_for("sendMessage", count=station.sent_before + 2)
    texts = [str(m["text"]) for m in sent[station.sent_before:]]
    assert any("绑定成功" in t and "陈芳" in t for t in texts), texts  # the code was not spent in the group
    assert any("绑定提醒：陈芳" in t for t in texts), texts


async def test_policy_questions_are_still_answered_in_groups(station: Station) -> None:
    for update_id, sender in ((40, RESIDENT), (41, WORKER)):
        [answer] = await station.say(group_update(update_id, sender, "低保怎么申请"))
        assert "来源" in answer and answer != PRIVATE_ONLY


async def test_wecom_group_conversations_get_no_case_data(
    tmp_path: Path, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = FakeWxPlatform()
    await platform.start()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url="",
        wecom_corpid=platform.corpid,
        wecom_agentid=str(platform.agentid),
        wecom_secret=platform.corpsecret,
        wecom_token="t",
        wecom_aes_key=AES_KEY,
        wecom_api_base=platform.url,
        _env_file=None,
    )
    await add_station(settings, "石湾镇社工站")
    await invite(settings, "石湾镇社工站", "李敏", "lead")
    code = re.search(r"绑定码：([A-Z0-9]+)", capsys.readouterr().out)
    assert code is not None
    callbacks = Callbacks("t", platform.corpid, AES_KEY, agent_id=str(platform.agentid))
    ids = itertools.count(1)

    async def say(url: str, text: str, group: bool) -> str:
        xml = callbacks.text(text, user="limin", msg_id=next(ids))
        if group:
            xml = xml.replace("</xml>", "<ChatId><![CDATA[wrkSFfCgAAxxxx]]></ChatId></xml>")
        params, body = callbacks.post(xml)
        async with aiohttp.ClientSession() as http, http.post(f"{url}/wecom", params=params, data=body) as r:
            assert r.status == 200
            return callbacks.open_reply(await r.text())["Content"]

    try:
        async with serve_services(settings, clock, channels=wecom_only) as (url, _):
            assert "绑定成功" in await say(url, f"绑定 {code.group(1)}", group=False)
            assert await say(url, "本站统计", group=True) == PRIVATE_ONLY
            assert await say(url, "我的对象", group=True) == PRIVATE_ONLY
            assert "服务对象" in await say(url, "我的对象", group=False)
    finally:
        await platform.stop()


def test_wecom_group_conversations_are_marked_as_group_chats(clock: FrozenClock) -> None:
    callbacks = Callbacks("t", "ww123", agent_id="1000002")
    direct = callbacks.text("我的对象", user="lm")
    in_group = direct.replace("</xml>", "<ChatId><![CDATA[wrkSFfCgAAxxxx]]></ChatId></xml>")
    typed = direct.replace("</xml>", "<ChatType><![CDATA[group]]></ChatType></xml>")
    marks = [wx_incoming(wechatpy.enterprise.parse_message(xml), "wecom", clock) for xml in (direct, in_group, typed)]
    assert [m.group_chat if m else None for m in marks] == [False, True, True]
