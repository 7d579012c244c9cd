"""The per-message hot path: group commit, and what `arrive` / `depart` read and write, on every database."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.store import Store, create_engine
from bot.store.arrivals import Arrival, Departure
from bot.store.group_commit import GroupCommit
from handlers.privacy.store import PrivacyStore


# -- GroupCommit ---------------------------------------------------------------------------------
async def test_requests_arriving_during_a_batch_share_the_next_one() -> None:
    batches: list[list[int]] = []

    async def run(batch: Sequence[int]) -> list[int]:
        batches.append(list(batch))
        await asyncio.sleep(0.02)  # a transaction in progress
        return [n * 10 for n in batch]

    commit: GroupCommit[int, int] = GroupCommit(run)
    first = asyncio.create_task(commit.submit(0))
    await asyncio.sleep(0.005)  # the first batch is running now
    rest = await asyncio.gather(*(commit.submit(n) for n in range(1, 11)))
    assert await first == 0 and rest == [n * 10 for n in range(1, 11)]
    assert batches == [[0], list(range(1, 11))]


async def test_batches_are_capped() -> None:
    sizes: list[int] = []

    async def run(batch: Sequence[int]) -> list[int]:
        sizes.append(len(batch))
        await asyncio.sleep(0)
        return list(batch)

    commit: GroupCommit[int, int] = GroupCommit(run, max_batch=4)
    assert await asyncio.gather(*(commit.submit(n) for n in range(10))) == list(range(10))
    assert sizes == [4, 4, 2]


async def test_a_failing_request_fails_alone() -> None:
    calls: list[list[str]] = []

    async def run(batch: Sequence[str]) -> list[str]:
        calls.append(list(batch))
        if "bad" in batch:
            raise ValueError("bad row")
        return [s.upper() for s in batch]

    commit: GroupCommit[str, str] = GroupCommit(run)
    results = await asyncio.gather(*(commit.submit(s) for s in ("a", "bad", "c")), return_exceptions=True)
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], ValueError)
    assert calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]  # the batch, then each alone


async def test_a_cancelled_caller_does_not_abort_the_others() -> None:
    release = asyncio.Event()
    done: list[list[int]] = []

    async def run(batch: Sequence[int]) -> list[int]:
        await release.wait()
        done.append(list(batch))
        return list(batch)

    commit: GroupCommit[int, int] = GroupCommit(run)
    waiting = [asyncio.create_task(commit.submit(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    waiting[1].cancel()
    release.set()
    assert await waiting[0] == 0 and await waiting[2] == 2
    with pytest.raises(asyncio.CancelledError):
        await waiting[1]
    assert done == [[0, 1, 2]]  # the transaction ran for everyone


# -- arrive / depart -------------------------------------------------------------------------------
async def test_a_key_twice_in_one_batch_is_taken_once(store: Store) -> None:
    batch = [Arrival("wechat:1", "wechat", "o1"), Arrival("wechat:1", "wechat", "o1"),
             Arrival("wechat:2", "wechat", "o2"), Arrival("", "console", "c1"), Arrival("", "console", "c1")]
    senders = await store.pass_messages(batch)
    assert [s is not None for s in senders] == [True, False, True, True, True]
    assert senders[0].user.platform_user_id == "o1" and senders[2].user.platform_user_id == "o2"
    assert senders[3].user.id == senders[4].user.id  # no message id: no dedup, same sender
    again = await store.pass_messages([Arrival("wechat:2", "wechat", "o2"), Arrival("wechat:3", "wechat", "o2")])
    assert again[0] is None and again[1].user.id == senders[2].user.id


async def test_every_key_is_taken_once_across_two_processes(database_url: str, store: Store) -> None:
    # Two `shegong serve` processes receive the same 40 deliveries (WeChat retries hit either one), each
    # some of them twice, all at once.
    other = Store(create_engine(database_url), store.clock)
    try:
        keys = [f"wechat:{n}" for n in range(40)]
        calls = [s.arrive(Arrival(k, "wechat", f"o{n % 7}")) for n, k in enumerate(keys)
                 for s in (store, other, store if n % 3 else other)]
        results = await asyncio.gather(*calls)
    finally:
        await other.close()
    taken = [r for r in results if r is not None]
    assert len(taken) == 40
    assert len({r.user.id for r in taken}) == 7


async def test_arrival_brings_state_and_status_and_departure_writes_them(store: Store, clock) -> None:
    first = await store.arrive(Arrival("web:1", "web", "v1"))
    assert first is not None and first.state is None
    assert not first.status.is_worker and first.status.notice_at is None and first.status.ticket_id is None
    uid = first.user.id
    await store.depart(Departure(uid, ("qa:answered", {"q": "低保怎么申请"}), state_changed=True, notice_shown=True))
    second = await store.arrive(Arrival("web:2", "web", "v1"))
    assert second.state == ("qa:answered", {"q": "低保怎么申请"})
    assert second.status.notice_at is not None and not second.status.consented
    await PrivacyStore.of(store).record_consent(uid)
    await store.depart(Departure(uid, None, state_changed=True))  # cleared
    third = await store.arrive(Arrival("web:3", "web", "v1"))
    assert third.state is None and third.status.consented
    await store.depart(Departure(uid, ("visit:form", {"step": 2}), state_changed=True))
    clock.advance(hours=25)  # dialog state older than a day is forgotten
    assert (await store.arrive(Arrival("web:4", "web", "v1"))).state is None


async def test_a_senders_later_message_in_one_batch_wins(store: Store) -> None:
    uid = (await store.arrive(Arrival("web:1", "web", "v1"))).user.id
    await store.pass_messages([Departure(uid, ("qa:answered", {"q": "一"}), state_changed=True),
                               Departure(uid, ("qa:unsure", {"q": "二"}), state_changed=True),
                               Departure(uid, notice_shown=True)])  # no state change: keeps the second
    assert await store.get_state(uid) == ("qa:unsure", {"q": "二"})
    await store.pass_messages([Departure(uid, ("qa:answered", {"q": "三"}), state_changed=True),
                               Departure(uid, None, state_changed=True)])
    assert await store.get_state(uid) is None


async def test_a_departure_with_nothing_to_write_costs_no_transaction(store: Store) -> None:
    ran: list[int] = []
    original = store.pass_messages

    async def counting(batch):
        ran.append(len(batch))
        return await original(batch)

    store._hot_path._run_batch = counting
    await store.depart(Departure(1))
    assert ran == []


def test_a_store_outlives_its_event_loop() -> None:
    # Tools may run the same store under one event loop after another; a batch left pending when an earlier
    # loop was closed must not block the next loop's requests.
    gate: dict[str, asyncio.Event] = {}

    async def run(batch: Sequence[int]) -> list[int]:
        if 0 in batch:
            await gate["first"].wait()  # never set: the loop ends with this batch pending
        return list(batch)

    commit: GroupCommit[int, int] = GroupCommit(run)

    async def abandon() -> None:
        gate["first"] = asyncio.Event()
        asyncio.get_running_loop().create_task(commit.submit(0))
        await asyncio.sleep(0.01)

    old_loop = asyncio.new_event_loop()
    old_loop.run_until_complete(abandon())
    old_loop.close()  # closed with the batch still pending (no cancellation, unlike asyncio.run)

    async def later() -> int:
        return await asyncio.wait_for(commit.submit(7), 2)

    assert asyncio.run(later()) == 7
