"""The reports feature's storage: supervisors (invites and who is looking), and the rows a monthly report is
computed from. Functions taking the core `Store`; each is one short transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from bot.store import Store, WorkerRecord
from bot.store.casework_models import Invite, Station, Worker, WorkerIdentity
from bot.store.casework_records import AREA_ROLES, LEAD_ROLES, utc
from handlers.reports.area import Area, parse_scope


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


async def add_supervisor_with_invite(store: Store, area: Area, name: str, code_hash: str,
                                     expires_at: datetime) -> WorkerRecord:
    """Register the supervisor (or find them again by name and scope) and store a new invite; older unused
    codes of theirs stop working, as for workers."""
    name = name.strip()
    if not name:
        raise ValueError("姓名不能为空")
    now = store.clock.now()
    async with store.session.begin() as s:
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
