"""The dispatcher end to end on the embedded database: middlewares, routing and dialog state."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest
from live_app import settings_for

from bot.app import build_services
from bot.clock import FrozenClock
from bot.messages import Incoming, Reply
from bot.routing import Command, Context, Dispatcher, Router
from bot.services import Services

_ids = itertools.count(1)


def message(text: str, user: str = "u1", message_id: str | None = None, **kw) -> Incoming:
    from datetime import datetime

    return Incoming(channel="console", user_id=user, chat_id=user, text=text,
                    message_id=message_id or f"m{next(_ids)}", at=datetime.now(UTC), **kw)


@pytest.fixture
async def services(database_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Services]:
    s = await build_services(settings_for(database_url, tmp_path), clock=clock, migrate=True)
    yield s
    await s.close()


async def ask(services: Services, text: str, **kw) -> list[Reply]:
    assert services.dispatcher is not None
    return await services.dispatcher.handle(message(text, **kw))


async def test_policy_question_gets_cited_answer(services: Services) -> None:
    [reply] = await ask(services, "抵保要准备啲咩文件")
    assert "来源" in reply.text and reply.citations
    assert reply.citations[0].path == "dibao/shenqing-cailiao.md"
    assert "身份证" in reply.text


async def test_unknown_question_is_refused_with_help_button(services: Services) -> None:
    [reply] = await ask(services, "今日恒指收市几多点")
    assert "不太确定" in reply.text and "12345" in reply.text
    assert not reply.citations
    assert reply.buttons[-1].label == "找社工"


async def test_redelivered_message_is_handled_once(services: Services) -> None:
    first = await ask(services, "高龄津贴怎么领", message_id="same-id")
    second = await ask(services, "高龄津贴怎么领", message_id="same-id")
    assert first and second == []


@pytest.mark.parametrize("text, expected", [
    ("   ", "空消息"), ("😀😀👍", "表情"), ("低保" * 5000, "太长"),
])
async def test_bad_input_gets_clear_message(services: Services, text: str, expected: str) -> None:
    [reply] = await ask(services, text)
    assert expected in reply.text


async def test_more_detail_follows_previous_question(services: Services) -> None:
    [short] = await ask(services, "低保怎么申请")
    [long] = await ask(services, "详细")
    assert "详细" in short.text
    assert len(long.text) > len(short.text)
    assert long.citations[0].path == short.citations[0].path


async def test_dialog_state_survives_a_restart(database_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    first = await build_services(settings_for(database_url, tmp_path), clock=clock, migrate=True)
    [short] = await ask(first, "残疾人两项补贴怎么申请")
    await first.close()
    second = await build_services(settings_for(database_url, tmp_path), clock=clock, migrate=True)
    try:
        [long] = await ask(second, "详细")
        assert long.citations and long.citations[0].path == short.citations[0].path
    finally:
        await second.close()


async def test_city_in_profile_prefers_local_rules(services: Services) -> None:
    [set_city] = await ask(services, "我喺广州")
    assert "广州市" in set_city.text
    [reply] = await ask(services, "长者饭堂有咩优惠")
    assert reply.citations[0].path.startswith("yanglao/guangzhou")
    [other] = await ask(services, "我在湛江", user="u2")
    assert "湛江市" in other.text
    [note] = await ask(services, "长者饭堂有咩优惠", user="u2")
    # Zhanjiang gets the province-wide document, or Guangzhou's with a note saying whose rules they are.
    if note.citations[0].path.startswith("yanglao/guangzhou"):
        assert "广州市的规定" in note.text and "湛江市" in note.text
    else:
        assert "广州市" not in note.text.split("📄")[0]


async def test_help_and_traditional_keywords(services: Services) -> None:
    [reply] = await ask(services, "/start")
    assert "社工助手" in reply.text and reply.buttons
    [contact] = await ask(services, "找社工")
    assert "12345" in contact.text and "110" in contact.text


async def test_handler_failure_gives_apology_not_crash(services: Services) -> None:
    broken = Router("broken")

    @broken.message(Command("boom"))
    async def boom(ctx: Context) -> Reply:
        raise RuntimeError("simulated")

    assert isinstance(services.dispatcher, Dispatcher)
    services.dispatcher.root.include_router(broken, first=True)
    [reply] = await ask(services, "/boom")
    assert "出了点问题" in reply.text
    [ok] = await ask(services, "高龄津贴")
    assert ok.citations
