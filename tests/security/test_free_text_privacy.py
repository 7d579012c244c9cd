"""Issue 13, point 4: personal data in free text. Before, ID and phone numbers typed into visit notes, tickets and
drafts were stored in clear and shown unmasked by 本月走访 and 查; a ticket's `身份证…，电话…，地址…` went into
a draft, was published at /docs/stations/… without the lead ever seeing it, and stayed after the resident sent
删除我的信息."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from live_app import settings_for
from sqlalchemy import delete, insert, select, update
from town import Town, id_number, running_town

from bot.clock import FrozenClock
from bot.crypto import FERNET_PREFIX
from bot.messages import Attachment, Reply
from bot.store import CaseRow
from bot.store.casework_models import Visit, VisitAttachment
from bot.store.free_text import DONE_KEY, protect_legacy_free_text
from bot.store.handoff_models import KbDraft, Ticket, TicketMessage
from bot.store.models import ConversationState, KbDocument, KeyValue
from handlers.casework.store import CaseworkStore
from handlers.handoff.store import HandoffStore

CASE_ID, CASE_PHONE = id_number("44060519450312002"), "13812345678"
TYPED_ID, TYPED_PHONE = id_number("44010619900101123"), "13987654321"
RESIDENT_NAME, ADDRESS = "陈秀兰", "东村二巷12号"
MARKER = "临时救助金"
ZHANG = "张桂英@东村"


async def outbox_texts(town: Town) -> str:
    """Every queued message's text, for every chat."""
    return "\n".join(m.payload["text"] for m in await town.outbox())


@pytest.fixture
async def station(database_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Town]:
    """石湾镇社工站: 李敏 (worker) and 陈站长 (lead) bound on Telegram as "worker" and "lead"; 张桂英 and a
    resident who will also write to the bot, both 李敏's cases. The chat speaks on Telegram."""
    async with running_town(settings_for(database_url, tmp_path), clock, channel="telegram") as town:
        shiwan = await town.station("石湾镇社工站", county="禅城区", city="佛山市")
        for name, user, role in (("李敏", "worker", "worker"), ("陈站长", "lead", "lead")):
            assert "绑定成功" in (await town.bind(shiwan, name, user, role, channel="telegram")).text
        await town.import_cases(
            shiwan,
            [
                CaseRow(
                    name="张桂英",
                    categories=("低保",),
                    village="东村",
                    address="东村12号",
                    phone=CASE_PHONE,
                    id_number=CASE_ID,
                    risk_level="低",
                    worker_name="李敏",
                ),
                CaseRow(
                    name=RESIDENT_NAME,
                    categories=("低保",),
                    village="东村",
                    address=ADDRESS,
                    phone="",
                    id_number=TYPED_ID,
                    risk_level="低",
                    worker_name="李敏",
                ),
            ],
        )
        yield town


async def test_visit_notes_are_encrypted_at_rest_and_lists_show_phones_masked(station: Town) -> None:
    shown = await station.answer(
        f"走访 张桂英 入户 身体还可以，身份证{CASE_ID}，女儿电话{TYPED_PHONE}，需要助餐，已送{MARKER}，低风险", "worker"
    )
    assert "请核对" in shown
    waiting = await station.raw("SELECT data FROM conversation_states")  # the report waiting for 确认
    assert FERNET_PREFIX in waiting  # one token of the whole draft
    for secret in (CASE_ID, TYPED_PHONE, "身体还可以", "助餐", MARKER, "findings", "张桂英"):
        assert secret not in waiting, secret
    assert "已保存" in await station.answer("确认", "worker")
    place = Attachment("location", latitude=23.0, longitude=113.1, label=ADDRESS)
    assert "附件" in (await station.say("", "worker", attachments=(place,)))[0].text
    stored = await station.raw("SELECT findings, needs, services, follow_up, danger FROM visits")
    for secret in (CASE_ID, TYPED_PHONE, "1398", "身体还可以", "助餐", MARKER, CASE_ID[-4:]):
        assert secret not in stored, secret
    labels = await station.raw("SELECT label FROM visit_attachments")
    assert labels and ADDRESS not in labels and "东村" not in labels
    masked_phone = f"{TYPED_PHONE[:3]}****{TYPED_PHONE[-4:]}"
    for command in ("本月走访", "查 张桂英"):
        listed = await station.answer(command, "worker")
        assert "身体还可以" in listed or "张桂英" in listed, listed
        assert TYPED_PHONE not in listed and CASE_ID not in listed, command
    listed = await station.answer("本月走访", "worker")
    assert masked_phone in listed or "…" in listed  # the summary may be cut before the number
    [visit] = await CaseworkStore.of(station.store).visits_of_case(station.cases[ZHANG])
    assert masked_phone in visit.findings and TYPED_PHONE not in visit.findings and MARKER in visit.findings
    assert f"{CASE_ID[:4]}**********{CASE_ID[-4:]}" in visit.findings  # masked when written
    [row] = await CaseworkStore.of(station.store).export_visits(None, None, None)
    assert TYPED_PHONE in row["发现情况"]  # the export, for the station's own files, has it in full
    assert ADDRESS in row["位置"]


async def test_a_form_waiting_in_clear_from_an_older_version_is_read_and_sealed_on_its_next_write(
    station: Town,
) -> None:
    assert "请核对" in await station.answer(f"走访 张桂英 入户 身体还可以，女儿电话{TYPED_PHONE}，低风险", "worker")
    store = station.store
    async with store.session() as s:
        [user_id] = (await s.execute(select(ConversationState.user_id))).scalars().all()
    found = await store.get_state(user_id)
    assert found is not None
    name, data = found
    async with store.session.begin() as s:  # the row as a version before this one wrote it
        await s.execute(update(ConversationState).where(ConversationState.user_id == user_id).values(data=data))
    in_clear = await station.raw("SELECT data FROM conversation_states")
    assert "findings" in in_clear and FERNET_PREFIX not in in_clear
    assert await store.get_state(user_id) == (name, data)
    await store.set_state(user_id, name, data)
    sealed = await station.raw("SELECT data FROM conversation_states")
    assert FERNET_PREFIX in sealed and "findings" not in sealed and TYPED_PHONE not in sealed
    async with store.session.begin() as s:
        await s.execute(update(ConversationState).where(ConversationState.user_id == user_id).values(data=data))
    assert "已保存" in await station.answer("确认", "worker")  # the hot path reads the old row too
    [visit] = await CaseworkStore.of(store).visits_of_case(station.cases["张桂英@东村"])
    assert "身体还可以" in visit.findings


async def ticket_with_personal_data(station: Town) -> int:
    for said in ("你好", "同意", "我在石湾镇", "找社工"):
        await station.say(said, "resident")
    opened = await station.answer(
        f"我叫{RESIDENT_NAME}，身份证{TYPED_ID}，电话{TYPED_PHONE}，住在{ADDRESS}，想申请{MARKER}", "resident"
    )
    assert "工单 #1" in opened
    await station.say(f"补充：我的身份证是{TYPED_ID}", "resident")
    return 1


async def test_tickets_are_encrypted_ids_masked_in_relays_and_phones_masked_in_lists(station: Town) -> None:
    number = await ticket_with_personal_data(station)
    stored = await station.raw("SELECT question FROM tickets UNION ALL SELECT text FROM ticket_messages")
    for secret in (TYPED_ID, TYPED_PHONE, RESIDENT_NAME, ADDRESS, MARKER):
        assert secret not in stored
    relayed = await outbox_texts(station)
    assert MARKER in relayed and TYPED_ID not in relayed and f"{TYPED_ID[:4]}**********{TYPED_ID[-4:]}" in relayed
    listed = await station.answer("工单", "worker")
    assert TYPED_PHONE not in listed and TYPED_ID not in listed
    view = await station.answer(f"工单 {number}", "worker")
    assert MARKER in view and TYPED_ID not in view and "补充" in view
    assert "已发给居民" in await station.answer(
        f"回复 {number} 好的，请带身份证{TYPED_ID}原件来站里，领{MARKER}", "worker"
    )
    assert TYPED_ID not in await outbox_texts(station)
    assert TYPED_ID not in await station.raw("SELECT text FROM ticket_messages")


async def test_drafts_are_scrubbed_previewed_and_deleted_with_the_person(station: Town) -> None:
    number = await ticket_with_personal_data(station)
    await station.answer(
        f"回复 {number} {RESIDENT_NAME}您好，{MARKER}带户口本到站里申请，电话{TYPED_PHONE}我们会回访", "worker"
    )
    saved = await station.answer(f"收录 {number}", "worker")
    assert "草稿 #1" in saved
    async with station.store.session() as s:
        [draft] = (await s.execute(select(KbDraft))).scalars()
    for secret in (TYPED_ID, TYPED_PHONE, RESIDENT_NAME, ADDRESS):
        assert secret not in draft.question + draft.answer, secret
    assert MARKER in draft.question + draft.answer

    preview = await station.answer("发布 1", "lead")
    assert "确认发布 1" in preview and MARKER in preview and RESIDENT_NAME not in preview
    knowledge = station.services.knowledge
    path = f"stations/{station.a.id}/answer-1.md"
    assert knowledge.current().document(path) is None  # nothing published before the lead confirms
    assert "已发布" in await station.answer("确认发布 1", "lead")
    assert knowledge.current().document(path) is not None

    await station.services.push("telegram", "resident", Reply(f"稍后回答：{MARKER}"), dedup_key="late:1")
    assert MARKER in await outbox_texts(station)
    assert "已删除" in await station.answer("删除我的信息", "resident")
    assert knowledge.current().document(path) is None
    async with station.store.session() as s:
        assert (await s.execute(select(KbDocument))).first() is None
        assert (await s.execute(select(KbDraft))).first() is None
    everything = await outbox_texts(station)
    assert MARKER not in everything and TYPED_PHONE not in everything and TYPED_ID[-4:] not in everything


async def test_rows_written_in_clear_by_an_older_version_are_protected_at_start(station: Town) -> None:
    store = station.store
    now: datetime = station.clock.now()
    case_id = station.cases[ZHANG]
    note: dict[str, Any] = {
        "case_id": case_id,
        "worker_id": station.workers["李敏"],
        "visited_at": now,
        "mode": "入户",
        "needs": "",
        "services": "",
        "findings": f"女儿电话{TYPED_PHONE}，身份证{TYPED_ID}",
        "risk_after": "",
        "risk_before": "低",
        "follow_up": "",
        "danger": "",
        "source_key": "legacy:1",
        "created_at": now,
    }
    # The version before sealed only the phone numbers of notes, in place.
    sealed_phone = f"⟦tel:{store.secrets.encrypt(CASE_PHONE)}⟧"
    sealed = {**note, "findings": f"身体还可以，儿子电话{sealed_phone}", "source_key": "legacy:2"}
    async with store.session.begin() as s:
        visit_id = (await s.execute(insert(Visit).values(**note).returning(Visit.id))).scalar_one()
        await s.execute(insert(Visit).values(**sealed))
        await s.execute(
            insert(VisitAttachment).values(visit_id=visit_id, kind="location", url="", label=ADDRESS, created_at=now)
        )
        ticket = (
            await s.execute(
                insert(Ticket)
                .values(
                    station_id=station.a.id,
                    user_id=None,
                    channel="telegram",
                    chat_id="old",
                    question=f"旧的问题 {TYPED_ID}",
                    status="closed",
                    created_at=now,
                    last_activity_at=now,
                    closed_by="worker",
                )
                .returning(Ticket.id)
            )
        ).scalar_one()
        await s.execute(
            insert(TicketMessage).values(
                ticket_id=ticket, sender="resident", text=f"旧消息{TYPED_PHONE}", created_at=now
            )
        )
        await s.execute(delete(KeyValue).where(KeyValue.key == DONE_KEY))
    resident = await store.user_for("telegram", "old-resident")
    form = {"draft": {"findings": f"女儿电话{TYPED_PHONE}"}}
    async with store.session.begin() as s:  # a form left in clear days ago: expired, never written again
        await s.execute(
            insert(ConversationState).values(
                user_id=resident.id, name="visit_form", data=form, updated_at=now - timedelta(days=3)
            )
        )
    assert TYPED_PHONE in await station.raw("SELECT data FROM conversation_states")
    counts = await protect_legacy_free_text(store)
    assert counts == {"tickets": 1, "ticket_messages": 1, "visits": 2, "visit_attachments": 1, "conversation_states": 1}
    states = await station.raw("SELECT data FROM conversation_states")
    assert FERNET_PREFIX in states and TYPED_PHONE not in states and "findings" not in states
    assert await store.get_state(resident.id) == ("visit_form", form)
    stored = await station.raw(
        "SELECT findings FROM visits UNION ALL SELECT question FROM tickets UNION ALL SELECT text FROM ticket_messages"
        " UNION ALL SELECT label FROM visit_attachments"
    )
    for secret in (TYPED_PHONE, TYPED_ID, "旧的问题", "女儿电话", "身体还可以", "⟦tel:", ADDRESS):
        assert secret not in stored, secret
    shown = {v.findings for v in await CaseworkStore.of(store).visits_of_case(case_id)}
    assert shown == {
        f"女儿电话{TYPED_PHONE[:3]}****{TYPED_PHONE[-4:]}，身份证{TYPED_ID[:4]}**********{TYPED_ID[-4:]}",
        f"身体还可以，儿子电话{CASE_PHONE[:3]}****{CASE_PHONE[-4:]}",
    }
    exported = {r["发现情况"] for r in await CaseworkStore.of(store).export_visits(None, None, None)}
    assert f"身体还可以，儿子电话{CASE_PHONE}" in exported
    [record] = [t for t in [(await HandoffStore.of(store).ticket_view(ticket, station.a.id))] if t is not None]
    assert record[0].question.startswith("旧的问题 4401") and TYPED_ID not in record[0].question
    assert record[1][0].text == f"旧消息{TYPED_PHONE}"
    assert await protect_legacy_free_text(store) == {}  # once
