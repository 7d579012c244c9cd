"""The reports feature's storage: supervisors (invites and who is looking), and the rows a monthly report is
computed from. Functions taking the core `Store`; each is one short transaction."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, or_, select
from sqlalchemy.orm import aliased

from bot.pii import open_note
from bot.store import StationRecord, Store
from bot.store.case_periods import assignment_rows, latest_assignment
from bot.store.casework_models import (
    Case,
    Station,
    Visit,
    Worker,
    WorkerIdentity,
)
from bot.store.casework_records import AREA_ROLES, LEAD_ROLES, aware, utc
from bot.store.handoff_models import Ticket
from bot.store.models import KeyValue
from handlers.common.area import Area, parse_scope
from handlers.reports.monthly import (
    DangerFact,
    GroupFact,
    Month,
    NoteFact,
    StationFact,
    TicketFact,
    WorkerFact,
    boundaries,
)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at reports: a station lead/admin (area = their station) or a supervisor (their area)."""

    worker_id: int
    name: str
    role: str
    area: Area
    station_id: int | None  # the lead's station; None for a supervisor

    @property
    def is_supervisor(self) -> bool:
        return self.role in AREA_ROLES


async def viewer_for_user(store: Store, user_id: int) -> Viewer | None:
    """The lead, admin or supervisor bound to this chat identity; None for anyone else."""
    async with store.session() as s:
        row = (await s.execute(
            select(Worker.id, Worker.name, Worker.role, Worker.scope, Station.id, Station.name)
            .join(WorkerIdentity, WorkerIdentity.worker_id == Worker.id)
            .outerjoin(Station, Station.id == Worker.station_id)
            .where(WorkerIdentity.user_id == user_id))).first()
    return None if row is None else _viewer(*row)


async def viewer_by_id(store: Store, worker_id: int) -> Viewer | None:
    async with store.session() as s:
        row = (await s.execute(
            select(Worker.id, Worker.name, Worker.role, Worker.scope, Station.id, Station.name)
            .outerjoin(Station, Station.id == Worker.station_id).where(Worker.id == worker_id))).first()
    return None if row is None else _viewer(*row)


def _viewer(worker_id: int, name: str, role: str, scope: str, station_id: int | None,
            station_name: str | None) -> Viewer | None:
    if role in AREA_ROLES:
        try:
            return Viewer(worker_id, name, role, parse_scope(scope), None)
        except ValueError:
            return None
    if role in LEAD_ROLES and station_id is not None:
        return Viewer(worker_id, name, role, Area("station", station_name or ""), station_id)
    return None


# -- the monthly report's facts -------------------------------------------------------------------
async def stations_in(store: Store, area: Area) -> list[StationFact]:
    async with store.session() as s:
        rows = (await s.execute(select(Station.id, Station.name, Station.city, Station.district, Station.town)
                                .order_by(Station.name))).all()
    stations = [StationFact(*row) for row in rows]
    return [st for st in stations if area.contains(StationRecord(st.id, st.name, st.district, st.city, st.town))]


@dataclass(frozen=True, slots=True)
class ReportFacts:
    workers: list[WorkerFact]
    groups: list[GroupFact]
    visit_counts: dict[tuple[int, int, int], int]
    notes: list[NoteFact]
    danger: list[DangerFact]
    tickets: list[TicketFact]


async def report_facts(store: Store, stations: list[StationFact], month: Month, now: datetime) -> ReportFacts:
    """What the report of these stations and month is computed from, counted in the database: the cases per
    station, worker and category list (from the case history, see handlers.reports.monthly), visits per
    recorder and month, the month's notes and danger events, its handoff tickets. Reads on their own
    connections at once, so that PostgreSQL runs them in parallel."""
    bounds = boundaries(month, store.tz)
    ids = [st.id for st in stations]
    if not ids:
        return ReportFacts([], [], {}, [], [], [])
    months = range(len(bounds) - 1)
    last = len(bounds) - 2
    area = Case.station_id.in_(ids)
    in_area = select(Case.id).where(area)

    def bits(inside: Callable[[int], Any]) -> Any:
        """One integer per case: bit k set when `inside(k)` holds for some row of the case."""
        terms = [func.max(case((inside(k), 1 << k), else_=0)) for k in months]
        return sum(terms[1:], terms[0])

    # Per case: the window months it was active in (its history's stretches), its worker and categories of
    # the report month, and the months it was visited / home-visited in.
    stretch = assignment_rows(area, bounds[0], bounds[-1])
    active = (
        select(stretch.c.case_id, bits(lambda k: and_(
            stretch.c.started_at < bounds[k + 1],
            or_(stretch.c.ended_at.is_(None), stretch.c.ended_at >= bounds[k]))).label("active"))
        .group_by(stretch.c.case_id)
        .subquery("active")
    )
    then = latest_assignment(area, bounds[last], bounds[last + 1])
    inside = [and_(Visit.visited_at >= bounds[k], Visit.visited_at < bounds[k + 1]) for k in months]
    visited = (
        select(Visit.case_id, bits(lambda k: inside[k]).label("visited"),
               bits(lambda k: and_(inside[k], Visit.mode == "入户")).label("home"))
        .where(Visit.case_id.in_(in_area), Visit.visited_at >= bounds[0], Visit.visited_at < bounds[-1])
        .group_by(Visit.case_id)
        .subquery("visited")
    )
    flags = (
        select(Case.station_id.label("station_id"), then.c.worker_id.label("worker_id"),
               then.c.categories.label("categories"), active.c.active.label("active"),
               func.coalesce(visited.c.visited, 0).label("visited"), func.coalesce(visited.c.home, 0).label("home"))
        .join(active, active.c.case_id == Case.id)
        .outerjoin(then, then.c.case_id == Case.id)
        .outerjoin(visited, visited.c.case_id == Case.id)
        .subquery("flags")
    )

    def bit(value: Any, k: int) -> Any:
        return case((value.op("&")(1 << k) != 0, 1), else_=0)

    a, v, h = flags.c.active, flags.c.visited, flags.c.home
    groups_stmt = (
        select(flags.c.station_id, flags.c.worker_id, flags.c.categories,
               *[func.sum(bit(a, k)) for k in months],
               *[func.sum(bit(a, k) * bit(v, k)) for k in months],
               *[func.sum(bit(a, k) * bit(h, k)) for k in months])
        .group_by(flags.c.station_id, flags.c.worker_id, flags.c.categories)
    )
    # Visits per recorder and month: a worker records visits of their own station's cases only (save_visit),
    # so the workers of these stations give the visits without joining the cases.
    month_of = case(*[(Visit.visited_at >= bounds[k], k) for k in reversed(months)], else_=-1)
    area_workers = select(Worker.id).where(Worker.station_id.in_(ids))
    counts_stmt = (select(Visit.worker_id, month_of, func.count())
                   .where(Visit.worker_id.in_(area_workers), Visit.visited_at >= bounds[0],
                          Visit.visited_at < bounds[-1])
                   .group_by(Visit.worker_id, month_of))
    of_month = (Visit.case_id.in_(in_area), Visit.visited_at >= bounds[last], Visit.visited_at < bounds[last + 1])
    # Each distinct stored pair is read once, weighted by its visits (encrypted notes seldom repeat).
    notes_stmt = (select(Visit.needs, Visit.services, func.count())
                  .where(*of_month, or_(Visit.needs != "", Visit.services != ""))
                  .group_by(Visit.needs, Visit.services))
    later = aliased(Visit)
    followed = exists(select(later.id).where(later.case_id == Visit.case_id, later.visited_at > Visit.visited_at,
                                             later.visited_at <= utc(now)))
    danger_stmt = (select(Visit.id, Visit.case_id, Case.name, Case.station_id, Visit.visited_at, Visit.danger,
                          Visit.risk_after, followed)
                   .join(Case, Case.id == Visit.case_id)
                   .where(*of_month, or_(Visit.danger != "", Visit.risk_after == "高")))
    lists: dict[str | None, tuple[str, ...]] = {}

    def categories(text: str | None) -> tuple[str, ...]:
        if text not in lists:  # a few distinct lists repeat over thousands of groups: decoded once each
            lists[text] = tuple(json.loads(text)) if text else ()
        return lists[text]

    async def rows(stmt: Any) -> list[Any]:
        async with store.session() as s:
            return list((await s.execute(stmt)).all())

    def note(stored: str) -> str:
        return open_note(stored, store.secrets.decrypt, masked=True)

    n = len(months)
    group_rows, count_rows, note_rows, danger_rows = await asyncio.gather(
        rows(groups_stmt), rows(counts_stmt), rows(notes_stmt), rows(danger_stmt))
    groups = [GroupFact(st, w, categories(cats), tuple(map(int, r[3:3 + n])), tuple(map(int, r[3 + n:3 + 2 * n])),
                        tuple(map(int, r[3 + 2 * n:])))
              for r in group_rows for st, w, cats in [r[:3]]]
    # Notes are encrypted at rest (so each stored pair is distinct): the report only tallies their categories.
    notes = [NoteFact(note(needs), note(services), c) for needs, services, c in note_rows]
    danger = [DangerFact(i, case_id, name, st, aware(at), words, risk, bool(followed_up))
              for i, case_id, name, st, at, words, risk, followed_up in danger_rows]
    async with store.session() as s:
        workers = [WorkerFact(worker_id, name, station_id or 0) for worker_id, name, station_id in (await s.execute(
            select(Worker.id, Worker.name, Worker.station_id).where(Worker.station_id.in_(ids))
            .order_by(Worker.id))).all()]
        tickets = [TicketFact(st, aware(at), aware(first)) for st, at, first in (await s.execute(
            select(Ticket.station_id, Ticket.created_at, Ticket.first_reply_at)
            .where(Ticket.station_id.in_(ids), Ticket.created_at >= bounds[last],
                   Ticket.created_at < bounds[last + 1]))).all()]
    station_of = {w.id: w.station_id for w in workers}
    counts = {(station_of[w], w, k): c for w, k, c in count_rows if k >= 0 and w in station_of}
    return ReportFacts(workers, groups, counts, notes, danger, tickets)


# -- dashboard: one-time links, sessions, case lists ---------------------------------------------------
LINK_PREFIX, SESSION_PREFIX = "dash:link:", "dash:session:"


async def save_token(store: Store, prefix: str, token_hash: str, worker_id: int, expires_at: datetime) -> None:
    """A one-time link or a session; expired ones of either kind are swept on the way."""
    now = store.clock.now()
    async with store.session.begin() as s:
        await s.execute(delete(KeyValue).where(KeyValue.key.startswith("dash:"), KeyValue.expires_at <= now))
        s.add(KeyValue(key=prefix + token_hash, value=str(worker_id), expires_at=utc(expires_at)))


async def take_link(store: Store, token_hash: str) -> int | None:
    """The worker a link was made for, deleting it: a second use (or a late one) finds nothing."""
    now = store.clock.now()
    async with store.session.begin() as s:
        stmt = (delete(KeyValue).where(KeyValue.key == LINK_PREFIX + token_hash, KeyValue.expires_at > now)
                .returning(KeyValue.value))
        value = (await s.execute(stmt)).scalar_one_or_none()
    return int(value) if value is not None else None


async def session_worker(store: Store, token_hash: str) -> int | None:
    async with store.session() as s:
        value = (await s.execute(select(KeyValue.value).where(KeyValue.key == SESSION_PREFIX + token_hash,
                                                              KeyValue.expires_at > store.clock.now()))
                 ).scalar_one_or_none()
    return int(value) if value is not None else None


async def end_session(store: Store, token_hash: str) -> None:
    async with store.session.begin() as s:
        await s.execute(delete(KeyValue).where(KeyValue.key == SESSION_PREFIX + token_hash))


@dataclass(frozen=True, slots=True)
class CaseLine:
    id: int
    name: str
    categories: tuple[str, ...]
    village: str
    risk_level: str
    worker_id: int | None
    worker_name: str
    last_visit_at: datetime | None


async def station_cases(store: Store, station_id: int) -> list[CaseLine]:
    """The station's open cases with their worker and last visit (no personal numbers)."""
    last = select(func.max(Visit.visited_at)).where(Visit.case_id == Case.id).scalar_subquery()
    stmt = (select(Case.id, Case.name, Case.categories, Case.village, Case.risk_level, Case.worker_id, Worker.name,
                   last)
            .outerjoin(Worker, Worker.id == Case.worker_id)
            .where(Case.station_id == station_id, Case.status == "open").order_by(Case.name, Case.id))
    async with store.session() as s:
        return [CaseLine(i, n, tuple(c or ()), v, r, w, wn or "", aware(at))
                for i, n, c, v, r, w, wn, at in (await s.execute(stmt)).all()]


async def case_numbers(store: Store, case_id: int, station_id: int) -> tuple[str, str] | None:
    """(ID number, phone) in full, for the audited 显示完整 on the case page."""
    async with store.session() as s:
        row = (await s.execute(select(Case.id_number_enc, Case.phone_enc)
                               .where(Case.id == case_id, Case.station_id == station_id))).first()
    if row is None:
        return None
    return store.secrets.decrypt(row[0]), store.secrets.decrypt(row[1])
