"""The per-message hot path, mixed into Store: what every message reads on arrival and writes on leaving.

`accept` (durable intake, bot/inbox.py) claims the platform message id and stores the message before the
webhook acknowledges it; `finish` queues its replies in the outbox and removes it from the inbox in one
transaction, so a message is either waiting in the inbox or answered in the outbox, never neither. The outbox
sender's `mark_sent` joins too: the shorter the time between a send and its record, the fewer sends a crash
can repeat.
`arrive` claims the platform message id (None for a redelivery already taken by any process), upserts the
sender and reads their dialog state and consent/handoff status. `depart` writes the dialog state and the
privacy-notice mark the handlers left. The sender's upsert also counts their messages in the current minute
(users.rate_window, users.rate_count): the per-sender rate limit holds across processes at no extra
statement. Both go through one `GroupCommit`, so concurrent messages, arriving
and leaving, share one transaction (departures first: a sender's next message reads what the previous one
left). Accepts and finishes share the same transactions. Rows are touched in sorted key order so that
concurrent batches of several processes on PostgreSQL lock in the same order and cannot deadlock.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, case, delete, select, update
from sqlalchemy import insert as plain_insert
from sqlalchemy.dialects import postgresql, sqlite

from bot.crypto import Secrets, UnavailableSecrets
from bot.store.casework_models import WorkerIdentity
from bot.store.casework_records import aware
from bot.store.group_commit import GroupCommit
from bot.store.handoff_models import ResidentProfile, Ticket
from bot.store.handoff_records import ACTIVE_HOURS, ResidentStatus
from bot.store.models import (
    ConversationState,
    InboxMessage,
    OutboxMessage,
    SeenMessage,
    User,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from bot.clock import Clock

State = tuple[str, dict[str, Any]]
# Dialog state older than this is forgotten, so a half-finished form does not trap a user for days.
STATE_TTL = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    channel: str
    platform_user_id: str
    display_name: str
    city: str


@dataclass(frozen=True, slots=True)
class Arrival:
    key: str  # the platform message id with its channel; "" when the platform gives none (no dedup)
    channel: str
    platform_user_id: str


@dataclass(frozen=True, slots=True)
class Sender:
    user: UserRecord
    state: State | None  # open dialog state younger than the state TTL
    status: ResidentStatus
    sent_this_minute: int = 1  # this sender's messages in the current minute, by every process, this one included


@dataclass(frozen=True, slots=True)
class Departure:
    user_id: int
    state: State | None = None  # the dialog state to keep (with state_changed)
    state_changed: bool = False  # write `state`; None clears it
    notice_shown: bool = False  # the privacy notice went out with this message's reply


@dataclass(frozen=True, slots=True)
class Accept:
    """Claim a message id and keep the message in the inbox until its replies are queued."""

    key: str  # the dedup key; never empty (a message without an id cannot be stored durably)
    channel: str
    payload: dict[str, Any]  # the Incoming, as bot.messages.incoming_to_payload gives it
    owner: str  # the accepting process
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class Push:
    channel: str
    chat_id: str
    payload: dict[str, Any]  # a serialised Reply
    dedup_key: str


@dataclass(frozen=True, slots=True)
class Finish:
    """Queue an accepted message's replies and take it out of the inbox, in one transaction."""

    key: str  # "" for a message that was never stored: only the pushes are queued
    pushes: tuple[Push, ...] = ()


@dataclass(frozen=True, slots=True)
class Sent:
    """The platform took an outbox message: record it at once, since until then a crash means sending it again."""

    outbox_id: int


HotRequest = Arrival | Departure | Accept | Finish | Sent
_USER_COLUMNS = (User.id, User.channel, User.platform_user_id, User.display_name, User.city)
_state = cast(Table, ConversationState.__table__)


class ArrivalQueries:
    clock: Clock
    engine: AsyncEngine
    secrets: Secrets

    # -- dialog state at rest -------------------------------------------------------------------
    # A form waiting for 确认 (a visit report, a message for the social worker) carries notes and phone
    # numbers for up to a day: the state's data is kept as one Fernet token of its JSON, stored as a JSON
    # string in the same column. Every read and write of conversation_states goes through these two.
    def seal_state(self, data: dict[str, Any]) -> dict[str, Any] | str:
        if isinstance(self.secrets, UnavailableSecrets):
            # A shared database without a key: policy Q&A's dialogs keep working; the dialogs that
            # carry personal data fail on their own stores first.
            return data
        return self.secrets.encrypt(json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    def open_state(self, stored: dict[str, Any] | str) -> dict[str, Any]:
        # A dict: written in clear (by an older version, or without a key); sealed on its next write.
        return dict(json.loads(self.secrets.decrypt(stored)) if isinstance(stored, str) else stored)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _core(self) -> Any: ...  # the engine's transaction, provided by Store
    def _core_lazy(self) -> Any: ...  # the same, its commit not waiting for the disk, provided by Store

    def _start_group_commit(self) -> None:
        self._hot_path: GroupCommit[HotRequest, Sender | bool | None] = GroupCommit(self.pass_messages)

    async def arrive(self, arrival: Arrival) -> Sender | None:
        sender = await self._hot_path.submit(arrival)
        assert not isinstance(sender, bool)
        return sender

    async def accept(self, accept: Accept) -> bool:
        """Claim and store a message; False when its id was taken before (a redelivery). Raises when the
        database cannot be written: the platform must then hear an error and deliver it again."""
        return bool(await self._hot_path.submit(accept))

    async def finish(self, finish: Finish) -> None:
        await self._hot_path.submit(finish)

    async def mark_sent(self, item_id: int) -> None:
        await self._hot_path.submit(Sent(item_id))

    async def depart(self, departure: Departure) -> None:
        if departure.state_changed or departure.notice_shown:
            await self._hot_path.submit(departure)

    async def resident_status(self, user_id: int) -> ResidentStatus:
        """The same status `arrive` reads, for code outside the middleware chain (handlers called alone)."""
        async with self._core() as conn:
            facts = await self._read_senders(conn, [user_id], self.clock.now())
        return facts[user_id][1] if user_id in facts else ResidentStatus(False, None, None, None, "", None)

    # -- one transaction per batch --------------------------------------------------------------
    async def pass_messages(self, batch: Sequence[HotRequest]) -> list[Sender | bool | None]:
        """Departures' and finishes' writes, then accepts' and arrivals' claims and reads: a Sender per
        Arrival (None for a redelivery), a bool per Accept (False for a redelivery), None for the rest."""
        arrivals = [r for r in batch if isinstance(r, Arrival)]
        departures = [r for r in batch if isinstance(r, Departure)]
        accepts = [r for r in batch if isinstance(r, Accept)]
        finishes = [r for r in batch if isinstance(r, Finish)]
        sent = sorted(r.outbox_id for r in batch if isinstance(r, Sent))
        now = self.clock.now()
        # What a webhook is about to acknowledge must be on disk before it does; the rest need not wait for a
        # flush (Store._core_lazy says why), and an accept's flush makes them durable anyway.
        async with self._core() if accepts else self._core_lazy() as conn:
            if sent:
                await conn.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(sent))
                    .values(status="sent", sent_at=now, last_error="")
                )
            if departures:
                await self._leave(conn, departures, now)
            if finishes:
                await self._finish(conn, finishes, now)
            # One claim for both, so that its rows are locked in one sorted order.
            claimed = await self._claim(conn, [*accepts, *arrivals], now) if accepts or arrivals else []
            if accepts:
                await self._store_accepted(conn, [a for a, ok in zip(accepts, claimed, strict=False) if ok], now)
            senders = await self._take(conn, arrivals, claimed[len(accepts) :], now) if arrivals else []
        found_senders, found_accepts = iter(senders), iter(claimed[: len(accepts)])
        return [
            next(found_senders) if isinstance(r, Arrival) else next(found_accepts) if isinstance(r, Accept) else None
            for r in batch
        ]

    async def _store_accepted(self, conn: AsyncConnection, accepted: list[Accept], now: datetime) -> None:
        if accepted:
            await conn.execute(
                plain_insert(InboxMessage),
                [
                    {
                        "key": a.key,
                        "channel": a.channel,
                        "payload": a.payload,
                        "owner": a.owner,
                        "lease_until": a.lease_until,
                        "attempts": 1,
                        "accepted_at": now,
                    }
                    for a in sorted(accepted, key=lambda a: a.key)
                ],
            )

    async def _finish(self, conn: AsyncConnection, finishes: list[Finish], now: datetime) -> None:
        pushes = sorted((p for f in finishes for p in f.pushes), key=lambda p: p.dedup_key)
        if pushes:
            await conn.execute(
                _statements(self.dialect).enqueue,
                [
                    {
                        "channel": p.channel,
                        "chat_id": p.chat_id,
                        "payload": p.payload,
                        "dedup_key": p.dedup_key,
                        "status": "pending",
                        "attempts": 0,
                        "available_at": now,
                        "created_at": now,
                        "last_error": "",
                    }
                    for p in pushes
                ],
            )
        if keys := sorted({f.key for f in finishes if f.key}):
            await conn.execute(delete(InboxMessage).where(InboxMessage.key.in_(keys)))

    async def _take(
        self, conn: AsyncConnection, arrivals: list[Arrival], claimed: list[bool], now: datetime
    ) -> list[Sender | None]:
        taken = Counter((a.channel, a.platform_user_id) for a, ok in zip(arrivals, claimed, strict=False) if ok)
        users = await self._upsert_users(conn, sorted(taken.items()), now)
        facts = await self._read_senders(conn, [u.id for u, _ in users.values()], now)
        # A sender's messages in this batch are numbered in order, ending at the count the upsert returned.
        before = {who: total - taken[who] for who, (_, total) in users.items()}
        found: list[Sender | None] = []
        for a, ok in zip(arrivals, claimed, strict=False):
            if not ok:
                found.append(None)
                continue
            who = (a.channel, a.platform_user_id)
            before[who] += 1
            user = users[who][0]
            found.append(Sender(user, *facts[user.id], sent_this_minute=before[who]))
        return found

    async def _claim(self, conn: AsyncConnection, arrivals: Sequence[Arrival | Accept], now: datetime) -> list[bool]:
        keys = sorted({a.key for a in arrivals if a.key})
        won: set[str] = set()
        if keys:
            rows = await conn.execute(_statements(self.dialect).claim, [{"key": k, "seen_at": now} for k in keys])
            won = set(rows.scalars())
        result = []
        for a in arrivals:  # a key twice in one batch: the first one wins
            result.append(not a.key or a.key in won)
            won.discard(a.key)
        return result

    async def _upsert_users(
        self, conn: AsyncConnection, senders: list[tuple[tuple[str, str], int]], now: datetime
    ) -> dict[tuple[str, str], tuple[UserRecord, int]]:
        """Each sender's record and their messages in the current minute, these `n` included."""
        if not senders:
            return {}
        minute = int(now.timestamp() // 60)
        rows = await conn.execute(
            _statements(self.dialect).upsert_user,
            [
                {
                    "channel": c,
                    "platform_user_id": p,
                    "display_name": "",
                    "city": "",
                    "created_at": now,
                    "last_seen_at": now,
                    "rate_window": minute,
                    "rate_count": n,
                }
                for (c, p), n in senders
            ],
        )
        return {(r.channel, r.platform_user_id): (UserRecord(*r[:-1]), r[-1]) for r in rows}

    async def _read_senders(
        self, conn: AsyncConnection, user_ids: list[int], now: datetime
    ) -> dict[int, tuple[State | None, ResidentStatus]]:
        if not user_ids:
            return {}
        rows = await conn.execute(_SENDERS, {"ids": user_ids, "since": now - timedelta(hours=ACTIVE_HOURS)})
        fresh_after = now - STATE_TTL
        facts: dict[int, tuple[State | None, ResidentStatus]] = {}
        for r in rows:
            state = (
                (r.state_name, self.open_state(r.state_data))
                if r.state_name is not None and aware(r.state_updated_at) >= fresh_after
                else None
            )
            status = ResidentStatus(
                r.worker_id is not None, r.notice_at, r.consented_at, r.station_id, r.town or "", r.ticket_id
            )
            facts[r.id] = (state, status)
        return facts

    async def _leave(self, conn: AsyncConnection, departures: list[Departure], now: datetime) -> None:
        last: dict[int, State | None] = {}
        for d in departures:  # a user's later message in the batch wins
            if d.state_changed:
                last[d.user_id] = d.state
        writes = sorted((uid, s) for uid, s in last.items() if s is not None)
        clears = sorted(uid for uid, s in last.items() if s is None)
        notices = sorted({d.user_id for d in departures if d.notice_shown})
        sql = _statements(self.dialect)
        if writes:
            await conn.execute(
                sql.put_state,
                [
                    {"user_id": uid, "name": name, "data": self.seal_state(data), "updated_at": now}
                    for uid, (name, data) in writes
                ],
            )
        if clears:
            await conn.execute(delete(_state).where(_state.c.user_id.in_(clears)))
        if notices:
            await conn.execute(
                sql.note_notice, [{"user_id": uid, "town": "", "notice_at": now, "updated_at": now} for uid in notices]
            )


@dataclass(frozen=True, slots=True)
class _Statements:
    claim: Any
    upsert_user: Any
    put_state: Any
    note_notice: Any
    enqueue: Any


@functools.cache
def _statements(dialect: str) -> _Statements:
    """Built once per dialect: constructing an upsert (its `excluded` alias above all) costs more than
    running it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    user, state, profile = insert(User), insert(ConversationState), insert(ResidentProfile)
    return _Statements(
        claim=insert(SeenMessage).on_conflict_do_nothing().returning(SeenMessage.key),
        upsert_user=user.on_conflict_do_update(
            index_elements=["channel", "platform_user_id"],
            set_={
                "last_seen_at": user.excluded.last_seen_at,
                # The same minute adds up (the row lock makes it exact across processes); a new one starts over.
                "rate_count": case(
                    (User.rate_window == user.excluded.rate_window, User.rate_count + user.excluded.rate_count),
                    else_=user.excluded.rate_count,
                ),
                "rate_window": user.excluded.rate_window,
            },
        ).returning(*_USER_COLUMNS, User.rate_count),
        put_state=state.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"name": state.excluded.name, "data": state.excluded.data, "updated_at": state.excluded.updated_at},
        ),
        note_notice=profile.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"notice_at": profile.excluded.notice_at, "updated_at": profile.excluded.updated_at},
        ),
        # A reply queued before (same dedup key: a message handled again after a crash) is not queued twice.
        enqueue=insert(OutboxMessage).on_conflict_do_nothing(),
    )


def _senders_query():
    worker = (
        select(WorkerIdentity.worker_id).where(WorkerIdentity.user_id == User.id).scalar_subquery().label("worker_id")
    )
    ticket = (
        select(Ticket.id)
        .where(Ticket.user_id == User.id, Ticket.status == "open", Ticket.last_activity_at >= bindparam("since"))
        .order_by(Ticket.id.desc())
        .limit(1)
        .scalar_subquery()
        .label("ticket_id")
    )
    P, S = ResidentProfile, ConversationState
    return (
        select(
            User.id,
            worker,
            ticket,
            P.notice_at,
            P.consented_at,
            P.station_id,
            P.town,
            S.name.label("state_name"),
            S.data.label("state_data"),
            S.updated_at.label("state_updated_at"),
        )
        .select_from(User)
        .outerjoin(P, P.user_id == User.id)
        .outerjoin(S, S.user_id == User.id)
        .where(User.id.in_(bindparam("ids", expanding=True)))
    )


_SENDERS = _senders_query()
