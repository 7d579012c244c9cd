"""The reports feature's storage: supervisors (invites and who is looking), and the rows a monthly report is
computed from. Functions taking the core `Store`; each is one short transaction."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, case, cast, delete, func, or_, select

from bot.pii import open_note
from bot.store import StationRecord, Store
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
    CaseFact,
    Month,
    StationFact,
    TicketFact,
    VisitFact,
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


async def report_facts(store: Store, stations: list[StationFact], month: Month, now: datetime,
                       ) -> tuple[list[WorkerFact], list[CaseFact], list[VisitFact], dict[tuple[int, int, int], int],
                                  list[TicketFact]]:
    """Workers, cases (with per-month visited flags), the report month's visits, visit counts per station,
    worker and month, and the month's handoff tickets, for these stations. One read transaction."""
    bounds = boundaries(month, store.tz)
    ids = [st.id for st in stations]
    if not ids:
        return [], [], [], {}, []
    months = range(len(bounds) - 1)

    def flags(home: bool = False) -> Any:
        """One integer per case: bit k set when it had a (入户) visit in window month k."""
        bits = []
        for k in months:
            inside = and_(Visit.visited_at >= bounds[k], Visit.visited_at < bounds[k + 1])
            bits.append(func.max(case((and_(inside, Visit.mode == "入户") if home else inside, 1 << k), else_=0)))
        return sum(bits[1:], bits[0])

    # Visits aggregated per case first (one pass over the window's visits of these stations), then joined.
    in_area = select(Case.id).where(Case.station_id.in_(ids))
    per_case = (select(Visit.case_id, flags().label("visited"), flags(home=True).label("home"),
                       func.max(Visit.visited_at).label("last"))
                .where(Visit.case_id.in_(in_area), Visit.visited_at >= bounds[0], Visit.visited_at <= utc(now))
                .group_by(Visit.case_id).subquery())
    # The category lists as JSON text: a few distinct lists repeat over thousands of cases, decoded once each.
    cases_stmt = (select(Case.id, Case.station_id, Case.worker_id, Case.name, cast(Case.categories, Text), Case.status,
                         Case.created_at, Case.updated_at, per_case.c.visited, per_case.c.home,
                         per_case.c.last)
                  .outerjoin(per_case, per_case.c.case_id == Case.id).where(Case.station_id.in_(ids)))
    # Visits per recorder and month: a worker records visits of their own station's cases only (save_visit),
    # so the workers of these stations give the visits without joining the cases.
    month_of = case(*[(Visit.visited_at >= bounds[k], k) for k in reversed(months)], else_=-1)
    area_workers = select(Worker.id).where(Worker.station_id.in_(ids))
    counts_stmt = (select(Visit.worker_id, month_of, func.count())
                   .where(Visit.worker_id.in_(area_workers), Visit.visited_at >= bounds[0],
                          Visit.visited_at < bounds[-1])
                   .group_by(Visit.worker_id, month_of))
    last = len(bounds) - 2
    visits_stmt = (select(Visit.id, Visit.case_id, Visit.worker_id, Visit.visited_at, Visit.mode, Visit.needs,
                          Visit.services, Visit.danger, Visit.risk_after)
                   .join(Case, Case.id == Visit.case_id)
                   .where(Case.station_id.in_(ids), Visit.visited_at >= bounds[last],
                          Visit.visited_at < bounds[last + 1],
                          # only what the report reads them for: notes to tally, danger events
                          or_(Visit.needs != "", Visit.services != "", Visit.danger != "", Visit.risk_after == "高")))
    lists: dict[str, tuple[str, ...]] = {}

    def categories(text: str | None) -> tuple[str, ...]:
        if text not in lists:
            lists[text or ""] = tuple(json.loads(text)) if text else ()
        return lists[text or ""]

    async def load_cases() -> list[CaseFact]:
        async with store.session() as s:
            return [CaseFact(i, st, w, name, categories(cats), status, aware(created), aware(updated), visited or 0,
                             home or 0, aware(last))
                    for i, st, w, name, cats, status, created, updated, visited, home, last
                    in (await s.execute(cases_stmt)).all()]

    async def load_counts() -> list[Any]:
        async with store.session() as s:
            return list((await s.execute(counts_stmt)).all())

    def note(stored: str) -> str:  # notes are encrypted at rest; the report only tallies their categories
        return open_note(stored, store.secrets.decrypt, masked=True)

    async def load_visits() -> list[VisitFact]:
        async with store.session() as s:
            return [VisitFact(r[0], r[1], r[2], aware(r[3]), r[4], note(r[5]), note(r[6]), *r[7:])
                    for r in (await s.execute(visits_stmt)).all()]

    # Three independent reads on their own connections, so that PostgreSQL runs them at once.
    cases, count_rows, visits = await asyncio.gather(load_cases(), load_counts(), load_visits())
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
    return workers, cases, visits, counts, tickets


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
