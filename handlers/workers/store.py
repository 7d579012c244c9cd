"""Stations, workers and invites: who works where, and how a chat identity becomes a worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update

from bot.store.case_periods import sync_assignments
from bot.store.casework_models import Case, Station, Worker, WorkerIdentity
from bot.store.casework_records import LEAD_ROLES, ROLES, StationRecord, WorkerRecord, utc
from bot.store.models import User
from handlers.workers.models import Invite

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
from bot.store.feature import FeatureStore
from handlers.common.area import Area


class WorkersStore(FeatureStore):
    # -- stations ---------------------------------------------------------------------------
    async def add_station(
        self, name: str, county: str = "", city: str = "", district: str = "", town: str = ""
    ) -> StationRecord:
        """`county` is the old name of `district`."""
        name, district, city, town = name.strip(), (district or county).strip(), city.strip(), town.strip()
        if not name:
            raise ValueError("社工站名称不能为空")
        async with self.session.begin() as s:
            stmt = (
                self._insert(Station)
                .values(name=name, district=district, city=city, town=town, created_at=self.clock.now())
                .on_conflict_do_nothing()
                .returning(Station.id)
            )
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
    async def add_worker_with_invite(
        self, station_id: int, name: str, role: str, code_hash: str, expires_at: datetime
    ) -> WorkerRecord:
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
            worker = (
                await s.execute(select(Worker).where(Worker.station_id == station_id, Worker.name == name))
            ).scalar_one_or_none()
            if worker is not None and worker.status != "active":
                raise ValueError(
                    f"{name} 已停用，不能生成绑定码；如已回到本站，请先运行 "
                    f"shegong workers enable --station {station.name} --name {name}"
                )
            if worker is None:
                worker = Worker(station_id=station_id, name=name, role=role or "worker", created_at=now)
                s.add(worker)
                await s.flush()
            elif role:
                worker.role = role
            await s.execute(
                update(Invite)
                .where(Invite.worker_id == worker.id, Invite.used_at.is_(None), Invite.expires_at > now)
                .values(expires_at=now)
            )
            s.add(Invite(code_hash=code_hash, worker_id=worker.id, expires_at=utc(expires_at)))
            return WorkerRecord(worker.id, worker.name, worker.role, station.id, station.name)

    async def redeem_invite(
        self, code_hash: str, user_id: int, notice: Callable[[WorkerRecord, str, int], dict[str, Any]] | None = None
    ) -> WorkerRecord | str:
        """Link the chat identity to the invite's worker (re-binding it if it was bound to another), or say
        why not: "unknown", "expired", "used" or "disabled". `notice(worker, channel, identities)` makes the
        outbox payload that tells the station's leads (on every chat of theirs but this one) of the binding,
        queued in the same transaction: a new identity gets case access, so someone in charge must know."""
        now = self.clock.now()
        async with self.session.begin() as s:
            # One conditional UPDATE: of two people racing with the same code, exactly one wins.
            stmt = (
                update(Invite)
                .where(Invite.code_hash == code_hash, Invite.used_at.is_(None), Invite.expires_at > now)
                .values(used_at=now)
                .returning(Invite.worker_id)
            )
            worker_id = (await s.execute(stmt)).scalar_one_or_none()
            if worker_id is None:
                invite = await s.get(Invite, code_hash)
                if invite is None:
                    return "unknown"
                if (await s.get(Worker, invite.worker_id)).status != "active":  # type: ignore[union-attr]
                    return "disabled"  # disabling voids the worker's codes: say why, not "expired"
                return "used" if invite.used_at is not None else "expired"
            if (await s.get(Worker, worker_id)).status != "active":  # type: ignore[union-attr]
                return "disabled"
            bind = self._insert(WorkerIdentity).values(user_id=user_id, worker_id=worker_id, bound_at=now)
            await s.execute(
                bind.on_conflict_do_update(index_elements=["user_id"], set_={"worker_id": worker_id, "bound_at": now})
            )
            found = await self.store.workers_where(s, Worker.id == worker_id)
            if not found:
                # A supervisor has no station: the record names their area instead (station_id 0).
                row = await s.get(Worker, worker_id)
                assert row is not None
                return WorkerRecord(row.id, row.name, row.role, 0, row.scope)
            worker = found[0]
            if notice is not None:
                user = await s.get(User, user_id)
                count = (
                    await s.execute(
                        select(func.count()).select_from(WorkerIdentity).where(WorkerIdentity.worker_id == worker_id)
                    )
                ).scalar_one()
                payload = notice(worker, user.channel if user else "", count)
                leads = await self.store.workers_where(
                    s, Worker.station_id == worker.station_id, Worker.role.in_(LEAD_ROLES), Worker.status == "active"
                )
                identities = await self._identities(s, [lead.id for lead in leads], with_user_id=True)
                stamp = now.isoformat()
                for lead in leads:
                    for channel, chat_id, lead_user in identities.get(lead.id, []):
                        if lead_user != user_id:
                            await self.store.enqueue(
                                channel, chat_id, payload, session=s, dedup_key=f"bind:{user_id}:{stamp}:{lead_user}"
                            )
            return worker

    # -- workers who leave ------------------------------------------------------------------
    async def disable_worker(self, station_id: int, name: str, transfer_to: str | None = None) -> dict[str, Any]:
        """The worker left: every chat identity unbound at once (no case access from the next message), unused
        codes void, open cases handed to `transfer_to` (an active worker of the station) or left unassigned,
        records kept. Returns {"worker", "identities", "cases", "to"}. ValueError names what is wrong."""
        now = self.clock.now()
        async with self.session.begin() as s:
            worker = await self._worker_named(s, station_id, name)
            if worker.status != "active":
                raise ValueError(f"{name} 已经停用")
            target = None
            if transfer_to:
                target = await self._worker_named(s, station_id, transfer_to)
                if target.id == worker.id or target.status != "active":
                    raise ValueError(f"不能转交给 {transfer_to}：要转交给本站另一位在职社工")
            identities = (
                (
                    await s.execute(
                        delete(WorkerIdentity)
                        .where(WorkerIdentity.worker_id == worker.id)
                        .returning(WorkerIdentity.user_id)
                    )
                )
                .scalars()
                .all()
            )
            await s.execute(
                update(Invite)
                .where(Invite.worker_id == worker.id, Invite.used_at.is_(None), Invite.expires_at > now)
                .values(expires_at=now)
            )
            moved = (
                (
                    await s.execute(
                        update(Case)
                        .where(Case.worker_id == worker.id, Case.status == "open")
                        .values(worker_id=target.id if target else None, updated_at=now)
                        .returning(Case.id)
                    )
                )
                .scalars()
                .all()
            )
            if moved:
                await sync_assignments(s, now, Case.id.in_(list(moved)))
            worker.status, worker.disabled_at = "disabled", now
            return {
                "worker": worker.name,
                "identities": len(identities),
                "cases": len(moved),
                "to": target.name if target else "",
            }

    async def enable_worker(self, station_id: int, name: str) -> None:
        """Back at the station: active again; they bind with a new code (shegong invite)."""
        async with self.session.begin() as s:
            worker = await self._worker_named(s, station_id, name)
            if worker.status == "active":
                raise ValueError(f"{name} 没有停用")
            worker.status, worker.disabled_at = "active", None

    async def worker_statuses(self, station_id: int | None = None) -> dict[int, str]:
        """worker id → active | disabled."""
        stmt = select(Worker.id, Worker.status)
        if station_id is not None:
            stmt = stmt.where(Worker.station_id == station_id)
        async with self.session() as s:
            return {i: status for i, status in (await s.execute(stmt)).all()}

    async def _worker_named(self, s: AsyncSession, station_id: int, name: str) -> Worker:
        found = (
            await s.execute(
                select(Worker).where(Worker.station_id == station_id, Worker.name == name.strip()).with_for_update()
            )
        ).scalar_one_or_none()
        if found is None:
            raise ValueError(f"本站没有社工：{name}（shegong workers list --station 站名 查看）")
        return found

    async def list_workers(self, station_id: int | None = None) -> list[tuple[WorkerRecord, list[str]]]:
        """Workers with the channels they are bound on, e.g. ["telegram", "wecom"] ([] = not bound)."""
        async with self.session() as s:
            workers = await self.store.workers_where(
                s, *([Worker.station_id == station_id] if station_id is not None else [])
            )
            identities = await self._identities(s, [w.id for w in workers])
        return [(w, sorted({channel for channel, _ in identities.get(w.id, [])})) for w in workers]

    async def station_leads(self, station_id: int) -> list[tuple[WorkerRecord, list[tuple[str, str]]]]:
        """The station's leads (站长/副站长) and admins, with their (channel, platform user id) identities, for
        notices that need someone in charge (high-risk visits, knowledge-base drafts)."""
        async with self.session() as s:
            leads = await self.store.workers_where(
                s, Worker.station_id == station_id, Worker.role.in_(LEAD_ROLES), Worker.status == "active"
            )
            identities = await self._identities(s, [w.id for w in leads])
        return [(w, identities.get(w.id, [])) for w in leads]

    async def _identities(
        self, s: AsyncSession, worker_ids: list[int], with_user_id: bool = False
    ) -> dict[int, list[Any]]:
        """worker → [(channel, platform user id)], or [(channel, platform user id, users.id)] with_user_id."""
        stmt = (
            select(WorkerIdentity.worker_id, User.channel, User.platform_user_id, User.id)
            .join(User, User.id == WorkerIdentity.user_id)
            .where(WorkerIdentity.worker_id.in_(worker_ids))
            .order_by(User.channel, User.id)
        )
        found: dict[int, list[Any]] = {}
        for worker_id, channel, platform_user_id, user_id in (await s.execute(stmt)).all():
            found.setdefault(worker_id, []).append(
                (channel, platform_user_id, user_id) if with_user_id else (channel, platform_user_id)
            )
        return found

    async def add_supervisor_with_invite(
        self, area: Area, name: str, code_hash: str, expires_at: datetime
    ) -> WorkerRecord:
        """Register the supervisor (or find them again by name and scope) and store a new invite; older unused
        codes of theirs stop working, as for workers."""
        name = name.strip()
        if not name:
            raise ValueError("姓名不能为空")
        now = self.clock.now()
        async with self.session.begin() as s:
            found = (
                await s.execute(
                    select(Worker).where(Worker.station_id.is_(None), Worker.name == name, Worker.scope == area.scope)
                )
            ).scalar_one_or_none()
            if found is None:
                found = Worker(station_id=None, name=name, role="supervisor", scope=area.scope, created_at=now)
                s.add(found)
                await s.flush()
            await s.execute(
                update(Invite)
                .where(Invite.worker_id == found.id, Invite.used_at.is_(None), Invite.expires_at > now)
                .values(expires_at=now)
            )
            s.add(Invite(code_hash=code_hash, worker_id=found.id, expires_at=utc(expires_at)))
            return WorkerRecord(found.id, found.name, found.role, 0, found.scope)
