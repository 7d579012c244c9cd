"""Storage behaviour, on every configured database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text

from bot.store import Store, StoredDocument, create_engine, upgrade
from bot.store.arrivals import Arrival
from bot.store.database import head_revision


async def test_migrations_reach_head_and_are_idempotent(store: Store) -> None:
    assert await upgrade(store.engine) == head_revision()
    async with store.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
    assert {"users", "conversation_states", "seen_messages", "kb_documents", "alembic_version"} <= tables


async def test_user_record_is_stable_per_channel_identity(store: Store) -> None:
    a = await store.user_for("telegram", "42", "Ah Ming")
    again = await store.user_for("telegram", "42")
    other_channel = await store.user_for("wechat", "42")
    assert a.id == again.id
    assert other_channel.id != a.id
    await store.set_user_city(a.id, "广州市")
    assert (await store.user_for("telegram", "42")).city == "广州市"


async def test_message_is_claimed_once_even_when_raced(store: Store) -> None:
    results = await asyncio.gather(*(store.arrive(Arrival("wechat:123", "wechat", "o1")) for _ in range(8)))
    assert sum(r is not None for r in results) == 1
    assert await store.arrive(Arrival("wechat:124", "wechat", "o1")) is not None
    assert await store.arrive(Arrival("wechat:123", "wechat", "o1")) is None


async def test_claims_are_shared_between_two_engines(database_url: str, store: Store) -> None:
    # Two server processes = two engines on one database: a redelivery to the other one is a duplicate.
    other = Store(create_engine(database_url), store.clock)
    try:
        assert await store.arrive(Arrival("telegram:9", "telegram", "42")) is not None
        assert await other.arrive(Arrival("telegram:9", "telegram", "42")) is None
    finally:
        await other.close()


async def test_state_round_trip_and_expiry(store: Store, clock) -> None:
    user = await store.user_for("console", "u1")
    assert await store.get_state(user.id) is None
    await store.set_state(user.id, "qa:answered", {"q": "低保怎么申请"})
    await store.set_state(user.id, "qa:answered", {"q": "高龄津贴"})
    assert await store.get_state(user.id) == ("qa:answered", {"q": "高龄津贴"})
    clock.advance(hours=25)
    assert await store.get_state(user.id, max_age=timedelta(hours=24)) is None
    await store.clear_state(user.id)
    assert await store.get_state(user.id) is None


async def test_documents_add_update_unchanged_remove(store: Store, clock) -> None:
    doc = StoredDocument("gz/a.md", "标题", "来源", "2024", "广州市", "正文内容一", "h1")
    assert await store.save_document(doc) == "added"
    rev1 = await store.documents_revision()
    assert await store.save_document(doc) == "unchanged"
    clock.advance(seconds=5)
    changed = StoredDocument("gz/a.md", "标题", "来源", "2024", "广州市", "正文内容二", "h2")
    assert await store.save_document(changed) == "updated"
    assert await store.documents_revision() != rev1
    await store.save_document(StoredDocument("gz/sub/b.md", "B", "", "", "", "b", "h3"))
    await store.save_document(StoredDocument("gzx/c.md", "C", "", "", "", "c", "h4"))
    assert await store.document_with_hash("h2") == "gz/a.md"
    assert sorted(await store.remove_documents("gz")) == ["gz/a.md", "gz/sub/b.md"]
    assert [d.path for d in await store.list_documents()] == ["gzx/c.md"]


async def test_old_seen_messages_are_forgotten(store: Store, clock) -> None:
    await store.arrive(Arrival("web:1", "web", "v1"))
    clock.advance(days=8)
    await store.arrive(Arrival("web:2", "web", "v1"))
    assert await store.forget_seen_before(clock.now() - timedelta(days=7)) == 1
    async with store.engine.connect() as conn:
        keys = (await conn.execute(text("SELECT key FROM seen_messages"))).scalars().all()
    assert keys == ["web:2"]
