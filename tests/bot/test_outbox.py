"""Outbox: idempotent enqueue, exclusive claims across processes, leases, retries and failures."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fakes.channel import RecordingChannel

from bot.channels.base import SendError
from bot.messages import Button, Reply, reply_to_payload
from bot.outbox import LEASE, OutboxSender
from bot.store import Store, create_engine


def payload(text: str) -> dict:
    return reply_to_payload(Reply(text, buttons=[Button("好", "ok")]))


async def test_enqueue_with_same_key_is_idempotent(store: Store) -> None:
    assert await store.enqueue("test", "c1", payload("a"), dedup_key="reply:1") is True
    assert await store.enqueue("test", "c1", payload("a"), dedup_key="reply:1") is False
    assert await store.outbox_counts() == {"pending": 1}


async def test_two_processes_never_claim_the_same_message(database_url: str, store: Store) -> None:
    for n in range(40):
        await store.enqueue("test", f"c{n}", payload(str(n)))
    other = Store(create_engine(database_url), store.clock)
    try:
        a, b = await asyncio.gather(store.claim_outbox(25, LEASE), other.claim_outbox(25, LEASE))
        ids_a, ids_b = {i.id for i in a}, {i.id for i in b}
        assert not ids_a & ids_b
        assert len(ids_a | ids_b) == 40
    finally:
        await other.close()


async def test_lease_expiry_hands_a_crashed_claim_to_another_sender(store: Store, clock) -> None:
    await store.enqueue("test", "c1", payload("hello"))
    [claimed] = await store.claim_outbox(10, LEASE)  # then the process "crashes" before sending
    assert await store.claim_outbox(10, LEASE) == []
    clock.advance(seconds=LEASE.total_seconds() + 1)
    [again] = await store.claim_outbox(10, LEASE)
    assert again.id == claimed.id and again.attempts == 2


async def test_sender_delivers_once_and_marks_sent(store: Store) -> None:
    channel = RecordingChannel("test")
    await store.enqueue("test", "chat-9", payload("您好"))
    sender = OutboxSender(store, {"test": channel})
    assert await sender.run_once() == 1
    assert await sender.run_once() == 0
    [(chat, reply)] = channel.sent
    assert chat == "chat-9" and reply.text == "您好" and reply.buttons[0].value == "ok"
    assert await store.outbox_counts() == {"sent": 1}


async def test_transient_failure_retries_with_backoff_then_succeeds(store: Store, clock) -> None:
    channel = RecordingChannel("test", [SendError("timeout")])
    await store.enqueue("test", "c", payload("x"))
    sender = OutboxSender(store, {"test": channel})
    await sender.run_once()
    assert channel.sent == [] and await store.outbox_counts() == {"pending": 1}
    assert await sender.run_once() == 0  # not due yet
    clock.advance(seconds=3)
    await sender.run_once()
    assert len(channel.sent) == 1 and await store.outbox_counts() == {"sent": 1}


async def test_permanent_failure_is_recorded_not_retried(store: Store, clock) -> None:
    channel = RecordingChannel("test", [SendError("blocked by user", permanent=True)])
    await store.enqueue("test", "c", payload("x"))
    sender = OutboxSender(store, {"test": channel})
    await sender.run_once()
    clock.advance(hours=2)
    await sender.run_once()
    assert channel.sent == [] and await store.outbox_counts() == {"failed": 1}


async def test_shared_values_expire(store: Store, clock) -> None:
    await store.put_shared("wechat:token", "T1", clock.now() + timedelta(seconds=100))
    assert await store.get_shared("wechat:token") == "T1"
    clock.advance(seconds=101)
    assert await store.get_shared("wechat:token") is None


async def test_lease_is_exclusive_until_released_or_expired(database_url: str, store: Store, clock) -> None:
    other = Store(create_engine(database_url), clock)
    try:
        assert await store.take_lease("wechat:token:refresh", "a", timedelta(seconds=15)) is True
        assert await other.take_lease("wechat:token:refresh", "b", timedelta(seconds=15)) is False
        await other.release_lease("wechat:token:refresh", "b")  # not b's to release
        assert await other.take_lease("wechat:token:refresh", "b", timedelta(seconds=15)) is False
        clock.advance(seconds=16)  # a crashed holder's lease runs out
        assert await other.take_lease("wechat:token:refresh", "b", timedelta(seconds=15)) is True
        await other.release_lease("wechat:token:refresh", "b")
        assert await store.take_lease("wechat:token:refresh", "a", timedelta(seconds=15)) is True
    finally:
        await other.close()
