"""Policy Q&A as a resident meets it: the real dispatcher on the embedded database, the built-in knowledge
base, a frozen clock. Follow-ups keep the topic, 详细 survives a refusal, danger gets 110/120, and
`shegong chat --json` scripts a conversation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from town import Town, running_town

from bot.clock import FrozenClock
from bot.config import Settings
from bot.messages import Reply


@pytest.fixture
async def town(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Town]:
    """The bot on the embedded database, a resident on the console speaking."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=f"sqlite+aiosqlite:///{tmp_path / 'qa.db'}", _env_file=None
    )
    async with running_town(settings, clock, user="resident") as town:
        yield town


def cited(reply: Reply) -> str:
    assert reply.citations, reply.text
    return reply.citations[0].path


async def test_follow_ups_are_answered_from_the_topic_until_it_expires(town: Town, clock: FrozenClock):
    first = await town.one("低保点样申请")
    topic = cited(first)
    assert topic.startswith("dibao/")
    follow_up = await town.one("要几耐")
    assert cited(follow_up) == topic or cited(follow_up).startswith("dibao/")
    assert "工作日" in follow_up.text  # the time limit, not the opening section again
    clock.advance(minutes=31)
    stale = await town.one("要几耐")
    assert not stale.citations  # half an hour later a bare "how long" has no topic to lean on


async def test_a_refusal_does_not_erase_the_last_answer(town: Town):
    answer = await town.one("高龄津贴怎么领")
    refusal = await town.one("生育津贴点领")
    assert not refusal.citations and "12393" in refusal.text
    more = await town.one("详细")
    assert cited(more) == cited(answer)
    assert len(more.text) > len(answer.text)


async def test_a_new_topic_switches(town: Town):
    fantang = await town.one("长者饭堂点样申请")
    gaoling = await town.one("高龄津贴去边度申请")
    assert cited(gaoling) != cited(fantang) and "gaoling" in cited(gaoling)


async def test_being_a_low_income_household_is_not_a_city(town: Town):
    await town.one("长者饭堂有咩优惠")
    reply = await town.one("我系低保户")
    assert "地级市" not in reply.text and "已记住" not in reply.text
    assert reply.citations  # answered against the 长者饭堂 topic: what 低保 households get there


@pytest.mark.parametrize("text, phone", [("我老公打我", "12338"), ("我阿妈跌倒起唔到身", "120"), ("我唔想活了", "110")])
async def test_danger_gets_emergency_numbers_and_a_social_worker(town: Town, text: str, phone: str):
    reply = await town.one(text)
    assert "110" in reply.text and "120" in reply.text and phone in reply.text
    assert "找社工" in [b.label for b in reply.buttons]


async def test_danger_twice_does_not_turn_into_the_handoff_form(town: Town):
    await town.one("我老公打我")
    second = await town.one("佢仲打紧我")
    assert second.text.startswith("⚠️") and "110" in second.text


def test_chat_json_prints_one_object_per_line(tmp_path: Path) -> None:
    env = {**os.environ, "SHEGONG_DATA_DIR": str(tmp_path / "data"), "SHEGONG_DATABASE_URL": ""}
    lines = ["低保要多长时间", "要带咩", "生育津贴点领", "帮助", "详细"]
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--json"],
        input="\n".join(lines) + "\n",
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["in"] for o in objects] == lines
    answer, follow_up, refusal, help_reply, detail = (o["replies"][0] for o in objects)
    assert answer["confident"] is True and answer["sources"][0]["path"].startswith("dibao/")
    assert set(answer["sources"][0]) == {"path", "title"}
    assert follow_up["confident"] is True and "材料】" in follow_up["text"]
    assert refusal["confident"] is False and refusal["sources"] == [] and "12393" in refusal["text"]
    assert help_reply["confident"] is None
    assert detail["confident"] is True and detail["sources"] == follow_up["sources"]  # the last answer, in full


async def test_the_readme_examples_get_the_right_answers(town: Town):
    """The example questions in README.md's quick start, in the order it gives them."""
    materials = await town.one("抵保要准备啲咩文件")
    assert cited(materials) == "dibao/shenqing-cailiao.md" and "身份证" in materials.text
    apply = await town.one("長者飯堂點樣申請")
    fantang = cited(apply)
    assert "fantang" in fantang or "zhucan" in fantang
    assert "【怎么申请】" in apply.text or "【怎么登记】" in apply.text
    price = await town.one("几多钱一餐")
    assert cited(price) == fantang and ("收费" in price.text or "优惠" in price.text)
    where = await town.one("边度办")
    assert cited(where) == fantang
    more = await town.one("详细")
    assert cited(more) == fantang and len(more.text) > len(where.text)
    uncovered = await town.one("生育津贴点领")
    assert not uncovered.citations and "12393" in uncovered.text
    dibao = [await town.one(q, "pipe") for q in ("低保怎么申请", "要几耐", "详细")]
    assert "工作日" in dibao[1].text and cited(dibao[2]) == cited(dibao[0])
