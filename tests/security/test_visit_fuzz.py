"""Issue 13, point 10 (fuzzing part): the visit parser. Whatever a worker types after `走访` (or in the guided
form's answers), parsing it gives a report that can be shown, kept in the dialog state and saved: no exception,
only the known modes and risk levels, an aware time, and notes made of what was typed. Then the same texts go
through the chat on both databases: a report is shown or a question asked, never the apology, and what is
saved is encrypted."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql

from bot.app import Services, build_services
from bot.clock import FrozenClock
from bot.config import Settings
from bot.crypto import generate_key, new_invite_code
from bot.messages import Incoming
from bot.routing.dispatcher import APOLOGY
from bot.store import CaseRow
from bot.store.casework_records import RISK_LEVELS, VISIT_MODES
from handlers.casework.store import CaseworkStore
from handlers.casework.visit_form import Draft
from handlers.casework.visit_parser import describe, parse_visit, read_time
from handlers.workers.store import WorkersStore

NOW = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
NAMES = ("张桂英", "陈秀兰", "黎秀珍", "欧阳娟")
# Pieces of real reports, so that the generated texts reach the parser's branches, mixed with anything at all.
PIECES = (
    *NAMES,
    "张阿姨",
    "陈伯",
    "今天",
    "昨天下午",
    "上午",
    "3月5日",
    "2026年2月30日",
    "13:60",
    "下周一",
    "前日",
    "晏昼",
    "三点半",
    "入户",
    "电访",
    "电话联系了",
    "视频",
    "到站",
    "上门",
    "风险较高",
    "低风险",
    "高",
    "风险中等",
    "需要",
    "需求：",
    "已送",
    "服务：",
    "跟进：",
    "下次",
    "计划",
    "情况：",
    "身体还可以",
    "摔倒",
    "想不开",
    "自杀",
    "，",
    "。",
    "；",
    "：",
    "\n",
    " ",
    "\t",
    "、",
    "(",
    "）",
    "12",
    "0",
    "13812345678",
    "440106199001011234",
    "\x00",
    "\x1b",
    "\u200b",
    "\ufeff",
    "﹏",
    "🙂",
    "壹",
    "廿",
    "⟦tel:",
    "⟧",
    "gAAAAA",
    "%",
    "_",
    "\\",
)
texts = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=14).map("".join) | st.text(max_size=300)
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=texts, roster=st.lists(st.sampled_from(NAMES) | st.text(min_size=1, max_size=5), max_size=4))
def test_any_text_parses_into_a_report_that_can_be_kept_and_saved(body: str, roster: list[str]) -> None:
    parsed = parse_visit(body, NOW, known_names=roster)
    assert parsed.mode in (None, *VISIT_MODES)
    assert parsed.risk in (None, *RISK_LEVELS)
    assert parsed.visited_at.tzinfo is not None
    assert parsed.date_only == (parsed.time_given and not parsed.clock_given)
    assert all(isinstance(n, str) for n in (parsed.findings, parsed.needs, parsed.services, parsed.follow_up))
    draft = Draft.from_parsed(parsed, "fuzz:1")
    state = json.loads(json.dumps(draft.to_state()))  # the dialog state is stored as JSON
    again = Draft.from_state(state)
    assert again.visited_at == draft.visited_at and again.questions == draft.questions
    saved = again.to_visit_draft(case_id=1)
    assert saved.mode == (parsed.mode or "") and saved.visited_at.tzinfo is not None


@FUZZ
@given(text=texts)
def test_any_answer_to_the_guided_form_is_sorted_or_kept(text: str) -> None:
    found = describe(text)
    assert found.risk in ("", *RISK_LEVELS)
    assert found.mode in ("", *VISIT_MODES)
    when = read_time(text, NOW)
    assert when is None or when.at.tzinfo is not None


# -- through the chat, on both databases ------------------------------------------------------------------------
_ids = itertools.count(1)


@pytest.fixture
async def station(database_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Services]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=generate_key(),
        rate_messages_per_minute=100_000,
        _env_file=None,
    )
    services = await build_services(settings, clock=clock, migrate=True)
    store = services.store
    shiwan = await WorkersStore.of(store).add_station("石湾镇社工站", county="禅城区", city="佛山市")
    code = new_invite_code()
    await WorkersStore.of(store).add_worker_with_invite(
        shiwan.id, "李敏", "worker", store.secrets.invite_hash(code), clock.now().replace(year=2027)
    )
    assert services.dispatcher is not None
    await CaseworkStore.of(store).import_cases(
        shiwan.id,
        [
            CaseRow(
                name=n,
                categories=("低保",),
                village="东村",
                address="",
                phone="",
                id_number=i,
                risk_level="低",
                worker_name="李敏",
            )
            for n, i in zip(
                NAMES,
                ("44060519450312002X", "440605194503120038", "440605194503120046", "440605194503120054"),
                strict=True,
            )
        ],
    )
    await say(services, f"绑定 {code}")
    try:
        yield services
    finally:
        await services.close()


async def say(services: Services, text: str) -> list[str]:
    assert services.dispatcher is not None
    replies = await services.dispatcher.handle(
        Incoming(
            channel="telegram",
            user_id="worker",
            chat_id="worker",
            text=text,
            message_id=f"v{next(_ids)}",
            at=services.clock.now(),
        )
    )
    return [r.text for r in replies]


async def test_reports_of_any_text_are_answered_and_saved_encrypted(station: Services) -> None:
    examples: list[str] = []

    @settings(max_examples=40, deadline=None, database=None)
    @given(body=texts)
    def collect(body: str) -> None:
        examples.append(body)

    collect()  # hypothesis drives plain functions; the chat is async, so the texts are replayed below
    for body in examples:
        for text in (f"走访 {body}", "确认", "取消"):
            answers = await say(station, text)
            assert APOLOGY not in answers, (text, answers)
    async with station.store.session() as s:
        stored = " ".join(
            " ".join(r)
            for r in (await s.execute(sql("SELECT findings || needs || services || follow_up FROM visits"))).all()
        )
    assert "身体还可以" not in stored and "13812345678" not in stored and "\x00" not in stored
