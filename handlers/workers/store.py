"""Stations, workers and invites: who works where, and how a chat identity becomes a worker."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from sqlalchemy import select, update
from bot.store.casework_models import Invite, Station, Worker, WorkerIdentity
from bot.store.casework_records import LEAD_ROLES, ROLES, StationRecord, WorkerRecord, utc
from bot.store.models import User
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
from bot.store.feature import FeatureStore
from handlers.common.area import Area



class WorkersStore(FeatureStore):
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
            found = await self.store.workers_where(s, Worker.id == worker_id)
            if found:
                return found[0]
            # A supervisor has no station: the record names their area instead (station_id 0).
            worker = await s.get(Worker, worker_id)
            assert worker is not None
            return WorkerRecord(worker.id, worker.name, worker.role, 0, worker.scope)

    async def list_workers(self, station_id: int | None = None) -> list[tuple[WorkerRecord, list[str]]]:
        """Workers with the channels they are bound on, e.g. ["telegram", "wecom"] ([] = not bound)."""
        async with self.session() as s:
            workers = await self.store.workers_where(s, *([Worker.station_id == station_id] if station_id is not None else []))
            identities = await self._identities(s, [w.id for w in workers])
        return [(w, sorted({channel for channel, _ in identities.get(w.id, [])})) for w in workers]

    async def station_leads(self, station_id: int) -> list[tuple[WorkerRecord, list[tuple[str, str]]]]:
        """The station's leads (站长/副站长) and admins, with their (channel, platform user id) identities, for
        notices that need someone in charge (high-risk visits, knowledge-base drafts)."""
        async with self.session() as s:
            leads = await self.store.workers_where(s, Worker.station_id == station_id, Worker.role.in_(LEAD_ROLES))
            identities = await self._identities(s, [w.id for w in leads])
        return [(w, identities.get(w.id, [])) for w in leads]

    async def _identities(self, s: AsyncSession, worker_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
        stmt = (select(WorkerIdentity.worker_id, User.channel, User.platform_user_id)
                .join(User, User.id == WorkerIdentity.user_id).where(WorkerIdentity.worker_id.in_(worker_ids))
                .order_by(User.channel, User.id))
        found: dict[int, list[tuple[str, str]]] = {}
        for worker_id, channel, platform_user_id in (await s.execute(stmt)).all():
            found.setdefault(worker_id, []).append((channel, platform_user_id))
        return found

    async def add_supervisor_with_invite(self, area: Area, name: str, code_hash: str,
                                         expires_at: datetime) -> WorkerRecord:
        """Register the supervisor (or find them again by name and scope) and store a new invite; older unused
        codes of theirs stop working, as for workers."""
        name = name.strip()
        if not name:
            raise ValueError("姓名不能为空")
        now = self.clock.now()
        async with self.session.begin() as s:
            found = (await s.execute(select(Worker).where(Worker.station_id.is_(None), Worker.name == name,
                                                          Worker.scope == area.scope))).scalar_one_or_none()
            if found is None:
                found = Worker(station_id=None, name=name, role="supervisor", scope=area.scope, created_at=now)
                s.add(found)
                await s.flush()
            await s.execute(update(Invite).where(Invite.worker_id == found.id, Invite.used_at.is_(None),
                                                 Invite.expires_at > now).values(expires_at=now))
            s.add(Invite(code_hash=code_hash, worker_id=found.id, expires_at=utc(expires_at)))
            return WorkerRecord(found.id, found.name, found.role, 0, found.scope)
