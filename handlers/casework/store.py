"""Cases and their visits. ID and phone numbers are decrypted only to mask them, except in
`export_visits` (store_visits.py), the one place they leave in clear."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from bot.crypto import mask_id, mask_phone
from bot.store.casework_models import Case, Visit, Worker
from bot.store.casework_records import CaseRecord, aware, utc

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import ColumnElement
from handlers.casework.store_import import CaseImportQueries
from handlers.casework.store_roster import RosterQueries
from handlers.casework.store_visits import VisitQueries

FUZZY_LIMIT = 50  # more candidates than this cannot be offered as a choice anyway
STALE_DAYS = 30

class CaseworkStore(CaseImportQueries, VisitQueries, RosterQueries):
    # -- cases ------------------------------------------------------------------------------
    async def cases_of_worker(self, worker_id: int) -> list[CaseRecord]:
        """Open cases assigned to this worker, with their last visit date."""
        async with self.session() as s:
            return await self._cases(s, Case.worker_id == worker_id, Case.status == "open")

    async def station_case_names(self, station_id: int) -> list[str]:
        """The names of the station's open cases: what a report's text is matched against, so a colleague's
        case is recognised too (and then confirmed, not taken silently)."""
        async with self.session() as s:
            stmt = select(Case.name).where(Case.station_id == station_id, Case.status == "open").distinct()
            return list((await s.execute(stmt)).scalars())

    async def find_cases(self, station_id: int, name_query: str, worker_id: int | None = None,
                         include_closed: bool = False) -> list[CaseRecord]:
        """Exact name matches if any; otherwise names containing (or contained in) the query, or with the
        same surname and one character different (张桂英/张贵英, 张英/张桂英). Never outside the station, and
        only the worker's own cases when worker_id is given. Closed cases are found only with `include_closed`."""
        query = "".join(name_query.split())
        if not query:
            return []
        scope = [Case.station_id == station_id]
        if not include_closed:
            scope.append(Case.status == "open")
        if worker_id is not None:
            scope.append(Case.worker_id == worker_id)
        async with self.session() as s:
            exact = await self._cases(s, *scope, Case.name == query)
            if exact:
                return exact
            names = (await s.execute(select(Case.id, Case.name).where(*scope))).all()
            close = sorted(((_distance(query, name), name, case_id) for case_id, name in names
                            if _similar(query, name)))[:FUZZY_LIMIT]
            rank = {case_id: i for i, (_d, _n, case_id) in enumerate(close)}
            found = await self._cases(s, Case.id.in_(list(rank))) if rank else []
            return sorted(found, key=lambda c: rank[c.id])  # closest spelling first

    async def case_by_id(self, case_id: int, station_id: int, include_closed: bool = False) -> CaseRecord | None:
        """An open case of the station (closed ones too with `include_closed`)."""
        where = [Case.id == case_id, Case.station_id == station_id]
        if not include_closed:
            where.append(Case.status == "open")
        async with self.session() as s:
            found = await self._cases(s, *where)
            return found[0] if found else None

    async def station_cases(self, station_id: int, status: str | None = "open") -> list[CaseRecord]:
        """The station's cases (status "open", "closed", or None for all), by name."""
        where = [Case.station_id == station_id] + ([Case.status == status] if status else [])
        async with self.session() as s:
            return await self._cases(s, *where)

    async def _cases(self, s: AsyncSession, *where: ColumnElement[bool], last_visit: Any = None) -> list[CaseRecord]:
        """Case records with the assigned worker's name and the last visit time. `last_visit` is a
        callable given the last-visit column, returning an extra condition (for the statistics)."""
        # Correlated, so only the selected cases' visits are read (through the case_id index).
        last = select(func.max(Visit.visited_at)).where(Visit.case_id == Case.id).scalar_subquery()
        stmt = (select(Case, Worker.name, last)
                .outerjoin(Worker, Worker.id == Case.worker_id)
                .where(*where).order_by(Case.name, Case.id))
        if last_visit is not None:
            stmt = stmt.where(last_visit(last))
        decrypt = self.secrets.decrypt
        return [CaseRecord(c.id, c.station_id, c.name, tuple(c.categories), c.village, c.address,
                           mask_phone(decrypt(c.phone_enc)), mask_id(decrypt(c.id_number_enc)), c.risk_level,
                           c.worker_id, worker_name or "", c.status, aware(at), c.closed_reason, aware(c.closed_at))
                for c, worker_name, at in (await s.execute(stmt)).all()]

    async def station_stats(self, station_id: int, month_start: datetime, now: datetime) -> dict[str, Any]:
        """{"per_worker": [(name, visits since month_start)], "never_visited": [CaseRecord],
        "stale": [CaseRecord]}: open cases never visited, or last visited more than 30 days before now."""
        month_start, now = utc(month_start), utc(now)
        counted = and_(Visit.worker_id == Worker.id, Visit.visited_at >= month_start, Visit.visited_at <= now)
        per_worker = (select(Worker.name, func.count(Visit.id)).outerjoin(Visit, counted)
                      .where(Worker.station_id == station_id).group_by(Worker.id, Worker.name))
        open_cases = (Case.station_id == station_id, Case.status == "open")
        async with self.session() as s:
            counts = sorted((await s.execute(per_worker)).all(), key=lambda r: (-r[1], r[0]))
            never = await self._cases(s, *open_cases, last_visit=lambda at: at.is_(None))
            stale = await self._cases(s, *open_cases, last_visit=lambda at: at < now - timedelta(days=STALE_DAYS))
        return {"per_worker": [(name, n) for name, n in counts], "never_visited": never, "stale": stale}


def _similar(query: str, name: str) -> bool:
    if query in name or name in query:
        return True
    return query[0] == name[0] and _distance(query, name) <= 1


def _distance(a: str, b: str) -> int:
    """Levenshtein distance; names are a few characters, so the plain table is fine."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


