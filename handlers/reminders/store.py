"""Reminder queries, mixed into Store: the due-list aggregate, the ledger, digests, completions, snoozes.

Exactly once without a lease of our own: a digest's row (unique per worker and day) or a notice's ledger row
(unique per case, item, due date, kind and recipient) is inserted in the same transaction as the outbox
message that carries it. A second process inserting the same key waits for the first to commit and then
inserts nothing, so it queues nothing; a crash before the commit leaves nothing behind and the next pass
does the work. Sending is the outbox's business (SKIP LOCKED claims with a lease, dedup keys).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    DateTime,
    Integer,
    Text,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    type_coerce,
    update,
    values,
)
from sqlalchemy.sql import ColumnElement

from bot.store.case_periods import assignment_at, stations_filter
from bot.store.casework_models import Case, Station, Visit, Worker, WorkerIdentity
from bot.store.casework_records import LEAD_ROLES, utc
from bot.store.feature import FeatureStore
from bot.store.models import OutboxMessage, User
from bot.store.outbox import HELD
from handlers.casework.models import CaseHistory
from handlers.reminders.models import (
    MARK_SLOTS,
    ReminderCompletion,
    ReminderDigest,
    ReminderHarvest,
    ReminderList,
    ReminderNotice,
    ReminderSnooze,
    reminder_marks,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


NEVER = datetime(1900, 1, 1, tzinfo=UTC)  # a gate bound that no case passes
# Visits are folded into marks only when older than this: longer than the 30-minute 撤销 window.
HARVEST_LAG = timedelta(hours=6)
VISIT_BATCH = 10_000  # visits read per query when matching notes in Python
MARKS_BATCH = 5_000  # reminder_marks rows per upsert


@dataclass(frozen=True, slots=True)
class ResetSpec:
    """Plain form of a rule's reset condition (handlers.reminders.rules.ResetBy), so the store needs no rules."""

    modes: tuple[str, ...]
    keywords: tuple[str, ...]


def history_kinds(spec: ResetSpec) -> tuple[str, ...]:
    """Which roster history dates (bot.store.casework_records.HISTORY_KINDS) count as having done an item with
    this reset condition: 上次走访日期 for any item a visit resets (the sheet does not say how the visit was
    made), 上次入户日期 for items a home visit resets, 上次评估日期 for items whose keywords name an assessment
    (评估: 需求评估, 自理能力评估)."""
    kinds: list[str] = []
    if spec.modes:
        kinds.append("visit")
    if "入户" in spec.modes:
        kinds.append("home_visit")
    if any("评估" in k for k in spec.keywords):
        kinds.append("assessment")
    return tuple(kinds)


@dataclass(frozen=True, slots=True)
class Track:
    """One (item key, reset condition) pair some rule uses: the due query reports, per case, when it was
    last done (the later of the latest matching visit and the latest "完成" reply for that key)."""

    key: str
    spec: ResetSpec


@dataclass(frozen=True, slots=True)
class Gate:
    """The prefilter for cases of one category list (at one overriding station, or at any station when
    `station_id` is 0): per track, a case may be due only if it was last done (or registered) before
    `done_before`, or, never done, registered before `new_before`. None: the track does not apply."""

    station_id: int
    categories: str
    done_before: tuple[datetime | None, ...]
    new_before: tuple[datetime | None, ...]


# A row of due_rows, by position (a plain row: building an object per case costs a second on 10^6 cases):
# case id, station id, worker id (or None), case name, village, index of the case's gate, registration time
# (UTC), then per track when it was last done (UTC, None if never or if the case's categories do not use it).
DueRow = Sequence[Any]
ROW_TRACKS = 7  # where the track times start


@dataclass(frozen=True, slots=True)
class CaseProfile:
    """The distinct category lists of open cases, and when each station registered its first case."""

    categories: list[tuple[int, str]]  # (0, text) overall, plus (station, text) for stations with own rules
    first_registered: dict[int, datetime]


@dataclass(frozen=True, slots=True)
class Identity:
    channel: str
    chat_id: str
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class Contact:
    worker_id: int
    name: str
    role: str
    station_id: int
    identities: tuple[Identity, ...]

    @property
    def is_lead(self) -> bool:
        return self.role in LEAD_ROLES


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One numbered line of a worker's list."""

    case_id: int
    item_key: str
    due_date: date
    case_name: str
    item_name: str


@dataclass(frozen=True, slots=True)
class DigestPlan:
    worker_id: int
    station_id: int
    channel: str  # "" when no identity can be reached: recorded as unreachable (需另行联系)
    chat_id: str
    payload: dict[str, Any]
    entries: tuple[ListEntry, ...]
    overdue: int


@dataclass(frozen=True, slots=True)
class Notice:
    case_id: int
    item_key: str
    due_date: date
    station_id: int
    recipient_id: int


# (lead id, its new notices) -> (channel, chat id, outbox payload); channel HELD (bot.store.outbox) keeps the
# notice for the lead's next message on any channel; None: nowhere to keep it (recorded as unreachable)
EscalationRender = Callable[[int, list[Notice]], "tuple[str, str, dict[str, Any]] | None"]


@dataclass(frozen=True, slots=True)
class EscalationResult:
    """New escalation notices of a pass: pushed to a lead's chat, held for a lead no channel reaches (shown
    with the reply to their next message), or with nowhere to go."""

    pushed: int = 0
    held: dict[int, int] = field(default_factory=dict)  # lead id → notices held for them
    unreachable: int = 0


def _utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we store is UTC.
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class ReminderStore(FeatureStore):
    if TYPE_CHECKING:

        def _insert(self, table: Any) -> Any: ...

    # -- due list ---------------------------------------------------------------------------
    async def case_profile(self, own_rules: Sequence[int] = ()) -> CaseProfile:
        """One pass over the cases for what the due computation needs before its main query."""
        text = cast(Case.categories, Text)
        opened = func.max(case((Case.status == "open", 1), else_=0))
        stmt = select(Case.station_id, text, func.min(Case.created_at), opened).group_by(Case.station_id, text)
        async with self.session() as s:
            rows = (await s.execute(stmt)).all()
        overall = sorted({cat for _, cat, _, is_open in rows if is_open})
        own = set(own_rules)
        first: dict[int, datetime] = {}
        for station, _, created, _ in rows:
            at = _utc(created)
            if at is not None:
                first[station] = min(first.get(station, at), at)
        return CaseProfile(
            [(0, cat) for cat in overall]
            + sorted({(st, cat) for st, cat, _, is_open in rows if is_open and st in own}),
            first,
        )

    async def category_lists_at(self, at: datetime, station_ids: Sequence[int] | None,
                                own_rules: Sequence[int] = ()) -> list[tuple[int, str]]:
        """As CaseProfile.categories, for the cases open just before `at` (with the categories they had)."""
        then = assignment_at(stations_filter(station_ids), at)
        stmt = (select(Case.station_id, then.c.categories).join(then, then.c.case_id == Case.id)
                .group_by(Case.station_id, then.c.categories))
        async with self.session() as s:
            rows = (await s.execute(stmt)).all()
        own = set(own_rules)
        return [(0, cat) for cat in sorted({cat for _, cat in rows})] + sorted({(st, cat) for st, cat in rows
                                                                               if st in own})

    async def first_import_ids(self, first_import_ends: dict[int, datetime]) -> dict[tuple[int, str], list[int]]:
        """The cases of each station's first import (any status: closing one must not move the others' dates),
        as ascending ids per (station, category list as JSON text). Grouped in the database: one row per
        list, not per case (85 % of a roster's cases, every pass)."""
        if not first_import_ends:
            return {}
        ends = _station_ends(first_import_ends)
        cat = cast(Case.categories, Text)
        postgres = self.dialect == "postgresql"
        ids = func.array_agg(Case.id) if postgres else Case.id  # sorted here: ORDER BY in it costs a third more
        stmt = select(Case.station_id, cat, ids).join(ends, ends.c.st == Case.station_id)
        stmt = stmt.where(Case.created_at < ends.c.end)
        stmt = stmt.group_by(Case.station_id, cat) if postgres else stmt.order_by(Case.id)
        found: dict[tuple[int, str], list[int]] = {}
        async with self.session() as s:
            rows: Sequence[Any] = (await (await s.connection()).execute(stmt)).all()
        for station, categories, got in rows:
            if postgres:
                found[(station, categories)] = sorted(got)
            else:
                found.setdefault((station, categories), []).append(got)
        return found

    async def reminded(self, keys: Sequence[tuple[int, str, date, int]]) -> set[tuple[int, str, date, int]]:
        """Which of these (case, item, due date, worker) a digest already brought to the worker (an unreachable
        worker's items are listed again once they can be reached)."""
        found: set[tuple[int, str, date, int]] = set()
        cases = sorted({k[0] for k in keys})
        wanted = set(keys)
        async with self.session() as s:
            for start in range(0, len(cases), 5000):
                stmt = select(
                    ReminderNotice.case_id,
                    ReminderNotice.item_key,
                    ReminderNotice.due_date,
                    ReminderNotice.recipient_id,
                ).where(
                    ReminderNotice.kind == "remind",
                    ReminderNotice.status == "queued",
                    ReminderNotice.case_id.in_(cases[start : start + 5000]),
                )
                found.update(k for k in (tuple(r) for r in (await s.execute(stmt)).all()) if k in wanted)
        return found

    async def snoozes_ended(self, after: date, upto: date) -> set[tuple[int, str, date]]:
        """Items whose 推迟 ended in (after, upto]: the worker asked to be reminded again."""
        async with self.session() as s:
            rows = await s.execute(
                select(ReminderSnooze.case_id, ReminderSnooze.item_key, ReminderSnooze.due_date).where(
                    ReminderSnooze.until_date > after, ReminderSnooze.until_date <= upto
                )
            )
            return {(c, k, d) for c, k, d in rows.all()}

    async def harvest_marks(self, specs: Sequence[ResetSpec], lag: timedelta = HARVEST_LAG) -> dict[ResetSpec, int]:
        """Fold visits older than `lag` into reminder_marks, per reset condition, from where the last harvest
        stopped (a condition new to the rules gets a column and starts from the first visit: one full
        pass). Visits younger than `lag` are read live, so a report deleted by 撤销 never leaves a stale mark.
        Idempotent: two processes harvesting at once write the same marks. Returns each condition's slot."""
        cutoff = self.clock.now() - lag
        wanted = {spec: _spec_id(spec) for spec in dict.fromkeys(specs)}
        if not wanted:
            return {}
        async with self.session.begin() as s:
            # One harvest at a time, so that two processes never hand out the same slot.
            if self.dialect == "postgresql":
                await s.execute(select(func.pg_advisory_xact_lock(7310004)))
            else:  # a write first: SQLite takes its write lock now (waiting for another writer), not later
                await s.execute(update(ReminderHarvest).where(ReminderHarvest.spec == "").values(upto=0))
            rows = {r.spec: r for r in (await s.execute(select(ReminderHarvest))).scalars()}
            await self._assign_slots(s, rows, wanted)
            low = min(rows[h].upto for h in wanted.values())
            # Ids are handed out in insertion order and a transaction takes milliseconds, not `lag`: every
            # visit below the first young one is committed.
            young = (
                await s.execute(select(func.min(Visit.id)).where(Visit.id > low, Visit.created_at >= cutoff))
            ).scalar()
            upto = young - 1 if young is not None else (await s.execute(select(func.max(Visit.id)))).scalar() or 0
            starts: dict[int, list[ResetSpec]] = {}  # one pass over visits per starting point (usually one)
            for spec, h in wanted.items():
                if rows[h].upto < upto:
                    starts.setdefault(rows[h].upto, []).append(spec)
            for start, group in starts.items():
                cols = [f"s{rows[wanted[spec]].slot}" for spec in group]
                found = await self._latest_matches(s, group, [start] * len(group), Visit.id <= upto)
                ins = self._insert(reminder_marks)
                upsert = ins.on_conflict_do_update(
                    index_elements=["case_id"],
                    set_={col: self._greatest(reminder_marks.c[col], ins.excluded[col]) for col in cols},
                )
                marks = [{"case_id": c, **dict(zip(cols, times, strict=True))} for c, times in sorted(found.items())]
                for at in range(0, len(marks), MARKS_BATCH):
                    await s.execute(upsert, marks[at : at + MARKS_BATCH])
                for spec in group:
                    rows[wanted[spec]].upto = upto
            return {spec: rows[h].slot for spec, h in wanted.items()}

    async def _assign_slots(
        self, s: AsyncSession, rows: dict[str, ReminderHarvest], wanted: dict[ResetSpec, str]
    ) -> None:
        """A column for every wanted condition: a free one, else one whose condition left the rules (cleared)."""
        taken = {r.slot for r in rows.values()}
        for spec, h in wanted.items():
            if h in rows:
                continue
            free = [i for i in range(MARK_SLOTS) if i not in taken]
            if not free:
                stale = [r for r in rows.values() if r.spec not in wanted.values()]
                if not stale:
                    raise ValueError(f"提醒规则里不同的 reset_by 条件超过 {MARK_SLOTS} 种，请合并一些")
                await s.delete(stale[0])
                await s.execute(reminder_marks.update().values({f"s{stale[0].slot}": None}))
                del rows[stale[0].spec]
                free = [stale[0].slot]
                await s.flush()
            rows[h] = ReminderHarvest(
                spec=h, slot=free[0], upto=0, definition={"modes": list(spec.modes), "keywords": list(spec.keywords)}
            )
            s.add(rows[h])
            taken.add(free[0])
        await s.flush()

    async def due_rows(
        self,
        tracks: Sequence[Track],
        gates: Sequence[Gate],
        slots: dict[ResetSpec, int],
        station_id: int | None = None,
        worker_id: int | None = None,
        first_import_ends: dict[int, datetime] | None = None,
        at: datetime | None = None,
        station_ids: Sequence[int] | None = None,
    ) -> Sequence[DueRow]:
        """Open cases that may have something due, each with when every track was last done: the latest of
        its harvested mark, a matching visit not yet harvested, a "完成" reply for the item and a date from
        the roster's history. The gates filter cases in the database, so cases with nothing due never leave
        it. `slots` comes from harvest_marks, called just before. `first_import_ends`: per station, the end of
        its first day (UTC): cases registered before it that never did an item are always sent.

        `at`: as things stood just before that instant instead (a month's end): the cases open then, with the
        worker and categories they had (bot.store.case_periods), and only what was done AND recorded before
        it (visits by visit and recording time, replies and roster dates by their time); the harvested marks,
        which hold later visits too, are not read. `station_ids`: only these stations' cases."""
        first_import_ends = first_import_ends or {}
        specs = list(dict.fromkeys(t.spec for t in tracks))
        keys = list(dict.fromkeys(t.key for t in tracks))
        case_filter: list[ColumnElement[bool]] = [Case.status == "open"] if at is None else []
        if station_id is not None:
            case_filter.append(Case.station_id == station_id)
        if station_ids is not None:
            case_filter.append(stations_filter(station_ids))
        if worker_id is not None and at is None:
            case_filter.append(Case.worker_id == worker_id)
        # A past instant (`at`) reads every visit before it, not the harvested marks, which hold later ones too.
        before_at = [Visit.visited_at < utc(at), Visit.created_at < utc(at)] if at is not None else []
        async with self.session() as s:
            if at is None:
                upto = dict((await s.execute(select(ReminderHarvest.spec, ReminderHarvest.upto))).all())
                since = [upto.get(_spec_id(spec), 0) for spec in specs]
            else:
                since = [0] * len(specs)
            # Visits not harvested yet (the last HARVEST_LAG, or all before `at`): matched here, in Python, on
            # their decrypted notes; the query below sends every case that has one, whatever its gate says, and
            # their times are merged into its rows afterwards.
            scoped = len(case_filter) > (1 if at is None else 0)
            mine_only = [Visit.case_id.in_(select(Case.id).where(*case_filter))] if scoped else []
            fresh = await self._latest_matches(s, specs, since, *mine_only, *before_at) if specs else {}
        unharvested = select(Visit.case_id).where(Visit.id > min(since, default=0), *before_at)
        done = select(
            ReminderCompletion.case_id,
            *[
                func.max(case((ReminderCompletion.item_key == key, ReminderCompletion.done_at))).label(f"c{i}")
                for i, key in enumerate(keys)
            ],
        ).group_by(ReminderCompletion.case_id)
        stamp = DateTime(timezone=True)
        history = select(
            CaseHistory.case_id,
            *[
                (
                    func.max(case((CaseHistory.kind.in_(kinds), CaseHistory.done_at)))
                    if (kinds := history_kinds(spec))
                    else cast(null(), stamp)
                ).label(f"h{i}")
                for i, spec in enumerate(specs)
            ],
        ).group_by(CaseHistory.case_id)
        if at is not None:
            done = done.where(ReminderCompletion.done_at < utc(at))
            history = history.where(CaseHistory.done_at < utc(at))
        if len(case_filter) > (1 if at is None else 0):  # a station or a worker: aggregate only their cases
            mine = select(Case.id).where(*case_filter)
            done = done.where(ReminderCompletion.case_id.in_(mine))
            history = history.where(CaseHistory.case_id.in_(mine))
        c, m, h = done.subquery("c"), reminder_marks, history.subquery("h")
        last = [
            self._greatest(
                *([m.c[f"s{slots[t.spec]}"]] if at is None else []),
                c.c[f"c{keys.index(t.key)}"],
                h.c[f"h{specs.index(t.spec)}"],
            ).label(f"x{j}")
            for j, t in enumerate(tracks)
        ]
        worker: Any
        categories: Any
        if at is None:
            worker, categories = Case.worker_id, cast(Case.categories, Text)
            joined: Any = Case.__table__.outerjoin(m, m.c.case_id == Case.id)
        else:  # the cases as they were: the worker and categories of the stretch open at `at`
            then = assignment_at(and_(*case_filter) if case_filter else true(), at)
            worker, categories = then.c.worker_id, then.c.categories
            joined = Case.__table__.join(then, then.c.case_id == Case.id)
            if worker_id is not None:
                case_filter.append(then.c.worker_id == worker_id)
        x = (
            select(
                Case.id,
                Case.station_id,
                worker.label("worker_id"),
                Case.name,
                Case.village,
                categories.label("cat"),
                Case.created_at,
                *last,
            )
            .select_from(joined)
            .outerjoin(c, c.c.case_id == Case.id)
            .outerjoin(h, h.c.case_id == Case.id)
            .where(*case_filter)
            .subquery("x")
        )
        n = len(tracks)
        gate = (
            values(
                column("i", Integer),
                column("st", Integer),
                column("cat", Text),
                *[column(f"d{j}", stamp) for j in range(n)],
                *[column(f"n{j}", stamp) for j in range(n)],
                name="gate",
            )
            .data(
                [
                    (i, g.station_id, g.categories, *[t or NEVER for t in (*g.done_before, *g.new_before)])
                    for i, g in enumerate(gates)
                ]
                or [(-1, 0, "", *[NEVER] * 2 * n)]  # NEVER, not NULL: PostgreSQL types a VALUES column by its first row
            )
            .cte("gate")
        )  # a CTE: SQLite has no column list for a VALUES alias
        own = sorted({g.station_id for g in gates if g.station_id})
        station_key = case((x.c.station_id.in_(own), x.c.station_id), else_=0) if own else literal(0)
        # A case of its station's first import, never done: its first due date is spread over the first
        # interval (DueCalculator.spread_first_due), so it may be due any day of it. The stations' first days
        # are joined, not tested as one OR per station in every track's condition: that OR was evaluated
        # (tracks × stations) times per case and compiled afresh on every pass.
        ends = _station_ends(first_import_ends) if first_import_ends else None
        first_import = and_(ends.c.end.is_not(None), x.c.created_at < ends.c.end) if ends is not None else false()
        # Whatever was done counts, even before registration (a visit the roster's history gives).
        passes = [
            or_(
                and_(x.c[f"x{j}"].is_not(None), x.c[f"x{j}"] < gate.c[f"d{j}"]),
                and_(
                    x.c[f"x{j}"].is_(None),
                    or_(
                        x.c.created_at < gate.c[f"d{j}"],
                        x.c.created_at < gate.c[f"n{j}"],
                        and_(gate.c[f"d{j}"] > NEVER, first_import),
                    ),
                ),
            )
            for j in range(n)
        ]
        # Only the tracks a case's categories use are sent back: decoding times is most of the client's work.
        used = [case((or_(gate.c[f"d{j}"] > NEVER, gate.c[f"n{j}"] > NEVER), x.c[f"x{j}"])) for j in range(n)]
        stmt = (
            select(x.c.id, x.c.station_id, x.c.worker_id, x.c.name, x.c.village, gate.c.i, x.c.created_at, *used)
            .select_from(x)
            .join(gate, and_(gate.c.st == station_key, gate.c.cat == x.c.cat))
            .where(or_(*passes, x.c.id.in_(unharvested)) if passes else false())
        )
        if ends is not None:
            stmt = stmt.outerjoin(ends, ends.c.st == x.c.station_id)
        async with self.session() as s:
            conn = await s.connection()
            if self.dialect != "postgresql":
                found: Sequence[DueRow] = [
                    (*r[:6], _utc(r[6]), *[_utc(t) for t in r[7:]]) for r in (await conn.execute(stmt)).all()
                ]
            else:
                # Hash joins over every open case: memory to hash in, instead of spilling to disk in batches.
                await conn.execute(select(func.set_config("work_mem", "256MB", True)))
                # Straight to asyncpg: on 10^6 cases the result layer's per-row work would cost half a second,
                # and asyncpg already returns timezone-aware datetimes.
                compiled = stmt.compile(dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True})
                raw = (await conn.get_raw_connection()).driver_connection
                found = await raw.fetch(str(compiled), *[compiled.params[k] for k in compiled.positiontup or ()])  # type: ignore[union-attr]
        if not fresh:
            return found
        spec_of_track = [specs.index(t.spec) for t in tracks]
        return [_with_fresh(r, fresh[r[0]], spec_of_track) if r[0] in fresh else r for r in found]

    async def _latest_matches(
        self, s: AsyncSession, specs: Sequence[ResetSpec], after: Sequence[int], *where: ColumnElement[bool]
    ) -> dict[int, list[datetime | None]]:
        """Per case, per condition, the latest visited_at of a matching visit (one of the condition's modes, or
        notes containing one of its keywords) among the visits with an id above the condition's `after`.
        In Python: the notes are encrypted, so the database cannot search them. A visit's notes are decrypted
        once, and only when a keyword is needed to decide."""
        found: dict[int, list[datetime | None]] = {}
        if not specs:
            return found
        wanted = [
            (i, set(spec.modes), spec.keywords, low) for i, (spec, low) in enumerate(zip(specs, after, strict=True))
        ]
        notes = any(spec.keywords for spec in specs)
        columns = [Visit.id, Visit.case_id, Visit.mode, Visit.visited_at]
        if notes:
            columns += [Visit.findings, Visit.services, Visit.follow_up]
        open_text = self.secrets.open_text
        last = min(after)
        while True:
            batch: Sequence[Any] = (
                await s.execute(select(*columns).where(Visit.id > last, *where).order_by(Visit.id).limit(VISIT_BATCH))
            ).all()
            for row in batch:
                visit_id, case_id, mode, at = row[:4]
                text: str | None = None
                for i, modes, keywords, low in wanted:
                    if visit_id <= low:
                        continue
                    if mode not in modes:
                        if not keywords:
                            continue
                        if text is None:
                            text = " ".join(open_text(note) for note in row[4:] if note)
                        if not any(k in text for k in keywords):
                            continue
                    times = found.get(case_id)
                    if times is None:
                        times = found[case_id] = [None] * len(specs)
                    if times[i] is None or at > times[i]:
                        times[i] = at
            if len(batch) < VISIT_BATCH:
                return found
            last = batch[-1][0]

    def _greatest(self, *times: ColumnElement[Any]) -> ColumnElement[Any]:
        """The latest of some nullable times, NULL if all are (PostgreSQL's GREATEST skips NULLs; SQLite's
        max() of a NULL is NULL, and it stores times as text, so NULL becomes '' there, which sorts first)."""
        if self.dialect == "postgresql":
            return func.greatest(*times)
        latest = func.max(*[func.coalesce(t, "") for t in times]) if len(times) > 1 else times[0]
        return type_coerce(func.nullif(latest, ""), DateTime(timezone=True))

    async def station_names(self) -> dict[int, str]:
        async with self.session() as s:
            return {i: n for i, n in (await s.execute(select(Station.id, Station.name))).all()}

    async def active_snoozes(self, today: date) -> dict[tuple[int, str, date], date]:
        async with self.session() as s:
            rows = await s.execute(
                select(
                    ReminderSnooze.case_id, ReminderSnooze.item_key, ReminderSnooze.due_date, ReminderSnooze.until_date
                ).where(ReminderSnooze.until_date > today)
            )
            return {(c, k, d): u for c, k, d, u in rows.all()}

    # -- who gets what ----------------------------------------------------------------------
    async def reminder_contacts(self, station_id: int | None = None) -> dict[int, Contact]:
        """Every active worker (of one station) with the chat identities they are bound to: a disabled worker
        gets no digest and no escalation (their cases were handed over or are unassigned)."""
        async with self.session() as s:
            stmt = select(Worker.id, Worker.name, Worker.role, Worker.station_id).where(Worker.status == "active")
            if station_id is not None:
                stmt = stmt.where(Worker.station_id == station_id)
            workers = (await s.execute(stmt)).all()
            ids = (
                select(WorkerIdentity.worker_id, User.channel, User.platform_user_id, User.last_seen_at)
                .join(User, User.id == WorkerIdentity.user_id)
                .order_by(User.id)
            )
            if station_id is not None:
                ids = ids.where(WorkerIdentity.worker_id.in_([w[0] for w in workers]))
            found: dict[int, list[Identity]] = {}
            for worker_id, channel, chat_id, seen in (await s.execute(ids)).all():
                found.setdefault(worker_id, []).append(Identity(channel, chat_id, _utc(seen)))  # type: ignore[arg-type]
        # station is None only for supervisors, who have no station (and no reminders of their own)
        return {w: Contact(w, name, role, station or 0, tuple(found.get(w, ()))) for w, name, role, station in workers}

    # -- dispatch ---------------------------------------------------------------------------
    async def queue_digests(self, day: date, plans: Sequence[DigestPlan]) -> list[int]:
        """Record and queue each worker's digest for `day` unless one was recorded already (by this or
        another process); returns the workers queued now. One transaction for the batch."""
        if not plans:
            return []
        now = self.clock.now()
        plans = sorted(plans, key=lambda p: p.worker_id)  # one lock order for every process: no deadlock
        by_worker = {p.worker_id: p for p in plans}
        async with self.session.begin() as s:
            rows = [
                dict(
                    worker_id=p.worker_id,
                    digest_date=day,
                    channel=p.channel,
                    chat_id=p.chat_id,
                    outbox_key=_digest_key(p, day) if p.channel else None,
                    status="queued" if p.channel else "unreachable",
                    items=len(p.entries),
                    overdue=p.overdue,
                    created_at=now,
                )
                for p in plans
            ]
            # Statements with a list of parameter sets (executemany): compiled once and cached, where a
            # multi-row VALUES would be compiled afresh for every batch (most of the time on 10,000 digests).
            stmt = self._insert(ReminderDigest.__table__).on_conflict_do_nothing().returning(ReminderDigest.worker_id)
            taken = sorted((await s.execute(stmt, rows)).scalars())
            mine = [by_worker[w] for w in taken]
            outbox = [
                dict(
                    channel=p.channel,
                    chat_id=p.chat_id,
                    payload=p.payload,
                    dedup_key=_digest_key(p, day),
                    status="pending",
                    attempts=0,
                    available_at=now,
                    created_at=now,
                    last_error="",
                )
                for p in mine
                if p.channel
            ]
            if outbox:
                await s.execute(self._insert(OutboxMessage.__table__).on_conflict_do_nothing(), outbox)
            ledger = {
                (e.case_id, e.item_key, e.due_date, p.worker_id): dict(
                    case_id=e.case_id,
                    item_key=e.item_key,
                    due_date=e.due_date,
                    kind="remind",
                    recipient_id=p.worker_id,
                    station_id=p.station_id,
                    status="queued" if p.channel else "unreachable",
                    outbox_key=_digest_key(p, day) if p.channel else None,
                    created_at=now,
                )
                for p in mine
                for e in p.entries
            }
            if ledger:
                await s.execute(self._insert(ReminderNotice.__table__).on_conflict_do_nothing(), list(ledger.values()))
            lists = [
                dict(worker_id=p.worker_id, items=_entries_json(p.entries), shown_at=now) for p in mine if p.channel
            ]
            if lists:
                ins = self._insert(ReminderList.__table__)
                await s.execute(
                    ins.on_conflict_do_update(
                        index_elements=["worker_id"],
                        set_={"items": ins.excluded["items"], "shown_at": ins.excluded.shown_at},
                    ),
                    lists,
                )
        return taken

    async def queue_escalations(
        self, day: date, notices: Sequence[Notice], render: EscalationRender
    ) -> EscalationResult:
        """Ledger rows for escalations not recorded before, and one outbox message per lead listing the new
        ones (held, not pushed, for a lead no channel reaches), in one transaction. The ledger says which:
        queued (pushed), held, or unreachable; never queued for a lead who was not sent anything."""
        if not notices:
            return EscalationResult()
        now = self.clock.now()
        ordered = sorted(set(notices), key=lambda n: (n.recipient_id, n.case_id, n.item_key, n.due_date))
        wanted = {(n.case_id, n.item_key, n.due_date, n.recipient_id): n for n in ordered}
        new: dict[int, list[tuple[int, Notice]]] = {}  # lead -> [(ledger id, notice)]
        async with self.session.begin() as s:
            stmt = (
                self._insert(ReminderNotice.__table__)
                .on_conflict_do_nothing()
                .returning(
                    ReminderNotice.id,
                    ReminderNotice.case_id,
                    ReminderNotice.item_key,
                    ReminderNotice.due_date,
                    ReminderNotice.recipient_id,
                )
            )
            rows = [
                dict(
                    case_id=n.case_id,
                    item_key=n.item_key,
                    due_date=n.due_date,
                    kind="escalate",
                    recipient_id=n.recipient_id,
                    station_id=n.station_id,
                    status="queued",
                    outbox_key=None,
                    created_at=now,
                )
                for n in ordered
            ]
            for ledger_id, case_id, key, due, lead in (await s.execute(stmt, rows)).all():
                new.setdefault(lead, []).append((ledger_id, wanted[(case_id, key, due, lead)]))
            pushed, unreachable, held = 0, 0, {}
            for lead, found in sorted(new.items()):
                found.sort(key=lambda r: r[0])
                ids = [r[0] for r in found]
                routed = render(lead, [r[1] for r in found])
                if routed is None:
                    await s.execute(
                        update(ReminderNotice).where(ReminderNotice.id.in_(ids)).values(status="unreachable")
                    )
                    unreachable += len(ids)
                    continue
                channel, chat_id, payload = routed
                key = f"escalate:{lead}:{day.isoformat()}:{ids[0]}"  # the first ledger row names the batch
                await self.store.enqueue(channel, chat_id, payload, dedup_key=key, session=s)
                status = "held" if channel == HELD else "queued"
                await s.execute(
                    update(ReminderNotice).where(ReminderNotice.id.in_(ids)).values(outbox_key=key, status=status)
                )
                if channel == HELD:
                    held[lead] = len(ids)
                else:
                    pushed += len(ids)
        return EscalationResult(pushed, held, unreachable)

    # -- replies ----------------------------------------------------------------------------
    async def save_reminder_list(self, worker_id: int, entries: Sequence[ListEntry]) -> None:
        now = self.clock.now()
        async with self.session.begin() as s:
            ins = self._insert(ReminderList).values(worker_id=worker_id, items=_entries_json(entries), shown_at=now)
            await s.execute(
                ins.on_conflict_do_update(
                    index_elements=["worker_id"],
                    set_={"items": ins.excluded["items"], "shown_at": ins.excluded.shown_at},
                )
            )

    async def reminder_list(self, worker_id: int) -> list[ListEntry]:
        async with self.session() as s:
            row = await s.get(ReminderList, worker_id)
            if row is None:
                return []
            return [
                ListEntry(int(c), str(k), date.fromisoformat(d), str(cn), str(iname))
                for c, k, d, cn, iname in row.items
            ]

    async def complete_items(self, worker_id: int, entries: Sequence[ListEntry]) -> None:
        """Mark items done now: their clocks restart as if a matching visit had been recorded."""
        now = self.clock.now()
        async with self.session.begin() as s:
            s.add_all(
                [
                    ReminderCompletion(
                        case_id=e.case_id, item_key=e.item_key, due_date=e.due_date, done_at=now, worker_id=worker_id
                    )
                    for e in entries
                ]
            )

    async def snooze_items(self, worker_id: int, entries: Sequence[ListEntry], until: date) -> None:
        now = self.clock.now()
        async with self.session.begin() as s:
            for e in entries:
                ins = self._insert(ReminderSnooze).values(
                    case_id=e.case_id,
                    item_key=e.item_key,
                    due_date=e.due_date,
                    until_date=until,
                    worker_id=worker_id,
                    created_at=now,
                )
                await s.execute(
                    ins.on_conflict_do_update(
                        index_elements=["case_id", "item_key", "due_date"],
                        set_={"until_date": until, "worker_id": worker_id, "created_at": now},
                    )
                )

    # -- views ------------------------------------------------------------------------------
    async def delivery_problems(self, worker_ids: Sequence[int]) -> dict[int, str]:
        """Workers whose latest digest could not be delivered: "需另行联系" or "无法送达（reason）"."""
        if not worker_ids:
            return {}
        async with self.session() as s:
            latest = (
                select(ReminderDigest.worker_id, func.max(ReminderDigest.digest_date).label("d"))
                .where(ReminderDigest.worker_id.in_(worker_ids))
                .group_by(ReminderDigest.worker_id)
                .subquery()
            )
            stmt = (
                select(ReminderDigest.worker_id, ReminderDigest.status, OutboxMessage.status, OutboxMessage.last_error)
                .join(
                    latest,
                    and_(latest.c.worker_id == ReminderDigest.worker_id, latest.c.d == ReminderDigest.digest_date),
                )
                .outerjoin(OutboxMessage, OutboxMessage.dedup_key == ReminderDigest.outbox_key)
            )
            found: dict[int, str] = {}
            for worker_id, status, sent, error in (await s.execute(stmt)).all():
                if status == "unreachable":
                    found[worker_id] = "需另行联系（没有可推送的聊天账号）"
                elif sent == "failed":
                    found[worker_id] = f"无法送达（{(error or '平台拒收')[:60]}）"
            return found

    async def digests_on(self, day: date) -> dict[str, int]:
        async with self.session() as s:
            rows = (
                await s.execute(
                    select(ReminderDigest.status, func.count())
                    .where(ReminderDigest.digest_date == day)
                    .group_by(ReminderDigest.status)
                )
            ).all()
            return {status: n for status, n in rows}


def _station_ends(ends: dict[int, datetime]) -> Any:
    """A per-station time (the end of its first day) as a table to join: (st, end)."""
    stamp = DateTime(timezone=True)
    rows = sorted(ends.items())
    return values(column("st", Integer), column("end", stamp), name="first_day").data(rows).cte("first_day")


def _with_fresh(row: DueRow, fresh: list[datetime | None], spec_of_track: list[int]) -> DueRow:
    """A due row with each track's time raised to the case's latest matching visit not yet harvested."""
    merged = list(row)
    for j, i in enumerate(spec_of_track):
        if (at := _utc(fresh[i])) is not None:
            done = merged[ROW_TRACKS + j]
            merged[ROW_TRACKS + j] = at if done is None or at > done else done
    return merged


def _spec_id(spec: ResetSpec) -> str:
    body = json.dumps([sorted(spec.modes), sorted(spec.keywords)], ensure_ascii=False)
    return hashlib.sha1(body.encode()).hexdigest()[:16]


def _digest_key(plan: DigestPlan, day: date) -> str:
    return f"digest:{plan.worker_id}:{day.isoformat()}:{plan.channel}"


def _entries_json(entries: Sequence[ListEntry]) -> list[list[Any]]:
    return [[e.case_id, e.item_key, e.due_date.isoformat(), e.case_name, e.item_name] for e in entries]
