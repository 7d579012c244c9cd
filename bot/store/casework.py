"""Stations, workers, invites, cases and the audit log, mixed into Store (visits: casework_visits.py).

Every method is one transaction, committed before it returns. ID and phone numbers are decrypted only to
mask them, except in `export_visits` (casework_visits.py), which is the one place they leave in clear.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select, update

from bot.store.casework_import import CaseImportQueries
from bot.store.casework_models import AuditEntry, Case, Invite, Station, Visit, Worker, WorkerIdentity
from bot.store.casework_records import LEAD_ROLES, ROLES, CaseRecord, StationRecord, WorkerRecord, aware, utc
from bot.store.casework_visits import VisitQueries
from bot.store.models import KeyValue, User
from bot.crypto import mask_id, mask_phone

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import ColumnElement

FUZZY_LIMIT = 50  # more candidates than this cannot be offered as a choice anyway
STALE_DAYS = 30
KEY_FINGERPRINT = "secret_key_fingerprint"


class CaseworkQueries(CaseImportQueries, VisitQueries):
    # -- stations ---------------------------------------------------------------------------
    async def add_station(self, name: str, county: str = "", city: str = "", district: str = "",
                          town: str = "") -> StationRecord:
        """`county` is the old name of `district`."""
        name, district, city, town = name.strip(), (district or county).strip(), city.strip(), town.strip()
        if not name:
            raise ValueError("社工站名称不能为空")
        async with self.session.begin() as s:
            stmt = (self._insert(Station).values(name=name, district=district, city=city, town=town,
                                                 created_at=self.clock.now())
                    .on_conflict_do_nothing().returning(Station.id))
            station_id = (await s.execute(stmt)).scalar_one_or_none()
        if station_id is None:
            raise ValueError(f"社工站已存在：{name}")
        return StationRecord(station_id, name, district, city, town)

    async def station_by_name(self, name: str) -> StationRecord | None:
        async with self.session() as s:
            row = (await s.execute(select(Station).where(Station.name == name.strip()))).scalar_one_or_none()
            return None if row is None else StationRecord(row.id, row.name, row.district, row.city, row.town)

    async def list_stations(self) -> list[StationRecord]:
        async with self.session() as s:
            rows = (await s.execute(select(Station).order_by(Station.name))).scalars()
            return [StationRecord(r.id, r.name, r.district, r.city, r.town) for r in rows]

    # -- workers and invites ----------------------------------------------------------------
    async def add_worker_with_invite(self, station_id: int, name: str, role: str, code_hash: str,
                                     expires_at: datetime) -> WorkerRecord:
        """Create the worker (or reuse the same name at that station) and store a new invite. An empty
        role keeps an existing worker's role (a new one becomes "worker"). Older unused codes of this
        worker stop working: the newest code is the only valid one."""
        name = name.strip()
        if not name:
            raise ValueError("社工姓名不能为空")
        if role and role not in ROLES:
            raise ValueError(f"未知角色：{role}")
        now = self.clock.now()
        async with self.session.begin() as s:
            station = await s.get(Station, station_id)
            if station is None:
                raise ValueError(f"社工站不存在：{station_id}")
            worker = (await s.execute(select(Worker).where(Worker.station_id == station_id, Worker.name == name))
                      ).scalar_one_or_none()
            if worker is None:
                worker = Worker(station_id=station_id, name=name, role=role or "worker", created_at=now)
                s.add(worker)
                await s.flush()
            elif role:
                worker.role = role
            await s.execute(update(Invite).where(Invite.worker_id == worker.id, Invite.used_at.is_(None),
                                                 Invite.expires_at > now).values(expires_at=now))
            s.add(Invite(code_hash=code_hash, worker_id=worker.id, expires_at=utc(expires_at)))
            return WorkerRecord(worker.id, worker.name, worker.role, station.id, station.name)

    async def redeem_invite(self, code_hash: str, user_id: int) -> WorkerRecord | str:
        """Link the chat identity to the invite's worker (re-binding it if it was bound to another), or say
        why not: "unknown", "expired" or "used"."""
        now = self.clock.now()
        async with self.session.begin() as s:
            # One conditional UPDATE: of two people racing with the same code, exactly one wins.
            stmt = (update(Invite)
                    .where(Invite.code_hash == code_hash, Invite.used_at.is_(None), Invite.expires_at > now)
                    .values(used_at=now).returning(Invite.worker_id))
            worker_id = (await s.execute(stmt)).scalar_one_or_none()
            if worker_id is None:
                invite = await s.get(Invite, code_hash)
                if invite is None:
                    return "unknown"
                return "used" if invite.used_at is not None else "expired"
            bind = self._insert(WorkerIdentity).values(user_id=user_id, worker_id=worker_id, bound_at=now)
            await s.execute(bind.on_conflict_do_update(index_elements=["user_id"],
                                                       set_={"worker_id": worker_id, "bound_at": now}))
            found = await self._workers(s, Worker.id == worker_id)
            if found:
                return found[0]
            # A supervisor has no station: the record names their area instead (station_id 0).
            worker = await s.get(Worker, worker_id)
            assert worker is not None
            return WorkerRecord(worker.id, worker.name, worker.role, 0, worker.scope)

    async def worker_for_user(self, user_id: int) -> WorkerRecord | None:
        async with self.session() as s:
            found = await self._workers(s, Worker.id == select(WorkerIdentity.worker_id)
                                        .where(WorkerIdentity.user_id == user_id).scalar_subquery())
            return found[0] if found else None

    async def list_workers(self, station_id: int | None = None) -> list[tuple[WorkerRecord, list[str]]]:
        """Workers with the channels they are bound on, e.g. ["telegram", "wecom"] ([] = not bound)."""
        async with self.session() as s:
            workers = await self._workers(s, *([Worker.station_id == station_id] if station_id is not None else []))
            identities = await self._identities(s, [w.id for w in workers])
        return [(w, sorted({channel for channel, _ in identities.get(w.id, [])})) for w in workers]

    async def station_leads(self, station_id: int) -> list[tuple[WorkerRecord, list[tuple[str, str]]]]:
        """The station's leads (站长/副站长) and admins, with their (channel, platform user id) identities, for
        notices that need someone in charge (high-risk visits, knowledge-base drafts)."""
        async with self.session() as s:
            leads = await self._workers(s, Worker.station_id == station_id, Worker.role.in_(LEAD_ROLES))
            identities = await self._identities(s, [w.id for w in leads])
        return [(w, identities.get(w.id, [])) for w in leads]

    async def _workers(self, s: AsyncSession, *where: ColumnElement[bool]) -> list[WorkerRecord]:
        stmt = (select(Worker.id, Worker.name, Worker.role, Station.id, Station.name)
                .join(Station, Station.id == Worker.station_id).where(*where).order_by(Station.name, Worker.id))
        return [WorkerRecord(*row) for row in (await s.execute(stmt)).all()]

    async def _identities(self, s: AsyncSession, worker_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
        stmt = (select(WorkerIdentity.worker_id, User.channel, User.platform_user_id)
                .join(User, User.id == WorkerIdentity.user_id).where(WorkerIdentity.worker_id.in_(worker_ids))
                .order_by(User.channel, User.id))
        found: dict[int, list[tuple[str, str]]] = {}
        for worker_id, channel, platform_user_id in (await s.execute(stmt)).all():
            found.setdefault(worker_id, []).append((channel, platform_user_id))
        return found

    # -- cases ------------------------------------------------------------------------------
    async def cases_of_worker(self, worker_id: int) -> list[CaseRecord]:
        """Open cases assigned to this worker, with their last visit date."""
        async with self.session() as s:
            return await self._cases(s, Case.worker_id == worker_id, Case.status == "open")

    async def find_cases(self, station_id: int, name_query: str, worker_id: int | None = None) -> list[CaseRecord]:
        """Exact name matches if any; otherwise names containing (or contained in) the query, or with the
        same surname and one character different (张桂英/张贵英, 张英/张桂英). Never outside the station, and
        only the worker's own cases when worker_id is given."""
        query = "".join(name_query.split())
        if not query:
            return []
        scope = [Case.station_id == station_id]
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

    async def case_by_id(self, case_id: int, station_id: int) -> CaseRecord | None:
        async with self.session() as s:
            found = await self._cases(s, Case.id == case_id, Case.station_id == station_id)
            return found[0] if found else None

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
                           c.worker_id, worker_name or "", c.status, aware(at))
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

    # -- key check --------------------------------------------------------------------------
    async def key_matches(self, fingerprint: str) -> bool:
        """Record the encryption key's fingerprint on first use; afterwards, say whether it is the same."""
        async with self.session.begin() as s:
            await s.execute(self._insert(KeyValue).values(key=KEY_FINGERPRINT, value=fingerprint, expires_at=None)
                            .on_conflict_do_nothing())
            stored = (await s.execute(select(KeyValue.value).where(KeyValue.key == KEY_FINGERPRINT))).scalar_one()
            return stored == fingerprint

    # -- audit ------------------------------------------------------------------------------
    async def audit(self, actor: str, action: str, target: str = "", worker_id: int | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        """Who read or exported which case data. Never put ID or phone numbers in target or detail."""
        async with self.session.begin() as s:
            s.add(AuditEntry(at=self.clock.now(), worker_id=worker_id, actor=actor[:64], action=action[:32],
                             target=target[:200], detail=detail or {}, flagged=False))


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
